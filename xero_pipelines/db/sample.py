"""A deterministic, realistic sample CRM: accounts, contacts, opportunities and lines.

The demo, the tests and the benchmarks all use it, so it deliberately includes what real
CRMs hold: names with apostrophes, accents and ampersands, accounts without an account
number or email, contacts with only some of their three phone fields, opportunities in
several currencies with discounted and zero-rated lines.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, insert

from xero_pipelines.db.models import CrmAccount, CrmContact, CrmOpportunity, CrmOpportunityLine

_PREFIXES = [
    "Acme",
    "Bayside",
    "O'Brien",
    "Zoë's",
    "Müller",
    "Smith & Sons",
    "Côté",
    "Northwind",
    "Harbour",
    "Kōwhai",
    "Ridge",
    "Crane & Partners",
    "Nørre",
    "Birch",
    "D'Angelo",
    "Summit",
    "Pacific",
    "Élan",
    "Marlow",
    "Fjord",
    "Granite",
    "Lindqvist",
    "Saint-Émilion",
    "Wattle",
]
_SUFFIXES = [
    "Ltd",
    "Limited",
    "plc",
    "GmbH",
    "SARL",
    "Pty Ltd",
    "Trading Co",
    "Holdings",
    "Studio",
    "Consulting",
    "Bakery",
    "Logistics",
    "Engineering",
    "& Co",
    "Group",
    "Supplies",
]
_FIRST = [
    "Amélie",
    "Seán",
    "Priya",
    "Tomasz",
    "Chloé",
    "Mateo",
    "Aroha",
    "Jürgen",
    "Li",
    "Ngaio",
    "Olivia",
    "Kwame",
    "Zoë",
    "Björn",
    "Fatima",
    "Hemi",
    "Ana",
    "Liam",
    "Mei",
    "Noah",
]
_LAST = [
    "O'Connor",
    "Smith",
    "Núñez",
    "Kowalski",
    "Ngata",
    "Müller",
    "Dubois",
    "Chen",
    "Patel",
    "Johansson",
    "MacDonald",
    "Rossi",
    "Tanaka",
    "Walker",
    "D'Souza",
    "Brown",
]
_CITIES = [
    ("London", "Greater London", "EC1A 1BB", "GB"),
    ("Manchester", None, "M1 1AE", "GB"),
    ("Auckland", "Auckland", "1010", "NZ"),
    ("Wellington", None, "6011", "NZ"),
    ("Sydney", "NSW", "2000", "AU"),
    ("Melbourne", "VIC", "3000", "AU"),
    ("Amsterdam", "Noord-Holland", "1012 AB", "NL"),
    ("Berlin", None, "10115", "DE"),
    ("Montréal", "QC", "H2Y 1C6", "CA"),
    ("Dublin", None, "D02 X285", "IE"),
]
_PRODUCTS = [
    ("Annual subscription", Decimal("1200.00")),
    ("Onboarding workshop (1 day)", Decimal("950.00")),
    ("Support hours", Decimal("85.50")),
    ("Licence seat", Decimal("29.99")),
    ("Hardware kit", Decimal("349.00")),
    ("Travel & expenses", Decimal("120.00")),
    ("Custom integration", Decimal("4800.00")),
    ("Training — advanced", Decimal("640.00")),
]
_TAX_TYPES = ["OUTPUT2", "OUTPUT2", "OUTPUT2", "ZERORATEDOUTPUT", "NONE"]
_CURRENCIES = ["GBP", "GBP", "GBP", "EUR", "USD", "NZD"]


@dataclass
class SampleCrm:
    accounts: list[dict] = field(default_factory=list)
    contacts: list[dict] = field(default_factory=list)
    opportunities: list[dict] = field(default_factory=list)
    lines: list[dict] = field(default_factory=list)


def _phone(rng: random.Random) -> str:
    return f"+44 20 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"


def generate_crm(accounts: int, seed: int = 0, *, start_id: int = 1) -> SampleCrm:
    """Plain rows (dicts keyed by column) for `accounts` accounts; same seed, same rows."""
    rng = random.Random(seed)
    out = SampleCrm()
    now = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    contact_id = opportunity_id = line_id = start_id
    for account_id in range(start_id, start_id + accounts):
        name = f"{rng.choice(_PREFIXES)} {rng.choice(_SUFFIXES)}"
        if rng.random() < 0.5:
            name = f"{name} {account_id}"  # most names are unique; some collide on purpose
        domain = "".join(ch for ch in name.lower() if ch.isascii() and ch.isalnum())[:20]
        city, region, postcode, country = rng.choice(_CITIES)
        created = now - timedelta(days=rng.randint(0, 900), minutes=rng.randint(0, 1440))
        out.accounts.append(
            {
                "id": account_id,
                "name": name,
                "account_number": f"CRM-{account_id:06d}" if rng.random() < 0.8 else None,
                "email": f"accounts@{domain}.example" if rng.random() < 0.85 else None,
                "phone": _phone(rng) if rng.random() < 0.9 else None,
                "website": f"https://{domain}.example" if rng.random() < 0.6 else None,
                "address_line1": f"{rng.randint(1, 250)} {rng.choice(_LAST)} Street",
                "address_line2": f"Unit {rng.randint(1, 40)}" if rng.random() < 0.2 else None,
                "city": city,
                "region": region,
                "postal_code": postcode,
                "country": country,
                "created_at": created,
                "updated_at": created + timedelta(days=rng.randint(0, 30)),
            }
        )
        for position in range(rng.choice([0, 1, 1, 2, 2, 3])):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            email_name = "".join(ch for ch in f"{first}.{last}".lower() if ch.isascii())
            out.contacts.append(
                {
                    "id": contact_id,
                    "account_id": account_id,
                    "first_name": first,
                    "last_name": last,
                    "email": f"{email_name}@{domain}.example" if rng.random() < 0.9 else None,
                    "phone": _phone(rng) if rng.random() < 0.7 else None,
                    "mobile": f"+44 7{rng.randint(100, 999)} {rng.randint(100000, 999999)}"
                    if rng.random() < 0.6
                    else None,
                    "work_phone": _phone(rng) if rng.random() < 0.4 else None,
                    "is_primary": position == 0,
                }
            )
            contact_id += 1
        for _ in range(rng.choice([0, 1, 1, 2])):
            currency = rng.choice(_CURRENCIES)
            total = Decimal("0")
            headline = None
            for _ in range(rng.randint(1, 4)):
                description, price = rng.choice(_PRODUCTS)
                headline = headline or description
                quantity = Decimal(rng.choice([1, 1, 2, 3, 5, 10, 12]))
                discount = rng.choice([Decimal("0"), Decimal("0"), Decimal("10"), Decimal("12.5")])
                out.lines.append(
                    {
                        "id": line_id,
                        "opportunity_id": opportunity_id,
                        "description": description,
                        "quantity": quantity,
                        "unit_price": price,
                        "discount_rate": discount,
                        "tax_type": rng.choice(_TAX_TYPES),
                    }
                )
                total += (quantity * price * (100 - discount) / 100).quantize(Decimal("0.01"))
                line_id += 1
            out.opportunities.append(
                {
                    "id": opportunity_id,
                    "account_id": account_id,
                    "name": f"{headline} for {name}"[:255],
                    "opportunity_number": f"OPP-{opportunity_id:06d}",
                    "po_number": f"PO{rng.randint(10000, 99999)}" if rng.random() < 0.5 else None,
                    "description": "Proposal agreed on the phone; send the paperwork.",
                    "currency_code": currency,
                    "close_date": date(2026, 11, 1) + timedelta(days=rng.randint(-60, 90)),
                    "amount": total,
                }
            )
            opportunity_id += 1
    return out


def load_sample_crm(engine: Engine, accounts: int, seed: int = 0) -> SampleCrm:
    """Insert a generated CRM after any rows already there; returns what was inserted."""
    with engine.begin() as conn:
        start = _next_id(conn)
        sample = generate_crm(accounts, seed, start_id=start)
        for model, rows in (
            (CrmAccount, sample.accounts),
            (CrmContact, sample.contacts),
            (CrmOpportunity, sample.opportunities),
            (CrmOpportunityLine, sample.lines),
        ):
            if rows:
                conn.execute(insert(model), rows)
    _advance_postgres_sequences(engine)
    return sample


def _next_id(conn) -> int:
    from sqlalchemy import func, select

    ids = [
        conn.execute(select(func.max(model.id))).scalar() or 0
        for model in (CrmAccount, CrmContact, CrmOpportunity, CrmOpportunityLine)
    ]
    return max(ids) + 1


def _advance_postgres_sequences(engine: Engine) -> None:
    """Explicit ids bypass PostgreSQL's sequences; move them past what we inserted."""
    if engine.dialect.name != "postgresql":
        return
    from sqlalchemy import text

    with engine.begin() as conn:
        for table in ("crm_accounts", "crm_contacts", "crm_opportunities", "crm_opportunity_lines"):
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                )
            )
