"""`/Accounts`: the chart of accounts, filtered with `where` (kept in Python: it is small)."""

from __future__ import annotations

from typing import Any

from .. import where as where_lang
from ..store import Tenant
from ..xero_json import msdate, now_ms, parse_http_datetime
from .common import Ctx, envelope, not_found, query_error


def render(acc: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in acc.items() if not k.endswith("_ms")}
    out["UpdatedDateUTC"] = msdate(acc["UpdatedDateUTC_ms"])
    return out


def list_accounts(ctx: Ctx, params: dict[str, str], if_modified_since: str | None) -> dict:
    with ctx.store.lock:
        accounts = list(ctx.tenant.accounts)
    if params.get("where"):
        try:
            node = where_lang.parse(params["where"])
            accounts = [a for a in accounts if where_lang.matches(node, a)]
        except where_lang.WhereError as exc:
            raise query_error(str(exc)) from None
    if if_modified_since:
        since = parse_http_datetime(if_modified_since)
        if since is not None:
            accounts = [a for a in accounts if a["UpdatedDateUTC_ms"] >= since]
    order = (params.get("order") or "").split() or ["Code", "ASC"]
    key = order[0]
    if accounts and key not in accounts[0]:
        raise query_error(f"Invalid order '{params.get('order')}'")
    accounts.sort(
        key=lambda a: str(a.get(key, "")), reverse=len(order) > 1 and order[1].upper() == "DESC"
    )
    return envelope("Accounts", [render(a) for a in accounts])


def get_account(ctx: Ctx, account_id: str, params: dict[str, str]) -> dict:
    with ctx.store.lock:
        for a in ctx.tenant.accounts:
            if a["AccountID"] == account_id.lower():
                return envelope("Accounts", [render(a)])
    raise not_found()


def set_status(tenant: Tenant, code: Any, status: Any) -> dict[str, Any]:
    """Archive or restore an account by code, as a user does in the chart of accounts (the
    caller holds the lock). LookupError for an unknown code, ValueError for a bad status."""
    if status not in ("ACTIVE", "ARCHIVED"):
        raise ValueError("status must be ACTIVE or ARCHIVED")
    for account in tenant.accounts:
        if account["Code"] == code:
            if account.get("SystemAccount"):
                raise ValueError(f"account {code} is a system account and cannot be archived")
            account["Status"] = status
            account["UpdatedDateUTC_ms"] = max(now_ms(), account["UpdatedDateUTC_ms"] + 1)
            return account
    raise LookupError(f"no account with code {code!r}")
