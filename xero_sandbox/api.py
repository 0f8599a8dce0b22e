"""Routes at Xero's own paths: identity (authorize, token, revocation, connections), accounting."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .accounting import (
    accounts,
    contacts,
    credit_notes,
    invoices,
    organisation,
    quotes,
    settlements,
)
from .accounting.common import Ctx, XeroError, not_found, parse_body, xero_response
from .idempotency import IdempotencyCache, Stored
from .identity import error_page
from .state import Sandbox

API = "/api.xro/2.0"


def _sandbox(request: Request) -> Sandbox:
    return request.app.state.sandbox


# ---- identity --------------------------------------------------------------------------------


async def authorize(request: Request) -> Response:
    params = dict(request.query_params)
    url, error = _sandbox(request).identity.authorize(params)
    if error:
        return HTMLResponse(error_page(error), status_code=400)
    return RedirectResponse(url, status_code=302)  # type: ignore[arg-type]


def _client(request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            cid, _, secret = base64.b64decode(auth[6:].strip()).decode().partition(":")
            return cid, secret
        except (binascii.Error, UnicodeDecodeError):
            return None, None
    return form.get("client_id"), form.get("client_secret")


def _oauth_error(error: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error}, status_code=status, headers={"Cache-Control": "no-store"})


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", "replace")
    return dict(parse_qsl(body, keep_blank_values=True))


async def token(request: Request) -> Response:
    sb = _sandbox(request)
    form = await _form(request)
    if not sb.identity.client_ok(*_client(request, form)):
        return _oauth_error("invalid_client")
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        out, err = sb.identity.exchange_code(
            form.get("code", ""), form.get("redirect_uri"), form.get("code_verifier")
        )
    elif grant_type == "refresh_token":
        out, err = sb.identity.refresh_grant(form.get("refresh_token", ""))
    else:
        return _oauth_error("unsupported_grant_type")
    if err:
        return _oauth_error(err)
    return JSONResponse(out, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


async def revocation(request: Request) -> Response:
    sb = _sandbox(request)
    form = await _form(request)
    if not sb.identity.client_ok(*_client(request, form)):
        return _oauth_error("invalid_client")
    if not form.get("token"):
        return _oauth_error("invalid_request")
    sb.identity.revoke(form["token"])
    return Response(status_code=200)


async def list_connections(request: Request) -> Response:
    sb = _sandbox(request)
    return JSONResponse(sb.identity.list_connections(request.query_params.get("authEventId")))


async def delete_connection(request: Request) -> Response:
    if _sandbox(request).identity.delete_connection(request.path_params["id"]):
        return Response(status_code=204)
    return Response("The resource you're looking for cannot be found", 404, media_type="text/plain")


# ---- accounting ------------------------------------------------------------------------------


def _ctx(request: Request) -> Ctx:
    return request.scope["sandbox.ctx"]


def _read(fn: Callable[..., Any], *args_from: str) -> Callable[[Request], Any]:
    """A GET endpoint, run in a thread: `fn(ctx, *path params, query params)` for one record,
    `fn(ctx, query params, If-Modified-Since)` for a list."""

    async def endpoint(request: Request) -> Response:
        ctx = _ctx(request)
        params = dict(request.query_params)
        if args_from:
            args = [*(request.path_params[a] for a in args_from), params]
        else:
            args = [params, request.headers.get("if-modified-since")]
        try:
            body = await run_in_threadpool(fn, ctx, *args)
        except XeroError as exc:
            return exc.response()
        return xero_response(body)

    return endpoint


def _summarize(params: dict[str, str]) -> bool:
    return params.get("summarizeErrors", "true").strip().lower() != "false"


def _unitdp(params: dict[str, str]) -> int:
    return 4 if params.get("unitdp") == "4" else 2


Writer = Callable[[Ctx, list[dict], dict[str, str], bool, str | None], Any]
"""(ctx, elements, query params, create_only, path id) → the response body."""

WRITERS: dict[str, Writer] = {
    "Contacts": lambda ctx, items, params, create_only, path_id: contacts.write_contacts(
        ctx, items, create_only=create_only, summarize=_summarize(params), path_id=path_id
    ),
    "Invoices": lambda ctx, items, params, create_only, path_id: invoices.write_invoices(
        ctx,
        items,
        create_only=create_only,
        summarize=_summarize(params),
        unitdp=_unitdp(params),
        path_id=path_id,
    ),
    "CreditNotes": lambda ctx, items, params, create_only, path_id: credit_notes.write_credit_notes(
        ctx,
        items,
        create_only=create_only,
        summarize=_summarize(params),
        unitdp=_unitdp(params),
        path_id=path_id,
    ),
    "Quotes": lambda ctx, items, params, create_only, path_id: quotes.write_quotes(
        ctx, items, create_only=create_only, summarize=_summarize(params), path_id=path_id
    ),
    "Allocations": lambda ctx, items, params, _create_only, path_id: settlements.write_allocations(
        ctx, path_id or "", items, summarize=_summarize(params)
    ),
}


def _write(key: str, create_only: bool, with_id: bool = False) -> Callable[[Request], Any]:
    """PUT/POST endpoints: body parsing, Idempotency-Key replay, then the resource's writer."""
    writer = WRITERS[key]

    def run(
        ctx: Ctx, raw: bytes, ctype: str | None, params: dict[str, str], path_id: str | None
    ) -> Response:
        try:
            items = parse_body(raw, ctype, key)
            body = writer(ctx, items, params, create_only, path_id)
        except XeroError as exc:
            return exc.response()
        return xero_response(body)

    def idempotent(
        cache: IdempotencyCache, ctx: Ctx, idem_key: str, fingerprint: str, *args: Any
    ) -> Response:
        tenant = ctx.tenant.tenant_id
        with cache.key_lock(tenant, idem_key):
            hit = cache.lookup(tenant, idem_key)
            if hit is not None:
                if hit.fingerprint != fingerprint:
                    return xero_response(
                        {
                            "ErrorNumber": 10,
                            "Type": "ValidationException",
                            "Message": "The Idempotency-Key has already been used for a different "
                            "request",
                            "Elements": [],
                        },
                        400,
                    )
                return Response(hit.body, hit.status, media_type=hit.media_type)
            resp = run(ctx, *args)
            if resp.status_code < 500:
                cache.remember(
                    tenant,
                    idem_key,
                    Stored(
                        fingerprint,
                        time.monotonic(),
                        resp.status_code,
                        bytes(resp.body),
                        resp.media_type or "application/json",
                    ),
                )
            return resp

    async def endpoint(request: Request) -> Response:
        sb = _sandbox(request)
        ctx = _ctx(request)
        raw = await request.body()
        params = dict(request.query_params)
        path_id = request.path_params.get("ident") if with_id else None
        args = (raw, request.headers.get("content-type"), params, path_id)
        idem_key = request.headers.get("idempotency-key")
        if idem_key is None:
            return await run_in_threadpool(run, ctx, *args)
        if not idem_key.strip() or len(idem_key) > 128:
            return xero_response(
                {
                    "ErrorNumber": 10,
                    "Type": "ValidationException",
                    "Message": "Idempotency-Key must be 1 to 128 characters",
                    "Elements": [],
                },
                400,
            )
        fp = IdempotencyCache.fingerprint(request.method, request.url.path, request.url.query, raw)
        return await run_in_threadpool(idempotent, sb.idempotency, ctx, idem_key, fp, *args)

    return endpoint


async def api_not_found(request: Request) -> Response:
    return not_found().response()


routes = [
    Route("/identity/connect/authorize", authorize, methods=["GET"]),
    Route("/connect/token", token, methods=["POST"]),
    Route("/connect/revocation", revocation, methods=["POST"]),
    Route("/connections", list_connections, methods=["GET"]),
    Route("/Connections", list_connections, methods=["GET"]),
    Route("/connections/{id}", delete_connection, methods=["DELETE"]),
    Route("/Connections/{id}", delete_connection, methods=["DELETE"]),
    Route(f"{API}/Contacts", _read(contacts.list_contacts), methods=["GET"]),
    Route(f"{API}/Contacts", _write("Contacts", True), methods=["PUT"]),
    Route(f"{API}/Contacts", _write("Contacts", False), methods=["POST"]),
    Route(f"{API}/Contacts/{{ident}}", _read(contacts.get_contact, "ident"), methods=["GET"]),
    Route(f"{API}/Contacts/{{ident}}", _write("Contacts", False, True), methods=["POST"]),
    Route(f"{API}/Invoices", _read(invoices.list_invoices), methods=["GET"]),
    Route(f"{API}/Invoices", _write("Invoices", True), methods=["PUT"]),
    Route(f"{API}/Invoices", _write("Invoices", False), methods=["POST"]),
    Route(f"{API}/Invoices/{{ident}}", _read(invoices.get_invoice, "ident"), methods=["GET"]),
    Route(f"{API}/Invoices/{{ident}}", _write("Invoices", False, True), methods=["POST"]),
    Route(f"{API}/CreditNotes", _read(credit_notes.list_credit_notes), methods=["GET"]),
    Route(f"{API}/CreditNotes", _write("CreditNotes", True), methods=["PUT"]),
    Route(f"{API}/CreditNotes", _write("CreditNotes", False), methods=["POST"]),
    Route(
        f"{API}/CreditNotes/{{ident}}",
        _read(credit_notes.get_credit_note, "ident"),
        methods=["GET"],
    ),
    Route(f"{API}/CreditNotes/{{ident}}", _write("CreditNotes", False, True), methods=["POST"]),
    Route(
        f"{API}/CreditNotes/{{ident}}/Allocations",
        _write("Allocations", True, True),
        methods=["PUT"],
    ),
    Route(f"{API}/Quotes", _read(quotes.list_quotes), methods=["GET"]),
    Route(f"{API}/Quotes", _write("Quotes", True), methods=["PUT"]),
    Route(f"{API}/Quotes", _write("Quotes", False), methods=["POST"]),
    Route(f"{API}/Quotes/{{ident}}", _read(quotes.get_quote, "ident"), methods=["GET"]),
    Route(f"{API}/Quotes/{{ident}}", _write("Quotes", False, True), methods=["POST"]),
    Route(f"{API}/Accounts", _read(accounts.list_accounts), methods=["GET"]),
    Route(f"{API}/Accounts/{{ident}}", _read(accounts.get_account, "ident"), methods=["GET"]),
    Route(f"{API}/Organisation", _read(organisation.get_organisations), methods=["GET"]),
    Route(f"{API}/Currencies", _read(organisation.get_currencies), methods=["GET"]),
    Route(f"{API}/{{rest:path}}", api_not_found, methods=["GET", "PUT", "POST", "DELETE", "PATCH"]),
]
