"""Deterministic generator of realistic organisations (contacts, invoices, quotes, credit notes).

Fast enough for 100,000 contacts and 1,000,000 invoices in seconds: money is integer cents
(GST 15% rounded half up, exactly as the Decimal code path rounds), rows are tuples bulk-inserted
with `executemany`, and indexes are rebuilt once at the end. Dates are relative to today so that
"overdue" and "part-paid" always mean something; the same seed gives the same data on a given day.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
import time
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from .store import INDEXES, Store, Tenant

DAY = 86_400_000
SURNAMES = [
    "O'Brien",
    "Smith",
    "Ngata",
    "Müller",
    "Nguyen",
    "García",
    "D'Arcy",
    "Patel",
    "Wilson",
    "Björk",
    "Taylor",
    "Zoë's",
    "Williams",
    "Brown",
    "MacDonald",
    "Kowalski",
    "Li",
    "Renée",
    "Te Awa",
    "Fernández",
    "Jones",
    "Anderson",
    "Thompson",
    "Walker",
    "White",
    "Harris",
    "Martin",
    "Jackson",
    "Clarke",
    "Robinson",
    "Lewis",
    "Wood",
    "Hall",
    "Young",
    "King",
    "Wright",
    "Scott",
    "Green",
    "Baker",
    "Adams",
    "Hill",
    "Campbell",
    "Mitchell",
    "Roberts",
    "Carter",
    "Phillips",
    "Evans",
    "Turner",
    "Torres",
    "Parker",
    "Collins",
    "Edwards",
    "Stewart",
    "Morris",
    "Murphy",
    "Cook",
    "Rogers",
    "Morgan",
    "Cooper",
    "Peterson",
]
FIRST_NAMES = [
    "Aroha",
    "José",
    "Chloé",
    "Liam",
    "Mia",
    "Noah",
    "Olivia",
    "Søren",
    "Amélie",
    "Tāne",
    "Hemi",
    "Ava",
    "Jack",
    "Isla",
    "Oliver",
    "Charlotte",
    "Lucas",
    "Amelia",
    "Leo",
    "Harper",
    "Mateo",
    "Zoë",
    "Hugo",
    "Ruby",
    "Finn",
    "Grace",
    "Niamh",
    "Ethan",
    "Sofia",
    "Kiri",
]
TRADES = [
    "Plumbing",
    "Electrical",
    "Café",
    "Bakery",
    "Consulting",
    "Design",
    "Landscaping",
    "Builders",
    "Motors",
    "Engineering",
    "Accounting",
    "Legal",
    "Dental",
    "Florists",
    "Catering",
    "Logistics",
    "Printing",
    "Joinery",
    "Roofing",
    "Cleaning",
    "Software",
    "Marketing",
    "Physio",
    "Vineyards",
    "Brewing",
    "Fitness",
    "Media",
    "Travel",
    "Pharmacy",
    "Hardware",
    "Electronics",
    "Interiors",
    "Security",
    "Surveying",
    "Architecture",
    "Veterinary",
    "Tutoring",
    "Photography",
    "Coffee Roasters",
    "Farm Supplies",
]
SUFFIXES = ["Ltd", "Limited", "& Sons", "& Co", "& Partners", "Group", "Holdings", "Trust"]
CITIES = [
    ("Wellington", "6011"),
    ("Auckland", "1010"),
    ("Christchurch", "8011"),
    ("Dunedin", "9016"),
    ("Hamilton", "3204"),
    ("Tauranga", "3110"),
    ("Nelson", "7010"),
]
STREETS = [
    "Lambton Quay",
    "Queen Street",
    "Cuba Street",
    "High Street",
    "Victoria Street",
    "Willis Street",
    "Ponsonby Road",
    "Colombo Street",
    "George Street",
]
SALES_LINES = [
    ("Consulting services", "200"),
    ("Monthly support retainer", "200"),
    ("Installation & setup", "200"),
    ("Training workshop (½ day)", "260"),
    ("Hardware supply", "200"),
    ("Late payment interest", "270"),
]
PURCHASE_LINES = [
    ("Office supplies", "453"),
    ("Advertising campaign", "400"),
    ("Contractor services", "412"),
    ("Rent - office", "469"),
    ("Internet & phone", "489"),
    ("Travel - client visit", "493"),
]
_SALES_JSON = [(json.dumps(d, ensure_ascii=False), c) for d, c in SALES_LINES]
_PURCHASE_JSON = [(json.dumps(d, ensure_ascii=False), c) for d, c in PURCHASE_LINES]
CURRENCIES = [
    ("NZD", "1", 0.85),
    ("AUD", "0.91", 0.07),
    ("USD", "0.60", 0.05),
    ("GBP", "0.47", 0.03),
]


def _uuid(rng: random.Random) -> str:
    x = rng.getrandbits(128)
    x = (x & ~(0xF << 76)) | (4 << 76)
    x = (x & ~(0x3 << 62)) | (0x2 << 62)
    h = f"{x:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "contact"


def _money(c: int) -> str:
    return f"-{(-c) // 100}.{(-c) % 100:02d}" if c < 0 else f"{c // 100}.{c % 100:02d}"


@dataclass
class SeedResult:
    contacts: int
    invoices: int
    quotes: int
    seconds: float
    credit_notes: int = 0


def _edited(pk: int, wanted_ms: int, now: int) -> int:
    """When a record was last edited: `wanted_ms`, or, when that is still to come, a moment
    of the last hour spread by its key. Real edits do not all share one millisecond, and
    a clamp to `now` would give thousands of records the seed's instant, which every
    `If-Modified-Since` read at the watermark would fetch again."""
    if wanted_ms <= now:
        return wanted_ms
    return now - (pk * 7919) % 3_600_000


def _contacts(rng: random.Random, tenant: Tenant, n: int, now: int) -> Iterator[tuple]:
    used: set[str] = set()
    for i in range(n):
        r = rng.random()
        person = r < 0.15
        if person:
            first, last = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
            base = f"{first} {last}"
        else:
            first, last = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
            base = f"{rng.choice(SURNAMES)} {rng.choice(TRADES)} {rng.choice(SUFFIXES)}"
        name, k = base, 1
        while name.lower() in used:
            k += 1
            name = f"{base} ({k})"
        used.add(name.lower())
        email = None if rng.random() < 0.12 else f"accounts.{i}@{_slug(name)[:40]}.example.com"
        number = f"CN-{i + 1:06d}" if rng.random() < 0.5 else None
        account_number = f"AC-{100000 + i}" if rng.random() < 0.4 else None
        status = "ARCHIVED" if rng.random() < 0.05 else "ACTIVE"
        kind = rng.random()
        is_customer = 1 if kind < 0.75 else 0
        is_supplier = 1 if kind >= 0.65 and kind < 0.95 else 0
        city, post = CITIES[int(rng.random() * len(CITIES))]
        extra = {
            "Addresses": [
                {
                    "AddressType": "STREET",
                    "AddressLine1": f"{1 + int(rng.random() * 300)} "
                    f"{STREETS[int(rng.random() * len(STREETS))]}",
                    "City": city,
                    "PostalCode": post,
                    "Country": "New Zealand",
                },
                {
                    "AddressType": "POBOX",
                    "AddressLine1": f"PO Box {1000 + i}",
                    "City": city,
                    "PostalCode": post,
                    "Country": "New Zealand",
                },
            ],
            "Phones": [
                {
                    "PhoneType": "DEFAULT",
                    "PhoneNumber": f"{4000000 + i}",
                    "PhoneAreaCode": "04",
                    "PhoneCountryCode": "64",
                }
            ],
        }
        if not person:
            extra["ContactPersons"] = [
                {
                    "FirstName": first,
                    "LastName": last,
                    "EmailAddress": email or "",
                    "IncludeInEmails": True,
                }
            ]
        updated = now - int(rng.random() * 400 * DAY)
        yield (
            tenant.pk,
            _uuid(rng),
            name,
            first if person else None,
            last if person else None,
            email,
            number,
            account_number,
            status,
            is_customer,
            is_supplier,
            updated,
            json.dumps(extra, ensure_ascii=False, separators=(",", ":")),
        )


def _lines(rng: random.Random, sale: bool, lat: str) -> tuple[str, int, int, int]:
    """JSON lines plus (sub, tax, total) in cents, with Xero's per-line rounding."""
    catalogue = _SALES_JSON if sale else _PURCHASE_JSON
    parts, sub, tax_total = [], 0, 0
    for _ in range(1 + int(rng.random() * 3)):
        desc, code = catalogue[int(rng.random() * len(catalogue))]
        qty = 1 + int(rng.random() * 20)
        unit = 500 + int(rng.random() * 250_000)
        line = qty * unit
        if lat == "NoTax" or code == "270":
            tax_type, tax = "NONE", 0
        else:
            tax_type = "OUTPUT2" if sale else "INPUT2"
            tax = (line * 15 + 50) // 100 if lat == "Exclusive" else (line * 30 + 115) // 230
        sub += line - tax if lat == "Inclusive" else line
        tax_total += tax
        parts.append(
            f'[null,{desc},"{qty}.0000",'
            f'"{_money(unit)}","{code}","{tax_type}","{_money(tax)}","{_money(line)}",'
            "null,null]"
        )
    return "[" + ",".join(parts) + "]", sub, tax_total, sub + tax_total


def _pick_currency(r: float) -> tuple[str, str]:
    acc = 0.0
    for code, rate, weight in CURRENCIES:
        acc += weight
        if r < acc:
            return code, rate
    return "NZD", "1"


def _invoices(
    rng: random.Random,
    tenant: Tenant,
    m: int,
    pools: tuple[list[int], list[int]],
    now: int,
    first_pk: int,
    credits: _Credits,
) -> Iterator[tuple]:
    """Invoice rows (explicit pks, so that credit note allocations can point at them)."""
    customers, suppliers = pools
    today = now - now % DAY
    for n in range(m):
        sale = rng.random() < 0.85 or not suppliers
        pool = customers if sale else suppliers
        contact = pool[int(rng.random() * len(pool))]
        r = rng.random()
        status = (
            "DRAFT"
            if r < 0.10
            else "SUBMITTED"
            if r < 0.15
            else "AUTHORISED"
            if r < 0.50
            else "PAID"
            if r < 0.90
            else "VOIDED"
            if r < 0.95
            else "DELETED"
        )
        lr = rng.random()
        lat = "Exclusive" if lr < 0.8 else "Inclusive" if lr < 0.95 else "NoTax"
        lines, sub, tax, total = _lines(rng, sale, lat)
        date_ms = today - int(rng.random() * 730) * DAY
        due_ms = date_ms + (7, 14, 20, 30)[int(rng.random() * 4)] * DAY
        cur, rate = _pick_currency(rng.random())
        paid, paid_on = 0, None
        if status == "PAID":
            paid, paid_on = total, min(today, due_ms + int(rng.random() * 20 - 10) * DAY)
        elif status == "AUTHORISED" and rng.random() < 0.3:
            paid, paid_on = total * (10 + int(rng.random() * 80)) // 100, date_ms + DAY
        if sale:
            tenant.invoice_counter += 1
            number = f"INV-{tenant.invoice_counter:04d}"
        else:
            number = f"SUP-{int(rng.random() * 900000) + 100000}"
        reference = f"PO-{int(rng.random() * 90000) + 10000}" if rng.random() < 0.6 else None
        pk, credited = first_pk + n, 0
        updated = _edited(pk, date_ms + int(rng.random() * 30) * DAY + int(rng.random() * DAY), now)
        if status == "AUTHORISED":
            credited, credited_on = credits.against(
                pk, sale, contact, cur, rate, total - paid, date_ms, today
            )
            if credited:
                updated = max(updated, _edited(pk, credited_on + DAY // 2, now))
                if paid + credited == total:
                    status, paid_on = "PAID", credited_on
        yield (
            pk,
            tenant.pk,
            _uuid(rng),
            "ACCREC" if sale else "ACCPAY",
            contact,
            status,
            number,
            reference,
            date_ms,
            due_ms,
            cur,
            rate,
            lat,
            sub,
            tax,
            total,
            paid,
            credited,
            paid_on,
            updated,
            0,
            lines,
        )


class _Credits:
    """Credit notes: about 60% issued against a generated AUTHORISED invoice (same contact,
    type and currency) and allocated to it, part or all; the rest standalone, in every status.

    They draw from their own random stream, so invoices, contacts and quotes stay what they are
    for a seed whatever the number of credit notes.
    """

    def __init__(
        self, tenant: Tenant, wanted: int, invoices: int, seed: int, first_pk: int, now: int
    ):
        self.rng = random.Random(f"{seed}-credit-notes")
        self.tenant = tenant
        self.wanted = wanted
        self.against_invoices = wanted * 6 // 10
        self.chance = min(1.0, self.against_invoices / max(1.0, invoices * 0.35 * 0.8))
        self.next_pk = first_pk
        self.now = now
        self.notes: list[tuple] = []
        self.allocations: list[tuple] = []

    def against(
        self,
        invoice_pk: int,
        sale: bool,
        contact: int,
        cur: str,
        rate: str,
        due: int,
        invoice_date: int,
        today: int,
    ) -> tuple[int, int]:
        """Maybe credit this invoice: (amount allocated to it, allocation date) or (0, 0)."""
        rng = self.rng
        if len(self.notes) >= self.against_invoices or due <= 0 or rng.random() >= self.chance:
            return 0, 0
        amount = due if rng.random() < 0.4 else max(1, due * (10 + int(rng.random() * 80)) // 100)
        total = amount if rng.random() < 0.7 else amount + 100 * (1 + int(rng.random() * 500))
        date_ms = min(today, invoice_date + int(rng.random() * 45) * DAY)
        pk = self._note(sale, contact, cur, rate, total, amount, date_ms)
        self.allocations.append((self.tenant.pk, _uuid(rng), pk, invoice_pk, amount, date_ms))
        return amount, date_ms

    def standalone(self, pools: tuple[list[int], list[int]], today: int) -> None:
        """The rest of the credit notes, not allocated: DRAFT to DELETED."""
        rng = self.rng
        customers, suppliers = pools
        while len(self.notes) < self.wanted:
            sale = rng.random() < 0.85 or not suppliers
            pool = customers if sale else suppliers
            contact = pool[int(rng.random() * len(pool))]
            cur, rate = _pick_currency(rng.random())
            total = 100 * (5 + int(rng.random() * 3000))
            r = rng.random()
            status = (
                "DRAFT" if r < 0.2 else "SUBMITTED" if r < 0.25 else "AUTHORISED" if r < 0.8
                else "VOIDED" if r < 0.9 else "DELETED"
            )  # fmt: skip
            date_ms = today - int(rng.random() * 730) * DAY
            self._note(sale, contact, cur, rate, total, 0, date_ms, status)

    def _note(
        self,
        sale: bool,
        contact: int,
        cur: str,
        rate: str,
        total: int,
        allocated: int,
        date_ms: int,
        status: str | None = None,
    ) -> int:
        rng, tenant = self.rng, self.tenant
        pk, self.next_pk = self.next_pk, self.next_pk + 1
        status = status or ("PAID" if allocated == total else "AUTHORISED")
        if sale:
            tenant.credit_note_counter += 1
            number = f"CN-{tenant.credit_note_counter:04d}"
        else:
            number = f"SCN-{int(rng.random() * 900000) + 100000}"
        # one tax-inclusive line, so the total is exactly the amount credited
        tax = (total * 30 + 115) // 230
        desc, code = _SALES_JSON[0] if sale else _PURCHASE_JSON[0]
        tax_type = "OUTPUT2" if sale else "INPUT2"
        lines = (
            f'[null,{desc},"1.0000","{_money(total)}","{code}","{tax_type}",'
            f'"{_money(tax)}","{_money(total)}",null,null]'
        )
        self.notes.append(
            (
                pk, tenant.pk, _uuid(rng), "ACCRECCREDIT" if sale else "ACCPAYCREDIT", contact,
                status, number, None, date_ms, None, cur, rate, "Inclusive", total - tax, tax,
                total, allocated, date_ms if status == "PAID" else None,
                _edited(pk, date_ms + DAY, self.now), 0, "[" + lines + "]", None,
            )
        )  # fmt: skip
        return pk


def _quotes(
    rng: random.Random, tenant: Tenant, q: int, customers: list[int], now: int
) -> Iterator[tuple]:
    today = now - now % DAY
    statuses = ("DRAFT", "SENT", "SENT", "ACCEPTED", "DECLINED", "INVOICED", "DELETED")
    for _ in range(q):
        contact = customers[int(rng.random() * len(customers))]
        lr = rng.random()
        lat = "Exclusive" if lr < 0.85 else "Inclusive"
        lines, sub, tax, total = _lines(rng, True, lat)
        date_ms = today - int(rng.random() * 365) * DAY
        tenant.quote_counter += 1
        yield (
            tenant.pk,
            _uuid(rng),
            contact,
            statuses[int(rng.random() * len(statuses))],
            f"QU-{tenant.quote_counter:04d}",
            f"Opportunity {int(rng.random() * 9000) + 1000}",
            "Proposal",
            None,
            "Valid for 30 days.",
            date_ms,
            date_ms + 30 * DAY,
            "NZD",
            lat,
            sub,
            tax,
            total,
            min(now, date_ms + DAY),
            lines,
        )


class SeedProgress(Protocol):
    """Hears how far a seed has got, for whoever shows it (`xero-pipelines sandbox` draws
    progress bars); the sandbox itself prints nothing. Stages come in order: `contacts`,
    `invoices`, `quotes`, `credit notes`, then `indexes` (rebuilt once at the end)."""

    def rows(self, stage: str, done: int, total: int) -> None:
        """`done` of the stage's `total` rows are generated (reported every few thousand)."""

    def finished(self) -> None:
        """The seed is over (done or failed): nothing more will be reported."""


REPORT_EVERY = 5_000  # rows between two reports: cheap beside generating them


def _reported(
    rows: Iterable[tuple], stage: str, total: int, progress: SeedProgress | None
) -> Iterable[tuple]:
    """`rows` as they are, telling `progress` every `REPORT_EVERY` rows and at the end."""
    if progress is None:
        return rows

    def counted() -> Iterator[tuple]:
        done = 0
        progress.rows(stage, 0, total)
        for row in rows:
            yield row
            done += 1
            if done % REPORT_EVERY == 0:
                progress.rows(stage, done, total)
        progress.rows(stage, done, total)

    return counted()


def _chunks(it: Iterator[tuple], size: int = 50_000) -> Iterator[list[tuple]]:
    batch: list[tuple] = []
    for row in it:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


CONTACT_COLUMNS = (
    "tenant, contact_id, name, first_name, last_name, email, contact_number, account_number, "
    "status, is_customer, is_supplier, updated_ms, extra"
)
INVOICE_COLUMNS = (
    "pk, tenant, invoice_id, type, contact_pk, status, number, reference, date_ms, due_ms, "
    "currency, rate, lat, sub, tax, total, paid, credited, paid_on_ms, updated_ms, by_app, lines"
)
QUOTE_COLUMNS = (
    "tenant, quote_id, contact_pk, status, number, reference, title, summary, terms, date_ms, "
    "expiry_ms, currency, lat, sub, tax, total, updated_ms, lines"
)
CREDIT_NOTE_COLUMNS = (
    "pk, tenant, credit_note_id, type, contact_pk, status, number, reference, date_ms, due_ms, "
    "currency, rate, lat, sub, tax, total, allocated, paid_on_ms, updated_ms, by_app, lines, extra"
)
ALLOCATION_COLUMNS = "tenant, allocation_id, credit_note_pk, invoice_pk, amount, date_ms"


def _insert(conn: sqlite3.Connection, table: str, columns: str, rows: Iterable[tuple]) -> None:
    marks = ",".join("?" * (columns.count(",") + 1))
    for batch in _chunks(iter(rows)):
        conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", batch)


def _next_pk(conn: sqlite3.Connection, table: str) -> int:
    return conn.execute(f"SELECT COALESCE(MAX(pk), 0) + 1 FROM {table}").fetchone()[0]


def seed(
    store: Store,
    tenant: Tenant,
    contacts: int,
    invoices: int,
    quotes: int = 0,
    seed: int = 0,
    credit_notes: int = 0,
    progress: SeedProgress | None = None,
) -> SeedResult:
    """Replace the organisation's contacts, invoices, quotes and credit notes with generated
    ones, and enable the currencies they use; `progress`, when given, hears how far it is."""
    try:
        return _seed(store, tenant, contacts, invoices, quotes, seed, credit_notes, progress)
    finally:
        if progress is not None:
            progress.finished()


def _seed(
    store: Store,
    tenant: Tenant,
    contacts: int,
    invoices: int,
    quotes: int,
    seed: int,
    credit_notes: int,
    progress: SeedProgress | None,
) -> SeedResult:
    started = time.perf_counter()
    rng = random.Random(f"{seed}")
    now = int(time.time() * 1000)
    today = now - now % DAY
    if (invoices or quotes or credit_notes) and not contacts:
        contacts = 1
    with store.lock:
        conn = store.conn
        tenant.counters = (0, 0, 0)
        for code, _, _ in CURRENCIES:
            tenant.enable_currency(code)
        for table in ("allocations", "credit_notes", "quotes", "invoices", "contacts"):
            conn.execute(f"DELETE FROM {table} WHERE tenant = ?", (tenant.pk,))
        indexes = conn.execute(
            "SELECT name FROM sqlite_master WHERE type='index' AND name LIKE 'ix_%'"
        ).fetchall()
        for (name,) in indexes:
            conn.execute(f"DROP INDEX {name}")
        try:
            conn.execute("BEGIN")
            generated = _contacts(rng, tenant, contacts, now)
            rows = _reported(generated, "contacts", contacts, progress)
            _insert(conn, "contacts", CONTACT_COLUMNS, rows)
            rows = conn.execute(
                "SELECT pk, is_customer, is_supplier FROM contacts WHERE tenant=?", (tenant.pk,)
            ).fetchall()
            customers = [pk for pk, c, _ in rows if c] or [pk for pk, _, _ in rows]
            pools = (customers, [pk for pk, _, s in rows if s])
            first_note = _next_pk(conn, "credit_notes")
            credits = _Credits(tenant, credit_notes, invoices, seed, first_note, now)
            first = _next_pk(conn, "invoices")
            generated = _invoices(rng, tenant, invoices, pools, now, first, credits)
            rows = _reported(generated, "invoices", invoices, progress)
            _insert(conn, "invoices", INVOICE_COLUMNS, rows)
            generated = _quotes(rng, tenant, quotes, customers, now)
            _insert(conn, "quotes", QUOTE_COLUMNS, _reported(generated, "quotes", quotes, progress))
            credits.standalone(pools, today)
            notes = _reported(credits.notes, "credit notes", len(credits.notes), progress)
            _insert(conn, "credit_notes", CREDIT_NOTE_COLUMNS, notes)
            _insert(conn, "allocations", ALLOCATION_COLUMNS, credits.allocations)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            if progress is not None:
                progress.rows("indexes", 0, 1)
            conn.executescript(INDEXES)
            conn.execute("ANALYZE")
            store.changed()
            if progress is not None:
                progress.rows("indexes", 1, 1)
    seconds = time.perf_counter() - started
    return SeedResult(contacts, invoices, quotes, seconds, len(credits.notes))
