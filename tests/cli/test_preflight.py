"""`xero-pipelines preflight`: each bad setting gives its one line naming what to fix,
against the real things (a PostgreSQL role that must give its password, the sandbox over
HTTP, closed loopback ports for a Redis or a Xero that is not there), and no secret.

Most cases run the command in this process (Click's runner, the environment set for
real); the success case and `serve` run it as its own process.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import requests
from click.testing import CliRunner

from tests.fixtures.pg_login import PgLogin, pg_login_fixture  # noqa: F401 (the fixture)
from tests.fixtures.postgres import _free_port
from xero_pipelines.cli import main
from xero_pipelines.db import create_db_engine, upgrade

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ROOT / "deploy" / "dagster.yaml"
WRONG = "wrong-" + secrets.token_hex(6)
BROKER_SECRET = "broker-" + secrets.token_hex(6)
PASSED = "preflight passed: Dagster instance, Xero app, code location, CRM database, Xero API"


@dataclass
class Setup:
    """A complete production environment, set in os.environ; tests break one part."""

    home: Path
    login: PgLogin
    dagster_db: str
    crm_db: str
    monkeypatch: pytest.MonkeyPatch

    @property
    def instance_file(self) -> Path:
        return self.home / "dagster.yaml"

    def set(self, **values: str) -> None:
        for name, value in values.items():
            self.monkeypatch.setenv(name, value)

    def unset(self, *names: str) -> None:
        for name in names:
            self.monkeypatch.delenv(name, raising=False)

    def secrets(self) -> list[str]:
        found = []
        for secret in (self.login.password, WRONG, BROKER_SECRET):
            found += [secret, quote(secret, safe=""), quote_plus(secret)]
        return found


@pytest.fixture
def setup(tmp_path, pg_login: PgLogin, sandbox_server, monkeypatch) -> Setup:
    for name in list(os.environ):
        if name.startswith(("DAGSTER_", "XERO_", "CRM_")):
            monkeypatch.delenv(name)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PRODUCTION, home / "dagster.yaml")
    dagster_db, crm_db = pg_login.create_database(), pg_login.create_database()
    engine = create_db_engine(pg_login.url(crm_db))
    upgrade(engine)
    engine.dispose()
    values = {
        "DAGSTER_HOME": str(home),
        **pg_login.dagster_env(dagster_db),
        "CRM_DATABASE_URL": pg_login.url(crm_db),
        "XERO_PIPELINES_HOME": str(tmp_path / "xero_home"),
        "XERO_CLIENT_ID": "sandbox",
        "XERO_CLIENT_SECRET": "sandbox",
        "XERO_API_URL": sandbox_server.url,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return Setup(home, pg_login, dagster_db, crm_db, monkeypatch)


def preflight(setup: Setup) -> list[str]:
    """Run the command; its problem lines (stderr, without the closing summary)."""
    result = CliRunner().invoke(main, ["preflight"])
    out = result.stdout + result.stderr
    for secret in setup.secrets():
        assert secret not in out
    assert result.exit_code == 1, out
    *lines, summary = result.stderr.strip().splitlines()
    assert summary.startswith(f"Error: {len(lines)} start-up problem"), out
    return lines


def test_a_complete_set_up_passes(setup):
    result = CliRunner().invoke(main, ["preflight"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == PASSED


def test_dagster_home_not_set(setup):
    setup.unset("DAGSTER_HOME")
    assert preflight(setup) == [
        "DAGSTER_HOME is not set: point it at the folder holding the production "
        "dagster.yaml (a copy of deploy/dagster.yaml)"
    ]


def test_dagster_home_without_dagster_yaml(setup, tmp_path):
    empty = tmp_path / "empty_home"
    empty.mkdir()
    setup.set(DAGSTER_HOME=str(empty))
    assert preflight(setup) == [
        f"DAGSTER_HOME={empty} has no dagster.yaml: copy deploy/dagster.yaml there "
        "(without it Dagster would keep everything in SQLite files in that folder)"
    ]


def test_typos_in_the_instance_file_are_each_named_with_the_key_meant(setup):
    text = setup.instance_file.read_text()
    text = text.replace("run_queue:", "run_queu:")
    text = text.replace("tag_concurrency_limits:", "tag_concurency_limits:")
    setup.instance_file.write_text(text)
    path = setup.instance_file
    assert preflight(setup) == [
        f"{path}: unknown key 'run_queu' at the top level (did you mean 'run_queue'?)",
        f"{path}: unknown key 'tag_concurency_limits' under 'concurrency.runs' "
        "(did you mean 'tag_concurrency_limits'?)",
    ]


def test_a_wrong_value_type_names_the_key(setup):
    text = setup.instance_file.read_text().replace("max_retries: 2", "max_retries: twice")
    setup.instance_file.write_text(text)
    assert preflight(setup) == [
        f"{setup.instance_file}: 'run_retries.max_retries' must be a whole number, not 'twice'"
    ]


def test_a_missing_variable_is_named_with_the_setting_that_reads_it(setup):
    setup.unset("DAGSTER_PG_PASSWORD")
    assert preflight(setup) == [
        "DAGSTER_PG_PASSWORD is not set (used by storage.postgres.postgres_db.password "
        f"in {setup.instance_file})"
    ]


def test_a_port_that_is_not_a_number(setup):
    setup.set(DAGSTER_PG_PORT="five-four-three-two")
    assert preflight(setup) == [
        "DAGSTER_PG_PORT cannot be read as a whole number (used by "
        f"storage.postgres.postgres_db.port in {setup.instance_file})"
    ]


def test_a_wrong_dagster_postgresql_password(setup):
    setup.set(DAGSTER_PG_PASSWORD=WRONG)
    login = setup.login
    assert preflight(setup) == [
        f"Dagster's storage: cannot log in to PostgreSQL at {login.host}:{login.port} as "
        f"{login.user}: password authentication failed — check DAGSTER_PG_PASSWORD"
    ]


def test_dagster_postgresql_unreachable(setup):
    port = _free_port()  # nothing listens there
    setup.set(DAGSTER_PG_PORT=str(port))
    assert preflight(setup) == [
        f"Dagster's storage: cannot reach PostgreSQL at {setup.login.host}:{port} "
        "(connection refused) — check DAGSTER_PG_HOST and DAGSTER_PG_PORT"
    ]


def test_a_wrong_crm_database_password(setup):
    setup.set(CRM_DATABASE_URL=setup.login.url(setup.crm_db, password=WRONG))
    login = setup.login
    assert preflight(setup) == [
        f"CRM database: cannot log in to PostgreSQL at {login.host}:{login.port} as "
        f"{login.user}: password authentication failed — check CRM_DATABASE_URL"
    ]


def test_a_crm_database_without_the_pipeline_tables(setup):
    bare = setup.login.create_database()
    setup.set(CRM_DATABASE_URL=setup.login.url(bare))
    [line] = preflight(setup)
    assert line.startswith("CRM database postgresql+psycopg://")
    assert line.endswith(
        "has none of the pipeline's tables: run `xero-pipelines db upgrade`, or set "
        "CRM_DATABASE_URL to the CRM's database"
    )
    assert f"{setup.login.user}:***@{setup.login.host}:{setup.login.port}/{bare}" in line


def test_an_unreachable_celery_broker(setup):
    port = _free_port()
    setup.set(
        XERO_PIPELINES_EXECUTOR="celery",
        XERO_PIPELINES_CELERY_BROKER=f"redis://:{BROKER_SECRET}@127.0.0.1:{port}/0",
    )
    assert preflight(setup) == [
        f"cannot reach the Celery broker at redis://127.0.0.1:{port} (connection refused) "
        "— check XERO_PIPELINES_CELERY_BROKER"
    ]


def test_celery_with_a_live_redis_broker_passes(setup, redis_url):
    setup.set(XERO_PIPELINES_EXECUTOR="celery", XERO_PIPELINES_CELERY_BROKER=redis_url)
    result = CliRunner().invoke(main, ["preflight"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == PASSED.replace("CRM database,", "CRM database, Celery broker,")


def test_celery_without_a_broker(setup):
    setup.set(XERO_PIPELINES_EXECUTOR="celery")
    assert preflight(setup) == [
        "XERO_PIPELINES_CELERY_BROKER is not set: XERO_PIPELINES_EXECUTOR=celery needs the "
        "Celery broker's URL (e.g. redis://host:6379/0)"
    ]


def test_an_unreachable_xero(setup):
    port = _free_port()  # the sandbox, or Xero, is not there
    setup.set(XERO_API_URL=f"http://127.0.0.1:{port}")
    assert preflight(setup) == [
        f"cannot reach Xero's API at http://127.0.0.1:{port} (connection refused) "
        "— check XERO_API_URL"
    ]


def test_a_xero_url_that_is_not_the_api(setup, sandbox_server):
    setup.set(XERO_API_URL=f"{sandbox_server.url}/not-the-api")
    [line] = preflight(setup)
    assert line.endswith(
        "answers 404 for /connections: XERO_API_URL must be the base of Xero's API "
        "(https://api.xero.com)"
    )


def test_missing_xero_app_credentials(setup):
    setup.unset("XERO_CLIENT_SECRET")
    assert preflight(setup) == [
        "XERO_CLIENT_SECRET not set: register a Xero app (docs/xero-app.md)"
    ]


def test_every_independent_problem_is_reported_at_once(setup):
    setup.unset("DAGSTER_PG_PASSWORD")
    setup.set(
        CRM_DATABASE_URL=setup.login.url(setup.crm_db, password=WRONG),
        XERO_API_URL=f"http://127.0.0.1:{_free_port()}",
    )
    lines = preflight(setup)
    assert [line.split(" ")[0] for line in lines] == ["DAGSTER_PG_PASSWORD", "CRM", "cannot"]


# ---- as its own process ----------------------------------------------------------------


def run_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "xero_pipelines.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ),
        timeout=timeout,
    )


def test_the_command_passes_against_real_postgresql_and_the_sandbox(setup):
    result = run_cli("preflight")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == PASSED


def test_serve_starts_nothing_when_preflight_fails(setup):
    setup.set(DAGSTER_PG_PASSWORD=WRONG)
    result = run_cli("serve", "daemon")
    assert result.returncode == 1
    assert "check DAGSTER_PG_PASSWORD" in result.stderr
    assert WRONG not in result.stdout + result.stderr
    assert "dagster-daemon" not in result.stdout + result.stderr  # it never started


@pytest.mark.slow
def test_serve_webserver_execs_dagster_webserver_on_the_production_instance(setup, tmp_path):
    """After preflight the process becomes `dagster-webserver -w workspace.yaml` (exec:
    the same pid), serving this code location from the PostgreSQL instance with its
    run queue."""
    port = _free_port()
    log = tmp_path / "webserver.log"
    command = [sys.executable, "-m", "xero_pipelines.cli", "serve", "webserver"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "-h", "127.0.0.1", "-p", str(port)],
            cwd=ROOT,
            env=dict(os.environ),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        answer = _wait_for_graphql(process, port, log)
        instance = answer["data"]["instance"]
        assert instance["runQueuingSupported"] is True
        assert instance["runLauncher"]["name"] == "DefaultRunLauncher"
        argv = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
        assert any(arg.endswith(b"dagster-webserver") for arg in argv), argv
        assert b"-w" in argv and b"workspace.yaml" in argv
        assert PASSED in log.read_text()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


QUERY = "{ instance { runQueuingSupported runLauncher { name } } }"


def _wait_for_graphql(process: subprocess.Popen, port: int, log: Path, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise AssertionError(f"the webserver exited:\n{log.read_text()[-3000:]}")
        try:
            answer = requests.post(
                f"http://127.0.0.1:{port}/graphql", json={"query": QUERY}, timeout=5
            )
            if answer.status_code == 200:
                return answer.json()
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the webserver did not answer:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
