"""A contact's `Balances`, as Xero's Contact schema describes them.

"The raw AccountsReceivable (sales invoices) and AccountsPayable (bills) outstanding and overdue
amounts, not converted to base currency": each side's Outstanding is the AmountDue of its
AUTHORISED invoices less the RemainingCredit of its AUTHORISED credit notes, summed as stored
(in each document's own currency, unconverted); Overdue is the part of those invoices whose
DueDate is before today in the organisation's timezone, credit notes not deducted (Xero's own
examples show Overdue above Outstanding, and AccountsPayable Outstanding below zero).

Balances are computed when a contact is read, so a payment or an allocation changes them without
touching the contact's UpdatedDateUTC: Xero does not bump it either.
"""

from __future__ import annotations

from .common import Ctx
from .organisation import today_ms

Side = tuple[int, int]
"""(Outstanding, Overdue) in cents."""
Balance = tuple[Side, Side]
"""(AccountsReceivable, AccountsPayable)."""

RECEIVABLE = {"ACCREC": 0, "ACCRECCREDIT": 0, "ACCPAY": 1, "ACCPAYCREDIT": 1}
CHUNK = 900  # contacts per query, under SQLite's limit on bound parameters


def balances(ctx: Ctx, pks: list[int]) -> dict[int, Balance]:
    """Balances of the given contacts (absent: nothing outstanding), two queries per chunk."""
    sums: dict[int, list[list[int]]] = {}
    today = today_ms(ctx.tenant)
    conn = ctx.store.conn
    for start in range(0, len(pks), CHUNK):
        ids = pks[start : start + CHUNK]
        marks = ",".join("?" * len(ids))
        invoices = conn.execute(
            "SELECT contact_pk, type, SUM(total - paid - credited), "
            "SUM(CASE WHEN due_ms < ? THEN total - paid - credited ELSE 0 END) FROM invoices "
            f"WHERE contact_pk IN ({marks}) AND status = 'AUTHORISED' GROUP BY contact_pk, type",
            [today, *ids],
        ).fetchall()
        credits = conn.execute(
            "SELECT contact_pk, type, SUM(total - allocated), 0 FROM credit_notes "
            f"WHERE contact_pk IN ({marks}) AND status = 'AUTHORISED' GROUP BY contact_pk, type",
            ids,
        ).fetchall()
        for sign, rows in ((1, invoices), (-1, credits)):
            for pk, typ, outstanding, overdue in rows:
                side = sums.setdefault(pk, [[0, 0], [0, 0]])[RECEIVABLE[typ]]
                side[0] += sign * outstanding
                side[1] += overdue
    return {pk: ((ar[0], ar[1]), (ap[0], ap[1])) for pk, (ar, ap) in sums.items()}
