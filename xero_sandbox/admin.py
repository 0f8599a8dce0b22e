"""Admin API under `/_sandbox/` (never under Xero's paths): reset, seed, stats, faults, limits.

Tokens are never exposed here; `/_sandbox/state` only reports counts.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import generator
from .config import MAX_GENERATED
from .faults import FaultError
from .state import Sandbox

MAX_LIMIT = 10**9  # calls per minute/day, or at once
LIMIT_KEYS = ("minute", "day", "concurrent", "app_minute")
CONFIG_KEYS = ("access_token_ttl", "refresh_grace", "code_ttl", "idempotency_window")
MAX_WINDOW = 3600  # seconds a minute window may be stretched to; at least 1 (0 is no limit)


def _sb(request: Request) -> Sandbox:
    return request.app.state.sandbox


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON value")


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("the JSON body is nested too deeply") from None
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate such as "\ud800"
        return False
    return True


MAX_SECONDS = 10 * 365 * 86_400  # timings beyond ten years are surely a mistake


def _whole(body: dict[str, Any], key: str, default: int, high: int) -> int:
    """A whole number from 0 to `high` (JSON integers only: no 1.5, true, "3" or 1e400)."""
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be a whole number, got {value!r}")
    if not 0 <= value <= high:
        raise ValueError(f"{key} must be between 0 and {high:,}")
    return value


def _seconds(body: dict[str, Any], key: str) -> float:
    """A finite number of seconds from 0 to ten years."""
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or not 0 <= value <= MAX_SECONDS:
        raise ValueError(f"{key} must be between 0 and {MAX_SECONDS:,} seconds")
    return value


def _window(body: dict[str, Any]) -> float:
    """`minute_window`: the seconds a minute window lasts, from 1 to MAX_WINDOW."""
    value = _seconds(body, "minute_window")
    if not 1 <= value <= MAX_WINDOW:
        raise ValueError(f"minute_window must be between 1 and {MAX_WINDOW:,} seconds")
    return float(value)


async def reset(request: Request) -> Response:
    sb = _sb(request)
    await run_in_threadpool(sb.reset)
    return JSONResponse({"ok": True, "tenantId": sb.store.first_tenant().tenant_id})


async def seed(request: Request) -> Response:
    """`{"contacts": N, "invoices": M, "quotes": Q, "credit_notes": C, "seed": S,
    "tenant_id": optional}`."""
    sb = _sb(request)
    kinds = ("contacts", "invoices", "quotes", "credit_notes")
    try:
        body = await _json(request)
        counts = {k: _whole(body, k, 0, MAX_GENERATED) for k in kinds}
        seed_value = _whole(body, "seed", 0, 2**63 - 1)
    except (ValueError, TypeError) as exc:
        return _bad(f"invalid seed request: {exc}")
    if body.get("tenant_id") is not None and not isinstance(body["tenant_id"], str):
        return _bad("tenant_id must be a string")
    tenant = (
        sb.store.tenant(body["tenant_id"]) if body.get("tenant_id") else sb.store.first_tenant()
    )
    if tenant is None:
        return _bad("unknown tenant_id")
    result = await run_in_threadpool(
        generator.seed,
        sb.store,
        tenant,
        counts["contacts"],
        counts["invoices"],
        counts["quotes"],
        seed_value,
        counts["credit_notes"],
    )
    return JSONResponse(
        {
            "tenantId": tenant.tenant_id,
            "contacts": result.contacts,
            "invoices": result.invoices,
            "quotes": result.quotes,
            "credit_notes": result.credit_notes,
            "seconds": round(result.seconds, 3),
        }
    )


async def stats(request: Request) -> Response:
    return JSONResponse({"calls": _sb(request).stats.snapshot()})


async def faults(request: Request) -> Response:
    sb = _sb(request)
    if request.method == "DELETE":
        sb.faults.clear()
        return JSONResponse({"ok": True, "faults": []})
    if request.method == "GET":
        return JSONResponse({"faults": sb.faults.describe()})
    try:
        body = await _json(request)
        if body.get("expire_tokens"):
            sb.identity.expire_all()
        sb.faults.add(body)
    except (ValueError, FaultError) as exc:
        return _bad(str(exc))
    return JSONResponse({"ok": True, "faults": sb.faults.describe()})


async def limits(request: Request) -> Response:
    """Change rate limits (and token/grace timings) at run time; GET shows the current ones."""
    sb = _sb(request)
    if request.method == "POST":
        try:
            body = await _json(request)
            # check everything before changing anything, so a bad request changes nothing
            limits = {k: _whole(body, k, 0, MAX_LIMIT) for k in LIMIT_KEYS if k in body}
            timings = {k: _seconds(body, k) for k in CONFIG_KEYS if k in body}
            window = _window(body) if "minute_window" in body else None
            if "enabled" in body and not isinstance(body["enabled"], bool):
                raise ValueError(f"enabled must be true or false, got {body['enabled']!r}")
            for key, whole in limits.items():
                setattr(sb.config.limits, key, whole)
            if "enabled" in body:
                sb.config.limits.enabled = body["enabled"]
            if window is not None:
                sb.config.limits.minute_window = window
            for key, value in timings.items():
                setattr(sb.config, key, int(value) if float(value).is_integer() else value)
            sb.idempotency.window = sb.config.idempotency_window
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
    return JSONResponse(_settings(sb))


def _settings(sb: Sandbox) -> dict[str, Any]:
    out: dict[str, Any] = dict(vars(sb.config.limits))
    out.update({k: getattr(sb.config, k) for k in CONFIG_KEYS})
    return out


async def tenants(request: Request) -> Response:
    sb = _sb(request)
    if request.method == "GET":
        return JSONResponse(
            [{"tenantId": t.tenant_id, "tenantName": t.name} for t in sb.store.tenants.values()]
        )
    try:
        body = await _json(request)
    except ValueError as exc:
        return _bad(str(exc))
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        return _bad("name is required, as a string")
    name = name.strip()
    if len(name) > 255 or not _utf8(name):
        return _bad("name must be at most 255 characters of valid Unicode")
    tenant = sb.store.add_tenant(name)
    return JSONResponse({"tenantId": tenant.tenant_id, "tenantName": tenant.name})


async def revoke_app(request: Request) -> Response:
    _sb(request).identity.revoke_app()
    return JSONResponse({"ok": True})


async def state(request: Request) -> Response:
    sb = _sb(request)
    counts = await run_in_threadpool(sb.store.counts)
    return JSONResponse(
        {
            "tenants": [
                {"tenantId": t.tenant_id, "tenantName": t.name, **counts.get(t.tenant_id, {})}
                for t in sb.store.tenants.values()
            ],
            "connections": len(sb.identity.connections),
            "live_refresh_tokens": sb.identity.live_refresh_tokens(),
            "settings": _settings(sb),
        }
    )


async def clock(request: Request) -> Response:
    """`{"advance": seconds}` moves the identity service's clock forward (token lifetimes,
    refresh grace, code expiry), so a test crosses them without sleeping."""
    sb = _sb(request)
    try:
        body = await _json(request)
        if "advance" not in body:
            raise ValueError("advance (a number of seconds) is required")
        seconds = _seconds(body, "advance")
    except (ValueError, TypeError) as exc:
        return _bad(str(exc))
    return JSONResponse({"identity_clock_offset": sb.identity.advance_clock(seconds)})


routes = [
    Route("/_sandbox/reset", reset, methods=["POST"]),
    Route("/_sandbox/seed", seed, methods=["POST"]),
    Route("/_sandbox/stats", stats, methods=["GET"]),
    Route("/_sandbox/faults", faults, methods=["GET", "POST", "DELETE"]),
    Route("/_sandbox/limits", limits, methods=["GET", "POST"]),
    Route("/_sandbox/config", limits, methods=["GET", "POST"]),
    Route("/_sandbox/tenants", tenants, methods=["GET", "POST"]),
    Route("/_sandbox/revoke-app", revoke_app, methods=["POST"]),
    Route("/_sandbox/state", state, methods=["GET"]),
    Route("/_sandbox/clock", clock, methods=["POST"]),
]
