"""Admin API for changing records as a user would in Xero's web app (never under Xero's paths).

`POST /_sandbox/organisation`, `/_sandbox/currencies`, `/_sandbox/accounts`,
`/_sandbox/contacts/merge` and `/_sandbox/invoices/{InvoiceID}/pay`. Each checks its input,
answers 400 `{"error": …}` (404 for an unknown record) and otherwise changes the state through
the accounting modules' own functions, so the rules stay in one place.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .accounting import accounts, invoices, organisation, settlements
from .accounting.common import Ctx, number, to_cents
from .accounting.merge import MergeError, merge_contacts
from .accounting.organisation import SettingError
from .admin import _bad, _json
from .state import Sandbox
from .store import Tenant
from .xero_json import parse_date


class AdminError(ValueError):
    """A bad admin request: answered 400 (or `status`) with `{"error": message}`."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _sb(request: Request) -> Sandbox:
    return request.app.state.sandbox


def _tenant(sb: Sandbox, body: dict[str, Any]) -> Tenant:
    """The organisation named by `tenant_id`, else the first one."""
    tenant_id = body.get("tenant_id")
    if tenant_id is None:
        return sb.store.first_tenant()
    tenant = sb.store.tenant(tenant_id) if isinstance(tenant_id, str) else None
    if tenant is None:
        raise AdminError("unknown tenant_id")
    return tenant


def _ctx(sb: Sandbox, tenant: Tenant) -> Ctx:
    return Ctx(sb.store, tenant, sb.config)


async def _answer(request: Request, action: Any) -> Response:
    """Run `action(sandbox, body)` in a thread; AdminError and bad JSON become 400s."""
    sb = _sb(request)
    try:
        body = await _json(request)
        return JSONResponse(await run_in_threadpool(action, sb, body, request.path_params))
    except AdminError as exc:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)
    except (ValueError, TypeError) as exc:
        return _bad(str(exc))


def _organisation(sb: Sandbox, body: dict[str, Any], _path: dict) -> dict[str, Any]:
    """`{"tenant_id"?, "name"?, "legal_name"?, "base_currency"?, "timezone"?, "short_code"?,
    "country_code"?}` → the Organisation as `GET /Organisation` shows it."""
    tenant = _tenant(sb, body)
    with sb.store.lock:
        try:
            organisation.update(tenant, body)
        except SettingError as exc:
            raise AdminError(str(exc)) from None
        return organisation.render(tenant)  # /connections shows the new name too


def _currencies(sb: Sandbox, body: dict[str, Any], _path: dict) -> dict[str, Any]:
    """`{"tenant_id"?, "code": "USD"}` → `{"tenantId", "currencies": [...]}` (base first)."""
    tenant = _tenant(sb, body)
    try:
        code = organisation.currency_code(body.get("code"))
    except SettingError as exc:
        raise AdminError(f"code: {exc}") from None
    with sb.store.lock:
        tenant.enable_currency(code)
        return {"tenantId": tenant.tenant_id, "currencies": list(tenant.currencies)}


def _accounts(sb: Sandbox, body: dict[str, Any], _path: dict) -> dict[str, Any]:
    """`{"tenant_id"?, "code": "260", "status": "ARCHIVED" | "ACTIVE"}` → the Account."""
    tenant = _tenant(sb, body)
    with sb.store.lock:
        try:
            account = accounts.set_status(tenant, body.get("code"), body.get("status"))
        except LookupError as exc:
            raise AdminError(str(exc), 404) from None
        except ValueError as exc:
            raise AdminError(str(exc)) from None
        return accounts.render(account)


def _merge(sb: Sandbox, body: dict[str, Any], _path: dict) -> dict[str, Any]:
    """`{"tenant_id"?, "from": ContactID, "into": ContactID}` → what moved."""
    tenant = _tenant(sb, body)
    try:
        moved = merge_contacts(_ctx(sb, tenant), body.get("from"), body.get("into"))
    except MergeError as exc:
        raise AdminError(str(exc)) from None
    return {"ok": True, "from": body["from"], "into": body["into"], "moved": moved}


def _pay(sb: Sandbox, body: dict[str, Any], path: dict) -> dict[str, Any]:
    """`{"amount": 12.50, "date"?: "YYYY-MM-DD"}` → the invoice as `GET /Invoices/{id}` shows
    it (the organisation is the invoice's own)."""
    try:
        amount = to_cents(number(body.get("amount"), "amount"))
        date_ms = parse_date(body["date"]) if body.get("date") is not None else None
    except (ValueError, ArithmeticError) as exc:
        raise AdminError(f"amount must be a number and date YYYY-MM-DD ({exc})") from None
    store = sb.store
    with store.lock:
        row = store.conn.execute(
            "SELECT tenant FROM invoices WHERE invoice_id = ?", (path["invoice_id"].lower(),)
        ).fetchone()
        if row is None:
            raise AdminError(f"no invoice {path['invoice_id']}", 404)
        ctx = _ctx(sb, store.tenant_by_pk(row[0]))
        invoice = invoices.find_row(ctx, path["invoice_id"])
        assert invoice is not None
        on = date_ms if date_ms is not None else organisation.today_ms(ctx.tenant)
        store.conn.execute("BEGIN")
        try:
            errors = settlements.record_payment(ctx, invoice, amount, on)
            store.conn.execute("ROLLBACK" if errors else "COMMIT")
        except BaseException:
            store.conn.execute("ROLLBACK")
            raise
        if errors:
            raise AdminError(errors[0])
        store.changed()
        return json.loads(invoices.fragments(ctx, [invoices.by_pk(ctx, invoice.pk)])[0])


def _route(path: str, action: Any) -> Route:
    async def endpoint(request: Request) -> Response:
        return await _answer(request, action)

    return Route(path, endpoint, methods=["POST"])


routes = [
    _route("/_sandbox/organisation", _organisation),
    _route("/_sandbox/currencies", _currencies),
    _route("/_sandbox/accounts", _accounts),
    _route("/_sandbox/contacts/merge", _merge),
    _route("/_sandbox/invoices/{invoice_id}/pay", _pay),
]
