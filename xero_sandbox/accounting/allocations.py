"""Credit note allocations as Xero shows them: on the credit note (`Allocations`) and on the
invoice they settle (`CreditNotes`), read for a whole page in one query."""

from __future__ import annotations

import sqlite3
from json.encoder import encode_basestring as js
from typing import NamedTuple

from ..xero_json import cents, ms_to_iso, msdate


class AllocationRow(NamedTuple):
    allocation_id: str
    credit_note_pk: int
    invoice_pk: int
    amount: int
    date_ms: int
    invoice_id: str
    invoice_number: str | None
    credit_note_id: str
    credit_note_number: str | None
    credit_note_total: int


SELECT = (
    "SELECT a.allocation_id, a.credit_note_pk, a.invoice_pk, a.amount, a.date_ms, i.invoice_id, "
    "i.number, c.credit_note_id, c.number, c.total FROM allocations a "
    "JOIN invoices i ON i.pk = a.invoice_pk JOIN credit_notes c ON c.pk = a.credit_note_pk"
)


def _grouped(conn: sqlite3.Connection, column: str, pks: list[int]) -> dict[int, list]:
    out: dict[int, list[AllocationRow]] = {}
    for start in range(0, len(pks), 900):
        ids = pks[start : start + 900]
        rows = conn.execute(
            f"{SELECT} WHERE a.{column} IN ({','.join('?' * len(ids))}) ORDER BY a.pk", ids
        ).fetchall()
        for row in rows:
            a = AllocationRow._make(row)
            out.setdefault(getattr(a, column), []).append(a)
    return out


def on_invoices(conn: sqlite3.Connection, pks: list[int]) -> dict[int, list[AllocationRow]]:
    """Allocations by invoice pk."""
    return _grouped(conn, "invoice_pk", pks) if pks else {}


def on_credit_notes(conn: sqlite3.Connection, pks: list[int]) -> dict[int, list[AllocationRow]]:
    """Allocations by credit note pk."""
    return _grouped(conn, "credit_note_pk", pks) if pks else {}


def _money(c: int) -> str:
    return cents(c)[2:]


def invoice_json(a: AllocationRow) -> str:
    """The invoice inside an allocation, as Xero's examples show it."""
    return (
        f'{{"InvoiceID":"{a.invoice_id}","InvoiceNumber":{js(a.invoice_number or "")},'
        '"Payments":[],"CreditNotes":[],"Prepayments":[],"Overpayments":[],"HasErrors":false,'
        '"IsDiscounted":false,"LineItems":[]}'
    )


def credit_note_allocations_json(allocs: list[AllocationRow]) -> str:
    """A credit note's `Allocations`."""
    return (
        "["
        + ",".join(
            f'{{"AllocationID":"{a.allocation_id}","Amount":{_money(a.amount)},'
            f'"Date":"{msdate(a.date_ms)}","Invoice":{invoice_json(a)}}}'
            for a in allocs
        )
        + "]"
    )


def invoice_credit_notes_json(allocs: list[AllocationRow]) -> str:
    """An invoice's `CreditNotes`: each credit applied to it, with the amount applied."""
    return (
        "["
        + ",".join(
            f'{{"CreditNoteID":"{a.credit_note_id}",'
            f'"CreditNoteNumber":{js(a.credit_note_number or "")},'
            f'"AppliedAmount":{_money(a.amount)},"DateString":"{ms_to_iso(a.date_ms)}",'
            f'"Date":"{msdate(a.date_ms)}","Total":{_money(a.credit_note_total)},"LineItems":[]}}'
            for a in allocs
        )
        + "]"
    )
