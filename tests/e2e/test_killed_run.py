"""End to end, a crash: the process running an export is SIGKILLed after Xero wrote the
contacts and before the job could commit the outcome. Dagster's run monitoring ends the
dead run when it outlives its `dagster/max_runtime` (the default run launcher cannot see
a worker die), the sensor gives the requests back, a new run retries them, and Xero ends
with one contact per account: zero duplicates, zero requests lost.

To stop the job exactly there, the test holds the request rows locked in the CRM database
(as another writer might) from the moment the create reaches the sandbox (held there a
few seconds by an injected latency) until the job is killed: Xero answers, the job's
commit waits on the lock, and the kill lands in between. Run monitoring polls every
second here (production: every 2 minutes, `dagster.yaml`), and a run may last 20 s.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import pytest
from dagster._core.events import DagsterEventType
from sqlalchemy import Engine, select

from tests.e2e.daemon import dagster_daemon, runs_for_key, sensor_ticks
from tests.e2e.helpers import (
    XeroReader,
    all_finished,
    connect,
    daemon_env,
    insert_requests,
    load_crm,
    read_rows,
    sync_mirrors,
    wait_for,
)
from xero_pipelines.db.engine import locked_transaction
from xero_pipelines.db.models import XeroAccountLink, XeroExportRequest

pytestmark = pytest.mark.slow

INTERVAL = 2
MAX_RUNTIME = 20  # seconds a request run may last before run monitoring cancels it
MONITORING = {
    "run_monitoring": {
        "enabled": True,
        "start_timeout_seconds": 180,
        "poll_interval_seconds": 1,
        "cancel_timeout_seconds": 3,
    }
}
HELD_MS = 4000  # the sandbox holds the create this long before writing and answering
ACCOUNTS = range(1, 6)
PUT_CONTACTS = "PUT /api.xro/2.0/Contacts"


def step_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The process the run's op runs in (its STEP_START event's pid): the run worker,
    since the request jobs execute in process."""
    records = instance.all_logs(run_id, of_type=DagsterEventType.STEP_START)
    return records[0].dagster_event.pid if records else None


@contextmanager
def rows_locked(engine: Engine, ids: list[int]) -> Iterator[None]:
    """Hold the rows' write lock (SQLite: the database's; PostgreSQL: FOR UPDATE) until
    the block ends, then let go without changing anything."""
    with locked_transaction(engine) as conn:
        t = XeroExportRequest.__table__
        conn.execute(select(t.c.id).where(t.c.id.in_(ids)).with_for_update()).all()
        yield
        conn.rollback()


def test_a_run_killed_between_its_xero_write_and_its_commit_is_retried_without_duplicates(
    sandbox, db_url, db_engine, tmp_path, monkeypatch
):
    connect(db_engine, sandbox.url, monkeypatch)
    load_crm(db_engine)
    sync_mirrors(db_url, sandbox.url)
    xero = XeroReader(sandbox)

    env = {
        **daemon_env(db_url, sandbox.url, INTERVAL, 50),
        "XERO_REQUEST_MAX_RUNTIME": str(MAX_RUNTIME),
    }
    with dagster_daemon(tmp_path, env, MONITORING) as daemon:
        instance = daemon.instance()
        wait_for(
            daemon,
            lambda: sensor_ticks(instance, "xero_export_request_sensor"),
            "the export sensor's first tick",
            timeout=180,
        )
        sandbox.faults(latency_ms=HELD_MS, path="/api.xro/2.0/Contacts")
        ids, _ = insert_requests(
            db_engine, XeroExportRequest, [{"crm_account_id": i} for i in ACCOUNTS]
        )
        wait_for(
            daemon,
            lambda: sandbox.stats().get(PUT_CONTACTS, 0) >= 1,
            "the export's create to reach Xero",
        )
        with rows_locked(db_engine, ids):  # the job's commit will wait here
            sandbox.clear_faults()  # the held create keeps its delay; later calls go at once
            wait_for(
                daemon,
                lambda: len(xero.get("Contacts")["Contacts"]) == len(ACCOUNTS),
                "the contacts to land in Xero",
                timeout=60,
            )
            [first_key] = {r.run_key for r in read_rows(db_engine, XeroExportRequest).values()}
            [first_run] = runs_for_key(instance, first_key)
            pid = step_pid(instance, first_run.run_id)
            assert pid is not None and pid != os.getpid()
            os.kill(pid, signal.SIGKILL)  # Xero has the contacts; the job recorded nothing
        assert all(r.status != "done" for r in read_rows(db_engine, XeroExportRequest).values())

        wait_for(daemon, all_finished(db_engine, XeroExportRequest), "the retried requests")
        rows = read_rows(db_engine, XeroExportRequest)
        [second_key] = {r.run_key for r in rows.values()}
        wait_for(
            daemon,
            lambda: all(r.is_finished for r in runs_for_key(instance, second_key)),
            "the retry's run to end",
            timeout=120,
        )
        first = instance.get_run_by_id(first_run.run_id)
        [second] = runs_for_key(instance, second_key)

    assert first.status in (dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.FAILURE)
    assert second.status == dg.DagsterRunStatus.SUCCESS and second_key != first_key
    assert {(r.status, r.attempts, r.run_id) for r in rows.values()} == {("done", 2, second.run_id)}
    contacts = xero.get("Contacts", includeArchived="true")["Contacts"]
    numbers = sorted(c["AccountNumber"] for c in contacts)
    assert numbers == [f"E2E-{i:03d}" for i in ACCOUNTS]  # one each: no duplicate
    links = read_rows(db_engine, XeroAccountLink)
    by_account = {link.crm_account_id: link.xero_contact_id for link in links.values()}
    assert {rows[i].xero_contact_id for i in ids} == {c["ContactID"] for c in contacts}
    assert all(by_account[rows[i].crm_account_id] == rows[i].xero_contact_id for i in ids)
