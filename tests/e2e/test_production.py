"""Issue 10's proof: the production deployment, end to end, as real processes, with a
daemon and a Celery worker killed in the middle of their work.

Started here (tests/e2e/production.py): a throwaway PostgreSQL server holding the CRM
database and Dagster's storage (a role that must give its password, as in production),
Redis, two Celery workers, the sandbox with Xero's limits on, and `dagster-daemon` and
`dagster-webserver` through `xero-pipelines serve` on `deploy/dagster.yaml`. The test then
connects with `xero-pipelines connect`, and:

1. launches `xero_import_job` through the webserver's GraphQL API (first: drafts are
   checked against the import's mirrors) and reads its materialisations back through it;
   the event log shows its steps in more than one Celery worker process;
2. inserts CRM accounts with export and draft requests; the request sensors' runs create
   the contacts and drafts in the sandbox and mark every row `done`;
3. inserts a batch of 200 requests and SIGKILLs the daemon's process group (the daemon,
   its code server and the runs it launched) while some rows are `done` and others
   `queued`; restarts it (and the webserver): every request ends `done` or `failed`, Xero
   holds no duplicate, and the runs from before the kill are still in PostgreSQL;
4. launches the import again with one mirror's Xero calls held, SIGKILLs the Celery worker
   running that mirror's step, restarts it, cancels the stuck run and re-executes it from
   failure through GraphQL: the retry completes the import. (A step lost with its worker
   is no step failure: the run waits for its result, docs/celery.md; so neither Dagster's
   run retries nor `retry_on_asset_or_op_failure` apply, and the operator's retry is it.)

Run monitoring's timings are shortened (`production_home`) and request runs may last
MAX_RUNTIME seconds, so dead runs end in seconds rather than the production minutes.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import dagster as dg
import pytest
import requests
from cryptography.fernet import Fernet
from sqlalchemy import Engine

from tests.e2e.celery_workers import celery_env
from tests.e2e.daemon import sensor_ticks
from tests.e2e.graphql import DagsterApi
from tests.e2e.helpers import XeroReader, daemon_env, load_crm, read_rows
from tests.e2e.production import CLI, Stack, production_home
from tests.e2e.production_data import (
    NEW_ACCOUNTS,
    NEW_OPPORTUNITIES,
    REQUESTS,
    all_records,
    check_in_xero,
    duplicates,
    finished,
    insert_rows,
    more_crm,
    step_succeeded,
    step_worker,
)
from tests.e2e.test_celery_import import IMPORT_ASSETS, run_steps, table_count
from tests.fixtures.databases import DatabaseFactory
from tests.fixtures.pg_login import PgLogin, pg_login_fixture  # noqa: F401 (the fixture)
from tests.fixtures.sandbox import SandboxClient
from xero_pipelines.db import create_db_engine
from xero_pipelines.db.models import XeroDraftRequest, XeroExportRequest

pytestmark = [
    pytest.mark.slow,
    # dagster_graphql's client calls gql in a way gql deprecates; not ours to change
    pytest.mark.filterwarnings("ignore::DeprecationWarning:gql.client"),
]

WAIT = 240  # seconds at most for any one thing the deployment must do
RECOVERY = 360  # seconds at most for the batch to end after the daemon's restart
INTERVAL, BATCH = 2, 20  # sensor ticks (s) and requests per run: the batch needs 10 runs
MAX_RUNTIME = 45  # s a request run may last before run monitoring cancels it (they take ~5)
MONITORING = {"poll_interval_seconds": 2, "start_timeout_seconds": 45, "cancel_timeout_seconds": 10}
HELD = "/api.xro/2.0/Invoices"  # the mirror whose worker is killed
LIVE = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
SENSORS = ("xero_export_request_sensor", "xero_draft_request_sensor")


# --- setting up ---------------------------------------------------------------------------


@pytest.fixture
def stack(
    tmp_path: Path, postgres_admin_url: str, pg_login: PgLogin, redis_url: str, monkeypatch
) -> Iterator[tuple[Stack, Engine, Path, dg.DagsterInstance]]:
    """The CRM database, Dagster's storage (its tables made here, once, before two
    services race to make them) and every service's environment; the stack is closed
    (every process group stopped) however the test ends."""
    factory = DatabaseFactory("postgresql", tmp_path, postgres_admin_url)
    crm_url = factory.migrated()
    home = production_home(tmp_path, MONITORING)
    env = {
        **daemon_env(crm_url, "", INTERVAL, BATCH),
        **celery_env(redis_url),
        **pg_login.dagster_env(pg_login.create_database()),
        "XERO_REQUEST_MAX_RUNTIME": str(MAX_RUNTIME),
        "XERO_REQUEST_VANISHED_AFTER": "30",
        "XERO_TOKEN_KEY": Fernet.generate_key().decode(),
        "DAGSTER_HOME": str(home),
    }
    for name, value in env.items():  # this process reads the same instance
        monkeypatch.setenv(name, value)
    engine = create_db_engine(crm_url)
    with ExitStack() as cleanup:
        cleanup.callback(factory.close)
        cleanup.callback(engine.dispose)
        running = Stack(tmp_path, env)
        cleanup.callback(running.close)
        instance = cleanup.enter_context(dg.DagsterInstance.get())
        yield running, engine, home, instance


def connect_cli(stack: Stack) -> str:
    """`xero-pipelines connect --no-browser`: follow the printed URL as a browser would."""
    command = [CLI, "connect", "--no-browser", "--port", "0", "--timeout", "60"]
    process = subprocess.Popen(
        command,
        env={**os.environ, **stack.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in process.stdout:
            if line.startswith("http"):
                assert requests.get(line.strip(), timeout=30).status_code == 200
                break
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode == 0, (out, err)
    return out


# --- the test -----------------------------------------------------------------------------


def test_the_production_deployment_survives_a_killed_daemon_and_a_killed_celery_worker(
    stack, tmp_path
):
    running, engine, home, instance = stack
    timings: dict[str, float] = {}
    clock = time.monotonic()

    def lap(name: str) -> None:
        nonlocal clock
        timings[name] = round(time.monotonic() - clock, 1)
        clock = time.monotonic()

    # --- the services, started as an operator starts them ---------------------------------
    url = running.sandbox()
    for name in ("XERO_API_URL", "XERO_IDENTITY_URL", "XERO_LOGIN_URL"):
        running.env[name] = url
    sandbox = SandboxClient(url)
    sandbox.limits(enabled=True)
    sandbox.seed(contacts=300, invoices=600, credit_notes=100, seed=8)
    # The other services start together, as an orchestrator starts them (each spends
    # seconds loading the code location), and the organisation is connected meanwhile.
    for name in ("w1", "w2"):
        running.start_worker(name)
    running.daemon(home)
    running.start_webserver(home)
    connect_cli(running)
    running.wait_for_workers("w1", "w2")
    api = DagsterApi(running.wait_for_webserver())
    running.wait_for(
        lambda: all(sensor_ticks(instance, s) for s in SENSORS), "the sensors' first ticks", WAIT
    )
    lap("start-up")

    # --- 1. the import through GraphQL, its steps on both workers ------------------------
    first_import = api.launch("xero_import_job")
    wait_for_run(running, api, first_import, "SUCCESS")
    assert set(api.latest_materialisations(list(IMPORT_ASSETS)).values()) == {first_import}
    steps, run_pid = run_steps(instance, first_import)
    workers = {s.worker.split("@")[0] for s in steps.values() if s.worker}
    pids = {s.pid for s in steps.values() if s.pid}
    assert workers == {"w1", "w2"} and len(pids) >= 2 and run_pid not in pids, steps
    lap("import 1")

    # --- 2. export and draft requests, answered by the sensors' runs ----------------------
    load_crm(engine)
    insert_rows(engine, XeroExportRequest, [{"crm_account_id": i} for i in range(1, 10)])
    all_done(running, engine, 9, "the 9 exports")
    drafts = [{"opportunity_id": i, "revenue_account_code": "200"} for i in range(1, 10)]
    insert_rows(engine, XeroDraftRequest, drafts)
    all_done(running, engine, 18, "the 9 drafts")
    reader = XeroReader(sandbox)
    check_in_xero(engine, reader)
    lap("18 requests")

    # --- 3. a batch of 200, the daemon killed in the middle -------------------------------
    more_crm(engine)
    batch = [{"crm_account_id": i} for i in NEW_ACCOUNTS]
    insert_rows(engine, XeroExportRequest, batch)
    insert_rows(
        engine,
        XeroDraftRequest,
        [{"opportunity_id": i, "revenue_account_code": "200"} for i in NEW_OPPORTUNITIES],
    )
    at_kill = running.wait_for(
        lambda: (c := finished(engine))["done"] >= 18 + BATCH and c["queued"] >= BATCH and c,
        "some of the batch done and some queued",
        WAIT,
    )
    runs_before = {r.run_id: r.status for r in instance.get_runs()}
    in_flight = [r.run_id for r in instance.get_runs(dg.RunsFilter(statuses=LIVE))]
    running["daemon"].kill()
    lap("batch until the kill")
    running.daemon(home)
    # The webserver restarts too, while the daemon recovers; the history is read from it
    # below, once the batch has ended.
    running.stop("webserver")
    running.start_webserver(home)
    running.wait_for(
        lambda: set(finished(engine)) <= {"done", "failed"}, "every request to end", RECOVERY
    )
    outcome = finished(engine)
    lap("batch after the kill")
    assert outcome["done"] + outcome["failed"] == 218, outcome
    # The kill hit runs at work: their processes died with the daemon's group, and run
    # monitoring ended them (max runtime, start timeout) so the sensors retried their rows.
    killed = {r[:8]: instance.get_run_by_id(r).status.value for r in in_flight}
    assert any(s != "SUCCESS" for s in killed.values()), killed
    retried = sum(
        row.attempts > 1 for model in REQUESTS for row in read_rows(engine, model).values()
    )
    for model in REQUESTS:
        for row in read_rows(engine, model).values():
            assert row.status == "done" or row.error, row  # a failure says why
    assert duplicates(reader) == {"contacts": {}, "documents": {}}
    check_in_xero(engine, reader)

    # The history from before the kill, through a restarted webserver: the instance keeps
    # it nowhere but in PostgreSQL.
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    api = DagsterApi(running.wait_for_webserver())
    after = api.runs()
    assert set(runs_before) <= set(after), set(runs_before) - set(after)
    for run_id, status in runs_before.items():
        if status in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE):
            assert after[run_id]["status"] == status.value, (run_id, status)
    lap("webserver restart")

    # --- 4. the import again, the worker of its invoices' step killed ---------------------
    sandbox.faults(latency_ms=8000, path=HELD)
    killed_import = api.launch("xero_import_job")
    victim = running.wait_for(
        lambda: step_worker(instance, killed_import, "xero_invoices"),
        "the invoices step to start on a worker",
        WAIT,
    )
    running[f"celery-{victim}"].kill()
    sandbox.clear_faults()
    running.worker(victim)
    time.sleep(5)  # the run's process polls a result no worker will ever send
    assert api.status(killed_import) == "STARTED", running.tails()
    assert not step_succeeded(instance, killed_import, "xero_invoices")
    api.cancel(killed_import)
    retry = api.reexecute_from_failure(killed_import)
    wait_for_run(running, api, retry, "SUCCESS")
    latest = api.latest_materialisations(list(IMPORT_ASSETS))
    assert latest["xero_invoices"] == retry and set(latest.values()) <= {killed_import, retry}
    assert step_worker(instance, retry, "xero_invoices"), "the retry ran on a Celery worker"
    invoices = len(all_records(reader, "Invoices", where='Type=="ACCREC"'))
    assert table_count(engine, "xero_invoices") == invoices
    lap("import killed and retried")

    # Nothing was lost with the daemon's kill: runs from before are still there.
    assert set(runs_before) <= set(api.runs())
    # No secret reached a log: Dagster storage's password, the token key.
    secrets = [running.env["DAGSTER_PG_PASSWORD"], running.env["XERO_TOKEN_KEY"]]
    for log in running.folder.glob("*.log"):
        text = log.read_text(errors="replace")
        assert not [s for s in secrets if s in text], f"a secret is in {log.name}"
    print(
        f"\nat the daemon's kill: {dict(at_kill)}, runs in flight {killed}; outcome: "
        f"{dict(outcome)}, {retried} requests retried; timings (s): {timings}"
    )


def all_done(running: Stack, engine: Engine, count: int, what: str) -> None:
    """Wait until `count` requests ended; every one must be `done` (a failure's sentence
    is in the message)."""

    def ended() -> bool:
        statuses = finished(engine)
        return statuses.total() == count and set(statuses) <= {"done", "failed"}

    running.wait_for(ended, what, WAIT)
    failed = [
        (row.id, row.error)
        for model in REQUESTS
        for row in read_rows(engine, model).values()
        if row.status != "done"
    ]
    assert not failed, failed


def wait_for_run(running: Stack, api: DagsterApi, run_id: str, status: str) -> None:
    ended = running.wait_for(
        lambda: (s := api.status(run_id)) in ("SUCCESS", "FAILURE", "CANCELED") and s,
        f"run {run_id} to end",
        WAIT,
    )
    assert ended == status, f"run {run_id} ended {ended}\n{running.tails()}"
