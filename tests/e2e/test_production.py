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
   failure through GraphQL: the retry completes the import.

Run monitoring's timings are shortened (`production_home`) and request runs may last
MAX_RUNTIME seconds, so dead runs end in seconds rather than the production minutes.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
import requests
from cryptography.fernet import Fernet
from dagster._core.events import DagsterEventType
from sqlalchemy import Engine, insert

from tests.e2e.celery_workers import celery_env
from tests.e2e.daemon import sensor_ticks
from tests.e2e.graphql import DagsterApi
from tests.e2e.helpers import XeroReader, daemon_env, load_crm, read_rows
from tests.e2e.production import CLI, Stack, production_home
from tests.e2e.test_celery_import import IMPORT_ASSETS, run_steps, table_count
from tests.fixtures.databases import DatabaseFactory
from tests.fixtures.pg_login import PgLogin, pg_login_fixture  # noqa: F401 (the fixture)
from tests.fixtures.sandbox import SandboxClient
from xero_pipelines.db import create_db_engine
from xero_pipelines.db.models import (
    CrmAccount,
    CrmContact,
    CrmOpportunity,
    CrmOpportunityLine,
    XeroDraftRequest,
    XeroExportRequest,
)

pytestmark = pytest.mark.slow

WAIT = 240  # seconds at most for any one thing the deployment must do
INTERVAL, BATCH = 2, 20  # sensor ticks (s) and requests per run: the batch needs 10 runs
MAX_RUNTIME = 60  # s a request run may last before run monitoring cancels it
MONITORING = {"poll_interval_seconds": 2, "start_timeout_seconds": 60, "cancel_timeout_seconds": 10}
NEW_ACCOUNTS = range(10, 160)  # the batch's 150 exports (accounts 1-9: load_crm's)
NEW_OPPORTUNITIES = range(10, 60)  # the batch's 50 drafts, on accounts 1-9
HELD = "/api.xro/2.0/Invoices"  # the mirror whose worker is killed
API = "/api.xro/2.0/"
SENSORS = ("xero_export_request_sensor", "xero_draft_request_sensor")


# --- setting up ---------------------------------------------------------------------------


@pytest.fixture
def stack(
    tmp_path: Path, postgres_admin_url: str, pg_login: PgLogin, redis_url: str, monkeypatch
) -> Iterator[tuple[Stack, Engine, Path]]:
    """The CRM database, Dagster's storage and every service's environment; the stack is
    closed (every process group stopped) however the test ends."""
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
        yield running, engine, home


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
    for line in process.stdout:
        if line.startswith("http"):
            assert requests.get(line.strip(), timeout=30).status_code == 200
            break
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, (out, err)
    return out


def more_crm(engine: Engine) -> None:
    """The batch's accounts (150 with a primary contact) and 50 more opportunities on the
    accounts exported already (one line each)."""
    accounts = [
        {"id": i, "name": f"Pier Cargo {i} Ltd", "account_number": f"P-{i:03d}", "country": "NZ"}
        for i in NEW_ACCOUNTS
    ]
    contacts = [
        {
            "id": 1000 + i,
            "account_id": i,
            "first_name": "Mere",
            "last_name": f"Pier{i}",
            "email": f"mere@pier{i}.example",
            "is_primary": True,
        }
        for i in NEW_ACCOUNTS
    ]
    opportunities = [
        {
            "id": i,
            "account_id": 1 + i % 9,
            "name": f"Cargo lane {i}",
            "opportunity_number": f"OPP-P-{i:03d}",
            "currency_code": "NZD",
            "amount": Decimal(500),
        }
        for i in NEW_OPPORTUNITIES
    ]
    lines = [
        {
            "id": 100 + i,
            "opportunity_id": i,
            "description": "Lane fee",
            "quantity": Decimal(1),
            "unit_price": Decimal(500),
            "discount_rate": Decimal(0),
            "tax_type": "OUTPUT2",
        }
        for i in NEW_OPPORTUNITIES
    ]
    with engine.begin() as conn:
        for model, rows in (
            (CrmAccount, accounts),
            (CrmContact, contacts),
            (CrmOpportunity, opportunities),
            (CrmOpportunityLine, lines),
        ):
            conn.execute(insert(model), rows)


def finished(engine: Engine) -> Counter[str]:
    """Statuses of both request tables together."""
    return Counter(
        row.status
        for model in (XeroExportRequest, XeroDraftRequest)
        for row in read_rows(engine, model).values()
    )


def all_records(reader: XeroReader, path: str, **params: str) -> list[dict]:
    """Every record of `path`, page by page (1,000 a page)."""
    found, page = [], 1
    while True:
        batch = reader.get(path, page=page, pageSize=1000, **params)[path]
        found += batch
        if len(batch) < 1000:
            return found
        page += 1


def duplicates(reader: XeroReader) -> dict[str, dict[str, int]]:
    """Our contacts per AccountNumber and our documents per Reference seen more than once."""
    numbers = Counter(
        c.get("AccountNumber") for c in all_records(reader, "Contacts", includeArchived="true")
    )
    references = Counter(
        d.get("Reference") for kind in ("Invoices", "Quotes") for d in all_records(reader, kind)
    )
    ours = ("E2E-", "P-", "OPP-")
    return {
        "contacts": {k: v for k, v in numbers.items() if k and k.startswith(ours) and v > 1},
        "documents": {k: v for k, v in references.items() if k and k.startswith(ours) and v > 1},
    }


# --- the test -----------------------------------------------------------------------------


def test_the_production_deployment_survives_a_killed_daemon_and_a_killed_celery_worker(
    stack, tmp_path
):
    running, engine, home = stack
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
    connect_cli(running)
    for name in ("w1", "w2"):
        running.worker(name)
    running.daemon(home)
    api = DagsterApi(running.webserver(home))
    instance = dg.DagsterInstance.get()
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
    running.wait_for(lambda: finished(engine) == {"done": 9}, "the 9 exports", WAIT)
    drafts = [{"opportunity_id": i, "revenue_account_code": "200"} for i in range(1, 10)]
    insert_rows(engine, XeroDraftRequest, drafts)
    running.wait_for(lambda: finished(engine) == {"done": 18}, "the 9 drafts", WAIT)
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
    running["daemon"].kill()
    lap("batch until the kill")
    running.daemon(home)
    running.wait_for(
        lambda: set(finished(engine)) <= {"done", "failed"}, "every request to end", WAIT
    )
    outcome = finished(engine)
    lap("batch after the kill")
    assert outcome["done"] + outcome["failed"] == 218, outcome
    for model in (XeroExportRequest, XeroDraftRequest):
        for row in read_rows(engine, model).values():
            assert row.status == "done" or row.error, row  # a failure says why
    assert duplicates(reader) == {"contacts": {}, "documents": {}}
    check_in_xero(engine, reader)

    # The history from before the kill, through a restarted webserver.
    running.stop("webserver")
    api = DagsterApi(running.webserver(home))
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
    assert api.status(killed_import) == "STARTED"
    assert not step_succeeded(instance, killed_import, "xero_invoices")
    api.cancel(killed_import)
    retry = api.reexecute_from_failure(killed_import)
    wait_for_run(running, api, retry, "SUCCESS")
    latest = api.latest_materialisations(list(IMPORT_ASSETS))
    assert latest["xero_invoices"] == retry and set(latest.values()) <= {killed_import, retry}
    invoices = len(all_records(reader, "Invoices", where='Type=="ACCREC"'))
    assert table_count(engine, "xero_invoices") == invoices
    lap("import killed and retried")

    # Nothing was lost with the daemon's kill: runs from before are still there.
    assert set(runs_before) <= set(api.runs())
    print(f"\nat the kill: {dict(at_kill)}; outcome: {dict(outcome)}; timings (s): {timings}")


def insert_rows(engine: Engine, model, rows: list[dict]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(model), rows)


def wait_for_run(running: Stack, api: DagsterApi, run_id: str, status: str) -> None:
    ended = running.wait_for(
        lambda: (s := api.status(run_id)) in ("SUCCESS", "FAILURE", "CANCELED") and s,
        f"run {run_id} to end",
        WAIT,
    )
    assert ended == status, f"run {run_id} ended {ended}\n{running.tails()}"


def step_worker(instance: dg.DagsterInstance, run_id: str, step: str) -> str | None:
    """The Celery worker's name (before the `@`) once `step` started on it."""
    found = run_steps(instance, run_id)[0].get(step)
    if found is None or found.worker is None or found.pid is None:
        return None
    return found.worker.split("@")[0]


def step_succeeded(instance: dg.DagsterInstance, run_id: str, step: str) -> bool:
    records = instance.all_logs(run_id, of_type=DagsterEventType.STEP_SUCCESS)
    return any(r.dagster_event.step_key == step for r in records)


def check_in_xero(engine: Engine, reader: XeroReader) -> None:
    """Every done export's contact and every done draft's document is in Xero."""
    contacts = {c["ContactID"] for c in all_records(reader, "Contacts", includeArchived="true")}
    documents = {d["InvoiceID"] for d in all_records(reader, "Invoices")}
    documents |= {q["QuoteID"] for q in all_records(reader, "Quotes")}
    for row in read_rows(engine, XeroExportRequest).values():
        assert row.status != "done" or row.xero_contact_id in contacts, row
    for row in read_rows(engine, XeroDraftRequest).values():
        assert row.status != "done" or row.xero_document_id in documents, row
