"""`xero-pipelines db ...` as a user runs it: real process, real databases."""

from __future__ import annotations

import os
import subprocess
import sys

from click.testing import CliRunner
from sqlalchemy import inspect, text

from xero_pipelines.cli import main
from xero_pipelines.db import create_db_engine


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "xero_pipelines.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_upgrade_twice_then_current(empty_db_url, monkeypatch):
    monkeypatch.setenv("CRM_DATABASE_URL", empty_db_url)
    runner = CliRunner()
    first = runner.invoke(main, ["db", "upgrade"])
    assert first.exit_code == 0, first.output
    assert "is at revision 0002" in first.output
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(main, ["db", "current"]).output.strip() == "0002"
    engine = create_db_engine(empty_db_url)
    assert "xero_account_summaries" in inspect(engine).get_table_names()
    engine.dispose()


def test_default_database_is_sqlite_under_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XERO_PIPELINES_HOME", str(tmp_path / "state"))
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "state" / "crm.sqlite").exists()


def test_unreachable_database_fails_in_one_line():
    result = run_cli(
        "db", "upgrade", env={"CRM_DATABASE_URL": "postgresql+psycopg://u:hunter2@127.0.0.1:1/x"}
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Connection refused" in lines[0] or "connection failed" in lines[0]
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr


def test_malformed_url_fails_in_one_line():
    result = run_cli("db", "upgrade", env={"CRM_DATABASE_URL": "not a url"})
    assert result.returncode != 0
    assert result.stderr.strip() == (
        "Error: CRM_DATABASE_URL is not a database URL: "
        "Could not parse SQLAlchemy URL from given URL string"
    )


def test_conflicting_layout_is_reported_not_clobbered(empty_db_url, monkeypatch):
    engine = create_db_engine(empty_db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE crm_contacts (id INTEGER PRIMARY KEY, fullname TEXT)"))
    monkeypatch.setenv("CRM_DATABASE_URL", empty_db_url)
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 1
    assert "crm_contacts already exists with a layout the pipeline cannot use" in result.output
    assert "no column account_id" in result.output
    assert "left untouched" in result.output
    assert [c["name"] for c in inspect(engine).get_columns("crm_contacts")] == ["id", "fullname"]
    engine.dispose()


def test_downgrade_then_upgrade(empty_db_url, monkeypatch):
    monkeypatch.setenv("CRM_DATABASE_URL", empty_db_url)
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    down = runner.invoke(main, ["db", "downgrade", "base"])
    assert down.exit_code == 0 and "revision base" in down.output
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0


def test_url_with_a_bad_port_fails_in_one_line():
    result = run_cli("db", "upgrade", env={"CRM_DATABASE_URL": "postgresql+psycopg://u@h:port/x"})
    assert result.returncode == 1
    assert result.stderr.strip().startswith("Error: CRM_DATABASE_URL is not a database URL")
    assert len(result.stderr.strip().splitlines()) == 1


def test_unknown_revision_fails_in_one_line(db_url, monkeypatch):
    monkeypatch.setenv("CRM_DATABASE_URL", db_url)
    result = CliRunner().invoke(main, ["db", "upgrade", "--revision", "bogus"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: Can't locate revision identified by 'bogus'"


def test_unexpected_errors_are_one_line_with_a_debug_switch(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    env = {"XERO_PIPELINES_HOME": str(blocker / "home")}
    result = run_cli("demo", env=env)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "set XERO_PIPELINES_DEBUG=1 for the traceback" in line
    debug = run_cli("demo", env={**env, "XERO_PIPELINES_DEBUG": "1"})
    assert "Traceback" in debug.stderr
