"""What the request jobs read from the CRM database, as the domain's typed records.

One query per kind of row for a whole batch, never one per request. Columns the settings
name (the phone column, the reference fields) are read by name from the live table, since
the CRM may add its own; numbers are read as the database's text so the domain decides,
exactly, what is not a number.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, String, cast, column, select, table

from xero_pipelines.db.mirrors import (
    XeroContactRow,
    XeroOrganisationRow,
    XeroRevenueAccountRow,
)
from xero_pipelines.db.request_outcomes import DRAFT_REQUESTS, EXPORT_REQUESTS, request_table
from xero_pipelines.domain.matching import XeroContactKeys
from xero_pipelines.domain.requests import (
    AccountRow,
    ContactRow,
    DraftRequestRow,
    ExportRequestRow,
    LineRow,
    OpportunityRow,
)

CHUNK = 500
PHONE_COLUMNS = ("phone", "mobile", "work_phone")
_ACCOUNT_FIELDS = (
    *("id", "name", "account_number", "email", "phone"),
    *("address_line1", "address_line2", "city", "region", "postal_code", "country"),
)


def _chunks(ids: Iterable[int | str]) -> Iterable[list]:
    values = sorted(set(ids))
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def export_requests(conn: Connection, ids: Collection[int]) -> list[ExportRequestRow]:
    t = request_table(EXPORT_REQUESTS)
    rows = []
    for chunk in _chunks(ids):
        query = select(t.c.id, t.c.crm_account_id, t.c.main_contact_id, t.c.action)
        rows += conn.execute(query.where(t.c.id.in_(chunk))).all()
    return [ExportRequestRow(r.id, r.crm_account_id, r.main_contact_id, r.action) for r in rows]


def draft_requests(conn: Connection, ids: Collection[int]) -> list[DraftRequestRow]:
    t = request_table(DRAFT_REQUESTS)
    rows = []
    for chunk in _chunks(ids):
        query = select(t.c.id, t.c.opportunity_id, t.c.revenue_account_code, t.c.export_type)
        rows += conn.execute(query.where(t.c.id.in_(chunk))).all()
    return [
        DraftRequestRow(r.id, r.opportunity_id, r.revenue_account_code, r.export_type) for r in rows
    ]


def accounts(conn: Connection, ids: Collection[int]) -> dict[int, AccountRow]:
    t = table("crm_accounts", *(column(name) for name in _ACCOUNT_FIELDS))
    out: dict[int, AccountRow] = {}
    for chunk in _chunks(ids):
        for row in conn.execute(select(t).where(t.c.id.in_(chunk))).mappings():
            out[row["id"]] = AccountRow(**dict(row))
    return out


def contacts(
    conn: Connection, account_ids: Collection[int], contact_ids: Collection[int], phone_field: str
) -> list[ContactRow]:
    """The accounts' contacts, and the named contacts whichever account they belong to."""
    phones = tuple(dict.fromkeys((*PHONE_COLUMNS, phone_field)))
    names = ("id", "account_id", "first_name", "last_name", "email", "is_primary", *phones)
    t = table("crm_contacts", *(column(name) for name in names))
    seen: dict[int, ContactRow] = {}
    for key, ids in ((t.c.account_id, account_ids), (t.c.id, contact_ids)):
        for chunk in _chunks(ids):
            for row in conn.execute(select(t).where(key.in_(chunk))).mappings():
                seen[row["id"]] = ContactRow(
                    id=row["id"],
                    account_id=row["account_id"],
                    first_name=row["first_name"],
                    last_name=row["last_name"],
                    email=row["email"],
                    is_primary=bool(row["is_primary"]),
                    phones={name: row[name] for name in phones},
                )
    return list(seen.values())


def opportunities(
    conn: Connection, ids: Collection[int], reference_fields: dict[str, str]
) -> dict[int, OpportunityRow]:
    """Opportunities with the configured reference field's value per export type."""
    fields = tuple(dict.fromkeys(reference_fields.values()))
    base = ("id", "account_id", "name", "currency_code", "amount")
    t = table("crm_opportunities", *(column(n) for n in dict.fromkeys((*base, *fields))))
    out: dict[int, OpportunityRow] = {}
    for chunk in _chunks(ids):
        query = select(
            t.c.id,
            t.c.account_id,
            t.c.name,
            t.c.currency_code,
            cast(t.c.amount, String).label("amount"),
            *(cast(t.c[f], String).label(f"ref_{f}") for f in fields),
        ).where(t.c.id.in_(chunk))
        for row in conn.execute(query).mappings():
            references = {kind: row[f"ref_{f}"] for kind, f in reference_fields.items()}
            out[row["id"]] = OpportunityRow(
                row["id"],
                row["account_id"],
                row["name"],
                row["currency_code"],
                row["amount"],
                references,
            )
    return out


def opportunity_lines(
    conn: Connection, opportunity_ids: Collection[int]
) -> dict[int, list[LineRow]]:
    names = ("id", "opportunity_id", "description", "quantity", "unit_price", "discount_rate")
    t = table("crm_opportunity_lines", *(column(n) for n in (*names, "tax_type")))
    out: dict[int, list[LineRow]] = {}
    for chunk in _chunks(opportunity_ids):
        query = select(
            t.c.id,
            t.c.opportunity_id,
            t.c.description,
            cast(t.c.quantity, String).label("quantity"),
            cast(t.c.unit_price, String).label("unit_price"),
            cast(t.c.discount_rate, String).label("discount_rate"),
            t.c.tax_type,
        ).where(t.c.opportunity_id.in_(chunk))
        for row in conn.execute(query):
            line = LineRow(
                row.id,
                row.description,
                row.quantity,
                row.unit_price,
                row.discount_rate,
                row.tax_type,
            )
            out.setdefault(row.opportunity_id, []).append(line)
    return out


# ---- the Xero mirrors (written by the import) ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Organisation:
    short_code: str | None
    base_currency: str | None
    timezone: str | None = None


def organisation(conn: Connection, tenant_id: str) -> Organisation:
    t = XeroOrganisationRow.__table__
    query = select(t.c.short_code, t.c.base_currency, t.c.timezone)
    row = conn.execute(query.where(t.c.tenant_id == tenant_id)).first()
    return Organisation(*row) if row else Organisation(None, None)


def revenue_accounts(conn: Connection, tenant_id: str) -> dict[str, str]:
    """Mirrored revenue account code → its status (ACTIVE, ARCHIVED)."""
    t = XeroRevenueAccountRow.__table__
    rows = conn.execute(select(t.c.code, t.c.status).where(t.c.tenant_id == tenant_id))
    return {row.code: (row.status or "ACTIVE") for row in rows if row.code}


def contact_keys(conn: Connection, tenant_id: str) -> list[XeroContactKeys]:
    """Every mirrored contact's matching keys (the index keeps only the active ones)."""
    t = XeroContactRow.__table__
    rows = conn.execute(
        select(
            t.c.contact_id,
            t.c.name,
            t.c.account_number,
            t.c.contact_number,
            t.c.email_address,
            t.c.contact_status,
            t.c.merged_to_contact_id,
        ).where(t.c.tenant_id == tenant_id)
    )
    return [XeroContactKeys(*row) for row in rows]
