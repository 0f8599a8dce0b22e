"""`/CreditNotes`: list (where, order, page/pageSize, If-Modified-Since), get one, create and
update under the same status rules as invoices; allocations live in `settlements`.

`RemainingCredit` is the total less what has been allocated (nothing left once VOIDED or
DELETED); a credit note fully allocated is PAID, as in Xero.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from .. import where as where_lang
from ..xero_json import dumps, ms_to_iso, msdate, parse_http_datetime
from . import allocations
from .common import (
    Ctx,
    Result,
    envelope_raw,
    is_guid,
    js,
    lines_json,
    not_found,
    query_error,
    save_batch,
    select_rows,
)
from .contacts import order_clause
from .documents import CREDIT_NOTE, existing_row, next_number, read_document, store_document
from .invoices import money, rate_text


class CreditNoteRow(NamedTuple):
    """One stored credit note with its contact's id and name (the columns of `COLUMNS`)."""

    pk: int
    credit_note_id: str
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
    allocated: int
    paid_on_ms: int | None
    updated_ms: int
    by_app: int
    lines: str
    extra: str | None
    contact_id: str
    contact_name: str

    @property
    def remaining(self) -> int:
        return 0 if self.status in ("VOIDED", "DELETED") else self.total - self.allocated


COLUMNS = ", ".join(f"n.{f}" for f in CreditNoteRow._fields[:-2]) + ", c.contact_id, c.name"
FROM = "credit_notes n JOIN contacts c ON c.pk = n.contact_pk"

WHERE_FIELDS = {
    "CreditNoteID": "n.credit_note_id",
    "Type": "n.type",
    "Status": "n.status",
    "CreditNoteNumber": "n.number",
    "Reference": "n.reference",
    "Date": "n.date_ms",
    "DueDate": "n.due_ms",
    "CurrencyCode": "n.currency",
    "UpdatedDateUTC": "n.updated_ms",
    "Contact.ContactID": "c.contact_id",
    "Contact.Name": "c.name",
    "Contact.ContactNumber": "c.contact_number",
    "RemainingCredit": "((n.total - n.allocated) / 100.0)",
    "SubTotal": "(n.sub / 100.0)",
    "TotalTax": "(n.tax / 100.0)",
    "Total": "(n.total / 100.0)",
}


def fragment(
    n: CreditNoteRow,
    *,
    lines: bool = True,
    unitdp: int = 2,
    status_attribute: str | None = None,
    allocs: list[allocations.AllocationRow] | None = None,
) -> str:
    """One credit note as Xero's JSON text (the fields and order of Xero's own examples)."""
    p = [f'{{"CreditNoteID":"{n.credit_note_id}","CreditNoteNumber":{js(n.number or "")}']
    p.append(
        f',"Payments":[],"CurrencyRate":{rate_text(n.rate)},"Type":"{n.type}",'
        f'"Reference":{js(n.reference or "")},"RemainingCredit":{money(n.remaining)},'
        f'"Allocations":{allocations.credit_note_allocations_json(allocs or [])},'
        f'"HasAttachments":false,"Contact":{{"ContactID":"{n.contact_id}",'
        f'"Name":{js(n.contact_name)}}}'
    )
    if n.date_ms is not None:
        p.append(f',"DateString":"{ms_to_iso(n.date_ms)}","Date":"{msdate(n.date_ms)}"')
    if n.due_ms is not None:
        p.append(f',"DueDate":"{msdate(n.due_ms)}"')
    p.append(f',"Status":"{n.status}","LineAmountTypes":"{n.lat}"')
    if lines:
        p.append(f',"LineItems":{lines_json(n.lines, n.credit_note_id, unitdp)}')
    p.append(
        f',"SubTotal":{money(n.sub)},"TotalTax":{money(n.tax)},"Total":{money(n.total)},'
        f'"UpdatedDateUTC":"{msdate(n.updated_ms)}","CurrencyCode":{js(n.currency)}'
    )
    if n.status == "PAID" and n.paid_on_ms:
        p.append(f',"FullyPaidOnDate":"{msdate(n.paid_on_ms)}"')
    if n.extra:
        for key, value in json.loads(n.extra).items():
            p.append(f",{js(key)}:{json.dumps(value)}")
    p.append(',"HasErrors":false')
    if status_attribute:
        p.append(f',"StatusAttributeString":"{status_attribute}"')
    p.append("}")
    return "".join(p)


def fragments(ctx: Ctx, rows: list[tuple], **kw: Any) -> list[str]:
    """Rows as Xero's JSON, with their allocations read in one query."""
    notes = [CreditNoteRow._make(r) for r in rows]
    allocs = allocations.on_credit_notes(ctx.store.conn, [n.pk for n in notes if n.allocated])
    return [fragment(n, allocs=allocs.get(n.pk), **kw) for n in notes]


def list_credit_notes(ctx: Ctx, params: dict[str, str], if_modified_since: str | None) -> bytes:
    """Xero's getCreditNotes: `where`, `order`, `page` (+ `pageSize`, with `pagination`),
    `unitdp`, If-Modified-Since; without `page` every credit note, without line items."""
    conds, args = ["n.tenant = ?"], [ctx.tenant.pk]
    if params.get("where"):
        try:
            sql, wargs = where_lang.to_sql(where_lang.parse(params["where"]), WHERE_FIELDS)
        except where_lang.WhereError as exc:
            raise query_error(str(exc)) from None
        conds.append(f"({sql})")
        args += wargs
    if if_modified_since:
        since = parse_http_datetime(if_modified_since)
        if since is not None:
            conds.append("n.updated_ms >= ?")
            args.append(since)
    order = order_clause(params.get("order"), WHERE_FIELDS, "n.pk")
    order = order if order == "n.pk" else order.replace(", pk", ", n.pk")
    unitdp = 4 if params.get("unitdp") == "4" else 2
    where_sql = " AND ".join(conds)
    count_tables = FROM if "c." in where_sql or "c." in order else "credit_notes n"
    with ctx.store.lock:
        rows, page = select_rows(
            ctx, params, COLUMNS, FROM, (where_sql, args), order, "n.pk", count_tables
        )
        items = fragments(ctx, rows, lines=page is not None, unitdp=unitdp)
    return envelope_raw("CreditNotes", items, page)


def find_row(ctx: Ctx, ident: str) -> CreditNoteRow | None:
    """By CreditNoteID, or by CreditNoteNumber as Xero also allows."""
    conn = ctx.store.conn
    if is_guid(ident):
        row = conn.execute(
            f"SELECT {COLUMNS} FROM {FROM} WHERE n.credit_note_id = ? AND n.tenant = ?",
            (ident.lower(), ctx.tenant.pk),
        ).fetchone()
    else:
        row = conn.execute(
            f"SELECT {COLUMNS} FROM {FROM} WHERE n.number = ? AND n.tenant = ? "
            "ORDER BY n.pk LIMIT 1",
            (ident, ctx.tenant.pk),
        ).fetchone()
    return CreditNoteRow._make(row) if row else None


def by_pk(ctx: Ctx, pk: int) -> CreditNoteRow:
    row = ctx.store.conn.execute(f"SELECT {COLUMNS} FROM {FROM} WHERE n.pk = ?", (pk,)).fetchone()
    return CreditNoteRow._make(row)


def get_credit_note(ctx: Ctx, ident: str, params: dict[str, str]) -> bytes:
    with ctx.store.lock:
        row = find_row(ctx, ident)
        if row is None:
            raise not_found()
        unitdp = 4 if params.get("unitdp") == "4" else 2
        return envelope_raw("CreditNotes", fragments(ctx, [row], unitdp=unitdp))


def save_credit_note(
    ctx: Ctx, el: dict, old: CreditNoteRow | None, unitdp: int
) -> tuple[CreditNoteRow | None, list[str]]:
    """Validate one credit note against Xero's rules and write it (nothing written on error)."""
    header, errors = read_document(
        ctx, el, old, CREDIT_NOTE, credited=old.allocated if old else 0, unitdp=unitdp
    )
    if header is None:
        return None, errors
    if header.type == CREDIT_NOTE.sale and not header.number:
        header.number = next_number(ctx, CREDIT_NOTE)
    return by_pk(ctx, store_document(ctx, CREDIT_NOTE, header, old)), []


def write_credit_notes(
    ctx: Ctx,
    items: list[dict],
    *,
    create_only: bool,
    summarize: bool,
    unitdp: int = 2,
    path_id: str | None = None,
) -> bytes:
    """PUT / POST / POST {CreditNoteID}; see `common.save_batch` for summarizeErrors."""

    def save(el: dict) -> tuple[CreditNoteRow | None, list[str]]:
        existing, missing = existing_row(
            ctx, el, "CreditNote", find_row, create_only=create_only, path_id=path_id
        )
        if missing:
            return None, missing
        return save_credit_note(ctx, el, existing, unitdp)

    def respond(results: list[Result]) -> bytes:
        saved = [row for row, _, errs in results if not errs]
        rendered = iter(fragments(ctx, saved, unitdp=unitdp, status_attribute="OK"))
        return envelope_raw(
            "CreditNotes",
            [
                dumps(_error_element(el, errs)).decode("utf-8") if errs else next(rendered)
                for _, el, errs in results
            ],
        )

    with ctx.store.lock:
        return save_batch(ctx, items, save, _error_element, summarize=summarize, render=respond)


def _error_element(el: dict, errors: list[str]) -> dict:
    echo: dict[str, Any] = {}
    if el.get("Type") in (CREDIT_NOTE.sale, CREDIT_NOTE.purchase):
        echo["Type"] = el["Type"]
    if isinstance(el.get("CreditNoteID"), str) and is_guid(el["CreditNoteID"]):
        echo["CreditNoteID"] = el["CreditNoteID"]
    for key in ("CreditNoteNumber", "Reference"):
        if isinstance(el.get(key), str):
            echo[key] = el[key][:255]
    echo["StatusAttributeString"] = "ERROR"
    echo["HasErrors"] = True
    echo["ValidationErrors"] = [{"Message": m} for m in errors]
    return echo
