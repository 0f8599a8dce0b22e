"""Benchmark of the CRM's on-demand requests (issue 9) through `dagster-daemon`.

    .venv/bin/python benchmarks/requests_bench.py           # 1,000 + 1,000, 30 s ticks, PostgreSQL
    .venv/bin/python benchmarks/requests_bench.py --requests 200 --interval 10 --backend sqlite

On production's path: the sandbox in its own process (limits not enforced, so the figures
are the pipeline's own), a fresh CRM database connected with the OAuth2 `connect` flow,
the import's mirrors and links synced as the schedule would, then `dagster-daemon run`
over the repository's `dagster.yaml` and `workspace.yaml` (its code server evaluates the
sensors; one process per run; the run queue's limits as configured there).

N export requests (new accounts, each with a second contact) and N draft requests (one
opportunity of two lines for each of N accounts already linked to Xero contacts, a
quarter of them quotes) are inserted in one transaction, half an interval after a tick
(the mean wait of a click at a random moment). It prints, per scenario:
- Xero API calls used while the requests were answered (sandbox stats; setup excluded),
  by endpoint, exports and drafts apart (target: at most 25 for 1,000 exports);
- runs launched per job (target: at most 20 of each for 1,000), and retried requests;
- latency from `requested_at` to `processed_at`, p50 and p95, in seconds and in sensor
  intervals (target: p50 at most 1.5 intervals);
- outcomes, and duplicates in Xero (contacts per AccountNumber, documents per Reference).
Scenarios: clean, then 10% of the sandbox's API calls answering 503 (`--skip-faults`).
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests
from cryptography.fernet import Fernet
from import_setup import UNLIMITED, connect_database, database, database_on_server
from sandbox_process import sandbox_process
from sqlalchemy import Engine, insert, select

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests.e2e.daemon and the throwaway PostgreSQL

import dagster as dg  # noqa: E402

from tests.e2e.daemon import dagster_daemon, sensor_ticks  # noqa: E402
from xero_pipelines.db.models import (  # noqa: E402
    CrmAccount,
    CrmContact,
    CrmOpportunity,
    CrmOpportunityLine,
    XeroAccountLink,
    XeroDraftRequest,
    XeroExportRequest,
)
from xero_pipelines.resources.crm import CrmDatabase  # noqa: E402
from xero_pipelines.resources.xero import XeroResource  # noqa: E402

API = "/api.xro/2.0/"
EXPORT_PATHS = ("Contacts",)
SENSORS = ("xero_export_request_sensor", "xero_draft_request_sensor")


class Sandbox:
    """The sandbox's admin API (faults, limits, stats), over loopback."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()

    def post(self, path: str, body: dict) -> dict:
        r = self.http.post(f"{self.url}/_sandbox/{path}", json=body, timeout=60)
        r.raise_for_status()
        return r.json()

    def clear_faults(self) -> None:
        self.http.delete(f"{self.url}/_sandbox/faults", timeout=60).raise_for_status()

    def stats(self) -> Counter[str]:
        r = self.http.get(f"{self.url}/_sandbox/stats", timeout=60)
        r.raise_for_status()
        return Counter(r.json()["calls"])


# ---- the CRM -------------------------------------------------------------------------


def crm_rows(n: int) -> dict[type, list[dict[str, Any]]]:
    """Accounts 1..n to export (a primary and a second contact each) and n+1..2n already
    in Xero, each with one NZD opportunity of two lines (one discounted)."""
    rows: dict[type, list[dict[str, Any]]] = {
        CrmAccount: [],
        CrmContact: [],
        CrmOpportunity: [],
        CrmOpportunityLine: [],
    }
    for i in range(1, 2 * n + 1):
        rows[CrmAccount].append(
            {
                "id": i,
                "name": f"Bench Harbour {i:05d} Ltd",
                "account_number": f"B-{i:05d}",
                "email": f"accounts@bench{i}.example",
                "phone": f"+64 9 555 {i:05d}",
                "address_line1": f"{i} Quay Street",
                "city": "Auckland",
                "country": "NZ",
            }
        )
        for k, primary in ((1, True), (2, False)):
            rows[CrmContact].append(
                {
                    "id": 2 * i + k,
                    "account_id": i,
                    "first_name": "Aroha" if primary else "Ben",
                    "last_name": f"Ngata{i}",
                    "email": f"{'aroha' if primary else 'ben'}@bench{i}.example",
                    "is_primary": primary,
                }
            )
        if i > n:
            rows[CrmOpportunity].append(
                {
                    "id": i,
                    "account_id": i,
                    "name": f"Freight platform {i}",
                    "opportunity_number": f"OPP-B-{i:05d}",
                    "currency_code": "NZD",
                    "amount": Decimal("3255.00"),
                }
            )
            for k, (what, qty, price, discount) in enumerate(
                (("Annual subscription", 2, "1200.00", 0), ("Onboarding", 1, "950.00", 10))
            ):
                rows[CrmOpportunityLine].append(
                    {
                        "id": 2 * i + k,
                        "opportunity_id": i,
                        "description": what,
                        "quantity": Decimal(qty),
                        "unit_price": Decimal(price),
                        "discount_rate": Decimal(discount),
                        "tax_type": "OUTPUT2",
                    }
                )
    return rows


def create_in_xero(client, n: int) -> None:
    """Accounts n+1..2n as contacts in Xero already (setup; not counted)."""
    for start in range(n + 1, 2 * n + 1, 100):
        contacts = [
            {"Name": f"Bench Harbour {i:05d} Ltd", "AccountNumber": f"B-{i:05d}"}
            for i in range(start, min(start + 100, 2 * n + 1))
        ]
        client.put("Contacts", {"Contacts": contacts}, idempotency_key=f"bench-setup-{start}")


def sync_import(db_url: str, api_url: str) -> None:
    """The import's mirrors, CRM accounts and links, as the hourly schedule runs them."""
    from xero_pipelines.assets.crm import crm_accounts
    from xero_pipelines.assets.links import xero_account_links
    from xero_pipelines.assets.xero import xero_contacts, xero_organisation, xero_revenue_accounts

    crm = CrmDatabase(url=db_url)
    xero = XeroResource(
        crm=crm,
        client_id="sandbox",
        client_secret="sandbox",
        api_url=api_url,
        identity_url=api_url,
        login_url=api_url,
    )
    assets = [xero_contacts, xero_revenue_accounts, xero_organisation, crm_accounts]
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [*assets, xero_account_links],
            resources={"crm": crm, "xero": xero},
            instance=instance,
        )
    assert result.success


def insert_requests(engine: Engine, n: int) -> None:
    exports = [{"crm_account_id": i} for i in range(1, n + 1)]
    drafts = [
        {
            "opportunity_id": i,
            "revenue_account_code": "200",
            "export_type": "quote" if i % 4 == 0 else "invoice",
        }
        for i in range(n + 1, 2 * n + 1)
    ]
    with engine.begin() as conn:
        conn.execute(insert(XeroExportRequest), exports)
        conn.execute(insert(XeroDraftRequest), drafts)


def finished(engine: Engine) -> tuple[int, int]:
    """(requests finished, requests in all), both tables."""
    done = total = 0
    with engine.connect() as conn:
        for model in (XeroExportRequest, XeroDraftRequest):
            statuses = conn.execute(select(model.status)).scalars().all()
            total += len(statuses)
            done += sum(s in ("done", "failed") for s in statuses)
    return done, total


# ---- figures ---------------------------------------------------------------------------


@dataclass
class Figures:
    label: str
    interval: int
    calls: Counter[str]
    runs: Counter[str]
    retried: dict[str, int]
    latency: dict[str, list[float]]
    outcomes: dict[str, Counter[str]]
    errors: Counter[str]
    duplicates: dict[str, int]
    created: dict[str, int]
    wall: float
    timings: dict[str, float]


def api_calls(before: Counter[str], after: Counter[str]) -> Counter[str]:
    diff = Counter({k: after[k] - before.get(k, 0) for k in after})
    return Counter({k.replace(API, ""): v for k, v in diff.items() if v and API in k})


def read_outcomes(engine: Engine) -> tuple[dict, dict, Counter, dict]:
    latency: dict[str, list[float]] = {}
    outcomes: dict[str, Counter[str]] = {}
    errors: Counter[str] = Counter()
    retried: dict[str, int] = {}
    with engine.connect() as conn:
        for kind, model in (("export", XeroExportRequest), ("draft", XeroDraftRequest)):
            rows = conn.execute(select(model.__table__)).all()
            outcomes[kind] = Counter(r.status for r in rows)
            retried[kind] = sum(r.attempts > 1 for r in rows)
            errors.update(r.error for r in rows if r.status == "failed")
            latency[kind] = [
                (r.processed_at - r.requested_at).total_seconds() for r in rows if r.processed_at
            ]
    return latency, outcomes, errors, retried


def duplicates_in_xero(client, n: int) -> tuple[dict[str, int], dict[str, int]]:
    numbers = Counter(
        c.get("AccountNumber")
        for page in client.iter_pages("Contacts", "Contacts", {"includeArchived": "true"})
        for c in page
    )
    references: Counter[str] = Counter()
    for kind in ("Invoices", "Quotes"):
        answer = client.get(kind)
        references.update(d.get("Reference") for d in answer[kind])
    exported = sum(numbers[f"B-{i:05d}"] >= 1 for i in range(1, n + 1))
    documents = sum(references[f"OPP-B-{i:05d}"] >= 1 for i in range(n + 1, 2 * n + 1))
    return (
        {
            "contacts": sum(v - 1 for k, v in numbers.items() if k and v > 1),
            "documents": sum(v - 1 for k, v in references.items() if k and v > 1),
        },
        {"contacts": exported, "documents": documents},
    )


def run_timings(records: list) -> dict[str, float]:
    """Where a run's time goes: waiting in the run queue (created → started) and running
    (started → ended: process start, loading the code location, the op), medians."""
    waits = [r.start_time - r.create_timestamp.timestamp() for r in records if r.start_time]
    runs = [r.end_time - r.start_time for r in records if r.start_time and r.end_time]
    return {
        "queued_p50": statistics.median(waits) if waits else float("nan"),
        "running_p50": statistics.median(runs) if runs else float("nan"),
        "running_sum": sum(runs),
    }


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


# ---- one scenario ----------------------------------------------------------------------


def prepare(engine: Engine, client, db_url: str, api_url: str, n: int) -> None:
    """The CRM rows, n accounts already in Xero, and the import's mirrors and links."""
    with engine.begin() as conn:
        for model, values in crm_rows(n).items():
            conn.execute(insert(model), values)
    create_in_xero(client, n)
    sync_import(db_url, api_url)
    with engine.connect() as conn:
        links = len(conn.execute(select(XeroAccountLink.id)).all())
    assert links == n, f"{links} links, expected {n}"


def daemon_env(db_url: str, api_url: str, args) -> dict[str, str]:
    return {
        "CRM_DATABASE_URL": db_url,
        "XERO_CLIENT_ID": "sandbox",
        "XERO_CLIENT_SECRET": "sandbox",
        "XERO_API_URL": api_url,
        "XERO_IDENTITY_URL": api_url,
        "XERO_LOGIN_URL": api_url,
        "XERO_REQUEST_SENSOR_INTERVAL": str(args.interval),
        "XERO_REQUEST_BATCH_SIZE": str(args.batch),
        "XERO_IMPORT_CRON": "0 0 1 1 *",  # the schedule stays out of the way
    }


def wait(daemon, done, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        daemon.check_alive()
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{daemon.log_tail()}"
        time.sleep(1)


@dataclass
class Measured:
    calls: Counter[str]
    runs: Counter[str]
    timings: dict[str, float]
    wall: float


def measure(daemon, sandbox: Sandbox, engine: Engine, args, faults: dict | None) -> Measured:
    """Insert the requests half an interval after a tick (a click at a random moment waits
    half an interval for the next tick on average); wait until every one is answered."""
    instance = daemon.instance()
    wait(daemon, lambda: all(sensor_ticks(instance, s) for s in SENSORS), "first ticks", 300)
    last_tick = max(sensor_ticks(instance, s)[-1].timestamp for s in SENSORS)
    time.sleep(max(0.0, last_tick + args.interval / 2 - time.time()))
    if faults:
        sandbox.post("faults", faults)
    before = sandbox.stats()
    started = time.monotonic()
    insert_requests(engine, args.requests)
    wait(daemon, lambda: (p := finished(engine))[0] == p[1], "the requests", args.timeout)
    wall = time.monotonic() - started
    calls = api_calls(before, sandbox.stats())
    sandbox.clear_faults()
    records = [
        r
        for r in instance.get_run_records()
        if r.dagster_run.job_name in ("xero_export_job", "xero_draft_job")
    ]
    runs = Counter(r.dagster_run.job_name for r in records)
    return Measured(calls, runs, run_timings(records), wall)


@contextmanager
def dagster_storage(backend: str, folder: Path, name: str, pg_admin: str | None):
    """Dagster's own storage as production has it (deploy/dagster.yaml): PostgreSQL, in a
    database of its own, when the CRM is on PostgreSQL; else the embedded SQLite."""
    if backend != "postgresql":
        yield None
        return
    with database_on_server(pg_admin, name) as url:
        # dagster-postgres needs psycopg2, named: SQLAlchemy 2.1 reads a bare
        # `postgresql://` as psycopg 3, whose server-side binding refuses `NOTIFY ..., $1`
        dagster_url = url.replace("postgresql+psycopg://", "postgresql+psycopg2://")
        yield {"storage": {"postgres": {"postgres_url": dagster_url}}}


def scenario(label: str, args, pg_admin: str | None, faults: dict | None) -> Figures:
    with (
        tempfile.TemporaryDirectory(prefix="requests-bench-") as tmp,
        sandbox_process() as (url, _),
    ):
        folder = Path(tmp)
        sandbox = Sandbox(url)
        sandbox.post("limits", UNLIMITED)
        os.environ["XERO_PIPELINES_HOME"] = str(folder / "home")
        os.environ["XERO_TOKEN_KEY"] = Fernet.generate_key().decode()
        name = f"requests_bench_{label.replace(' ', '_').replace('%', '')}"
        with (
            database(args.backend, folder, name, pg_admin) as db_url,
            dagster_storage(args.backend, folder, f"{name}_dagster", pg_admin) as storage,
        ):
            connected = connect_database(db_url, url)
            engine = connected.engine
            prepare(engine, connected.client, db_url, url, args.requests)
            env = daemon_env(db_url, url, args)
            with dagster_daemon(folder, env, storage) as daemon:
                m = measure(daemon, sandbox, engine, args, faults)
            latency, outcomes, errors, retried = read_outcomes(engine)
            duplicates, created = duplicates_in_xero(connected.client, args.requests)
            engine.dispose()
    return Figures(
        label,
        args.interval,
        m.calls,
        m.runs,
        retried,
        latency,
        outcomes,
        errors,
        duplicates,
        created,
        m.wall,
        m.timings,
    )


def report(f: Figures, n: int) -> None:
    print(f"\n== {f.label}: {n} export + {n} draft requests, sensor interval {f.interval} s ==")
    exports = {k: v for k, v in f.calls.items() if k.split(" ")[1].split("/")[0] in EXPORT_PATHS}
    drafts = {k: v for k, v in f.calls.items() if k not in exports}
    print(f"API calls, exports: {sum(exports.values())}  {dict(sorted(exports.items()))}")
    print(f"API calls, drafts:  {sum(drafts.values())}  {dict(sorted(drafts.items()))}")
    print(f"runs launched: {dict(f.runs)}; requests retried (attempts > 1): {f.retried}")
    t = f.timings
    print(
        f"runs: median {t['running_p50']:.1f} s running, {t['queued_p50']:.1f} s queued; "
        f"{t['running_sum']:.0f} s running in all"
    )
    for kind, values in f.latency.items():
        p50, p95 = percentile(values, 50), percentile(values, 95)
        print(
            f"latency {kind}: p50 {p50:.1f} s ({p50 / f.interval:.2f} intervals), "
            f"p95 {p95:.1f} s ({p95 / f.interval:.2f} intervals), max {max(values):.1f} s"
        )
    both = [*f.latency["export"], *f.latency["draft"]]
    p50 = percentile(both, 50)
    print(f"latency all: p50 {p50:.1f} s ({p50 / f.interval:.2f} intervals)")
    print(f"outcomes: { {k: dict(v) for k, v in f.outcomes.items()} }; wall {f.wall:.0f} s")
    print(f"in Xero: {f.created}; duplicates: {f.duplicates}")
    for error, count in f.errors.most_common(3):
        print(f"  failed x{count}: {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="export and draft requests each")
    parser.add_argument("--interval", type=int, default=30, help="sensor interval, seconds")
    parser.add_argument("--batch", type=int, default=50, help="requests per run")
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per scenario")
    parser.add_argument("--skip-faults", action="store_true")
    args = parser.parse_args()
    # Every run is a new process that imports the code location: an installed package has
    # its bytecode compiled (pip does it), a checkout under PYTHONDONTWRITEBYTECODE not.
    compileall.compile_dir(HERE.parent / "xero_pipelines", quiet=1)

    if args.backend == "postgresql":
        from tests.fixtures.postgres import postgres_server

        server = postgres_server()
    else:
        server = nullcontext(None)
    scenarios = [("clean", None), ("503 on 10% of calls", {"status": 503, "rate": 0.1})]
    with server as pg_admin:
        for label, faults in scenarios[: 1 if args.skip_faults else 2]:
            report(scenario(label, args, pg_admin, faults), args.requests)


if __name__ == "__main__":
    main()
