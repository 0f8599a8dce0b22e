"""`XERO_PIPELINES_EXECUTOR` chooses where the import's steps run; a wrong setting stops
the code location from loading with a sentence that names the variable to fix."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg
import pytest
from dagster._core.snap import JobSnap
from dagster._serdes import serialize_value

from xero_pipelines.jobs.executors import (
    BACKEND_ENV,
    BROKER_ENV,
    EXECUTOR_ENV,
    ExecutorSettingError,
    import_executor,
)

BROKER = "redis://:hunter2-broker@redis.internal:6379/0"


@pytest.mark.parametrize("value", [None, "", "in_process", " IN_PROCESS "])
def test_the_import_runs_in_process_unless_told_otherwise(value):
    environ = {} if value is None else {EXECUTOR_ENV: value}
    assert import_executor(environ) is dg.in_process_executor


def test_celery_is_dagsters_celery_executor_configured_by_variable_names():
    executor = import_executor({EXECUTOR_ENV: "celery", BROKER_ENV: BROKER})
    assert executor.name == "celery"


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({EXECUTOR_ENV: "multiprocess"}, EXECUTOR_ENV),
        ({EXECUTOR_ENV: "celery"}, BROKER_ENV),
        ({EXECUTOR_ENV: "celery", BROKER_ENV: "  "}, BROKER_ENV),
        ({EXECUTOR_ENV: "celery", BROKER_ENV: "redis.internal:6379"}, BROKER_ENV),
        ({EXECUTOR_ENV: "celery", BROKER_ENV: BROKER, BACKEND_ENV: "nonsense"}, BACKEND_ENV),
    ],
)
def test_a_wrong_setting_names_the_variable_and_never_repeats_a_url(environ, names):
    with pytest.raises(ExecutorSettingError) as error:
        import_executor(environ)
    message = str(error.value)
    assert names in message
    assert "hunter2" not in message and "redis.internal" not in message


def test_the_broker_url_reaches_neither_the_job_snapshot_nor_the_run_config():
    """The executor's config names the variables; the URL (and its password) is read in
    the run's process, so the UI, which shows the snapshot, never sees it."""

    @dg.asset
    def one() -> None:
        return None

    executor = import_executor({EXECUTOR_ENV: "celery", BROKER_ENV: BROKER})
    job = dg.Definitions(
        assets=[one], jobs=[dg.define_asset_job("probe", executor_def=executor)]
    ).resolve_job_def("probe")
    snapshot = serialize_value(JobSnap.from_job_def(job))
    assert "hunter2" not in snapshot and "redis.internal" not in snapshot


def test_a_bad_value_fails_loading_the_code_location_with_the_variables_name():
    """What an operator sees: `dagster definitions validate` (as the webserver or the
    daemon loading the code location) fails with the sentence, not a run later."""
    env = {**os.environ, EXECUTOR_ENV: "celary"}
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    out = subprocess.run(
        [dagster, "definitions", "validate", "-m", "xero_pipelines"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode != 0
    assert f"{EXECUTOR_ENV} must be 'in_process' (the default) or 'celery'" in (
        out.stdout + out.stderr
    )
