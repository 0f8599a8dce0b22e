"""The import job and its schedule, as the contract names them."""

from __future__ import annotations

import dagster as dg

from xero_pipelines.jobs.imports import DEFAULT_IMPORT_CRON, xero_import_job
from xero_pipelines.jobs.tags import XERO_CONCURRENCY_TAG


def test_import_schedule_is_hourly_and_on_by_default():
    from xero_pipelines import defs

    schedule = defs.get_schedule_def("xero_import_schedule")
    assert schedule.cron_schedule == DEFAULT_IMPORT_CRON
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.job_name == "xero_import_job"


def test_import_cron_comes_from_the_environment(monkeypatch):
    """`XERO_IMPORT_CRON` is read when the code location loads (a fresh interpreter)."""
    import subprocess
    import sys

    probe = (
        "from xero_pipelines import defs; "
        "print(defs.get_schedule_def('xero_import_schedule').cron_schedule)"
    )
    env = {**__import__("os").environ, "XERO_IMPORT_CRON": "*/15 * * * *"}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "*/15 * * * *"


def test_import_job_carries_the_xero_concurrency_tag():
    assert XERO_CONCURRENCY_TAG in xero_import_job.tags


def test_every_job_that_calls_xero_carries_the_tag_and_runs_in_one_process():
    """By default every step runs in the run's process (the demo and the tests rely on
    it); only `XERO_PIPELINES_EXECUTOR=celery` moves the import's steps to Celery workers
    (tests/jobs/test_import_executor.py, tests/e2e/test_celery_import.py)."""
    from xero_pipelines import defs

    repository = defs.get_repository_def()
    names = {"xero_import_job", "xero_export_job", "xero_draft_job"}
    assert names <= set(repository.job_names)
    for name in names:
        job = repository.get_job(name)
        assert XERO_CONCURRENCY_TAG in job.tags, name
        assert job.executor_def is dg.in_process_executor, name
