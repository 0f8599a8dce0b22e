"""`xero-pipelines import [--full-refresh]`: the import job run in the command's process
against the sandbox over HTTP, on SQLite and PostgreSQL, read back from what it printed
(progress bars, summary), the database and the sandbox's own call counts."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import func, select

from tests.assets.conftest import connected_tenant  # noqa: F401
from tests.cli.cli_runner import run_cli, table_body
from xero_pipelines.cli.imports import JOB, LAUNCHED_BY, MIRRORS
from xero_pipelines.db import create_db_engine
from xero_pipelines.db.mirrors import XeroContactRow
from xero_pipelines.db.models import XeroAccountLink, XeroAccountSummary
from xero_pipelines.xero.settings_store import set_setting

CLI = str(Path(sys.executable).with_name("xero-pipelines"))
API = "/api.xro/2.0/"


@pytest.fixture
def configured(sandbox, db_url, connected_tenant, monkeypatch) -> str:  # noqa: F811
    """The environment a deployment gives the command: the CRM database, the Xero app,
    the sandbox's URLs, no DAGSTER_HOME (an ephemeral instance)."""
    for name, value in {
        "CRM_DATABASE_URL": db_url,
        "XERO_CLIENT_ID": "sandbox",
        "XERO_CLIENT_SECRET": "sandbox",
        "XERO_API_URL": sandbox.url,
        "XERO_IDENTITY_URL": sandbox.url,
        "XERO_LOGIN_URL": sandbox.url,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return db_url


def api_calls(sandbox) -> int:
    return sum(n for key, n in sandbox.stats().items() if key.split(" ")[1].startswith(API))


def count(db_url: str, model) -> int:
    engine = create_db_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(model))
    finally:
        engine.dispose()


def bar(out: str, asset: str) -> str:
    """The progress line of one mirror (rich prints the final bars once into a pipe)."""
    [line] = [line for line in out.splitlines() if line.startswith(asset) and "pages" in line]
    return line


def mirror_table(out: str) -> dict[str, list[str]]:
    """The summary's mirror table: mirror → pages, read, inserted, updated, unchanged,
    skipped, rows now."""
    return {cells[0]: cells[1:] for cells in table_body(out) if cells[0] in MIRRORS}


def test_import_shows_a_bar_per_mirror_and_the_final_counts(sandbox, configured, capsys):
    engine = create_db_engine(configured)
    set_setting(engine, "import_customers", "true")  # so the run links and summarises
    engine.dispose()
    sandbox.seed(contacts=1500, invoices=1200, credit_notes=50, seed=5)
    before = api_calls(sandbox)

    code, out, err = run_cli(capsys, "import")

    assert code == 0, err
    calls = api_calls(sandbox) - before
    contacts = count(configured, XeroContactRow)
    assert contacts == 1500
    for asset in MIRRORS:
        assert asset in bar(out, asset)
    assert "pages 2/2" in bar(out, "xero_contacts")
    assert "records 1,500/1,500" in bar(out, "xero_contacts")
    assert "pages 1/1" in bar(out, "xero_organisation")
    table = mirror_table(out)
    assert set(table) == set(MIRRORS)
    assert table["xero_contacts"] == ["2", "1,500", "1,500", "0", "0", "0", "1,500"]
    invoice_pages = int(table["xero_invoices"][0])
    assert invoice_pages == math.ceil(int(table["xero_invoices"][1].replace(",", "")) / 1000)
    assert f"Xero API calls: {calls:,};" in out
    links, summaries = count(configured, XeroAccountLink), count(configured, XeroAccountSummary)
    assert links > 0 and summaries == links
    assert re.search(rf"^Links: {links} \({links} by import\); ", out, re.M)
    assert re.search(rf"^Summaries: {summaries} linked accounts; {summaries} inserted", out, re.M)


def synced_at(db_url: str, agg) -> datetime:
    engine = create_db_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.scalar(select(agg(XeroContactRow.synced_at)))
    finally:
        engine.dispose()


def test_full_refresh_reads_and_rewrites_every_row(sandbox, configured, capsys):
    sandbox.seed(contacts=300, invoices=200, seed=9)
    assert run_cli(capsys, "import")[0] == 0
    code, out, _ = run_cli(capsys, "import")
    assert code == 0
    pages, read, inserted, updated, _, _, total = mirror_table(out)["xero_contacts"]
    # Nothing changed: one call, only the few seconds of overlap before the watermark read.
    assert (pages, inserted, updated, total) == ("1", "0", "0", "300")
    assert int(read) < 300
    assert "Full refresh" not in out
    newest_before = synced_at(configured, func.max)

    code, out, _ = run_cli(capsys, "import", "--full-refresh")

    assert code == 0
    refreshed = mirror_table(out)["xero_contacts"]
    assert refreshed == ["1", "300", "0", "0", "300", "0", "300"]  # pages, read, ..., rows now
    assert "Full refresh: every record was read again" in out
    assert synced_at(configured, func.min) > newest_before  # every row written again


def test_a_lost_connection_fails_with_one_line(sandbox, configured, capsys):
    sandbox.revoke_app()  # the app was removed inside Xero

    code, out, err = run_cli(capsys, "import")

    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("Error: the import failed in ")
    assert "xero-pipelines reconnect" in line
    assert "Traceback" not in out + err


def test_a_running_import_on_the_instance_is_not_doubled(configured, tmp_path, monkeypatch, capsys):
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        running = instance.add_run(
            dg.DagsterRun(job_name=JOB, run_id="0123abcd-0000", status=dg.DagsterRunStatus.STARTED)
        )

    code, _, err = run_cli(capsys, "import")

    assert code == 1
    assert f"an import is already running on this instance (run {running.run_id[:8]}" in err


@pytest.mark.slow
def test_the_command_records_its_run_in_dagster_home(sandbox, configured, tmp_path):
    """End to end as an operator runs it: its own process, a persistent instance."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    sandbox.seed(contacts=120, invoices=80, seed=2)
    env = {**os.environ, "DAGSTER_HOME": str(home), "COLUMNS": "160"}

    proc = subprocess.run([CLI, "import"], env=env, capture_output=True, text=True, timeout=300)

    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "records 120/120" in bar(proc.stdout, "xero_contacts")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        [run] = instance.get_runs(dg.RunsFilter(job_name=JOB))
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert LAUNCHED_BY.items() <= run.tags.items()
        assert "xero_contacts" in {key.to_user_string() for key in instance.all_asset_keys()}
