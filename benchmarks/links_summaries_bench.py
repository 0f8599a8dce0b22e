"""Benchmark of `xero_account_links` and `xero_account_summaries` at issue 8's scale.

    .venv/bin/python benchmarks/links_summaries_bench.py  # 50k accounts, 100k contacts, 1M invoices
    .venv/bin/python benchmarks/links_summaries_bench.py --accounts 5000 --contacts 10000 \\
        --invoices 100000 --backends sqlite

The mirror and CRM tables are filled directly (unmeasured: PostgreSQL by COPY, SQLite by
executemany), with a realistic mix: account numbers, emails, names with other suffixes,
ambiguous names, archived and merged contacts, AUTHORISED/PAID/VOIDED/DRAFT invoices in
four currencies at daily rates, credit notes. Then each asset is materialised in a real
Dagster run (an ephemeral instance) and timed: the first run (every link new, every
summary row inserted), a second run with nothing changed, and a run after 1% of the
invoices changed. Figures are wall times of `dg.materialize` (Dagster's own overhead
included) and the step times from the run's events.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
from sqlalchemy import Engine, insert, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.postgres import postgres_server
from xero_pipelines.assets.links import xero_account_links
from xero_pipelines.assets.summaries import xero_account_summaries
from xero_pipelines.db import create_db_engine, upgrade
from xero_pipelines.db.models import XeroConnection
from xero_pipelines.resources.crm import CrmDatabase

TENANT = "5b9e0c1a-0000-4000-8000-000000000001"
NOW = datetime(2026, 3, 1, tzinfo=UTC)
SUFFIXES = ("Ltd", "Limited", "", "Pty Ltd", "LLC", "& Co")
WORDS = ("Harbour", "Kauri", "Tui", "Southern", "Alpine", "Coastal", "Summit", "Pacific")
CURRENCIES = (
    ("NZD", None),
    ("USD", Decimal("0.60")),
    ("AUD", Decimal("0.91")),
    ("GBP", Decimal("0.47")),
)


def contact_rows(n: int, rng: random.Random) -> tuple[list[tuple], list[str]]:
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)]
    rows = []
    for i, cid in enumerate(ids):
        status, merged = "ACTIVE", None
        roll = rng.random()
        if roll < 0.05:
            status = "ARCHIVED"
            if roll < 0.025:
                merged = ids[rng.randrange(n)]
        name = f"{WORDS[i % len(WORDS)]} Company {i} {SUFFIXES[i % len(SUFFIXES)]}".strip()
        number = f"ACC-{i}" if i % 3 == 0 else None
        email = f"accounts{i}@example.com" if rng.random() < 0.8 else None
        rows.append((TENANT, cid, name, number, None, email, status, True, merged))
    return rows, ids


def account_rows(n: int, contacts: int) -> list[tuple]:
    """80% of accounts match a contact (by number, email or name, in turn), 1% share a
    name with another account (ambiguous), the rest match nothing."""
    rows = []
    for a in range(n):
        i = (a * 2) % contacts
        kind = a % 100
        if kind < 80:
            rule = a % 3
            name = f"{WORDS[i % len(WORDS)]} company {i}"  # another suffix, other case
            number = f"ACC-{i}" if rule == 0 and i % 3 == 0 else None
            email = f"ACCOUNTS{i}@example.com" if rule == 1 else None
        elif kind < 81:
            name, number, email = "Shared Name Trading", None, None
        else:
            name, number, email = f"Unmatched Account {a}", None, None
        rows.append((a + 1, name, number, email))
    return rows


def invoice_rows(n: int, contact_ids: list[str], rng: random.Random) -> list[tuple]:
    days = [date(2024, 3, 1) + timedelta(days=d) for d in range(730)]
    rates = {
        code: [
            None
            if r is None
            else (r * Decimal(rng.randint(950, 1050)) / 1000).quantize(Decimal("0.000001"))
            for _ in days
        ]
        for code, r in CURRENCIES
    }
    rows = []
    for _ in range(n):
        day_index = rng.randrange(len(days))
        code, _ = CURRENCIES[0] if rng.random() < 0.8 else CURRENCIES[rng.randrange(1, 4)]
        total = Decimal(rng.randint(1000, 500000)).scaleb(-2)
        roll = rng.random()
        status = (
            "AUTHORISED"
            if roll < 0.3
            else "PAID"
            if roll < 0.8
            else "VOIDED"
            if roll < 0.9
            else "DRAFT"
        )
        due = (
            total
            if status == "AUTHORISED" and rng.random() < 0.7
            else (total / 2).quantize(Decimal("0.01"))
            if status == "AUTHORISED"
            else Decimal(0)
        )
        day = days[day_index]
        rows.append(
            (
                TENANT,
                str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "ACCREC",
                contact_ids[rng.randrange(len(contact_ids))],
                status,
                day,
                day + timedelta(days=20),
                code,
                rates[code][day_index] or Decimal(1),
                total,
                due,
            )
        )
    return rows


def credit_rows(n: int, contact_ids: list[str], rng: random.Random) -> list[tuple]:
    rows = []
    for _ in range(n):
        total = Decimal(rng.randint(1000, 50000)).scaleb(-2)
        status = "AUTHORISED" if rng.random() < 0.5 else "PAID"
        remaining = total if status == "AUTHORISED" else Decimal(0)
        rows.append(
            (
                TENANT,
                str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "ACCRECCREDIT",
                contact_ids[rng.randrange(len(contact_ids))],
                status,
                date(2025, 6, 1),
                "NZD",
                Decimal(1),
                total,
                remaining,
            )
        )
    return rows


CONTACT_COLS = (
    "tenant_id, contact_id, name, account_number, contact_number, email_address, "
    "contact_status, is_customer, merged_to_contact_id"
)
INVOICE_COLS = (
    "tenant_id, invoice_id, type, contact_id, status, date, due_date, currency_code, "
    "currency_rate, total, amount_due"
)
CREDIT_COLS = (
    "tenant_id, credit_note_id, type, contact_id, status, date, currency_code, "
    "currency_rate, total, remaining_credit"
)


def _sqlite_value(v: object) -> object:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, date | datetime):
        return v.isoformat()
    return v


def load(engine: Engine, table: str, cols: str, rows: list[tuple]) -> None:
    """Bulk load with the JSON `raw` and `synced_at` columns every mirror row has."""
    names = [*(c.strip() for c in cols.split(",")), "raw", "synced_at"]
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            with (
                raw.cursor() as cur,
                cur.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row((*row, "{}", NOW))
            raw.commit()
        finally:
            raw.close()
        return
    marks = ", ".join("?" * len(names))
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("BEGIN")
        cur.executemany(
            f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})",
            [(*map(_sqlite_value, row), "{}", NOW.isoformat(sep=" ")) for row in rows],
        )
        cur.execute("COMMIT")
    finally:
        raw.close()


def setup(engine: Engine, args: argparse.Namespace) -> None:
    rng = random.Random(8)
    upgrade(engine)
    contacts, ids = contact_rows(args.contacts, rng)
    load(engine, "xero_contacts", CONTACT_COLS, contacts)
    load(engine, "xero_invoices", INVOICE_COLS, invoice_rows(args.invoices, ids, rng))
    load(engine, "xero_credit_notes", CREDIT_COLS, credit_rows(args.invoices // 20, ids, rng))
    with engine.begin() as conn:
        conn.execute(
            insert(XeroConnection.__table__).values(tenant_id=TENANT, tenant_name="Benchmark Ltd")
        )
        conn.execute(
            text(
                "INSERT INTO xero_organisation "
                "(tenant_id, short_code, base_currency, timezone, raw, synced_at) "
                "VALUES (:t, '!Bench', 'NZD', 'NEWZEALANDSTANDARDTIME', '{}', :now)"
            ),
            {"t": TENANT, "now": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO crm_accounts (id, name, account_number, email) VALUES (:a, :b, :c, :d)"
            ),
            [
                dict(zip("abcd", row, strict=True))
                for row in account_rows(args.accounts, args.contacts)
            ],
        )
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")


def timed(asset, url: str) -> tuple[float, float, float, dict]:
    """(wall seconds of the run, seconds of the step, CPU seconds of this process, the
    materialisation's metadata). On SQLite the database works inside this process, so
    its CPU is counted; a PostgreSQL server's is not."""
    instance = dg.DagsterInstance.ephemeral()
    started, cpu = time.perf_counter(), time.process_time()
    result = dg.materialize([asset], resources={"crm": CrmDatabase(url=url)}, instance=instance)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    stamps = {
        r.dagster_event.event_type_value: r.timestamp
        for r in instance.all_logs(result.run_id)
        if r.dagster_event is not None and r.dagster_event.step_key
    }
    step = stamps["STEP_SUCCESS"] - stamps["STEP_START"]
    mat = result.asset_materializations_for_node(asset.key.path[-1])[0]
    return (
        wall,
        step,
        cpu,
        {k: v.value for k, v in mat.metadata.items() if not hasattr(v.value, "records")},
    )


def change_one_percent(engine: Engine, n: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE xero_invoices SET status = 'PAID', amount_due = 0 WHERE invoice_id IN "
                "(SELECT invoice_id FROM xero_invoices WHERE status = 'AUTHORISED' "
                "ORDER BY invoice_id LIMIT :n)"
            ),
            {"n": n},
        )


def bench(url: str, args: argparse.Namespace, label: str) -> None:
    engine = create_db_engine(url)
    started = time.perf_counter()
    setup(engine, args)
    print(f"\n[{label}] setup (unmeasured): {time.perf_counter() - started:.1f} s")
    for run in ("first run", "nothing changed", "1% of invoices changed"):
        if run.startswith("1%"):
            change_one_percent(engine, args.invoices // 100)
        lw, ls, lc, lm = timed(xero_account_links, url)
        sw, ss, sc, sm = timed(xero_account_summaries, url)
        print(
            f"[{label}] {run}: links {lw:.2f} s (step {ls:.2f}) + summaries {sw:.2f} s "
            f"(step {ss:.2f}) = {lw + sw:.2f} s wall; {lc + sc:.2f} s CPU in this process; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        print(
            f"    links added/kept/followed/removed/ambiguous: {lm['added']}/{lm['kept']}/"
            f"{lm['followed_merge']}/{lm['removed']}/{lm['ambiguous']}; summaries rows "
            f"inserted/updated/unchanged/deleted: {sm['rows_inserted']}/{sm['rows_updated']}/"
            f"{sm['rows_unchanged']}/{sm['rows_deleted']}, rate groups {sm['rate_groups']}"
        )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    backends = args.backends.split(",")
    print(f"{args.accounts:,} accounts, {args.contacts:,} contacts, {args.invoices:,} invoices")
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as tmp:
            bench(f"sqlite:///{tmp}/bench.sqlite", args, "sqlite")
    if "postgresql" in backends:
        with postgres_server() as admin:
            name = f"bench_{uuid.uuid4().hex[:8]}"
            admin_engine = create_db_engine(admin).execution_options(isolation_level="AUTOCOMMIT")
            with admin_engine.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            admin_engine.dispose()
            bench(admin.rsplit("/", 1)[0] + f"/{name}", args, "postgresql")


if __name__ == "__main__":
    main()
