"""Unmeasured setup for the import benchmark: databases, the connection, CRM accounts, the
1% change. Every Xero call made here is left out of the runs' figures, which come from
differences of the sandbox's `/_sandbox/stats` taken around each run.
"""

from __future__ import annotations

import math
import os
import random
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from import_accounts import Contact, plan_accounts
from sqlalchemy import Engine, create_engine, insert, select, text

from xero_pipelines.db import create_db_engine, upgrade
from xero_pipelines.db.mirrors import XeroInvoiceRow
from xero_pipelines.db.models import CrmAccount
from xero_pipelines.db.types import utcnow
from xero_pipelines.xero.client import XeroClient
from xero_pipelines.xero.config import XeroAppConfig
from xero_pipelines.xero.connection import connect
from xero_pipelines.xero.crypto import TokenCipher
from xero_pipelines.xero.filters import where_equals
from xero_pipelines.xero.pacing import Pacer
from xero_pipelines.xero.tokens import TokenStore

PAGE = 1000
# Headers far above any run, with the limits not enforced: "limits off". The pacer still
# reads X-MinLimit-Remaining, so the sandbox must not report Xero's 60 a minute here.
UNLIMITED = {
    "enabled": False,
    "minute": 10**9,
    "day": 10**9,
    "app_minute": 10**9,
    "concurrent": 5,
}
# The mirrors' reads, by the endpoint the client counts them under, with their filters.
PAGED_READS = {
    "GET Contacts": ("Contacts", {"includeArchived": "true"}),
    "GET Invoices": ("Invoices", {"where": where_equals("Type", "ACCREC")}),
    "GET CreditNotes": ("CreditNotes", {"where": where_equals("Type", "ACCRECCREDIT")}),
}
WHOLE_READS = ("GET Accounts", "GET Organisation")


class Sandbox:
    """The sandbox's admin API, over loopback."""

    def __init__(self, url: str, pid: int) -> None:
        self.url = url
        self.pid = pid
        self.http = requests.Session()

    def cpu_seconds(self) -> float:
        """CPU time the sandbox's process has used so far (user + system)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def post(self, path: str, body: dict) -> dict:
        r = self.http.post(f"{self.url}/_sandbox/{path}", json=body, timeout=600)
        r.raise_for_status()
        return r.json()

    def seed(self, contacts: int, invoices: int, credit_notes: int, seed: int) -> dict:
        body = {"contacts": contacts, "invoices": invoices, "credit_notes": credit_notes}
        return self.post("seed", {**body, "seed": seed})

    def limits(self, **values: object) -> dict:
        return self.post("limits", dict(values))

    def stats(self) -> Counter[str]:
        r = self.http.get(f"{self.url}/_sandbox/stats", timeout=30)
        r.raise_for_status()
        return Counter(r.json()["calls"])


# ---- databases -------------------------------------------------------------------------


@contextmanager
def database(backend: str, home: Path, name: str, pg_admin: str | None) -> Iterator[str]:
    """A fresh, migrated CRM database: a SQLite file under `home`, or a new database on
    the PostgreSQL server of `pg_admin` (dropped afterwards)."""
    if backend == "sqlite":
        url = f"sqlite:///{home / f'{name}.sqlite'}"
        _migrate(url)
        yield url
        return
    assert pg_admin is not None
    with database_on_server(pg_admin, name) as url:
        _migrate(url)
        yield url


@contextmanager
def database_on_server(pg_admin: str, name: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL server of `pg_admin` (dropped afterwards)."""
    admin = create_engine(pg_admin, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield pg_admin.rsplit("/", 1)[0] + f"/{name}"
    finally:
        from xero_pipelines.db.engine import cached_engine

        cached_engine.cache_clear()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _migrate(url: str) -> None:
    engine = create_db_engine(url)
    upgrade(engine)
    engine.dispose()


# ---- the connection --------------------------------------------------------------------


def _browser(line: str) -> None:
    """Plays the user's browser: follows the authorize URL `connect` prints."""
    if line.startswith("http"):
        threading.Thread(target=requests.get, args=(line,), kwargs={"timeout": 30}).start()


@dataclass
class Connected:
    engine: Engine
    client: XeroClient  # an unpaced client for the setup's own calls


def connect_database(db_url: str, api_url: str) -> Connected:
    """`connect` (production's OAuth2 flow) into the CRM database; a setup client."""
    engine = create_db_engine(db_url)
    app = XeroAppConfig("sandbox", "sandbox", api_url, api_url, api_url)
    cipher = TokenCipher.from_env()
    connect(engine, app, cipher, port=0, timeout=30, open_browser=False, echo=_browser)
    store = TokenStore(engine, app, cipher)
    client = XeroClient(api_url, store, pacer=Pacer(minute_limit=10**6, day_limit=10**9))
    return Connected(engine, client)


# ---- what the organisation holds -------------------------------------------------------


def read_contacts(client: XeroClient) -> list[Contact]:
    """Every contact's matching keys, read once through the API."""
    path, params = PAGED_READS["GET Contacts"]
    return [Contact.from_json(c) for page in client.iter_pages(path, path, params) for c in page]


def item_counts(client: XeroClient) -> dict[str, int]:
    """Xero's `itemCount` of each mirror read (one call of one record each)."""
    counts = {}
    for endpoint, (path, params) in PAGED_READS.items():
        body = client.get(path, {**params, "page": 1, "pageSize": 1})
        counts[endpoint] = body["pagination"]["itemCount"]
    return counts


def minimum_calls(counts: dict[str, int]) -> dict[str, int]:
    """The fewest calls that read it all: one per page of 1,000 (an empty read still
    costs one), one each for Accounts and Organisation."""
    out = {e: max(1, math.ceil(n / PAGE)) for e, n in counts.items()}
    return out | dict.fromkeys(WHOLE_READS, 1)


def insert_accounts(engine: Engine, contacts: list[Contact], n: int) -> Counter[str]:
    """Insert `n` CRM accounts planned from `contacts`; returns the expected outcomes."""
    rows, expected = plan_accounts(contacts, n)
    now = utcnow()
    full = [
        {"name": r["name"], "account_number": r.get("account_number"), "email": r.get("email")}
        | {"created_at": now, "updated_at": now}
        for r in rows
    ]
    with engine.begin() as conn:
        conn.execute(insert(CrmAccount.__table__), full)
    return expected


# ---- the 1% change ---------------------------------------------------------------------

EDITABLE = ("DRAFT", "SUBMITTED", "AUTHORISED")
BATCH = 200


@dataclass
class Changed:
    contacts: int
    invoices: int
    payments: int
    errors: int


def change_one_percent(
    sb: Sandbox, client: XeroClient, engine: Engine, contacts: list[Contact], invoices: int
) -> Changed:
    """Change 1% of the contacts (a new phone) and 1% of the invoices (sales invoices a
    user may still edit: a new reference; one in ten AUTHORISED ones also part-paid, so
    balances move), through the API and the admin pay path, as users in Xero would."""
    rng = random.Random(8)
    active = [c for c in contacts if c.active]
    picked = rng.sample(active, max(1, len(contacts) // 100))
    run = uuid.uuid4().hex[:8]
    errors = 0
    for start in range(0, len(picked), BATCH):
        batch = [
            {
                "ContactID": c.contact_id,
                "Phones": [{"PhoneType": "DEFAULT", "PhoneNumber": f"{5550000 + start + i}"}],
            }
            for i, c in enumerate(picked[start : start + BATCH])
        ]
        errors += _post(client, "Contacts", batch, ("bench-contacts", run, start))
    docs = _editable_invoices(engine, rng, max(1, invoices // 100))
    for start in range(0, len(docs), BATCH):
        batch = [
            {"InvoiceID": i, "Reference": f"Changed {run} {start + k}"}
            for k, (i, _) in enumerate(docs[start : start + BATCH])
        ]
        errors += _post(client, "Invoices", batch, ("bench-invoices", run, start))
    authorised = [i for i, status in docs if status == "AUTHORISED"]
    paid = authorised[: len(authorised) // 10]
    for invoice_id in paid:
        r = sb.http.post(f"{sb.url}/_sandbox/invoices/{invoice_id}/pay", json={"amount": 1.0})
        errors += r.status_code != 200
    return Changed(len(picked), len(docs), len(paid), errors)


def _post(client: XeroClient, path: str, batch: list[dict], key: tuple) -> int:
    body = client.post(
        path,
        {path: batch},
        idempotency_key=client.idempotency_key(*key),
        params={"summarizeErrors": "false"},
    )
    return sum(1 for item in body.get(path, []) if item.get("HasErrors"))


def _editable_invoices(engine: Engine, rng: random.Random, n: int) -> list[tuple[str, str]]:
    """`n` mirrored sales invoices still open to edits, sampled at random."""
    i = XeroInvoiceRow.__table__.c
    stmt = select(i.invoice_id, i.status).where(i.status.in_(EDITABLE)).order_by(i.invoice_id)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(stmt)]
    return rng.sample(rows, min(n, len(rows)))
