"""Where the import's steps execute: in the run's own process, or on Celery workers.

`XERO_PIPELINES_EXECUTOR` chooses, when the code location loads:

- unset, empty or `in_process`: every step in the run's process (the demo, the tests, one
  machine). The client's pacer then sees every call of the run.
- `celery`: each step is a Celery task on a Redis (or any Celery) broker, so the import's
  five independent mirrors run at once in worker processes that may sit on other machines
  (docs/celery.md). `XERO_PIPELINES_CELERY_BROKER` names the broker and
  `XERO_PIPELINES_CELERY_BACKEND` the result backend (default: the broker).

Xero's 5 calls in flight per organisation hold either way: every call holds one of the
organisation's call slots in the CRM database (`xero/call_slots.py`), which every worker
shares. The URLs stay in the environment: the executor's config names the variables
(`{"env": ...}`), resolved in the run's process, so no URL (nor a password in one) reaches
the job's snapshot, the run config or the UI. A wrong setting fails loading the code
location with a sentence naming the variable, not the first run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

import dagster as dg

EXECUTOR_ENV = "XERO_PIPELINES_EXECUTOR"
BROKER_ENV = "XERO_PIPELINES_CELERY_BROKER"
BACKEND_ENV = "XERO_PIPELINES_CELERY_BACKEND"
EXECUTORS = ("in_process", "celery")


class ExecutorSettingError(ValueError):
    """A setting of the executor is wrong; the message names the variable to fix."""


def _check_url(environ: Mapping[str, str], name: str) -> None:
    """A URL with a scheme and a host; the value is never repeated (it may hold a password)."""
    value = environ[name].strip()
    parts = urlsplit(value)
    if "://" not in value or not parts.scheme or not (parts.hostname or parts.path.strip("/")):
        raise ExecutorSettingError(
            f"{name} is not a broker URL: give one such as redis://127.0.0.1:6379/0."
        )


def celery_settings(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The Celery executor's config: the names of the variables that hold the URLs."""
    if not environ.get(BROKER_ENV, "").strip():
        raise ExecutorSettingError(
            f"{EXECUTOR_ENV}=celery needs {BROKER_ENV}, the URL of the broker the Celery "
            "workers listen on (e.g. redis://127.0.0.1:6379/0)."
        )
    _check_url(environ, BROKER_ENV)
    backend = BACKEND_ENV if environ.get(BACKEND_ENV, "").strip() else BROKER_ENV
    _check_url(environ, backend)
    return {"broker": {"env": BROKER_ENV}, "backend": {"env": backend}}


def import_executor(environ: Mapping[str, str] = os.environ) -> dg.ExecutorDefinition:
    """The import job's executor, as `XERO_PIPELINES_EXECUTOR` says (module docstring)."""
    choice = environ.get(EXECUTOR_ENV, "").strip().lower() or "in_process"
    if choice not in EXECUTORS:
        raise ExecutorSettingError(
            f"{EXECUTOR_ENV} must be 'in_process' (the default) or 'celery', not "
            f"{environ[EXECUTOR_ENV].strip()!r}."
        )
    if choice == "in_process":
        return dg.in_process_executor
    settings = celery_settings(environ)
    try:
        from dagster_celery import celery_executor
    except ImportError as exc:
        raise ExecutorSettingError(
            f"{EXECUTOR_ENV}=celery needs dagster-celery: install the celery extra "
            "(pip install 'xero_pipelines[celery]')."
        ) from exc
    return celery_executor.configured(settings, name="celery")
