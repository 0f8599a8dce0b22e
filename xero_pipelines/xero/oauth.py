"""Xero's OAuth2 protocol: authorization code + PKCE over a loopback callback, token
refresh and revocation (all through authlib), and the identity API's `/connections`.

Nothing here touches the database: `connection.py` and `tokens.py` decide what to keep.
Token values never enter a message, a log line or a `repr`.
"""

from __future__ import annotations

import base64
import hmac
import json
import random
import threading
import time
import webbrowser
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError

from xero_pipelines.xero.config import XeroAppConfig
from xero_pipelines.xero.errors import (
    XeroApiError,
    XeroAuthenticationError,
    XeroConnectionLostError,
    XeroError,
)

DEFAULT_PORT = 8765
DEFAULT_TIMEOUT = 300.0
CALLBACK_PATH = "/callback"
HTTP_TIMEOUT = 30.0


class AuthorizationError(XeroError):
    """The authorization-code flow did not produce a usable grant."""


class AuthorizationTimeoutError(AuthorizationError):
    """Nobody completed the flow in the browser before the timeout."""


class TenantChoiceError(XeroError):
    """The grant covers no organisation, or several and `--tenant` did not pick one."""


@dataclass(frozen=True)
class TokenSet:
    """One OAuth2 token set. Token values are hidden from `repr`."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime
    scopes: str = ""

    @classmethod
    def from_oauth(cls, token: Mapping, *, previous_refresh: str | None = None) -> TokenSet:
        refresh = token.get("refresh_token") or previous_refresh
        if not token.get("access_token") or not refresh:
            raise AuthorizationError(
                "Xero returned no refresh token: add the `offline_access` scope to XERO_SCOPES"
            )
        if token.get("expires_at"):
            expires = datetime.fromtimestamp(int(token["expires_at"]), UTC)
        else:
            expires = datetime.now(UTC) + timedelta(seconds=int(token.get("expires_in", 1800)))
        return cls(
            token["access_token"], refresh, expires, " ".join(str(token.get("scope", "")).split())
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "expires_at": self.expires_at.isoformat(),
                "scopes": self.scopes,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> TokenSet:
        data = json.loads(text)
        return cls(
            data["access_token"],
            data["refresh_token"],
            datetime.fromisoformat(data["expires_at"]),
            data.get("scopes", ""),
        )

    def seconds_left(self, now: datetime | None = None) -> float:
        return (self.expires_at - (now or datetime.now(UTC))).total_seconds()


@dataclass(frozen=True)
class XeroTenant:
    """One row of `GET /connections`: an organisation this grant may call."""

    connection_id: str
    tenant_id: str
    tenant_name: str
    tenant_type: str = "ORGANISATION"

    def describe(self) -> str:
        return f"{self.tenant_id} ({self.tenant_name})"


# --- token endpoint (authlib) --------------------------------------------------------


def oauth_session(app: XeroAppConfig, **kwargs) -> OAuth2Session:
    """An authlib session with the app's credentials (HTTP Basic at the token endpoint)."""
    app.require_credentials()
    return OAuth2Session(
        app.client_id,
        app.client_secret,
        token_endpoint_auth_method="client_secret_basic",
        revocation_endpoint_auth_method="client_secret_basic",
        **kwargs,
    )


REFRESH_ATTEMPTS = 3
REFRESH_BACKOFF = 0.5


class _RefreshHiccup(Exception):
    """The identity server did not answer usefully (5xx, reset, timeout): worth a retry."""

    def __init__(self, reason: str):
        self.reason = reason


def refresh_tokens(
    app: XeroAppConfig,
    refresh_token: str,
    *,
    timeout: float = HTTP_TIMEOUT,
    attempts: int = REFRESH_ATTEMPTS,
    backoff: float = REFRESH_BACKOFF,
) -> TokenSet:
    """Trade a refresh token for a new token set (Xero rotates the refresh token).

    Connection errors, timeouts and 5xx are retried up to `attempts` times with
    exponential backoff and jitter: the caller holds the connection's row lock, and Xero
    still honours a refresh token for a grace period after it answered, so resending the
    same one cannot fork the grant. `invalid_grant` means the grant is gone:
    `XeroConnectionLostError`, never retried. Any other failure is a `XeroError` whose
    message names Xero's error code, never a token.
    """
    for attempt in range(1, attempts + 1):
        try:
            return _refresh_once(app, refresh_token, timeout)
        except _RefreshHiccup as exc:
            if attempt >= attempts:
                raise XeroError(
                    f"token refresh failed after {attempts} attempts: {exc.reason}"
                ) from None
            time.sleep(backoff * 2 ** (attempt - 1) + random.uniform(0, backoff))
    raise AssertionError("unreachable")  # pragma: no cover


def _refresh_once(app: XeroAppConfig, refresh_token: str, timeout: float) -> TokenSet:
    with oauth_session(app) as session:
        try:
            token = session.refresh_token(
                app.token_url, refresh_token=refresh_token, timeout=timeout
            )
        except OAuthError as exc:
            if exc.error == "invalid_grant":
                raise XeroConnectionLostError(
                    "Xero refused the refresh token: invalid_grant"
                ) from None
            raise XeroError(f"token refresh failed: {_oauth_reason(exc)}") from None
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status >= 500:
                raise _RefreshHiccup(_request_reason(exc)) from None
            raise XeroError(f"token refresh failed: {_request_reason(exc)}") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _RefreshHiccup(_request_reason(exc)) from None
        except (requests.RequestException, ValueError) as exc:
            raise XeroError(f"token refresh failed: {_request_reason(exc)}") from None
    return TokenSet.from_oauth(token, previous_refresh=refresh_token)


def revoke_refresh_token(
    app: XeroAppConfig, refresh_token: str, *, timeout: float = HTTP_TIMEOUT
) -> None:
    """Revoke the grant at `/connect/revocation` (RFC 7009)."""
    with oauth_session(app) as session:
        try:
            response = session.revoke_token(
                app.revocation_url,
                token=refresh_token,
                token_type_hint="refresh_token",
                timeout=timeout,
            )
        except requests.RequestException as exc:
            raise XeroError(f"token revocation failed: {_request_reason(exc)}") from None
    if response.status_code >= 400:
        raise XeroError(f"token revocation failed: HTTP {response.status_code}")


def _oauth_reason(exc: OAuthError) -> str:
    return exc.error or "unknown error"


def _request_reason(exc: BaseException) -> str:
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__


# --- the authorization-code flow ------------------------------------------------------


class _CallbackServer(ThreadingHTTPServer):
    daemon_threads = True
    expected_state: str
    result: dict[str, str] | None
    done: threading.Event


class _CallbackHandler(BaseHTTPRequestHandler):
    server: _CallbackServer

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != CALLBACK_PATH:
            self._reply(404, "Not found.")
            return
        params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        state = params.get("state", "")
        if not hmac.compare_digest(state.encode(), self.server.expected_state.encode()):
            self._reply(400, "This answer does not belong to the authorisation in progress.")
            return
        if self.server.result is None:
            self.server.result = params
            self.server.done.set()
        if "error" in params:
            self._reply(200, "Xero did not grant access. You can close this window.")
        else:
            # The code is not exchanged yet: only the terminal knows whether it worked.
            self._reply(200, "Authorisation received: return to the terminal to see the result.")

    def _reply(self, status: int, text: str) -> None:
        body = f"<!doctype html><title>xero-pipelines</title><p>{text}</p>".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # the query holds the code
        return


@contextmanager
def loopback_callback(port: int, state: str) -> Iterator[_CallbackServer]:
    """Listen on 127.0.0.1:`port` (0: any free port) for Xero's redirect to `/callback`."""
    try:
        server = _CallbackServer(("127.0.0.1", port), _CallbackHandler)
    except OSError as exc:
        raise AuthorizationError(
            f"cannot listen on port {port} for Xero's callback ({exc.strerror}): "
            "pass --port N and register http://localhost:N/callback in the Xero app"
        ) from None
    server.expected_state = state
    server.result = None
    server.done = threading.Event()
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def redirect_uri(port: int) -> str:
    return f"http://localhost:{port}{CALLBACK_PATH}"


def authorize(
    app: XeroAppConfig,
    *,
    port: int = DEFAULT_PORT,
    timeout: float = DEFAULT_TIMEOUT,
    open_browser: bool = True,
    echo: Callable[[str], None] = print,
    command: str = "connect",
) -> TokenSet:
    """Run the authorization-code flow with `state` and PKCE (S256); return the tokens.

    The authorize URL is passed to `echo` on a line of its own so a person (or a test)
    can follow it; the browser is opened too unless `open_browser` is false.
    """
    app.require_credentials()
    state = generate_token(32)
    verifier = generate_token(64)
    with loopback_callback(port, state) as server:
        callback = redirect_uri(server.server_address[1])
        with oauth_session(
            app, scope=app.scopes, redirect_uri=callback, code_challenge_method="S256"
        ) as session:
            url, _ = session.create_authorization_url(
                app.authorize_url, state=state, code_verifier=verifier
            )
            echo("Open this URL in a browser and allow access to your Xero organisation:")
            echo(url)
            if open_browser:
                webbrowser.open(url)
            if not server.done.wait(timeout):
                raise AuthorizationTimeoutError(
                    f"no answer from Xero within {timeout:g} s: the authorisation was abandoned; "
                    f"run `xero-pipelines {command}` again"
                )
            params = server.result or {}
            if "error" in params:
                raise AuthorizationError(f"Xero did not grant access: {params['error']}")
            if not params.get("code"):
                raise AuthorizationError("Xero's callback carried no authorization code")
            try:
                token = session.fetch_token(
                    app.token_url,
                    grant_type="authorization_code",
                    code=params["code"],
                    code_verifier=verifier,
                    redirect_uri=callback,
                    timeout=HTTP_TIMEOUT,
                )
            except OAuthError as exc:
                raise AuthorizationError(
                    f"Xero refused the authorization code: {_oauth_reason(exc)}"
                ) from None
            except (requests.RequestException, ValueError) as exc:
                raise AuthorizationError(f"code exchange failed: {_request_reason(exc)}") from None
    return TokenSet.from_oauth(token)


# --- the identity API: /connections ---------------------------------------------------


def list_connections(
    app: XeroAppConfig,
    access_token: str,
    *,
    auth_event_id: str | None = None,
    timeout: float = HTTP_TIMEOUT,
) -> list[XeroTenant]:
    """`GET /connections`: the organisations this grant may call (only those chosen in
    one consent when `auth_event_id` is given)."""
    url = app.connections_url
    if auth_event_id:
        url += "?" + urlencode({"authEventId": auth_event_id})
    response = _identity_call("GET", url, access_token, timeout)
    return [
        XeroTenant(
            connection_id=str(row.get("id", "")),
            tenant_id=str(row["tenantId"]),
            tenant_name=str(row.get("tenantName") or row["tenantId"]),
            tenant_type=str(row.get("tenantType") or "ORGANISATION"),
        )
        for row in response.json()
    ]


def auth_event_id(access_token: str) -> str | None:
    """The consent an access token came from (Xero's JWT claim), or None if unreadable.

    Read without verifying the signature: it only narrows `GET /connections` to the
    organisations the user has just picked, and Xero checks the token itself.
    """
    try:
        payload = access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    value = claims.get("authentication_event_id") if isinstance(claims, dict) else None
    return str(value) if value else None


def delete_connection(
    app: XeroAppConfig, access_token: str, connection_id: str, *, timeout: float = HTTP_TIMEOUT
) -> None:
    """`DELETE /connections/{id}`: this app may no longer call that organisation."""
    _identity_call("DELETE", f"{app.connections_url}/{connection_id}", access_token, timeout)


def _identity_call(method: str, url: str, access_token: str, timeout: float) -> requests.Response:
    path = urlsplit(url).path
    try:
        response = requests.request(
            method,
            url,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            timeout=timeout,
        )
    except requests.RequestException as exc:
        raise XeroError(f"{method} {path} failed: {_request_reason(exc)}") from None
    if response.status_code in (401, 403):
        raise XeroAuthenticationError(
            response.status_code, _error_text(response), method=method, path=path
        )
    if response.status_code >= 400:
        raise XeroApiError(response.status_code, _error_text(response), method=method, path=path)
    return response


def _error_text(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.reason or "error"
    if isinstance(data, dict):
        return str(data.get("Detail") or data.get("Title") or data.get("error") or response.reason)
    return response.reason or "error"


def choose_tenant(tenants: Sequence[XeroTenant], wanted: str | None) -> XeroTenant:
    """The organisation to connect: the only one, or the one `wanted` names (id or name)."""
    if not tenants:
        raise TenantChoiceError(
            "the authorisation covers no Xero organisation: connect again and pick one"
        )
    listing = "; ".join(t.describe() for t in tenants)
    if wanted:
        key = wanted.strip().lower()
        matches = [t for t in tenants if key in (t.tenant_id.lower(), t.tenant_name.lower())]
        if len(matches) == 1:
            return matches[0]
        raise TenantChoiceError(
            f"no single organisation matches --tenant {wanted}; authorised: {listing}"
        )
    if len(tenants) > 1:
        raise TenantChoiceError(
            f"several organisations are authorised, pick one with --tenant ID: {listing}"
        )
    return tenants[0]
