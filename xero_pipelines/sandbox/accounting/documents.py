"""What invoices and quotes share: finding the stored one, contact, currency, dates, totals."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..xero_json import now_ms, parse_date
from .common import Ctx, compute_lines, is_guid, line_amount_type, not_found, number, to_cents
from .contacts import CURRENCIES, save_contact

RATE_PLACES = Decimal("0.000001")  # the sandbox shows CurrencyRate to 6 places

# Units of each currency per 1 NZD, used when a foreign document has no CurrencyRate.
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
}


def existing_row(
    ctx: Ctx,
    el: dict,
    noun: str,
    find_row: Callable[[Ctx, str], tuple | None],
    *,
    create_only: bool,
    path_id: str | None,
) -> tuple[tuple | None, list[str]]:
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


def resolve_contact(ctx: Ctx, raw: Any, errors: list[str]) -> tuple[int, str, str] | None:
    """(pk, ContactID, Name) for `Contact`; a Name that matches nothing creates the contact."""
    if not isinstance(raw, dict) or not (
        raw.get("ContactID") or raw.get("Name") or raw.get("ContactNumber")
    ):
        errors.append("A Contact must be specified for this type of transaction")
        return None
    conn = ctx.store.conn
    cid = raw.get("ContactID")
    if cid:
        row = None
        if is_guid(str(cid)):
            row = conn.execute(
                "SELECT pk, contact_id, name FROM contacts WHERE contact_id = ? AND tenant = ?",
                (str(cid).lower(), ctx.tenant.pk),
            ).fetchone()
        if row is None:
            errors.append(f"The contact with ContactID {cid} could not be found")
        return row
    if raw.get("ContactNumber"):
        row = conn.execute(
            "SELECT pk, contact_id, name FROM contacts WHERE contact_number = ? "
            "AND tenant = ? LIMIT 1",
            (str(raw["ContactNumber"]), ctx.tenant.pk),
        ).fetchone()
        if row is not None:
            return row
    name = str(raw.get("Name") or "").strip()
    row = conn.execute(
        "SELECT pk, contact_id, name FROM contacts WHERE tenant = ? AND "
        "name = ? COLLATE NOCASE AND status = 'ACTIVE' LIMIT 1",
        (ctx.tenant.pk, name),
    ).fetchone()
    if row is not None:
        return row
    created, errs = save_contact(
        ctx,
        {
            k: v
            for k, v in raw.items()
            if k in ("Name", "EmailAddress", "ContactNumber", "FirstName", "LastName")
        },
        None,
    )
    if errs or created is None:
        errors.extend(errs)
        return None
    return created[0], created[1], created[2]


def currency(ctx: Ctx, el: dict, old: tuple[str, str] | None, errors: list[str]) -> tuple[str, str]:
    """(CurrencyCode, CurrencyRate as text): base currency at rate 1 unless told otherwise."""
    code = el.get("CurrencyCode") or (old[0] if old else ctx.tenant.base_currency)
    if not isinstance(code, str) or code not in CURRENCIES:
        errors.append(f"The currency code '{code}' is not valid.")
        return ctx.tenant.base_currency, "1"
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
    return code, DEFAULT_RATES.get(code, "1") if code != ctx.tenant.base_currency else "1"


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
