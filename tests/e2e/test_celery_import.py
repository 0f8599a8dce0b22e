"""End to end, scale-out: `xero_import_job` with its steps on two Celery workers.

Real processes throughout: PostgreSQL (the CRM database, and Dagster's run and event
storage, which the workers reach through the instance the run hands them), Redis as the
broker and result backend, two Celery workers (2 steps at once each) started as
docs/celery.md says, the sandbox with Xero's limits on (5 calls in flight per
organisation), and the run itself in a `dagster job execute` process with
`XERO_PIPELINES_EXECUTOR=celery`.

Every Xero call is held a second in the sandbox, and the big mirrors fetch 4 pages at a
time, so the workers together ask for more than 5 calls at once: only the call slots in
the CRM database (advisory locks, `xero/call_slots.py`) keep them within Xero's limit. The
proof that they did is the sandbox's own count (every page asked for exactly once: a
refused call is counted and asked again) and the client's metadata (no 429 waited on).
The negative control runs the same import on workers without the shared slots and sees
the sandbox refuse calls, so the proof can fail.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import DagsterEventType
from dagster._core.instance.ref import InstanceRef
from sqlalchemy import Engine, make_url, text

from tests.e2e.celery_workers import celery_env, celery_workers, execute_job
from tests.e2e.daemon import prepare_home
from tests.e2e.helpers import XeroReader, connect, daemon_env, load_crm, token_key
from tests.fixtures.databases import DatabaseFactory
from tests.fixtures.sandbox import SandboxClient
from xero_pipelines.db import create_db_engine

pytestmark = pytest.mark.slow

CONTACTS, INVOICES, CREDIT_NOTES = 5000, 6000, 5000  # several pages of 1,000 each
LATENCY_MS = 1000  # every Xero call is held this long, so calls overlap
API = "/api.xro/2.0/"
MIRRORS = (
    "xero_contacts",
    "xero_invoices",
    "xero_credit_notes",
    "xero_revenue_accounts",
    "xero_organisation",
)
IMPORT_ASSETS = (*MIRRORS, "crm_accounts", "xero_account_links", "xero_account_summaries")
BIG = {  # the mirrors read in several pages, with what the mirror asks Xero for
    "xero_contacts": ("Contacts", {"includeArchived": "true"}),
    "xero_invoices": ("Invoices", {"where": 'Type=="ACCREC"'}),
    "xero_credit_notes": ("CreditNotes", {"where": 'Type=="ACCRECCREDIT"'}),
}


@dataclass
class Step:
    """One step of the run as its events tell it."""

    pid: int | None = None
    worker: str | None = None
    started: float | None = None
    succeeded: float | None = None
    rate_limit_waits: int | None = None
    retries: int | None = None


# Dagster's storage as the production instance (deploy/dagster.yaml) names it: settings
# read from the environment by each process that opens the instance, workers included.
STORAGE = {
    "postgres": {
        "postgres_db": {
            "username": {"env": "DAGSTER_PG_USERNAME"},
            "hostname": {"env": "DAGSTER_PG_HOST"},
            "db_name": {"env": "DAGSTER_PG_DB"},
            "port": {"env": "DAGSTER_PG_PORT"},
            "scheme": "postgresql+psycopg2",  # dagster-postgres's driver (not psycopg 3)
        }
    }
}


@pytest.fixture
def postgres_databases(postgres_admin_url: str, tmp_path: Path, monkeypatch) -> Iterator[str]:
    """A migrated CRM database (its URL) and an empty one for Dagster's storage (in the
    DAGSTER_PG_* variables every process inherits), on the session's server."""
    factory = DatabaseFactory("postgresql", tmp_path, postgres_admin_url)
    try:
        crm = factory.migrated()
        dagster = make_url(factory.empty())
        for name, value in (
            ("DAGSTER_PG_USERNAME", dagster.username),
            ("DAGSTER_PG_HOST", dagster.host),
            ("DAGSTER_PG_DB", dagster.database),
            ("DAGSTER_PG_PORT", str(dagster.port)),
        ):
            monkeypatch.setenv(name, value)
        yield crm
    finally:
        factory.close()


def run_steps(instance: dg.DagsterInstance, run_id: str) -> tuple[dict[str, Step], int | None]:
    """Per step: the worker process, the Celery worker's name, start and success times and
    the Xero counters of its materialisation; and the pid of the run's own process."""
    steps: dict[str, Step] = {}
    run_pid = None
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.RUN_START:
            run_pid = event.pid
        if event.step_key is None:
            continue
        step = steps.setdefault(event.step_key, Step())
        if event.event_type == DagsterEventType.STEP_START:
            step.pid, step.started = event.pid, record.timestamp
        elif event.event_type == DagsterEventType.STEP_SUCCESS:
            step.succeeded = record.timestamp
        elif event.event_type == DagsterEventType.ENGINE_EVENT:
            worker = event.engine_event_data.metadata.get("Celery worker")
            if worker is not None:
                step.worker = worker.value
        elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            metadata = event.step_materialization_data.materialization.metadata
            if "xero_calls" in metadata:
                step.rate_limit_waits = metadata["xero_rate_limit_waits"].value
                step.retries = metadata["xero_retries"].value
    return steps, run_pid


def overlapping_in_two_processes(steps: dict[str, Step]) -> list[tuple[str, str]]:
    """Pairs of mirror steps that ran at the same time in different processes."""
    return [
        (a, b)
        for a, b in combinations(MIRRORS, 2)
        if steps[a].pid != steps[b].pid
        and steps[a].started < steps[b].succeeded
        and steps[b].started < steps[a].succeeded
    ]


def table_count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def item_count(reader: XeroReader, path: str, **params: str) -> int:
    """Xero's own count of what a full read of `path` returns (`pagination.itemCount`)."""
    return reader.get(path, page=1, pageSize=1, **params)["pagination"]["itemCount"]


@dataclass
class Outcome:
    """What a run of the import on the workers left behind."""

    status: int
    run: dg.DagsterRun
    steps: dict[str, Step]
    run_pid: int | None
    calls: dict[str, int]  # the sandbox's count of calls served or refused, per path
    expected: dict[str, int]  # per big mirror, the records Xero holds for it
    logs: str

    def pages(self, mirror: str) -> int:
        return math.ceil(self.expected[mirror] / 1000)


def import_on_two_workers(
    sandbox: SandboxClient,
    redis_url: str,
    crm_url: str,
    engine: Engine,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    includes: tuple[str, ...] = (),
) -> Outcome:
    """Connect, seed, hold every Xero call LATENCY_MS, and run `xero_import_job` on two
    Celery workers (concurrency 2 each); read back the run and the sandbox's counts. The
    workers load the code location while the organisation is connected and seeded."""
    token_key(monkeypatch)  # in the workers' environment from their start
    home = prepare_home(folder, {"storage": STORAGE})
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))  # makes tables
    env = {**daemon_env(crm_url, sandbox.url, 60, 50), **celery_env(redis_url)}
    run_log = folder / "run.log"
    with celery_workers(folder, env, ("w1", "w2"), concurrency=2, includes=includes) as workers:
        connect(engine, sandbox.url, monkeypatch)
        load_crm(engine)
        sandbox.seed(contacts=CONTACTS, invoices=INVOICES, credit_notes=CREDIT_NOTES, seed=10)
        sandbox.limits(enabled=True, concurrent=5)
        sandbox.faults(latency_ms=LATENCY_MS, path=API)
        workers.wait_until_answering()
        status = execute_job(home, env, "xero_import_job", run_log)
        workers.check_alive()
        logs = run_log.read_text(errors="replace")[-4000:] + "\n" + workers.log_tail()
    calls = sandbox.stats()
    sandbox.clear_faults()

    [run] = instance.get_runs(dg.RunsFilter(job_name="xero_import_job"))
    steps, run_pid = run_steps(instance, run.run_id)
    reader = XeroReader(sandbox)
    expected = {
        mirror: item_count(reader, path, **params) for mirror, (path, params) in BIG.items()
    }
    return Outcome(status, run, steps, run_pid, calls, expected, logs)


@pytest.fixture
def crm_engine(postgres_databases: str) -> Iterator[Engine]:
    engine = create_db_engine(postgres_databases)
    yield engine
    engine.dispose()


def test_the_import_runs_its_mirrors_on_two_celery_workers_within_xeros_call_limit(
    sandbox, redis_url, postgres_databases, crm_engine, tmp_path, monkeypatch
):
    out = import_on_two_workers(
        sandbox, redis_url, postgres_databases, crm_engine, tmp_path, monkeypatch
    )
    assert out.status == 0 and out.run.status == dg.DagsterRunStatus.SUCCESS, (
        f"{out.run.status}\n{out.logs}"
    )
    steps = out.steps
    assert set(IMPORT_ASSETS) <= {key for key, step in steps.items() if step.succeeded}

    # The steps ran in Celery's worker processes, on both workers, at the same time.
    assert {s.worker.split("@")[0] for s in steps.values() if s.worker} == {"w1", "w2"}
    pids = {s.pid for s in steps.values()}
    assert len(pids) >= 2 and out.run_pid not in pids
    assert overlapping_in_two_processes(steps), steps

    # Xero's limit held: the sandbox counted each page once (a refused call is counted
    # and asked again), and no step waited on a 429 or retried a call.
    for mirror, (path, _) in BIG.items():
        assert out.pages(mirror) >= 3, out.expected
        assert out.calls.get(f"GET {API}{path}") == out.pages(mirror), (mirror, out.calls)
    for mirror in MIRRORS:
        assert (steps[mirror].rate_limit_waits, steps[mirror].retries) == (0, 0), mirror

    # The mirrors are whole.
    for mirror, count in out.expected.items():
        assert table_count(crm_engine, mirror) == count, mirror
    assert table_count(crm_engine, "xero_revenue_accounts") > 0
    assert table_count(crm_engine, "xero_organisation") == 1


def test_without_shared_call_slots_the_same_run_is_refused_by_xero(
    sandbox, redis_url, postgres_databases, crm_engine, tmp_path, monkeypatch
):
    """The negative control: the same run on workers whose calls take no shared slot
    (each process's pacer alone caps them at 5) overruns the organisation's 5 calls in
    flight, and the sandbox counts the refused calls. So the test above can fail."""
    out = import_on_two_workers(
        sandbox,
        redis_url,
        postgres_databases,
        crm_engine,
        tmp_path,
        monkeypatch,
        includes=("tests.e2e.celery_without_call_slots",),
    )
    asked = sum(out.calls.get(f"GET {API}{path}", 0) for path, _ in BIG.values())
    pages = sum(out.pages(mirror) for mirror in BIG)
    assert asked > pages, (out.calls, out.expected, out.logs)
