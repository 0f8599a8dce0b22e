"""Settling invoices: credit note allocations (`PUT /CreditNotes/{id}/Allocations`) and
payments (recorded through the admin API, as a user would in Xero).

An allocation moves `Amount` from the credit note's RemainingCredit to the invoice's
AmountCredited (so off its AmountDue) and bumps both UpdatedDateUTC; whichever reaches zero
becomes PAID with `FullyPaidOnDate`, as Xero does. A payment does the same with AmountPaid.
The contact's balances follow from these without touching the contact.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from ..xero_json import dumps, msdate, num, parse_date
from . import allocations, credit_notes, invoices
from .common import Ctx, Result, envelope_raw, is_guid, not_found, number, save_batch, to_cents
from .credit_notes import CreditNoteRow
from .documents import stamp
from .invoices import InvoiceRow, money

INVOICE_TYPE = {"ACCRECCREDIT": "ACCREC", "ACCPAYCREDIT": "ACCPAY"}
# Seen in Xero's answers (waynerobinson/xeroizer#320, calcinai/xero-php#251):
PAID_OFF = "The invoice you are trying to allocate to has already been paid off"
TOO_MUCH = "Credit Note cannot be allocated as amount is greater than amount outstanding"
WRONG_TYPE = "Credit Note cannot be allocated to an incorrect invoice type"
# The sandbox's own wording where Xero's is not published:
NOT_APPROVED = "Only AUTHORISED credit notes can be allocated"
NO_INVOICE = "Invoice could not be found"
OTHER_CONTACT = "The credit note and the invoice must be for the same contact"
OTHER_CURRENCY = "The credit note and the invoice must be in the same currency"
BAD_AMOUNT = "Amount must be a positive number"


def write_allocations(ctx: Ctx, note_id: str, items: list[dict], *, summarize: bool) -> bytes:
    """PUT /CreditNotes/{CreditNoteID}/Allocations: each element in turn, in one transaction."""

    def save(el: dict) -> tuple[Any, list[str]]:
        note = credit_notes.by_pk(ctx, found.pk)  # as the previous elements left it
        return allocate(ctx, note, el)

    def respond(results: list[Result]) -> bytes:
        out = []
        for row, el, errs in results:
            out.append(dumps(_error_element(el, errs)).decode("utf-8") if errs else _json(row))
        return envelope_raw("Allocations", out)

    with ctx.store.lock:
        found = credit_notes.find_row(ctx, note_id) if is_guid(note_id) else None
        if found is None:
            raise not_found()
        return save_batch(ctx, items, save, _error_element, summarize=summarize, render=respond)


def allocate(
    ctx: Ctx, note: CreditNoteRow, el: dict
) -> tuple[allocations.AllocationRow | None, list[str]]:
    """Check one allocation against the credit note and the invoice, then apply it."""
    errors: list[str] = []
    invoice = _invoice(ctx, el.get("Invoice"), errors)
    amount = _amount(el.get("Amount"), errors)
    date_ms = _date(el, errors)
    if note.status != "AUTHORISED":
        errors.append(NOT_APPROVED)
    if invoice is not None:
        errors += _mismatches(note, invoice)
        if amount and (amount > invoice.amount_due or amount > note.remaining):
            errors.append(TOO_MUCH)
    if errors or invoice is None or amount is None or date_ms is None:
        return None, errors
    conn = ctx.store.conn
    allocation_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO allocations (tenant, allocation_id, credit_note_pk, invoice_pk, amount, "
        "date_ms) VALUES (?,?,?,?,?,?)",
        (ctx.tenant.pk, allocation_id, note.pk, invoice.pk, amount, date_ms),
    )
    settle_invoice(ctx, invoice, credited=amount, on=date_ms)
    allocated = note.allocated + amount
    status = "PAID" if allocated >= note.total else note.status
    conn.execute(
        "UPDATE credit_notes SET allocated=?, status=?, paid_on_ms=?, updated_ms=? WHERE pk=?",
        (allocated, status, date_ms if status == "PAID" else None, stamp(note.updated_ms), note.pk),
    )
    row = conn.execute(f"{allocations.SELECT} WHERE a.allocation_id = ?", (allocation_id,))
    return allocations.AllocationRow._make(row.fetchone()), []


def _mismatches(note: CreditNoteRow, invoice: InvoiceRow) -> list[str]:
    errors = []
    if invoice.status == "PAID":
        errors.append(PAID_OFF)
    elif invoice.status != "AUTHORISED":
        errors.append("Invoice not of valid status for modification")
    if INVOICE_TYPE[note.type] != invoice.type:
        errors.append(WRONG_TYPE)
    if invoice.contact_pk != note.contact_pk:
        errors.append(OTHER_CONTACT)
    if invoice.currency != note.currency:
        errors.append(OTHER_CURRENCY)
    return errors


def settle_invoice(
    ctx: Ctx, invoice: InvoiceRow, *, paid: int = 0, credited: int = 0, on: int
) -> None:
    """Add a payment or a credit to an invoice: PAID (fully paid on `on`) once nothing is due."""
    new_paid, new_credited = invoice.paid + paid, invoice.credited + credited
    fully = new_paid + new_credited >= invoice.total
    paid_on = on if paid or fully else invoice.paid_on_ms
    ctx.store.conn.execute(
        "UPDATE invoices SET paid=?, credited=?, status=?, paid_on_ms=?, updated_ms=? WHERE pk=?",
        (
            new_paid,
            new_credited,
            "PAID" if fully else invoice.status,
            paid_on,
            stamp(invoice.updated_ms),
            invoice.pk,
        ),
    )


def record_payment(ctx: Ctx, invoice: InvoiceRow, amount: int, on: int) -> list[str]:
    """A payment of `amount` cents on date `on` (the caller holds the lock and commits)."""
    if invoice.status != "AUTHORISED":
        return [f"only an AUTHORISED invoice can be paid; this one is {invoice.status}"]
    if not 0 < amount <= invoice.amount_due:
        return [
            f"amount must be more than 0 and at most the amount due, {money(invoice.amount_due)}"
        ]
    settle_invoice(ctx, invoice, paid=amount, on=on)
    return []


def _invoice(ctx: Ctx, raw: Any, errors: list[str]) -> InvoiceRow | None:
    ident = raw.get("InvoiceID") if isinstance(raw, dict) else None
    found = invoices.find_row(ctx, ident) if isinstance(ident, str) and is_guid(ident) else None
    if found is None:
        errors.append(NO_INVOICE)
    return found


def _amount(raw: Any, errors: list[str]) -> int | None:
    try:
        amount = to_cents(number(raw, "Amount"))
    except (ValueError, ArithmeticError):
        amount = 0
    if amount <= 0:
        errors.append(BAD_AMOUNT)
        return None
    return amount


def _date(el: dict, errors: list[str]) -> int | None:
    if el.get("Date") in (None, ""):
        errors.append("Date must be specified")
        return None
    try:
        return parse_date(el["Date"])
    except ValueError:
        errors.append("Date is not a valid date.")
        return None


def _json(a: allocations.AllocationRow) -> str:
    return (
        f'{{"AllocationID":"{a.allocation_id}","Amount":{money(a.amount)},'
        f'"Date":"{msdate(a.date_ms)}","Invoice":{allocations.invoice_json(a)},'
        f'"CreditNote":{{"CreditNoteID":"{a.credit_note_id}",'
        f'"CreditNoteNumber":{dumps(a.credit_note_number or "").decode()},"LineItems":[]}}}}'
    )


NET_MIN_DATE = "/Date(-62135596800000+0000)/"  # .NET's DateTime.MinValue, Xero's empty date


def _error_element(el: dict, errors: list[str]) -> dict:
    """The allocation echoed with its errors; Amount, Invoice and Date (required by Xero's
    schema) are always there, with .NET's empty values when what was sent is unusable."""
    amount = el.get("Amount")
    usable = isinstance(amount, int | Decimal) and not isinstance(amount, bool)
    raw = el.get("Invoice")
    invoice_id = raw.get("InvoiceID") if isinstance(raw, dict) else None
    try:
        date = msdate(parse_date(el.get("Date")) or 0) if el.get("Date") else NET_MIN_DATE
    except ValueError:
        date = NET_MIN_DATE
    return {
        "Amount": num(amount if usable and abs(amount) < 10**12 else 0),
        "Invoice": {"InvoiceID": invoice_id}
        if isinstance(invoice_id, str) and is_guid(invoice_id)
        else {},
        "Date": date,
        "StatusAttributeString": "ERROR",
        "ValidationErrors": [{"Message": m} for m in errors],
    }
