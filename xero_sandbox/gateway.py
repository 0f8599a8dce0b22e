"""ASGI middleware in front of Xero's paths: stats, faults, auth, tenant and rate limits.

It runs before the routes so that every refusal (401, 403, 429, injected 5xx) looks the same
for every operation, and so that calls in flight are counted for the whole call, including
any injected latency: that is what the concurrent limit measures.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from http import HTTPStatus
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import request_size
from .accounting.common import Ctx
from .config import MAX_REQUEST_BYTES
from .state import Sandbox

API_PREFIX = "/api.xro/2.0"
log = logging.getLogger(__name__)


def problem(status: int, title: str, detail: str) -> dict[str, Any]:
    """Xero's problem-details body for auth failures (TokenExpired, AuthenticationUnsuccessful)."""
    return {
        "Type": None,
        "Title": title,
        "Status": status,
        "Detail": detail,
        "Instance": str(uuid.uuid4()),
        "Extensions": {},
    }


def server_error() -> dict[str, Any]:
    """The problem-details body Xero sends with a 500 (an unhandled error on its side)."""
    return problem(
        500,
        "An error occurred",
        "An error occurred in Xero. Check the API Status page http://status.developer.xero.com "
        "for current service status.",
    )


TOO_LARGE = f"the request body is larger than {MAX_REQUEST_BYTES:,} bytes"


def too_large_problem() -> dict[str, Any]:
    """Xero's 413 for a body over its 3.5 MB limit (XeroAPI/Xero-Java#349 shows this body)."""
    return problem(413, "RequestEntityTooLarge", "PayloadTooLarge")


async def send_json(
    send: Send, status: int, body: Any, headers: dict[str, str] | None = None
) -> None:
    raw = json.dumps(body).encode()
    hdrs = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(raw)).encode()),
    ]
    hdrs += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": raw})


class Gateway:
    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        receive, too_large = await request_size.guard(scope, receive, MAX_REQUEST_BYTES)
        if scope["path"].startswith("/_sandbox"):
            if too_large:
                await send_json(send, 413, {"error": f"{TOO_LARGE}; the admin API takes less"})
                return
            await self.app(scope, receive, send)
            return
        sb = self.sandbox
        path, method = scope["path"], scope["method"]
        sb.stats.count(method, path)
        is_api = path.startswith(API_PREFIX)
        headers = Headers(scope=scope)
        tenant_hdr = headers.get("xero-tenant-id")
        tenant = sb.store.tenant(tenant_hdr) if is_api else None
        tenant_key = tenant.tenant_id if tenant else None

        def limit_headers() -> dict[str, str]:
            # Xero sends these on every API response, refusals included
            return sb.limiter.headers(tenant_key) if is_api else {}

        if too_large:  # before faults, auth and limits, as Xero's front door refuses it
            await send_json(send, 413, too_large_problem(), limit_headers())
            return
        fate = sb.faults.pick(path)
        if fate.status:
            try:
                phrase = HTTPStatus(fate.status).phrase
            except ValueError:
                phrase = "Error"
            await send_json(
                send,
                fate.status,
                problem(fate.status, phrase, "Fault injected by the sandbox"),
                limit_headers(),
            )
            return
        if fate.rate_limit:
            retry = fate.retry_after
            if retry is None and fate.rate_limit != "concurrent":
                retry = sb.limiter.retry_after(tenant_key or "-", fate.rate_limit)
            hdrs = limit_headers()
            hdrs["X-Rate-Limit-Problem"] = fate.rate_limit
            if retry is not None and fate.rate_limit != "concurrent":
                hdrs["Retry-After"] = str(retry)
            await send_json(
                send,
                429,
                problem(429, "Too Many Requests", f"Rate limit exceeded: {fate.rate_limit}"),
                hdrs,
            )
            return
        if not is_api and not path.lower().startswith("/connections"):
            await self._delay(fate.latency_ms)
            await self.app(scope, receive, send)
            return
        grant, failure = sb.identity.authenticate(headers.get("authorization"))
        if failure is not None:
            extra = limit_headers()
            if failure.status == 401:
                extra["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            await send_json(
                send, failure.status, problem(failure.status, failure.title, failure.detail), extra
            )
            return
        if not is_api:
            scope["sandbox.grant"] = grant
            await self._delay(fate.latency_ms)
            await self._guarded(scope, receive, send)
            return
        if tenant is None or not sb.identity.tenant_allowed(tenant.tenant_id):
            await send_json(
                send, 403, problem(403, "Forbidden", "AuthenticationUnsuccessful"), limit_headers()
            )
            return
        decision = sb.limiter.acquire(tenant.tenant_id)
        if decision.problem:
            hdrs = dict(decision.headers)
            hdrs["X-Rate-Limit-Problem"] = decision.problem
            if decision.retry_after is not None:
                hdrs["Retry-After"] = str(decision.retry_after)
            await send_json(
                send,
                429,
                problem(429, "Too Many Requests", f"Rate limit exceeded: {decision.problem}"),
                hdrs,
            )
            return
        extra_headers = [(k.lower().encode(), v.encode()) for k, v in decision.headers.items()]
        if fate.latency_ms:  # says which answers a latency fault slowed (not a Xero header)
            extra_headers.append((b"x-sandbox-latency-ms", str(fate.latency_ms).encode()))

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = list(message.get("headers", [])) + extra_headers
            await send(message)

        try:
            await self._delay(fate.latency_ms)
            scope["sandbox.ctx"] = Ctx(
                sb.store, tenant, sb.config, grant.client_id if grant else sb.config.client_id
            )
            await self._guarded(scope, receive, send_with_limits, decision.headers)
        finally:
            sb.limiter.release(tenant.tenant_id)

    async def _guarded(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        error_headers: dict[str, str] | None = None,
    ) -> None:
        """The safety net: an unexpected exception becomes Xero's 500 body, never a dead server.

        Every input the sandbox knows to be bad gets its own 4xx before this; reaching it is a
        sandbox bug, logged with its traceback.
        """
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unexpected error answering %s %s", scope["method"], scope["path"])
            if started:
                raise
            await send_json(send, 500, server_error(), error_headers)

    @staticmethod
    async def _delay(ms: int) -> None:
        if ms:
            await asyncio.sleep(ms / 1000)
