"""`/Quotes`: list (page, ContactID, Status, dates), get one, create and update."""

from __future__ import annotations

import json
import uuid
from typing import Any

from ..xero_json import cents, ms_to_iso, msdate, num, parse_date, parse_http_datetime
from .common import (
    Ctx,
    Result,
    envelope,
    is_guid,
    not_found,
    render_lines,
    save_batch,
    select_rows,
    text,
)
from .contacts import order_clause
from .documents import currency, date_field, existing_row, resolve_contact, stamp, totals
from .organisation import today_ms

QUOTES_PAGE_SIZE = 100

COLUMNS = (
    "q.pk, q.quote_id, q.contact_pk, q.status, q.number, q.reference, q.title, q.summary, "
    "q.terms, q.date_ms, q.expiry_ms, q.currency, q.lat, q.sub, q.tax, q.total, "
    "q.updated_ms, q.lines, c.contact_id, c.name"
)
FROM = "quotes q JOIN contacts c ON c.pk = q.contact_pk"
STATUSES = ("DRAFT", "SENT", "DECLINED", "ACCEPTED", "INVOICED", "DELETED")
TRANSITIONS = {
    "DRAFT": {"DRAFT", "SENT", "DELETED"},
    "SENT": {"SENT", "DRAFT", "ACCEPTED", "DECLINED", "DELETED"},
    "ACCEPTED": {"ACCEPTED", "SENT", "INVOICED", "DELETED"},
    "DECLINED": {"DECLINED", "SENT", "DRAFT", "DELETED"},
    "INVOICED": {"INVOICED"},
    "DELETED": set(),
}
ORDER_FIELDS = {
    "QuoteNumber": "q.number",
    "Date": "q.date_ms",
    "ExpiryDate": "q.expiry_ms",
    "Status": "q.status",
    "UpdatedDateUTC": "q.updated_ms",
    "Total": "q.total",
}
QUOTE_LAT = {"Exclusive": "EXCLUSIVE", "Inclusive": "INCLUSIVE", "NoTax": "NOTAX"}


def render(row: tuple) -> dict[str, Any]:
    (
        _pk,
        quote_id,
        _contact_pk,
        status,
        number,
        reference,
        title,
        summary,
        terms,
        date_ms,
        expiry_ms,
        cur,
        lat,
        sub,
        tax,
        total,
        updated,
        lines,
        contact_id,
        contact_name,
    ) = row
    q: dict[str, Any] = {"QuoteID": quote_id, "QuoteNumber": number or ""}
    if reference:
        q["Reference"] = reference
    if terms:
        q["Terms"] = terms
    q["Contact"] = {"ContactID": contact_id, "Name": contact_name}
    q["LineItems"] = render_lines(lines, quote_id)
    if date_ms is not None:
        q["Date"] = msdate(date_ms)
        q["DateString"] = ms_to_iso(date_ms)
    if expiry_ms is not None:
        q["ExpiryDate"] = msdate(expiry_ms)
        q["ExpiryDateString"] = ms_to_iso(expiry_ms)
    q["Status"] = status
    q["CurrencyCode"] = cur
    q["CurrencyRate"] = num(1, 6)
    q["SubTotal"] = cents(sub)
    q["TotalTax"] = cents(tax)
    q["Total"] = cents(total)
    q["TotalDiscount"] = cents(0)
    if title:
        q["Title"] = title
    if summary:
        q["Summary"] = summary
    q["UpdatedDateUTC"] = msdate(updated)
    q["LineAmountTypes"] = QUOTE_LAT.get(lat, "EXCLUSIVE")
    return q


def list_quotes(ctx: Ctx, params: dict[str, str], if_modified_since: str | None) -> dict:
    conds, args = ["q.tenant = ?"], [ctx.tenant.pk]
    if params.get("ContactID"):
        conds.append("c.contact_id = ?")
        args.append(params["ContactID"].lower())
    if params.get("Status"):
        conds.append("q.status = ?")
        args.append(params["Status"].upper())
    if params.get("QuoteNumber"):
        conds.append("q.number = ?")
        args.append(params["QuoteNumber"])
    for param, column, op in (
        ("DateFrom", "q.date_ms", ">="),
        ("DateTo", "q.date_ms", "<="),
        ("ExpiryDateFrom", "q.expiry_ms", ">="),
        ("ExpiryDateTo", "q.expiry_ms", "<="),
    ):
        if params.get(param):
            try:
                value = parse_date(params[param])
            except ValueError:
                continue
            conds.append(f"{column} {op} ?")
            args.append(value)
    if if_modified_since:
        since = parse_http_datetime(if_modified_since)
        if since is not None:
            conds.append("q.updated_ms >= ?")
            args.append(since)
    order = order_clause(params.get("order"), ORDER_FIELDS, "q.pk")
    order = order if order == "q.pk" else order.replace(", pk", ", q.pk")
    where = (" AND ".join(conds), args)
    # Xero's getQuotes pages by 100 and takes no pageSize; its Quotes carry no `pagination`
    rows, _ = select_rows(
        ctx, params, COLUMNS, FROM, where, order, "q.pk", fixed_size=QUOTES_PAGE_SIZE
    )
    return envelope("Quotes", [render(r) for r in rows])


def find_row(ctx: Ctx, ident: str) -> tuple | None:
    if not is_guid(ident):
        return None
    return ctx.store.conn.execute(
        f"SELECT {COLUMNS} FROM {FROM} WHERE q.quote_id = ? AND q.tenant = ?",
        (ident.lower(), ctx.tenant.pk),
    ).fetchone()


def get_quote(ctx: Ctx, ident: str, params: dict[str, str]) -> dict:
    with ctx.store.lock:
        row = find_row(ctx, ident)
    if row is None:
        raise not_found()
    return envelope("Quotes", [render(row)])


def save_quote(ctx: Ctx, el: dict, old: tuple | None) -> tuple[tuple | None, list[str]]:
    errors: list[str] = []
    conn = ctx.store.conn
    status = el.get("Status") or (old[3] if old else "DRAFT")
    if status not in STATUSES:
        errors.append(f"Quote Status '{status}' is not valid")
    elif old is None and status not in ("DRAFT", "SENT"):
        errors.append("Quote not of valid status for creation")
    elif old is not None and status not in TRANSITIONS[old[3]]:
        errors.append(f"Quote cannot be changed from {old[3]} to {status}")
    if old is None or "Contact" in el:
        contact = resolve_contact(ctx, el.get("Contact"), errors)
    else:
        contact = (old[2], old[18], old[19])
    cur, _ = currency(ctx, el, (old[11], "1") if old else None, errors)
    date_ms = date_field(el, "Date", old[9] if old else None, errors)
    expiry_ms = date_field(el, "ExpiryDate", old[10] if old else None, errors)
    if date_ms is None:
        date_ms = today_ms(ctx.tenant)  # Xero: today in the organisation's timezone
    fields: dict[str, Any] = {}
    for key, limit, idx in (
        ("Reference", 4000, 5),
        ("Title", 100, 6),
        ("Summary", 3000, 7),
        ("Terms", 4000, 8),
        ("QuoteNumber", 255, 4),
    ):
        try:
            value = text(el.get(key)) if key in el else (old[idx] if old else None)
        except ValueError:
            errors.append(f"The {key} field must be a string.")
            value = None
        if value is not None and len(value) > limit:
            errors.append(f"The {key} field must be a string with a maximum length of {limit}.")
        fields[key] = value
    stored = (old[17], *old[12:16]) if old else None
    lines, lat, sub, tax, total = totals(ctx, el, stored, errors, unitdp=2, is_sale=True)
    if total < 0:
        errors.append("The total of the quote must be zero or positive.")
    if errors or contact is None:
        return None, errors
    number = fields["QuoteNumber"]
    if not number:
        ctx.tenant.quote_counter += 1
        number = f"QU-{ctx.tenant.quote_counter:04d}"
    lines_json = json.dumps(lines, separators=(",", ":"), ensure_ascii=False)
    values = (
        contact[0],
        status,
        number,
        fields["Reference"],
        fields["Title"],
        fields["Summary"],
        fields["Terms"],
        date_ms,
        expiry_ms,
        cur,
        lat,
        sub,
        tax,
        total,
        stamp(old[16] if old else None),
        lines_json,
    )
    if old is None:
        pk = conn.execute(
            "INSERT INTO quotes (contact_pk, status, number, reference, title, summary, terms, "
            "date_ms, expiry_ms, currency, lat, sub, tax, total, updated_ms, lines, tenant, "
            "quote_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (*values, ctx.tenant.pk, str(uuid.uuid4())),
        ).lastrowid
    else:
        pk = old[0]
        conn.execute(
            "UPDATE quotes SET contact_pk=?, status=?, number=?, reference=?, title=?, summary=?, "
            "terms=?, date_ms=?, expiry_ms=?, currency=?, lat=?, sub=?, tax=?, total=?, "
            "updated_ms=?, lines=? WHERE pk=?",
            (*values, pk),
        )
    return conn.execute(f"SELECT {COLUMNS} FROM {FROM} WHERE q.pk = ?", (pk,)).fetchone(), []


def write_quotes(
    ctx: Ctx, items: list[dict], *, create_only: bool, summarize: bool, path_id: str | None = None
) -> dict:
    """PUT / POST / POST {QuoteID}; see `common.save_batch` for summarizeErrors."""

    def save(el: dict) -> tuple[tuple | None, list[str]]:
        existing, missing = existing_row(
            ctx, el, "Quote", find_row, create_only=create_only, path_id=path_id
        )
        return (None, missing) if missing else save_quote(ctx, el, existing)

    def respond(results: list[Result]) -> dict:
        out = []
        for row, el, errs in results:
            if errs:
                out.append(_error_element(el, errs))
            else:
                q = render(row)  # type: ignore[arg-type]
                q["StatusAttributeString"] = "OK"
                out.append(q)
        return envelope("Quotes", out)

    with ctx.store.lock:
        return save_batch(ctx, items, save, _error_element, summarize=summarize, render=respond)


def _error_element(el: dict, errors: list[str]) -> dict:
    echo: dict[str, Any] = {}
    if isinstance(el.get("QuoteID"), str) and is_guid(el["QuoteID"]):
        echo["QuoteID"] = el["QuoteID"]
    echo["StatusAttributeString"] = "ERROR"
    echo["ValidationErrors"] = [{"Message": m} for m in errors]
    return echo
