"""State of the sandbox: tenants in Python, documents in one SQLite database.

SQLite (in memory by default) keeps a million invoices compact (one row each, line items as a
small JSON array) and gives indexed filtering and paging. One connection is shared by all
request threads behind an RLock: SQLite work per request is short, and a single writer keeps
the state consistent without transactions spanning requests.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from .xero_json import now_ms

SCHEMA = """
CREATE TABLE contacts (
    pk INTEGER PRIMARY KEY, tenant INTEGER NOT NULL, contact_id TEXT NOT NULL,
    name TEXT NOT NULL, first_name TEXT, last_name TEXT, email TEXT,
    contact_number TEXT, account_number TEXT, status TEXT NOT NULL,
    is_customer INTEGER NOT NULL DEFAULT 0, is_supplier INTEGER NOT NULL DEFAULT 0,
    updated_ms INTEGER NOT NULL, extra TEXT, merged_to TEXT
);
CREATE TABLE invoices (
    pk INTEGER PRIMARY KEY, tenant INTEGER NOT NULL, invoice_id TEXT NOT NULL,
    type TEXT NOT NULL, contact_pk INTEGER NOT NULL, status TEXT NOT NULL, number TEXT,
    reference TEXT, date_ms INTEGER, due_ms INTEGER, currency TEXT NOT NULL, rate TEXT,
    lat TEXT NOT NULL, sub INTEGER NOT NULL, tax INTEGER NOT NULL, total INTEGER NOT NULL,
    paid INTEGER NOT NULL DEFAULT 0, credited INTEGER NOT NULL DEFAULT 0, paid_on_ms INTEGER,
    updated_ms INTEGER NOT NULL, by_app INTEGER NOT NULL DEFAULT 0, lines TEXT NOT NULL, extra TEXT
);
CREATE TABLE credit_notes (
    pk INTEGER PRIMARY KEY, tenant INTEGER NOT NULL, credit_note_id TEXT NOT NULL,
    type TEXT NOT NULL, contact_pk INTEGER NOT NULL, status TEXT NOT NULL, number TEXT,
    reference TEXT, date_ms INTEGER, due_ms INTEGER, currency TEXT NOT NULL, rate TEXT,
    lat TEXT NOT NULL, sub INTEGER NOT NULL, tax INTEGER NOT NULL, total INTEGER NOT NULL,
    allocated INTEGER NOT NULL DEFAULT 0, paid_on_ms INTEGER, updated_ms INTEGER NOT NULL,
    by_app INTEGER NOT NULL DEFAULT 0, lines TEXT NOT NULL, extra TEXT
);
CREATE TABLE allocations (
    pk INTEGER PRIMARY KEY, tenant INTEGER NOT NULL, allocation_id TEXT NOT NULL,
    credit_note_pk INTEGER NOT NULL, invoice_pk INTEGER NOT NULL, amount INTEGER NOT NULL,
    date_ms INTEGER NOT NULL
);
CREATE TABLE quotes (
    pk INTEGER PRIMARY KEY, tenant INTEGER NOT NULL, quote_id TEXT NOT NULL,
    contact_pk INTEGER NOT NULL, status TEXT NOT NULL, number TEXT, reference TEXT,
    title TEXT, summary TEXT, terms TEXT, date_ms INTEGER, expiry_ms INTEGER,
    currency TEXT NOT NULL, lat TEXT NOT NULL, sub INTEGER NOT NULL, tax INTEGER NOT NULL,
    total INTEGER NOT NULL, updated_ms INTEGER NOT NULL, lines TEXT NOT NULL
);
"""

INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS ix_contacts_id ON contacts(contact_id);
CREATE INDEX IF NOT EXISTS ix_contacts_name ON contacts(tenant, name COLLATE NOCASE, status);
CREATE INDEX IF NOT EXISTS ix_contacts_number ON contacts(tenant, contact_number);
CREATE INDEX IF NOT EXISTS ix_contacts_updated ON contacts(tenant, updated_ms);
CREATE UNIQUE INDEX IF NOT EXISTS ix_invoices_id ON invoices(invoice_id);
CREATE INDEX IF NOT EXISTS ix_invoices_scan ON invoices(tenant, pk, status, type, contact_pk);
CREATE INDEX IF NOT EXISTS ix_invoices_contact ON invoices(contact_pk, type, status);
CREATE INDEX IF NOT EXISTS ix_invoices_number ON invoices(tenant, number);
CREATE INDEX IF NOT EXISTS ix_invoices_updated ON invoices(tenant, updated_ms);
CREATE UNIQUE INDEX IF NOT EXISTS ix_quotes_id ON quotes(quote_id);
CREATE INDEX IF NOT EXISTS ix_quotes_tenant ON quotes(tenant, pk);
CREATE INDEX IF NOT EXISTS ix_quotes_contact ON quotes(contact_pk);
CREATE UNIQUE INDEX IF NOT EXISTS ix_credit_notes_id ON credit_notes(credit_note_id);
CREATE INDEX IF NOT EXISTS ix_credit_notes_scan ON credit_notes(tenant, pk, status, type);
CREATE INDEX IF NOT EXISTS ix_credit_notes_contact ON credit_notes(contact_pk, type, status);
CREATE INDEX IF NOT EXISTS ix_credit_notes_number ON credit_notes(tenant, number);
CREATE INDEX IF NOT EXISTS ix_credit_notes_updated ON credit_notes(tenant, updated_ms);
CREATE INDEX IF NOT EXISTS ix_allocations_credit_note ON allocations(credit_note_pk);
CREATE INDEX IF NOT EXISTS ix_allocations_invoice ON allocations(invoice_pk);
"""
TABLES = ("contacts", "invoices", "quotes", "credit_notes", "allocations")
DOCUMENT_TABLES = ("invoices", "quotes", "credit_notes")

DEFAULT_TENANT_NAME = "Demo Company (Sandbox)"

# (Code, Name, Type, Class, TaxType, Status, SystemAccount, extra)
DEFAULT_CHART: list[tuple[str, str, str, str, str, str, str | None]] = [
    ("090", "Business Bank Account", "BANK", "ASSET", "NONE", "ACTIVE", None),
    ("091", "Business Savings Account", "BANK", "ASSET", "NONE", "ACTIVE", None),
    ("200", "Sales", "REVENUE", "REVENUE", "OUTPUT2", "ACTIVE", None),
    ("250", "Consulting Sales (old)", "REVENUE", "REVENUE", "OUTPUT2", "ARCHIVED", None),
    ("260", "Other Revenue", "REVENUE", "REVENUE", "OUTPUT2", "ACTIVE", None),
    ("270", "Interest Income", "OTHERINCOME", "REVENUE", "NONE", "ACTIVE", None),
    ("310", "Cost of Goods Sold", "DIRECTCOSTS", "EXPENSE", "INPUT2", "ACTIVE", None),
    ("400", "Advertising", "OVERHEADS", "EXPENSE", "INPUT2", "ACTIVE", None),
    ("404", "Bank Fees", "OVERHEADS", "EXPENSE", "NONE", "ACTIVE", None),
    ("412", "Consulting & Accounting", "EXPENSE", "EXPENSE", "INPUT2", "ACTIVE", None),
    ("429", "General Expenses", "EXPENSE", "EXPENSE", "INPUT2", "ACTIVE", None),
    ("453", "Office Expenses", "EXPENSE", "EXPENSE", "INPUT2", "ACTIVE", None),
    ("469", "Rent", "OVERHEADS", "EXPENSE", "INPUT2", "ACTIVE", None),
    ("475", "Old Equipment Hire", "EXPENSE", "EXPENSE", "INPUT2", "ARCHIVED", None),
    ("489", "Telephone & Internet", "OVERHEADS", "EXPENSE", "INPUT2", "ACTIVE", None),
    ("493", "Travel - National", "OVERHEADS", "EXPENSE", "INPUT2", "ACTIVE", None),
    ("610", "Accounts Receivable", "CURRENT", "ASSET", "NONE", "ACTIVE", "DEBTORS"),
    ("800", "Accounts Payable", "CURRLIAB", "LIABILITY", "NONE", "ACTIVE", "CREDITORS"),
    ("820", "GST", "CURRLIAB", "LIABILITY", "NONE", "ACTIVE", "GST"),
    ("960", "Retained Earnings", "EQUITY", "EQUITY", "NONE", "ACTIVE", "RETAINEDEARNINGS"),
    ("970", "Owner A Funds Introduced", "EQUITY", "EQUITY", "NONE", "ACTIVE", None),
]

# Tax rates in percent by TaxType (a New Zealand style organisation, GST 15%).
TAX_RATES: dict[str, int] = {
    "OUTPUT2": 15,
    "INPUT2": 15,
    "NONE": 0,
    "EXEMPTOUTPUT": 0,
    "EXEMPTINPUT": 0,
    "ZERORATED": 0,
}


@dataclass
class Tenant:
    """One organisation: its settings (what `/Organisation` and `/Currencies` show) and its
    chart of accounts. Counters give numbers like Xero's INV-0001, QU-0001 and CN-0001."""

    pk: int
    tenant_id: str
    name: str
    created_ms: int
    base_currency: str = "NZD"
    short_code: str = "!sandb"
    timezone: str = "NEWZEALANDSTANDARDTIME"
    country_code: str = "NZ"
    legal_name: str | None = None
    currencies: list[str] = field(default_factory=lambda: ["NZD"])
    """Currencies the organisation has enabled (Settings > Currencies); the base one first."""
    invoice_counter: int = 0
    quote_counter: int = 0
    credit_note_counter: int = 0
    accounts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def counters(self) -> tuple[int, int, int]:
        return self.invoice_counter, self.quote_counter, self.credit_note_counter

    @counters.setter
    def counters(self, values: tuple[int, int, int]) -> None:
        self.invoice_counter, self.quote_counter, self.credit_note_counter = values

    def enable_currency(self, code: str) -> None:
        if code not in self.currencies:
            self.currencies.append(code)


SHORT_CODE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def short_code(rng: random.Random) -> str:
    """Xero's organisation short code: `!` and five letters or digits (e.g. `!mBdtL`)."""
    return "!" + "".join(rng.choice(SHORT_CODE_CHARS) for _ in range(5))


def default_chart(rng: random.Random, at_ms: int) -> list[dict[str, Any]]:
    """The realistic default chart of accounts, with stable ids for a given RNG."""
    chart = []
    for code, name, typ, cls, tax, status, system in DEFAULT_CHART:
        acc: dict[str, Any] = {
            "AccountID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "Code": code,
            "Name": name,
            "Type": typ,
            "Class": cls,
            "TaxType": tax,
            "Status": status,
            "EnablePaymentsToAccount": False,
            "ShowInExpenseClaims": False,
            "BankAccountType": "",
            "ReportingCode": cls[:3],
            "HasAttachments": False,
            "UpdatedDateUTC_ms": at_ms,
            "AddToWatchlist": False,
        }
        if typ == "BANK":
            acc["BankAccountType"] = "BANK"
            acc["BankAccountNumber"] = f"0102030{code}"
            acc["CurrencyCode"] = "NZD"
            acc["EnablePaymentsToAccount"] = True
        if system:
            acc["SystemAccount"] = system
        chart.append(acc)
    return chart


class Store:
    """All organisations and their data; `lock` guards both SQLite and the Python state."""

    def __init__(self, database: str = ":memory:") -> None:
        self.lock = threading.RLock()
        self.database = database
        self.conn = self._connect()
        self.tenants: dict[str, Tenant] = {}
        self._next_tenant_pk = 1
        self.version = 0
        self.page_cache: dict[tuple, dict[str, Any]] = {}
        self.reset()

    def changed(self) -> None:
        """Call after every write: forgets cached counts and page bookmarks."""
        with self.lock:
            self.version += 1
            self.page_cache.clear()

    def page_pks(
        self,
        from_sql: str,
        where_sql: str,
        args: list[Any],
        order_sql: str,
        pk: str,
        page: int,
        size: int,
    ) -> tuple[list[int], int]:
        """Primary keys of one page, and the total count, fast on millions of rows.

        Paging selects keys only (an index-only scan, no join, no row reads for skipped rows),
        the count is cached until the next write, and when the order is by key the last key of
        each page served is remembered so that the next page is a keyset seek, not an OFFSET.
        """
        with self.lock:
            key = (from_sql, where_sql, tuple(args), order_sql)
            entry = self.page_cache.get(key)
            if entry is None:
                if len(self.page_cache) > 512:
                    self.page_cache.clear()
                (total,) = self.conn.execute(
                    f"SELECT COUNT(*) FROM {from_sql} WHERE {where_sql}", args
                ).fetchone()
                entry = self.page_cache[key] = {"total": total, "marks": {}}
            total = entry["total"]
            offset = (page - 1) * size
            if offset >= total:
                return [], total
            by_key = order_sql == pk
            mark = entry["marks"].get((page - 1, size)) if by_key else None
            if mark is not None:
                rows = self.conn.execute(
                    f"SELECT {pk} FROM {from_sql} WHERE {where_sql} AND {pk} > ? "
                    f"ORDER BY {order_sql} LIMIT ?",
                    [*args, mark, size],
                ).fetchall()
            else:
                rows = self.conn.execute(
                    f"SELECT {pk} FROM {from_sql} WHERE {where_sql} ORDER BY {order_sql} "
                    "LIMIT ? OFFSET ?",
                    [*args, size, offset],
                ).fetchall()
            pks = [r[0] for r in rows]
            if by_key and pks:
                entry["marks"][(page, size)] = pks[-1]
            return pks, total

    def rows_by_pk(self, select_sql: str, pk: str, pks: list[int]) -> list[tuple]:
        """Full rows for `pks`, in the order given (`select_sql` ends before WHERE)."""
        if not pks:
            return []
        with self.lock:
            rows = self.conn.execute(
                f"{select_sql} WHERE {pk} IN ({','.join('?' * len(pks))})", pks
            ).fetchall()
        order = {p: i for i, p in enumerate(pks)}
        rows.sort(key=lambda r: order[r[0]])
        return rows

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.database, check_same_thread=False, isolation_level=None)
        memory = self.database == ":memory:"
        conn.execute("PRAGMA journal_mode=MEMORY" if memory else "PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")
        conn.execute("PRAGMA temp_store=MEMORY")
        return conn

    def reset(self) -> Tenant:
        """Drop everything and start again with one organisation, "Demo Company (Sandbox)"."""
        with self.lock:
            for table in TABLES:
                self.conn.execute(f"DROP TABLE IF EXISTS {table}")
            self.conn.executescript(SCHEMA)
            self.conn.executescript(INDEXES)
            self.tenants.clear()
            self._next_tenant_pk = 1
            self.version += 1
            self.page_cache.clear()
            return self.add_tenant(DEFAULT_TENANT_NAME, seed=0)

    def add_tenant(self, name: str, seed: int | None = None) -> Tenant:
        """Add an organisation with the default chart; ids are deterministic for a given seed."""
        with self.lock:
            pk = self._next_tenant_pk
            self._next_tenant_pk += 1
            rng = random.Random(f"tenant-{pk}-{seed}" if seed is not None else None)
            at = now_ms()
            tenant = Tenant(
                pk=pk,
                tenant_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                name=name,
                created_ms=at,
                short_code=short_code(rng),
            )
            tenant.accounts = default_chart(rng, at)
            self.tenants[tenant.tenant_id] = tenant
            return tenant

    def tenant(self, tenant_id: str | None) -> Tenant | None:
        if not tenant_id:
            return None
        return self.tenants.get(tenant_id.strip().lower())

    def first_tenant(self) -> Tenant:
        return next(iter(self.tenants.values()))

    def tenant_by_pk(self, pk: int) -> Tenant:
        return next(t for t in self.tenants.values() if t.pk == pk)

    def counts(self) -> dict[str, dict[str, int]]:
        """Rows per tenant, for `/_sandbox/state`."""
        out: dict[str, dict[str, int]] = {}
        with self.lock:
            for t in self.tenants.values():
                row = {}
                for table in ("contacts", "invoices", "quotes", "credit_notes"):
                    (n,) = self.conn.execute(
                        f"SELECT COUNT(*) FROM {table} WHERE tenant=?", (t.pk,)
                    ).fetchone()
                    row[table] = n
                out[t.tenant_id] = row
        return out
