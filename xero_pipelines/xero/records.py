"""Xero's JSON → typed mirror rows, in one place.

One mapping table per record kind says which Xero field fills which column of its mirror
table (`db/mirrors.py`) and with which parser; nothing else in the project indexes Xero's
raw dicts. A row is a plain dict keyed by column name, ready for one `executemany` per
page: no model object or validation library per record, so a million invoices map in
seconds.

A record that cannot be mapped (no id, a contact without a name, a malformed date, text
longer than its column) raises `BadRecord` inside `map_page`, which reports it as
`Skipped` and carries on with the rest of the page. Amounts stay exact `Decimal`s here,
float noise included (`201.10000000000002`, as a foreign emulator may send): the Money
column rounds them to cents once, when the row is written. The whole record is kept as
`raw`, exactly as Xero sent it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import String, Table

from xero_pipelines.db.mirrors import (
    XeroContactRow,
    XeroCreditNoteRow,
    XeroInvoiceRow,
    XeroOrganisationRow,
    XeroRevenueAccountRow,
)

from .parsing import parse_xero_date, parse_xero_datetime, to_decimal

Parser = Callable[[Any], Any]
MAX_REASON = 160
_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\Z")


class BadRecord(ValueError):
    """A Xero record that cannot become a row; the message says which field and why."""


# ---- parsers: one Xero value → one column value (None stays None) ----------------------


def text(value: Any) -> str | None:
    """A string field; "" is stored as None (Xero omits and blanks fields alike)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__}")
    return value


def guid(value: Any) -> str | None:
    """A Xero id in canonical lower case; anything that is not a GUID is refused."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _GUID.match(value):
        raise ValueError(f"not a GUID: {_short(value)}")
    return value.lower()


def flag(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise ValueError(f"expected true or false, got {_short(value)}")


def _bounded_decimal(integer_digits: int) -> Parser:
    limit = Decimal(10) ** integer_digits

    def parse(value: Any) -> Decimal | None:
        amount = to_decimal(value)
        if amount is not None and abs(amount) >= limit:
            raise ValueError(f"{amount} does not fit {integer_digits} digits before the point")
        return amount

    return parse


money = _bounded_decimal(16)  # NUMERIC(18, 2): kept exact here, rounded once on write
rate = _bounded_decimal(12)  # NUMERIC(18, 6): Xero's CurrencyRate
utc = parse_xero_datetime  # `/Date(ms+0000)/` or ISO → aware UTC datetime
day = parse_xero_date  # `/Date(...)/` or ISO → the organisation's calendar date


# ---- the mapping tables ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    """One column of a mirror row: the Xero field it comes from (dotted for nested
    objects, e.g. `Contact.ContactID`) and the parser that types it."""

    column: str
    source: str
    parse: Parser


class _Step(NamedTuple):
    """One field of a kind's mapping, prepared once: where to look, how to parse, how
    long the text may be (a tuple, unpacked in the per-record loop)."""

    column: str
    source: str
    key: str
    nested: str | None
    parse: Parser
    limit: int | None


@dataclass(frozen=True, slots=True)
class RecordKind:
    """How one Xero collection becomes rows of its mirror table."""

    collection: str  # the list's key in Xero's envelope, e.g. "Contacts"
    table: Table
    fields: tuple[Field, ...]
    required: tuple[str, ...]  # columns that must have a value, else the record is skipped
    id_source: str | None  # the Xero id field named in reports (None: one per tenant)
    status_column: str | None = None
    steps: tuple[_Step, ...] = dataclass_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lengths = {
            c.name: c.type.length
            for c in self.table.columns
            if isinstance(c.type, String) and c.type.length
        }
        steps = []
        for f in self.fields:
            key, _, nested = f.source.partition(".")
            limit = lengths.get(f.column)
            steps.append(_Step(f.column, f.source, key, nested or None, f.parse, limit))
        object.__setattr__(self, "steps", tuple(steps))


def _fields(*specs: tuple[str, str, Parser]) -> tuple[Field, ...]:
    return tuple(Field(column, source, parse) for column, source, parse in specs)


_DOCUMENT = (
    ("type", "Type", text),
    ("contact_id", "Contact.ContactID", guid),
    ("status", "Status", text),
    ("date", "Date", day),
    ("currency_code", "CurrencyCode", text),
    ("currency_rate", "CurrencyRate", rate),
    ("total", "Total", money),
    ("reference", "Reference", text),
    ("updated_date_utc", "UpdatedDateUTC", utc),
)

CONTACTS = RecordKind(
    collection="Contacts",
    table=XeroContactRow.__table__,
    fields=_fields(
        ("contact_id", "ContactID", guid),
        ("name", "Name", text),
        ("account_number", "AccountNumber", text),
        ("contact_number", "ContactNumber", text),
        ("email_address", "EmailAddress", text),
        ("first_name", "FirstName", text),
        ("last_name", "LastName", text),
        ("contact_status", "ContactStatus", text),
        ("is_customer", "IsCustomer", flag),
        ("is_supplier", "IsSupplier", flag),
        ("merged_to_contact_id", "MergedToContactID", guid),
        ("updated_date_utc", "UpdatedDateUTC", utc),
    ),
    required=("contact_id", "name"),
    id_source="ContactID",
    status_column="contact_status",
)

INVOICES = RecordKind(
    collection="Invoices",
    table=XeroInvoiceRow.__table__,
    fields=_fields(
        ("invoice_id", "InvoiceID", guid),
        ("invoice_number", "InvoiceNumber", text),
        *_DOCUMENT,
        ("due_date", "DueDate", day),
        ("amount_due", "AmountDue", money),
        ("amount_paid", "AmountPaid", money),
        ("amount_credited", "AmountCredited", money),
    ),
    required=("invoice_id",),
    id_source="InvoiceID",
    status_column="status",
)

CREDIT_NOTES = RecordKind(
    collection="CreditNotes",
    table=XeroCreditNoteRow.__table__,
    fields=_fields(
        ("credit_note_id", "CreditNoteID", guid),
        ("credit_note_number", "CreditNoteNumber", text),
        *_DOCUMENT,
        ("remaining_credit", "RemainingCredit", money),
    ),
    required=("credit_note_id",),
    id_source="CreditNoteID",
    status_column="status",
)

REVENUE_ACCOUNTS = RecordKind(
    collection="Accounts",
    table=XeroRevenueAccountRow.__table__,
    fields=_fields(
        ("account_id", "AccountID", guid),
        ("code", "Code", text),
        ("name", "Name", text),
        ("status", "Status", text),
        ("account_type", "Type", text),
        ("tax_type", "TaxType", text),
        ("updated_date_utc", "UpdatedDateUTC", utc),
    ),
    required=("account_id",),
    id_source="AccountID",
    status_column="status",
)

ORGANISATION = RecordKind(
    collection="Organisations",
    table=XeroOrganisationRow.__table__,
    fields=_fields(
        ("organisation_id", "OrganisationID", guid),
        ("name", "Name", text),
        ("short_code", "ShortCode", text),
        ("base_currency", "BaseCurrency", text),
        ("timezone", "Timezone", text),
        ("country_code", "CountryCode", text),
    ),
    required=("organisation_id",),
    id_source="OrganisationID",
)

KINDS = (CONTACTS, INVOICES, CREDIT_NOTES, REVENUE_ACCOUNTS, ORGANISATION)


# ---- mapping ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record left out of the mirror: its Xero id (when it has a readable one) and why."""

    record_id: str | None
    reason: str


@dataclass(slots=True)
class MappedPage:
    rows: list[dict[str, Any]]
    skipped: list[Skipped]


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def map_record(
    kind: RecordKind, record: Any, *, tenant_id: str, synced_at: datetime
) -> dict[str, Any]:
    """One Xero record → one row of `kind.table` (raises `BadRecord` with the reason).

    Written for speed (it runs once per record of a million-invoice import): the steps
    were prepared when the kind was defined, and one `try` covers them all."""
    if not isinstance(record, Mapping):
        raise BadRecord(f"not a record: {type(record).__name__}")
    row: dict[str, Any] = {"tenant_id": tenant_id, "raw": record, "synced_at": synced_at}
    source = "?"
    try:
        for column, source, key, nested, parse, limit in kind.steps:  # noqa: B007 (in except)
            value = record.get(key)
            if nested is not None:
                value = value.get(nested) if isinstance(value, Mapping) else None
            value = parse(value)
            if limit is not None and value.__class__ is str and len(value) > limit:
                raise ValueError(f"longer than {limit} characters")
            row[column] = value
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise BadRecord(f"{source}: {exc}") from None
    for column in kind.required:
        value = row[column]
        if value is None or (value.__class__ is str and not value.strip()):
            source = next(f.source for f in kind.fields if f.column == column)
            raise BadRecord(f"{source} is missing")
    row.setdefault("updated_date_utc", None)
    return row


def record_id(kind: RecordKind, record: Any) -> str | None:
    """The record's Xero id as sent, for reports (None when there is none to show)."""
    if kind.id_source is None or not isinstance(record, Mapping):
        return None
    value = record.get(kind.id_source)
    return value if isinstance(value, str) and value else None


def map_page(
    kind: RecordKind, records: Iterable[Any], *, tenant_id: str, synced_at: datetime
) -> MappedPage:
    """A page of Xero records → rows, with the records that could not be mapped set aside."""
    page = MappedPage(rows=[], skipped=[])
    for record in records:
        try:
            row = map_record(kind, record, tenant_id=tenant_id, synced_at=synced_at)
        except BadRecord as exc:
            page.skipped.append(Skipped(record_id(kind, record), str(exc)[:MAX_REASON]))
        else:
            page.rows.append(row)
    return page
