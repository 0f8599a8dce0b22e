"""Writing mirror, CRM and link rows straight into the tables, for tests whose expected
figures are worked out by hand (the mirror assets fill the same tables from Xero)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert

from xero_pipelines.db.mirrors import (
    XeroContactRow,
    XeroCreditNoteRow,
    XeroInvoiceRow,
    XeroOrganisationRow,
)
from xero_pipelines.db.models import CrmAccount, CrmContact, XeroAccountLink

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def guid() -> str:
    return str(uuid.uuid4())


def contact(
    tenant: str,
    name: str | None,
    *,
    contact_id: str | None = None,
    status: str = "ACTIVE",
    number: str | None = None,
    contact_number: str | None = None,
    email: str | None = None,
    merged_to: str | None = None,
    is_customer: bool = True,
    raw: dict[str, Any] | None = None,
) -> dict[str, Any]:
    contact_id = contact_id or guid()
    record = {"ContactID": contact_id, "Name": name, "ContactStatus": status, **(raw or {})}
    return {
        "tenant_id": tenant,
        "contact_id": contact_id,
        "name": name,
        "account_number": number,
        "contact_number": contact_number,
        "email_address": email,
        "first_name": record.get("FirstName"),
        "last_name": record.get("LastName"),
        "contact_status": status,
        "is_customer": is_customer,
        "is_supplier": False,
        "merged_to_contact_id": merged_to,
        "updated_date_utc": NOW,
        "raw": record,
        "synced_at": NOW,
    }


def invoice(
    tenant: str,
    contact_id: str,
    *,
    status: str = "AUTHORISED",
    total: str = "0",
    due: str = "0",
    day: date = date(2026, 1, 10),
    due_date: date | None = date(2026, 2, 10),
    rate: str | None = "1",
    currency: str = "NZD",
    type: str = "ACCREC",
) -> dict[str, Any]:
    invoice_id = guid()
    return {
        "tenant_id": tenant,
        "invoice_id": invoice_id,
        "invoice_number": None,
        "type": type,
        "contact_id": contact_id,
        "status": status,
        "date": day,
        "due_date": due_date,
        "currency_code": currency,
        "currency_rate": None if rate is None else Decimal(rate),
        "total": Decimal(total),
        "amount_due": Decimal(due),
        "amount_paid": Decimal(total) - Decimal(due),
        "amount_credited": Decimal(0),
        "reference": None,
        "updated_date_utc": NOW,
        "raw": {"InvoiceID": invoice_id},
        "synced_at": NOW,
    }


def credit_note(
    tenant: str,
    contact_id: str,
    *,
    status: str = "AUTHORISED",
    total: str = "0",
    remaining: str = "0",
    rate: str | None = "1",
    currency: str = "NZD",
    type: str = "ACCRECCREDIT",
) -> dict[str, Any]:
    note_id = guid()
    return {
        "tenant_id": tenant,
        "credit_note_id": note_id,
        "credit_note_number": None,
        "type": type,
        "contact_id": contact_id,
        "status": status,
        "date": date(2026, 1, 5),
        "currency_code": currency,
        "currency_rate": None if rate is None else Decimal(rate),
        "total": Decimal(total),
        "remaining_credit": Decimal(remaining),
        "reference": None,
        "updated_date_utc": NOW,
        "raw": {"CreditNoteID": note_id},
        "synced_at": NOW,
    }


def organisation(
    tenant: str,
    *,
    base_currency: str = "NZD",
    short_code: str = "!Ab3dE",
    timezone: str = "NEWZEALANDSTANDARDTIME",
) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "organisation_id": guid(),
        "name": "Demo Company",
        "short_code": short_code,
        "base_currency": base_currency,
        "timezone": timezone,
        "country_code": "NZ",
        "updated_date_utc": NOW,
        "raw": {"ShortCode": short_code},
        "synced_at": NOW,
    }


def account(
    id: int, name: str, number: str | None = None, email: str | None = None
) -> dict[str, Any]:
    return {"id": id, "name": name, "account_number": number, "email": email}


def link(crm_account_id: int, contact_id: str, matched_by: str) -> dict[str, Any]:
    return {
        "crm_account_id": crm_account_id,
        "xero_contact_id": contact_id,
        "matched_by": matched_by,
        "linked_at": NOW,
    }


TABLES = {
    "contacts": XeroContactRow.__table__,
    "invoices": XeroInvoiceRow.__table__,
    "credit_notes": XeroCreditNoteRow.__table__,
    "organisation": XeroOrganisationRow.__table__,
    "accounts": CrmAccount.__table__,
    "crm_contacts": CrmContact.__table__,
    "links": XeroAccountLink.__table__,
}


def put(conn: Connection, table: str, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(TABLES[table]), rows)
