"""What invoices, credit notes and quotes share: the stored one, contact, currency, dates,
totals, Xero's status rules, and writing the row.

Invoices and credit notes are the same kind of document to Xero (a type, a contact, lines,
DRAFT → SUBMITTED → AUTHORISED → PAID/VOIDED, DELETED); `read_document` validates either into a
`Header` and `store_document` writes it. `Kind` names what differs: the nouns in messages, the
types, the table and the number prefix.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from ..xero_json import now_ms, parse_date
from .common import Ctx, compute_lines, is_guid, line_amount_type, not_found, number, text, to_cents
from .contacts import save_contact
from .organisation import CURRENCY_NAMES, not_subscribed, today_ms

RATE_PLACES = Decimal("0.000001")  # the sandbox shows CurrencyRate to 6 places

# Units of each currency per 1 NZD, used when a foreign document has no CurrencyRate (divided
# by the base currency's own figure when the organisation's base is not NZD).
DEFAULT_RATES = {
    "NZD": "1",
    "AUD": "0.91",
    "USD": "0.60",
    "GBP": "0.47",
    "EUR": "0.55",
    "CAD": "0.82",
    "JPY": "89.5",
    "SGD": "0.80",
    "CHF": "0.53",
    "HKD": "4.70",
    "CNY": "4.30",
    "INR": "50.0",
    "SEK": "6.30",
    "NOK": "6.40",
    "DKK": "4.10",
    "FJD": "1.35",
    "ZAR": "10.9",
}

STATUSES = ("DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED")
TRANSITIONS = {
    "DRAFT": {"DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"},
    "SUBMITTED": {"DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"},
    "AUTHORISED": {"AUTHORISED", "VOIDED"},
    "PAID": set(),
    "VOIDED": set(),
    "DELETED": set(),
}
SETTLED = "This document cannot be edited as it has a payment or credit note allocated to it."
ARCHIVED_CONTACT = (
    "The contact with the specified contact details has been archived. The contact must be "
    "un-archived before creating new invoices or credit notes."
)


@dataclass(frozen=True)
class Kind:
    """What tells an invoice from a credit note."""

    noun: str  # in messages: "Invoice", "Credit Note"
    key: str  # JSON field prefix: InvoiceID/InvoiceNumber, CreditNoteID/CreditNoteNumber
    table: str
    sale: str  # the accounts receivable type
    purchase: str  # the accounts payable type
    prefix: str  # automatic numbers of the sale type: INV-0001, CN-0001
    counter: str  # the Tenant attribute that counts them

    @property
    def id_column(self) -> str:
        return self.table[:-1] + "_id"


INVOICE = Kind("Invoice", "Invoice", "invoices", "ACCREC", "ACCPAY", "INV", "invoice_counter")
CREDIT_NOTE = Kind(
    "Credit Note",
    "CreditNote",
    "credit_notes",
    "ACCRECCREDIT",
    "ACCPAYCREDIT",
    "CN",
    "credit_note_counter",
)


class StoredDocument(Protocol):
    """The stored fields `read_document` needs (an InvoiceRow or a CreditNoteRow)."""

    pk: int
    type: str
    contact_pk: int
    status: str
    number: str | None
    reference: str | None
    date_ms: int | None
    due_ms: int | None
    currency: str
    rate: str | None
    lat: str
    sub: int
    tax: int
    total: int
    updated_ms: int
    lines: str
    extra: str | None


@dataclass
class Header:
    """An invoice's or credit note's fields as validated for a write, ready to store."""

    type: str
    contact_pk: int
    status: str
    number: str | None
    reference: str | None
    date_ms: int | None
    due_ms: int | None
    currency: str
    rate: str
    lat: str
    sub: int
    tax: int
    total: int
    lines: list[list[Any]]
    extra: str | None


def existing_row(
    ctx: Ctx,
    el: dict,
    noun: str,
    find_row: Callable[[Ctx, str], Any],
    *,
    create_only: bool,
    path_id: str | None,
) -> tuple[Any, list[str]]:
    """(stored row, errors) for the document an element updates: by path id, else by `{noun}ID`.

    No id (a create) gives (None, []). An id that matches nothing is a 404 when it came in the
    path, and an error on just that element when it came in the body, as Xero does.
    """
    ident = path_id or (None if create_only else el.get(f"{noun}ID"))
    if not ident:
        return None, []
    row = find_row(ctx, str(ident))
    if row is None:
        if path_id:
            raise not_found()
        return None, [f"{noun} with {noun}ID {ident} could not be found."]
    return row, []


def read_document(
    ctx: Ctx,
    el: dict,
    old: StoredDocument | None,
    kind: Kind,
    *,
    paid: int = 0,
    credited: int = 0,
    unitdp: int = 2,
) -> tuple[Header | None, list[str]]:
    """Validate one invoice or credit note element against Xero's rules (nothing is written).

    `paid` and `credited` are what is already settled on the stored one (payments, credit).
    """
    errors: list[str] = []
    typ = el.get("Type") or (old.type if old else None)
    if old is None and typ not in (kind.sale, kind.purchase):
        errors.append(
            f"{kind.noun} Type must be {kind.sale} or {kind.purchase}"
            if typ
            else f"{kind.noun} Type must be specified"
        )
    status = el.get("Status") or (old.status if old else "DRAFT")
    errors += status_errors(kind, old.status if old else None, status, paid, credited)
    contact_pk = _contact(ctx, el, old, errors)
    cur, rate = currency(ctx, el, (old.currency, old.rate or "1") if old else None, errors)
    date_ms = date_field(el, "Date", old.date_ms if old else None, errors)
    if old is None and date_ms is None:
        date_ms = today_ms(ctx.tenant)  # Xero: today in the organisation's timezone
    due_ms = date_field(el, "DueDate", old.due_ms if old else None, errors)
    reference, doc_number = _texts(el, old, kind, errors)
    stored = (old.lines, old.lat, old.sub, old.tax, old.total) if old else None
    lines, lat, sub, tax, total = totals(
        ctx, el, stored, errors, unitdp=unitdp, is_sale=typ != kind.purchase
    )
    errors += _amount_errors(kind, status, lines, total, paid + credited)
    if typ == kind.sale and doc_number and _number_taken(ctx, kind, doc_number, old):
        errors.append(f"{kind.noun} # must be unique.")
    if "SentToContact" in el and not isinstance(el["SentToContact"], bool):
        errors.append("SentToContact must be true or false")
    if errors or contact_pk is None or typ is None:
        return None, errors
    sent = {"SentToContact": el["SentToContact"]} if "SentToContact" in el else None
    extra = json.dumps(sent) if sent else (old.extra if old else None)
    return Header(
        typ, contact_pk, status, doc_number, reference, date_ms, due_ms, cur, rate, lat,
        sub, tax, total, lines, extra,
    ), []  # fmt: skip


def status_errors(
    kind: Kind, old: str | None, new: str, paid: int = 0, credited: int = 0
) -> list[str]:
    """Xero's status rules: create as DRAFT/SUBMITTED/AUTHORISED; DRAFT/SUBMITTED → AUTHORISED
    or DELETED; AUTHORISED → VOIDED, unless something is settled on it; the rest are final."""
    if new not in STATUSES:
        return [f"{kind.noun} Status '{new}' is not valid"]
    if old is None:
        if new in ("DRAFT", "SUBMITTED", "AUTHORISED"):
            return []
        return [f"{kind.noun} not of valid status for creation"]
    if old == "PAID":
        return [SETTLED]
    if new not in TRANSITIONS[old]:
        return [f"{kind.noun} not of valid status for modification"]
    if new in ("VOIDED", "DELETED") and paid:
        return ["Payment has been made, invoice can not be voided or deleted"]
    if new in ("VOIDED", "DELETED") and credited:
        return [SETTLED]
    return []


def _amount_errors(kind: Kind, status: str, lines: list, total: int, settled: int) -> list[str]:
    errors = []
    if status in ("SUBMITTED", "AUTHORISED"):
        if not lines:
            errors.append(
                f"{kind.noun}s must contain at least one line item to be submitted or approved"
            )
        elif any(ln[4] is None for ln in lines):
            errors.append(
                f"Account code must be specified for each line item on an approved "
                f"{kind.noun.lower()}"
            )
    if total < 0:
        errors.append(f"The total of the {kind.noun.lower()} must be zero or positive.")
    if settled and total < settled:
        errors.append(f"The {kind.noun.lower()} total cannot be less than the amount already paid.")
    return errors


def _contact(ctx: Ctx, el: dict, old: StoredDocument | None, errors: list[str]) -> int | None:
    """The contact's pk: the stored one unless `Contact` is sent; a new document (or a move to
    another contact) may not go to an archived contact."""
    if old is not None and "Contact" not in el:
        return old.contact_pk
    found = resolve_contact(ctx, el.get("Contact"), errors)
    if found is None:
        return None
    pk, _, _, status = found
    if status == "ARCHIVED" and (old is None or old.contact_pk != pk):
        errors.append(ARCHIVED_CONTACT)
    return pk


def _texts(
    el: dict, old: StoredDocument | None, kind: Kind, errors: list[str]
) -> tuple[str | None, str | None]:
    """(Reference, the document number) as sent, or as stored."""
    key = f"{kind.key}Number"
    try:
        reference = text(el["Reference"]) if "Reference" in el else (old and old.reference)
        doc_number = text(el[key]) if el.get(key) else (old and old.number)
    except ValueError:
        errors.append(f"Reference and {key} must be strings")
        return None, None
    if doc_number and len(doc_number) > 255:
        errors.append(f"The {key} field must be a string with a maximum length of 255.")
    return reference, doc_number


def _number_taken(ctx: Ctx, kind: Kind, doc_number: str, old: StoredDocument | None) -> bool:
    row = ctx.store.conn.execute(
        f"SELECT pk FROM {kind.table} WHERE tenant = ? AND number = ? AND type = ? AND pk != ? "
        "LIMIT 1",
        (ctx.tenant.pk, doc_number, kind.sale, old.pk if old else -1),
    ).fetchone()
    return row is not None


def next_number(ctx: Ctx, kind: Kind) -> str:
    """The next automatic number of the sale type (INV-0001, CN-0001), as Xero's default."""
    value = getattr(ctx.tenant, kind.counter) + 1
    setattr(ctx.tenant, kind.counter, value)
    return f"{kind.prefix}-{value:04d}"


def store_document(ctx: Ctx, kind: Kind, h: Header, old: StoredDocument | None) -> int:
    """Insert or update the row of a validated header; returns its pk."""
    values = asdict(h)
    del values["type"]
    values["lines"] = json.dumps(h.lines, separators=(",", ":"), ensure_ascii=False)
    values["updated_ms"] = stamp(old.updated_ms if old else None)
    conn = ctx.store.conn
    if old is None:
        values.update({"tenant": ctx.tenant.pk, kind.id_column: str(uuid.uuid4()), "type": h.type})
        values["by_app"] = 1
        columns = ", ".join(values)
        marks = ",".join("?" * len(values))
        sql = f"INSERT INTO {kind.table} ({columns}) VALUES ({marks})"
        return conn.execute(sql, list(values.values())).lastrowid  # type: ignore[return-value]
    assignments = ", ".join(f"{column}=?" for column in values)
    conn.execute(f"UPDATE {kind.table} SET {assignments} WHERE pk=?", [*values.values(), old.pk])
    return old.pk


def resolve_contact(ctx: Ctx, raw: Any, errors: list[str]) -> tuple[int, str, str, str] | None:
    """(pk, ContactID, Name, ContactStatus) for `Contact`; a Name that matches no active contact
    creates one, as Xero does."""
    if not isinstance(raw, dict) or not (
        raw.get("ContactID") or raw.get("Name") or raw.get("ContactNumber")
    ):
        errors.append("A Contact must be specified for this type of transaction")
        return None
    conn = ctx.store.conn
    select = "SELECT pk, contact_id, name, status FROM contacts WHERE tenant = ? AND "
    cid = raw.get("ContactID")
    if cid:
        row = None
        if is_guid(str(cid)):
            row = conn.execute(
                select + "contact_id = ?", (ctx.tenant.pk, str(cid).lower())
            ).fetchone()
        if row is None:
            errors.append(f"The contact with ContactID {cid} could not be found")
        return row
    if raw.get("ContactNumber"):
        row = conn.execute(
            select + "contact_number = ? LIMIT 1", (ctx.tenant.pk, str(raw["ContactNumber"]))
        ).fetchone()
        if row is not None:
            return row
    name = str(raw.get("Name") or "").strip()
    row = conn.execute(
        select + "name = ? COLLATE NOCASE AND status = 'ACTIVE' LIMIT 1", (ctx.tenant.pk, name)
    ).fetchone()
    if row is not None:
        return row
    keep = ("Name", "EmailAddress", "ContactNumber", "FirstName", "LastName")
    created, errs = save_contact(ctx, {k: v for k, v in raw.items() if k in keep}, None)
    if errs or created is None:
        errors.extend(errs)
        return None
    return created.pk, created.contact_id, created.name, created.status


def currency(ctx: Ctx, el: dict, old: tuple[str, str] | None, errors: list[str]) -> tuple[str, str]:
    """(CurrencyCode, CurrencyRate as text): base currency at rate 1 unless told otherwise.

    A currency the organisation has not enabled is refused as Xero refuses it.
    """
    base = ctx.tenant.base_currency
    code = el.get("CurrencyCode") or (old[0] if old else base)
    if not isinstance(code, str) or code not in CURRENCY_NAMES:
        errors.append(f"The currency code '{code}' is not valid.")
        return base, "1"
    if "CurrencyCode" in el and code not in ctx.tenant.currencies:
        errors.append(not_subscribed(code))
    rate = el.get("CurrencyRate")
    if rate is not None:
        try:
            r = number(rate, "CurrencyRate").quantize(RATE_PLACES, ROUND_HALF_UP)
            if r <= 0:
                raise ValueError
            return code, str(r)
        except (ArithmeticError, ValueError):
            errors.append(
                "CurrencyRate must be a positive number of at most 12 digits before the point "
                "and at least 0.000001."
            )
            return code, old[1] if old and old[0] == code else "1"
    if old and old[0] == code:
        return old
    return code, default_rate(code, base)


def default_rate(code: str, base: str) -> str:
    """Units of `code` per one unit of the base currency (1 for the base itself)."""
    if code == base or base not in DEFAULT_RATES:
        return "1"
    rate = Decimal(DEFAULT_RATES[code]) / Decimal(DEFAULT_RATES[base])
    return str(rate.quantize(RATE_PLACES, ROUND_HALF_UP).normalize())


def date_field(el: dict, key: str, old: int | None, errors: list[str]) -> int | None:
    if key not in el:
        return old
    try:
        return parse_date(el[key])
    except ValueError:
        errors.append(f"{key} is not a valid date.")
        return old


def totals(
    ctx: Ctx,
    el: dict,
    old: tuple[str, str, int, int, int] | None,
    errors: list[str],
    *,
    unitdp: int,
    is_sale: bool,
    default_lat: str = "Exclusive",
) -> tuple[list, str, int, int, int]:
    """(lines, LineAmountTypes, sub, tax, total in cents) for a write.

    `old` is what is stored: (lines JSON, LineAmountTypes, sub, tax, total). They are recomputed
    when LineItems or LineAmountTypes are sent (a LineAmountTypes change alone recomputes the
    stored lines); otherwise, or when the sent ones are invalid, the stored ones stand.
    """
    if "LineItems" in el or "LineAmountTypes" in el:
        try:
            lat = line_amount_type(
                el.get("LineAmountTypes"), (old[1] if old else None) or default_lat
            )
        except ValueError as exc:
            errors.append(str(exc))
        else:
            old_lines = stored_lines_as_input(json.loads(old[0])) if old else []
            raw_lines = el.get("LineItems", old_lines)
            if isinstance(raw_lines, list):
                accounts = {a["Code"]: a for a in ctx.tenant.accounts}
                lines, sub, tax, total = compute_lines(
                    raw_lines, lat, accounts, errors, unitdp, is_sale=is_sale
                )
                return lines, lat, to_cents(sub), to_cents(tax), to_cents(total)
            errors.append("LineItems must be a list.")
    if old is None:
        return [], default_lat, 0, 0, 0
    return json.loads(old[0]), old[1], old[2], old[3], old[4]


def stamp(old_updated: int | None) -> int:
    """UpdatedDateUTC for a write: now, and always later than the previous value."""
    ts = now_ms()
    return ts if old_updated is None else max(ts, old_updated + 1)


def stored_lines_as_input(lines: list[list[Any]]) -> list[dict[str, Any]]:
    """Stored lines back into request form, so a LineAmountTypes change can recompute them."""
    return [
        {
            "LineItemID": ln[0],
            "Description": ln[1],
            "Quantity": ln[2],
            "UnitAmount": ln[3],
            "AccountCode": ln[4],
            "TaxType": ln[5],
            "DiscountRate": ln[8],
        }
        for ln in lines
    ]
