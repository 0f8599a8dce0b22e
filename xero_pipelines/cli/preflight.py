"""`xero-pipelines preflight`: check the production set-up before Dagster starts.

A wrong password, a missing variable, a typo in `dagster.yaml` or a service that is down
would otherwise show as a stack trace in the daemon's log, or as a run failing deep
inside; here each is one line on stderr naming the setting to fix, and the exit status
is 1. A container entrypoint runs it before `dagster-daemon run` / `dagster-webserver`
(`xero-pipelines serve` does both).

Checks that depend on one another run in order (no `dagster.yaml`, no storage login);
independent ones all run, so one start-up reports every problem it can see.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping

import click

from xero_pipelines.cli import instance_checks as inst
from xero_pipelines.cli import service_checks as svc


def dagster_instance(env: Mapping[str, str]) -> list[str]:
    """`$DAGSTER_HOME/dagster.yaml`: present, valid, its variables set, its storage
    accepting the login."""
    file, problem = inst.instance_file(env)
    if file is None:
        return [problem] if problem else []
    problems = inst.schema_problems(file) + inst.class_problems(file)
    if problems:
        return problems
    problems = inst.env_problems(file, env)
    if problems:
        return problems
    settings, problems = inst.resolved_settings(file)
    if settings is None:
        return problems
    problem = inst.storage_problem(file, settings)
    return [problem] if problem else []


def crm_database(env: Mapping[str, str]) -> list[str]:
    """The CRM database: reachable, migrated, and any stored Xero tokens readable."""
    problem = svc.crm_problem() or svc.tokens_problem()
    return [problem] if problem else []


def _one(check: Callable[[Mapping[str, str]], str | None]) -> Callable[..., list[str]]:
    def run(env: Mapping[str, str]) -> list[str]:
        problem = check(env)
        return [problem] if problem else []

    return run


def _always(env: Mapping[str, str]) -> bool:
    return True


# (name, check, whether it applies to this environment)
CHECKS: list[tuple[str, Callable[[Mapping[str, str]], list[str]], Callable[..., bool]]] = [
    ("Dagster instance", dagster_instance, _always),
    ("Xero app", _one(svc.xero_credentials_problem), _always),
    ("code location", _one(svc.code_location_problem), _always),
    ("CRM database", crm_database, _always),
    ("Celery broker", _one(svc.broker_problem), svc.celery_configured),
    ("Xero API", _one(svc.xero_api_problem), _always),
]


def run_checks(env: Mapping[str, str] | None = None) -> tuple[list[str], list[str]]:
    """(the checks that passed, every problem found)."""
    env = os.environ if env is None else env
    passed, problems = [], []
    for name, check, applies in CHECKS:
        if not applies(env):
            continue
        found = check(env)
        problems += found
        if not found:
            passed.append(name)
    return passed, problems


def preflight_or_exit() -> None:
    """Print every problem on stderr and exit 1, or say what passed and return."""
    passed, problems = run_checks()
    if problems:
        for line in problems:
            click.echo(line, err=True)
        click.echo(
            f"Error: {len(problems)} start-up problem{'s' if len(problems) > 1 else ''}; "
            "fix the settings named above",
            err=True,
        )
        sys.exit(1)
    click.echo(f"preflight passed: {', '.join(passed)}")


@click.command("preflight")
def preflight() -> None:
    """Check DAGSTER_HOME's dagster.yaml, PostgreSQL, the CRM database, the Celery broker
    and Xero before starting Dagster; one line per problem, exit 1 if any."""
    preflight_or_exit()
