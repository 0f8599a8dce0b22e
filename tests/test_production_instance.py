"""`deploy/dagster.yaml` is a real production instance: loaded by Dagster against a real
PostgreSQL server (a role that must give its password), it stores runs there, queues
them with the repository's Xero limits, retries runs that die with their process, and
monitors runs. The embedded default stays the repository's `dagster.yaml`."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.launcher import DefaultRunLauncher
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage
from sqlalchemy import create_engine, text

from tests.fixtures.pg_login import PgLogin, pg_login_fixture  # noqa: F401 (the fixture)

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = ROOT / "deploy" / "dagster.yaml"


@pytest.fixture
def production_home(tmp_path, pg_login: PgLogin, monkeypatch) -> tuple[Path, str]:
    """DAGSTER_HOME holding deploy/dagster.yaml, its variables naming a new database."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PRODUCTION, home / "dagster.yaml")
    database = pg_login.create_database()
    for name, value in pg_login.dagster_env(database).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home, database


@dg.asset
def probe() -> int:
    return 1


def test_runs_and_events_are_stored_in_postgresql(production_home, pg_login):
    home, database = production_home
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        result = dg.materialize([probe], instance=instance)
        assert result.success
    # Another process-worth of instance (the webserver, say) reads it back, and the row
    # is in the database the variables name, not in a file under DAGSTER_HOME.
    with dg.DagsterInstance.get() as other:
        assert other.get_run_by_id(result.run_id).is_success
        assert other.get_latest_materialization_event(dg.AssetKey("probe")) is not None
    engine = create_engine(pg_login.url(database))
    try:
        with engine.connect() as conn:
            stored = conn.execute(
                text("SELECT count(*) FROM runs WHERE run_id = :id"), {"id": result.run_id}
            ).scalar_one()
    finally:
        engine.dispose()
    assert stored == 1
    assert not list(home.glob("**/*.db")), "no SQLite storage under DAGSTER_HOME"


def test_queue_limits_match_the_local_instance(production_home):
    local = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    with dg.DagsterInstance.get() as instance:
        coordinator = instance.run_coordinator
        assert isinstance(coordinator, QueuedRunCoordinator)
        assert coordinator._dequeue_interval_seconds == 1  # no public reader in 1.13
        queue = instance.get_concurrency_config().run_queue_config
        assert queue.max_concurrent_runs == 6
        limits = queue.tag_concurrency_limits
        assert {"key": "xero_pipelines/xero", "value": "import", "limit": 1} in limits
        assert limits == local["concurrency"]["runs"]["tag_concurrency_limits"]
        # the queue and the sensors work in threads as locally (launches side by side)
        production = yaml.safe_load(PRODUCTION.read_text())
        assert production["run_queue"] == local["run_queue"]
        assert instance.get_settings("sensors") == local["sensors"]


def test_runs_that_die_are_retried_and_runs_are_monitored(production_home):
    with dg.DagsterInstance.get() as instance:
        assert instance.run_retries_enabled
        assert instance.run_retries_max_retries == 2
        assert instance.run_retries_retry_on_asset_or_op_failure is False
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_start_timeout_seconds == 180
        assert instance.run_monitoring_cancel_timeout_seconds == 180
        assert instance.run_monitoring_max_runtime_seconds == 10800
        # the default launcher cannot resume a run, and Dagster refuses attempts with it
        assert isinstance(instance.run_launcher, DefaultRunLauncher)
        assert not instance.run_launcher.supports_resume_run
        assert instance.run_monitoring_max_resume_run_attempts == 0
        assert instance.get_settings("telemetry") == {"enabled": False}


def test_no_password_or_host_is_written_in_the_file():
    storage = yaml.safe_load(PRODUCTION.read_text())["storage"]["postgres"]["postgres_db"]
    login = {part: value for part, value in storage.items() if part != "scheme"}
    assert login == {
        part: {"env": f"DAGSTER_PG_{name}"}
        for part, name in (
            ("username", "USERNAME"),
            ("password", "PASSWORD"),
            ("hostname", "HOST"),
            ("db_name", "DB"),
            ("port", "PORT"),
        )
    }
    # psycopg2, which dagster-postgres is written for (SQLAlchemy 2.1 would pick psycopg 3,
    # on which its NOTIFY fails: the storage test above writes events through it)
    assert storage["scheme"] == "postgresql+psycopg2"


def test_the_embedded_default_is_not_the_production_file():
    """`make dev` copies the repository's dagster.yaml (SQLite under DAGSTER_HOME) and
    `make demo` uses no DAGSTER_HOME at all: neither reads deploy/."""
    makefile = (ROOT / "Makefile").read_text()
    assert "cp dagster.yaml .xero_pipelines/dagster/" in makefile
    assert "storage" not in yaml.safe_load((ROOT / "dagster.yaml").read_text())
