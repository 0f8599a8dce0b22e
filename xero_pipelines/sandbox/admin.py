"""Admin API under `/_sandbox/` (never under Xero's paths): reset, seed, stats, faults, limits.

Tokens are never exposed here; `/_sandbox/state` only reports counts.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import generator
from .faults import FaultError
from .state import Sandbox

MAX_SEED = 5_000_000  # per kind; keeps a typo from filling the machine's memory
LIMIT_KEYS = ("minute", "day", "concurrent", "app_minute")
CONFIG_KEYS = ("access_token_ttl", "refresh_grace", "code_ttl", "idempotency_window")


def _sb(request: Request) -> Sandbox:
    return request.app.state.sandbox


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


async def reset(request: Request) -> Response:
    sb = _sb(request)
    await run_in_threadpool(sb.reset)
    return JSONResponse({"ok": True, "tenantId": sb.store.first_tenant().tenant_id})


async def seed(request: Request) -> Response:
    """`{"contacts": N, "invoices": M, "quotes": Q, "seed": S, "tenant_id": optional}`."""
    sb = _sb(request)
    try:
        body = await _json(request)
        counts = {k: int(body.get(k, 0)) for k in ("contacts", "invoices", "quotes")}
        seed_value = int(body.get("seed", 0))
    except (ValueError, TypeError) as exc:
        return _bad(f"invalid seed request: {exc}")
    if any(v < 0 or v > MAX_SEED for v in counts.values()):
        return _bad(f"counts must be between 0 and {MAX_SEED:,}")
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
    )
    return JSONResponse(
        {
            "tenantId": tenant.tenant_id,
            "contacts": result.contacts,
            "invoices": result.invoices,
            "quotes": result.quotes,
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
            for key in LIMIT_KEYS:
                if key in body:
                    value = int(body[key])
                    if value < 0:
                        raise ValueError(f"{key} must be non-negative")
                    setattr(sb.config.limits, key, value)
            if "enabled" in body:
                sb.config.limits.enabled = bool(body["enabled"])
            for key in CONFIG_KEYS:
                if key in body:
                    value = float(body[key])
                    if value < 0:
                        raise ValueError(f"{key} must be non-negative")
                    setattr(sb.config, key, int(value) if value.is_integer() else value)
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
    name = str(body.get("name") or "").strip()
    if not name:
        return _bad("name is required")
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
]
