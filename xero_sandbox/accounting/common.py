"""What every accounting resource shares: envelopes, errors, paging, body parsing, line maths."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from json.encoder import encode_basestring as js  # C-accelerated JSON string quoting
from typing import Any, TypeVar

from starlette.responses import Response

from ..config import SandboxConfig
from ..store import TAX_RATES, Store, Tenant
from ..xero_json import dumps, msdate, now_ms, to_decimal

PROVIDER_NAME = "Xero Pipelines Sandbox"
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100


@dataclass
class Ctx:
    """One accounting call: the organisation it is for and the shared state."""

    store: Store
    tenant: Tenant
    config: SandboxConfig
    client_id: str = "sandbox"


class XeroError(Exception):
    """Raised inside resource code; the endpoint turns it into Xero's error response."""

    def __init__(self, status: int, body: Any, media_type: str = "application/json") -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.media_type = media_type

    def response(self) -> Response:
        if isinstance(self.body, str):
            return Response(self.body, self.status, media_type=self.media_type)
        return xero_response(self.body, self.status)


def xero_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response; `body` may already be serialised (bytes from `envelope_raw`)."""
    raw = body if isinstance(body, bytes) else dumps(body)
    return Response(raw, status, headers=headers, media_type="application/json; charset=utf-8")


def envelope(key: str, items: list[dict[str, Any]], page: dict[str, int] | None = None) -> dict:
    """Xero's response wrapper: Id, Status, ProviderName, DateTimeUTC, [pagination], items."""
    body: dict[str, Any] = {
        "Id": str(uuid.uuid4()),
        "Status": "OK",
        "ProviderName": PROVIDER_NAME,
        "DateTimeUTC": msdate(now_ms()),
    }
    if page is not None:
        body["pagination"] = page
    body[key] = items
    return body


def envelope_raw(key: str, fragments: list[str], page: dict[str, int] | None = None) -> bytes:
    """`envelope` for items already rendered as JSON text (the fast path for big pages)."""
    head = dumps(envelope(key, [], page)).decode("utf-8")
    assert head.endswith("[]}")
    return (head[:-2] + ",".join(fragments) + "]}").encode("utf-8")


def validation_error(elements: list[dict[str, Any]]) -> XeroError:
    """400 `ValidationException` with each offending element and its `ValidationErrors`."""
    return XeroError(
        400,
        {
            "ErrorNumber": 10,
            "Type": "ValidationException",
            "Message": "A validation exception occurred",
            "Elements": elements,
        },
    )


T = TypeVar("T")
Result = tuple[tuple | None, dict, list[str]]
"""One element of a write: (saved row or None, the element as sent, its validation errors)."""


def save_batch(
    ctx: Ctx,
    items: list[dict],
    save: Callable[[dict], tuple[tuple | None, list[str]]],
    error_element: Callable[[dict, list[str]], dict],
    *,
    summarize: bool,
    render: Callable[[list[Result]], T],
) -> T:
    """Save the elements of one PUT/POST in one transaction; the caller holds `store.lock`.

    With summarizeErrors (the default) one bad element fails the whole call with 400 and
    nothing is written; with summarizeErrors=false the good ones are saved and the bad ones
    come back marked `StatusAttributeString: ERROR`. On any failure the tenant's document number
    counters are put back too, so a rolled-back document does not use up a number.
    The response is rendered (`render(results)`) before COMMIT, so a write whose answer cannot
    be built is rolled back rather than stored and then unreadable.
    """
    store, tenant = ctx.store, ctx.tenant
    counters = tenant.counters
    results: list[Result] = []
    store.conn.execute("BEGIN")
    try:
        for el in items:
            row, errors = save(el)
            results.append((row, el, errors))
        if summarize and any(errors for _, _, errors in results):
            raise validation_error([error_element(el, e) for _, el, e in results if e])
        body = render(results)
        store.conn.execute("COMMIT")
        store.changed()
    except BaseException:
        if store.conn.in_transaction:
            store.conn.execute("ROLLBACK")
        tenant.counters = counters
        raise
    return body


def query_error(message: str) -> XeroError:
    return XeroError(400, {"ErrorNumber": 16, "Type": "QueryParseException", "Message": message})


def post_data_error(message: str) -> XeroError:
    return XeroError(
        400, {"ErrorNumber": 14, "Type": "PostDataInvalidException", "Message": message}
    )


def not_found() -> XeroError:
    """Xero answers an unknown id with a plain-text 404."""
    return XeroError(404, "The resource you're looking for cannot be found", "text/plain")


def _no_constant(name: str) -> Any:
    """NaN and Infinity are not JSON; Xero's parser refuses them, and so does the sandbox."""
    raise ValueError(f"'{name}' is not a valid JSON value")


def _encodable(data: Any) -> bool:
    """False when a string or key holds a lone UTF-16 surrogate (`"\\ud800"` is valid JSON text
    but no Unicode character: it cannot be stored or sent back as UTF-8)."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
    return True


def parse_body(raw: bytes, content_type: str | None, key: str) -> list[dict[str, Any]]:
    """Accept `{"Key": [...]}`, a single object or a bare list, as Xero does; JSON only."""
    ctype = (content_type or "application/json").split(";")[0].strip().lower()
    if ctype not in ("application/json", "text/json", "application/*+json"):
        raise XeroError(
            415,
            {
                "Title": "Unsupported Media Type",
                "Status": 415,
                "Detail": f"Content-Type '{ctype}' is not supported; send application/json",
            },
        )
    if not raw.strip():
        raise post_data_error("The request body is empty")
    try:
        data = json.loads(raw, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise post_data_error(f"JSON for post data was invalid,{exc}") from None
    except RecursionError:
        raise post_data_error("JSON for post data was invalid, it is nested too deeply") from None
    if not _encodable(data):
        raise post_data_error("JSON for post data was invalid, it holds a lone surrogate (\\ud800)")
    if isinstance(data, dict) and isinstance(data.get(key), list):
        items = data[key]
    elif isinstance(data, dict) and key not in data:
        items = [data]
    elif isinstance(data, list):
        items = data
    else:
        raise post_data_error(f"JSON for post data was invalid, expected {key}")
    if not items:
        raise post_data_error(f"No {key} were found in the request")
    if not all(isinstance(i, dict) for i in items):
        raise post_data_error(f"JSON for post data was invalid, each of {key} must be an object")
    return items


def paging(params: dict[str, str], fixed_size: int | None = None) -> tuple[int, int] | None:
    """(page, pageSize) when `page` was given, else None (Xero then returns every record).

    With `fixed_size` (Quotes: 100) `pageSize` is ignored, as that endpoint of Xero's does.
    """
    if "page" not in params:
        return None
    try:
        page = max(1, int(params["page"]))
    except ValueError:
        page = 1
    if fixed_size is not None:
        return page, fixed_size
    try:
        size = int(params.get("pageSize", DEFAULT_PAGE_SIZE))
    except ValueError:
        size = DEFAULT_PAGE_SIZE
    return page, min(max(size, 1), MAX_PAGE_SIZE)


def pagination(page: int, size: int, total: int) -> dict[str, int]:
    return {"page": page, "pageSize": size, "pageCount": -(-total // size), "itemCount": total}


def select_rows(
    ctx: Ctx,
    params: dict[str, str],
    columns: str,
    tables: str,
    where: tuple[str, list],
    order: str,
    pk: str,
    count_tables: str | None = None,
    fixed_size: int | None = None,
) -> tuple[list[tuple], dict[str, int] | None]:
    """A list call's rows and its `pagination`: without `page`, every match (as Xero does).

    `fixed_size` pages by that many whatever `pageSize` says (see `paging`).

    A page is found by primary key first, over `count_tables` when the filter needs fewer
    tables than the rows do, and then only its rows are read.
    """
    where_sql, args = where
    pg = paging(params, fixed_size)
    with ctx.store.lock:
        if pg is None:
            sql = f"SELECT {columns} FROM {tables} WHERE {where_sql} ORDER BY {order}"
            return ctx.store.conn.execute(sql, args).fetchall(), None
        page, size = pg
        count_from = count_tables or tables
        pks, total = ctx.store.page_pks(count_from, where_sql, args, order, pk, page, size)
        rows = ctx.store.rows_by_pk(f"SELECT {columns} FROM {tables}", pk, pks)
    return rows, pagination(page, size, total)


def is_guid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36


def like_term(term: str) -> str:
    """`searchTerm` as a LIKE pattern (use with ESCAPE '\\'): `%` and `_` match themselves."""
    esc = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{esc}%"


def flag(params: dict[str, str], name: str) -> bool:
    return params.get(name, "").strip().lower() == "true"


def text(value: Any) -> str | None:
    """A string field from a client (numbers tolerated, objects refused)."""
    if value is None:
        return None
    if isinstance(value, bool | dict | list):
        raise ValueError("must be a string")
    return str(value)


# ---- line items ------------------------------------------------------------------------------

LINE_TYPES = {"EXCLUSIVE": "Exclusive", "INCLUSIVE": "Inclusive", "NOTAX": "NoTax"}


def line_amount_type(value: Any, default: str = "Exclusive") -> str:
    """Normalise `LineAmountTypes` to Xero's spelling (Exclusive/Inclusive/NoTax)."""
    if value in (None, ""):
        return default
    norm = LINE_TYPES.get(str(value).upper().replace(" ", ""))
    if norm is None:
        raise ValueError(f"LineAmountTypes '{value}' is not valid")
    return norm


def compute_lines(
    lines: list[Any],
    lat: str,
    accounts: dict[str, dict],
    errors: list[str],
    unitdp: int = 2,
    default_account: str | None = None,
    is_sale: bool = True,
) -> tuple[list[list[Any]], Decimal, Decimal, Decimal]:
    """Validate line items and compute LineAmount/TaxAmount and the document totals.

    Stored form of a line: [LineItemID, Description, Quantity, UnitAmount, AccountCode,
    TaxType, TaxAmount, LineAmount, DiscountRate, ItemCode] with decimals as strings.
    """
    unit_q = Decimal(1).scaleb(-unitdp)
    out: list[list[Any]] = []
    sub = tax_total = Decimal(0)
    for raw in lines:
        if not isinstance(raw, dict):
            errors.append("Line items must be objects")
            continue
        try:
            line = _line(raw, lat, accounts, errors, unit_q, default_account, is_sale)
        except ArithmeticError:
            errors.append(
                "Quantity, UnitAmount and DiscountRate must be numbers of a sensible size"
            )
            continue
        if line is None:
            continue
        desc, qty, unit, code, tax_type, tax, line_amount, disc, net, item_code = line
        sub += net
        tax_total += tax
        line_id = raw.get("LineItemID") if is_guid(str(raw.get("LineItemID", ""))) else None
        out.append(
            [
                line_id or str(uuid.uuid4()),
                "" if desc is None else str(desc),
                str(qty),
                str(unit),
                None if code is None else str(code),
                str(tax_type),
                str(tax),
                str(line_amount),
                None if disc is None else str(disc),
                item_code,
            ]
        )
    if abs(sub + tax_total) >= MAX_AMOUNT:
        errors.append("The document total is too large.")
    return out, sub, tax_total, sub + tax_total


MAX_INTEGER_DIGITS = 12
MAX_AMOUNT = Decimal(10) ** MAX_INTEGER_DIGITS


def number(value: Any, name: str) -> Decimal:
    """A finite JSON number (or numeric string) with at most 12 integer digits, else ValueError."""
    try:
        d = to_decimal(value)
    except ValueError:
        raise ValueError(f"{name} must be a number") from None
    if d and d.adjusted() >= MAX_INTEGER_DIGITS:
        raise ValueError(f"{name} must have at most {MAX_INTEGER_DIGITS} digits before the point")
    return d


def _line(
    raw: dict,
    lat: str,
    accounts: dict[str, dict],
    errors: list[str],
    unit_q: Decimal,
    default_account: str | None,
    is_sale: bool,
) -> tuple | None:
    """One line's validated values and amounts, or None (errors appended) when it is unusable."""
    cent = Decimal("0.01")
    desc = raw.get("Description")
    try:
        qty = number(raw.get("Quantity") if raw.get("Quantity") is not None else 1, "Quantity")
        unit = number(
            raw.get("UnitAmount") if raw.get("UnitAmount") is not None else 0, "UnitAmount"
        )
        disc = (
            number(raw["DiscountRate"], "DiscountRate")
            if raw.get("DiscountRate") is not None
            else None
        )
    except ValueError as exc:
        errors.append(str(exc))
        return None
    try:
        desc = text(desc)
        item_code = text(raw.get("ItemCode"))
    except ValueError:
        errors.append("Description and ItemCode must be strings")
        return None
    qty = qty.quantize(Decimal("0.0001"), ROUND_HALF_UP)
    unit = unit.quantize(unit_q, ROUND_HALF_UP)
    if desc in (None, "") and not item_code:
        errors.append("Description cannot be empty")
    if disc is not None and not 0 <= disc <= 100:
        errors.append("Discount rate must be between 0 and 100")
        return None
    code = raw.get("AccountCode") or default_account
    account = accounts.get(str(code)) if code is not None else None
    if code is not None:
        errors += account_errors(str(code), account, is_sale)
    tax_type = raw.get("TaxType") or (
        account["TaxType"] if account else ("OUTPUT2" if is_sale else "INPUT2")
    )
    if lat == "NoTax":
        tax_type = "NONE"
    rate = TAX_RATES.get(str(tax_type))
    if rate is None:
        errors.append(
            f"The TaxType code '{tax_type}' does not exist or cannot be used for "
            "this type of transaction."
        )
        rate = 0
    gross = qty * unit
    if disc is not None:
        gross = gross * (Decimal(100) - disc) / Decimal(100)
    line_amount = gross.quantize(cent, ROUND_HALF_UP)
    if abs(line_amount) >= MAX_AMOUNT:
        errors.append("The line amount is too large.")
        return None
    if lat == "Inclusive":
        tax = (line_amount * rate / (100 + rate)).quantize(cent, ROUND_HALF_UP)
        net = line_amount - tax
    else:
        tax = (line_amount * rate / 100).quantize(cent, ROUND_HALF_UP)
        net = line_amount
    return desc, qty, unit, code, tax_type, tax, line_amount, disc, net, item_code


def account_errors(code: str, account: dict | None, is_sale: bool) -> list[str]:
    """Xero's refusals of a line's AccountCode (the messages Xero gives, word for word).

    Unknown, a bank or system account, or on a sales document (invoice, credit note, quote)
    anything but a REVENUE-class account: not valid for this document. Archived: its own
    message. Bills may use any other account.
    """
    if account is not None and account["Status"] == "ARCHIVED":
        return [
            f"Account code '{code}' has been archived, or has been deleted. Each line item must "
            "reference a valid account."
        ]
    unusable = account is None or account["Type"] == "BANK" or bool(account.get("SystemAccount"))
    if unusable or (is_sale and account["Class"] != "REVENUE"):  # type: ignore[index]
        return [f"Account code '{code}' is not a valid code for this document."]
    return []


def _fixed(text: str, places: int) -> str:
    """A stored decimal string as a JSON number with `places` decimals (fast path: as stored)."""
    from ..xero_json import MARK, num

    dot = text.find(".")
    if dot > 0 and len(text) - dot - 1 == places:
        return MARK + text
    return num(Decimal(text), places)


def plain_fixed(text: str, places: int) -> str:
    """Like `_fixed` but as bare JSON number text, for hand-built JSON."""
    dot = text.find(".")
    if dot > 0 and len(text) - dot - 1 == places:
        return text
    q = Decimal(1).scaleb(-places)
    return str(Decimal(text).quantize(q, ROUND_HALF_UP))


def lines_json(stored: str, owner_id: str, unitdp: int = 2) -> str:
    """Stored lines as the JSON text of Xero's `LineItems` (same content as `render_lines`)."""
    out = []
    for i, ln in enumerate(json.loads(stored)):
        parts = [
            f'{{"LineItemID":"{ln[0] or derived_id(owner_id, i)}","Description":{js(ln[1])},'
            f'"Quantity":{plain_fixed(ln[2], 4)},'
            f'"UnitAmount":{plain_fixed(ln[3], 4 if unitdp == 4 else 2)},'
            f'"TaxType":{js(ln[5])},"TaxAmount":{plain_fixed(ln[6], 2)},'
            f'"LineAmount":{plain_fixed(ln[7], 2)},"Tracking":[]'
        ]
        if ln[4] is not None:
            parts.append(f',"AccountCode":{js(ln[4])}')
        if ln[8] is not None:
            parts.append(f',"DiscountRate":{plain_fixed(ln[8], 2)}')
        if len(ln) > 9 and ln[9]:
            parts.append(f',"ItemCode":{js(str(ln[9]))}')
        parts.append("}")
        out.append("".join(parts))
    return "[" + ",".join(out) + "]"


def derived_id(owner_id: str, index: int) -> str:
    """A stable, unique LineItemID for generated lines without storing one (cheaper than uuid5)."""
    tail = (int(owner_id[-12:], 16) ^ (0x9E3779B97F4A * (index + 1))) & 0xFFFFFFFFFFFF
    return f"{owner_id[:-12]}{tail:012x}"


def render_lines(stored: str, owner_id: str, unitdp: int = 2) -> list[dict[str, Any]]:
    """Stored JSON lines to Xero's LineItems (ids of generated lines are derived, not stored)."""
    out = []
    for i, ln in enumerate(json.loads(stored)):
        line_id = ln[0] or derived_id(owner_id, i)
        item: dict[str, Any] = {
            "LineItemID": line_id,
            "Description": ln[1],
            "Quantity": _fixed(ln[2], 4),
            "UnitAmount": _fixed(ln[3], 4 if unitdp == 4 else 2),
            "TaxType": ln[5],
            "TaxAmount": _fixed(ln[6], 2),
            "LineAmount": _fixed(ln[7], 2),
            "Tracking": [],
        }
        if ln[4] is not None:
            item["AccountCode"] = ln[4]
        if ln[8] is not None:
            item["DiscountRate"] = _fixed(ln[8], 2)
        if len(ln) > 9 and ln[9]:
            item["ItemCode"] = ln[9]
        out.append(item)
    return out


def to_cents(d: Decimal) -> int:
    return int((d * 100).quantize(Decimal(1), ROUND_HALF_UP))
