"""Xero's identity service: authorize (PKCE), token (code, rotating refresh), revocation.

Tokens are JWT-shaped like Xero's (HS256 with a per-process secret) so clients that peek at
`exp` or `authentication_event_id` work, but they are only ever looked up, never trusted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from .config import SandboxConfig
from .store import Store

KNOWN_SCOPES = {
    "openid",
    "profile",
    "email",
    "offline_access",
    "accounting.transactions",
    "accounting.transactions.read",
    "accounting.contacts",
    "accounting.contacts.read",
    "accounting.settings",
    "accounting.settings.read",
    "accounting.invoices",
    "accounting.invoices.read",
    "accounting.payments",
    "accounting.payments.read",
    "accounting.banktransactions",
    "accounting.banktransactions.read",
    "accounting.manualjournals",
    "accounting.manualjournals.read",
    "accounting.reports.read",
    "accounting.journals.read",
    "accounting.attachments",
    "accounting.attachments.read",
    "accounting.budgets.read",
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def utc_string(ts: float) -> str:
    """Xero's `createdDateUtc` form with 7 decimals, `2019-12-07T18:46:19.5165400Z`.

    Xero itself omits the `Z`, but its OpenAPI file declares `format: date-time`, which needs
    an offset; the spec wins so that a client written against it parses both.
    """
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


@dataclass
class Grant:
    """One consent by the (single) sandbox user: the scopes and the auth event it created."""

    grant_id: str
    client_id: str
    scope: str
    auth_event_id: str
    created: float
    revoked: bool = False


@dataclass
class AccessToken:
    grant_id: str
    issued: float
    expires: float


@dataclass
class RefreshToken:
    grant_id: str
    superseded_at: float | None = None


@dataclass
class Connection:
    id: str
    tenant_id: str
    auth_event_id: str
    created: float
    updated: float


@dataclass
class Code:
    client_id: str
    redirect_uri: str
    scope: str
    challenge: str | None
    method: str
    expires: float
    used: bool = False


@dataclass
class AuthFailure:
    """Why an API call is refused: HTTP status and the problem `Detail`/`Title`."""

    status: int
    title: str
    detail: str


@dataclass
class Identity:
    """All OAuth2 state; every method takes `lock` so request threads can call it freely."""

    config: SandboxConfig
    store: Store
    lock: threading.Lock = field(default_factory=threading.Lock)
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    codes: dict[str, Code] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    access: dict[str, AccessToken] = field(default_factory=dict)
    refresh: dict[str, RefreshToken] = field(default_factory=dict)
    connections: dict[str, Connection] = field(default_factory=dict)  # by tenant id
    expire_cutoff: float = 0.0
    user_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # Seconds the identity service's clock runs ahead of the machine's (`/_sandbox/clock`),
    # so tests cross token lifetimes and grace periods without sleeping.
    clock_offset: float = 0.0

    def reset(self) -> None:
        with self.lock:
            self.codes.clear()
            self.grants.clear()
            self.access.clear()
            self.refresh.clear()
            self.connections.clear()
            self.expire_cutoff = 0.0
            self.clock_offset = 0.0

    def now(self) -> float:
        """The identity service's time: the machine's, plus any advance asked for."""
        return time.time() + self.clock_offset

    def advance_clock(self, seconds: float) -> float:
        with self.lock:
            self.clock_offset += seconds
            return self.clock_offset

    # ---- authorize --------------------------------------------------------------------------

    def check_redirect(self, uri: str) -> bool:
        """The sandbox app has `http://localhost:PORT/...` and `http://127.0.0.1:PORT/...`."""
        try:
            parts = urlsplit(uri)
            port = parts.port
        except ValueError:
            return False
        return (
            parts.scheme == "http"
            and parts.hostname in ("localhost", "127.0.0.1")
            and port is not None
            and not parts.username
            and not parts.password
        )

    def authorize(self, params: dict[str, str]) -> tuple[str | None, str | None]:
        """Approve at once. Returns (redirect URL, None) or (None, error text for the page)."""
        if params.get("client_id") != self.config.client_id:
            return None, "unauthorized_client: Unknown client or client not enabled"
        redirect = params.get("redirect_uri", "")
        if not self.check_redirect(redirect):
            return None, "invalid_request: Invalid redirect_uri"
        if params.get("response_type") != "code":
            return None, "unsupported_response_type: Invalid response_type"
        scopes = params.get("scope", "").split()
        if not scopes or any(s not in KNOWN_SCOPES for s in scopes):
            return None, "invalid_scope: Invalid scope for client"
        challenge = params.get("code_challenge") or None
        method = params.get("code_challenge_method") or ("plain" if challenge else "")
        if challenge and method not in ("S256", "plain"):
            return None, "invalid_request: Invalid code_challenge_method"
        code = secrets.token_urlsafe(32)
        with self.lock:
            self.codes[code] = Code(
                client_id=self.config.client_id,
                redirect_uri=redirect,
                scope=" ".join(scopes),
                challenge=challenge,
                method=method,
                expires=self.now() + self.config.code_ttl,
            )
        query = {"code": code, "scope": " ".join(scopes)}
        if "state" in params:
            query["state"] = params["state"]
        sep = "&" if "?" in redirect else "?"
        return f"{redirect}{sep}{urlencode(query)}", None

    # ---- token ------------------------------------------------------------------------------

    def client_ok(self, client_id: str | None, client_secret: str | None) -> bool:
        return hmac.compare_digest(client_id or "", self.config.client_id) and hmac.compare_digest(
            client_secret or "", self.config.client_secret
        )

    def exchange_code(
        self, code: str, redirect_uri: str | None, verifier: str | None
    ) -> tuple[dict[str, Any] | None, str | None]:
        """authorization_code grant: single use, short-lived, PKCE checked."""
        now = self.now()
        with self.lock:
            c = self.codes.get(code)
            if c is None or c.used or now > c.expires:
                return None, "invalid_grant"
            c.used = True
            if redirect_uri != c.redirect_uri:  # required, and must match the authorize one
                return None, "invalid_grant"
            if c.challenge:
                if not verifier:
                    return None, "invalid_grant"
                if c.method == "S256":
                    calc = _b64(hashlib.sha256(verifier.encode()).digest())
                else:
                    calc = verifier
                if not hmac.compare_digest(calc, c.challenge):
                    return None, "invalid_grant"
            grant = Grant(
                grant_id=str(uuid.uuid4()),
                client_id=c.client_id,
                scope=c.scope,
                auth_event_id=str(uuid.uuid4()),
                created=now,
            )
            self.grants[grant.grant_id] = grant
            for tenant in self.store.tenants.values():
                conn = self.connections.get(tenant.tenant_id)
                if conn is None:
                    self.connections[tenant.tenant_id] = Connection(
                        id=str(uuid.uuid4()),
                        tenant_id=tenant.tenant_id,
                        auth_event_id=grant.auth_event_id,
                        created=now,
                        updated=now,
                    )
                else:
                    conn.auth_event_id = grant.auth_event_id
                    conn.updated = now
            return self._issue(grant, now), None

    def refresh_grant(self, token: str) -> tuple[dict[str, Any] | None, str | None]:
        """refresh_token grant: rotates; the old token lives on for the grace period only."""
        now = self.now()
        with self.lock:
            rt = self.refresh.get(token)
            if rt is None:
                return None, "invalid_grant"
            grant = self.grants.get(rt.grant_id)
            if grant is None or grant.revoked:
                return None, "invalid_grant"
            if rt.superseded_at is not None and now > rt.superseded_at + self.config.refresh_grace:
                del self.refresh[token]
                return None, "invalid_grant"
            if rt.superseded_at is None:
                rt.superseded_at = now
            return self._issue(grant, now), None

    def _jwt(self, claims: dict[str, Any]) -> str:
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "sandbox"}).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        sig = _b64(hmac.new(self.secret, f"{header}.{body}".encode(), hashlib.sha256).digest())
        return f"{header}.{body}.{sig}"

    def _issue(self, grant: Grant, now: float) -> dict[str, Any]:
        ttl = self.config.access_token_ttl
        scopes = grant.scope.split()
        at = self._jwt(
            {
                "nbf": int(now),
                "exp": int(now + ttl),
                "iss": "https://identity.xero.com",
                "aud": "https://identity.xero.com/resources",
                "client_id": grant.client_id,
                "sub": self.user_id.replace("-", ""),
                "auth_time": int(grant.created),
                "xero_userid": self.user_id,
                "authentication_event_id": grant.auth_event_id,
                "jti": secrets.token_hex(16),
                "scope": scopes,
            }
        )
        self.access[at] = AccessToken(grant.grant_id, now, now + ttl)
        out: dict[str, Any] = {
            "access_token": at,
            "expires_in": int(ttl),
            "token_type": "Bearer",
            "scope": grant.scope,
        }
        if "offline_access" in scopes:
            rt = secrets.token_urlsafe(32)
            self.refresh[rt] = RefreshToken(grant.grant_id)
            out["refresh_token"] = rt
        if "openid" in scopes:
            out["id_token"] = self._jwt(
                {
                    "nbf": int(now),
                    "exp": int(now + 300),
                    "iss": "https://identity.xero.com",
                    "aud": grant.client_id,
                    "iat": int(now),
                    "at_hash": _b64(secrets.token_bytes(16)),
                    "sub": self.user_id.replace("-", ""),
                    "xero_userid": self.user_id,
                    "given_name": "Sandbox",
                    "family_name": "User",
                    "email": "sandbox@example.com",
                    "preferred_username": "sandbox@example.com",
                    "session_state": secrets.token_hex(8),
                }
            )
        return out

    def revoke(self, token: str) -> None:
        """Revoking a refresh token ends its grant and removes that consent's connections."""
        with self.lock:
            rt = self.refresh.get(token)
            if rt is None:
                return
            grant = self.grants.get(rt.grant_id)
            if grant is None:
                return
            grant.revoked = True
            for t in [t for t, v in self.refresh.items() if v.grant_id == grant.grant_id]:
                del self.refresh[t]
            for tid in [
                k for k, c in self.connections.items() if c.auth_event_id == grant.auth_event_id
            ]:
                del self.connections[tid]

    def revoke_app(self) -> None:
        """The user removed the app inside Xero: no connections, no usable refresh tokens."""
        with self.lock:
            for g in self.grants.values():
                g.revoked = True
            self.refresh.clear()
            self.connections.clear()

    def expire_all(self) -> None:
        """Every access token issued so far now answers 401 TokenExpired."""
        with self.lock:
            self.expire_cutoff = self.now()

    # ---- API access -------------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> tuple[Grant | None, AuthFailure | None]:
        """Check a `Bearer` header: 401 problem-details for a missing, bad or expired token."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return None, AuthFailure(401, "Unauthorized", "AuthenticationUnsuccessful")
        token = authorization[7:].strip()
        now = self.now()
        with self.lock:
            at = self.access.get(token)
            if at is None:
                return None, AuthFailure(401, "Unauthorized", "AuthenticationUnsuccessful")
            if now >= at.expires or at.issued <= self.expire_cutoff:
                ended = min(at.expires, max(self.expire_cutoff, at.issued))
                when = datetime.fromtimestamp(ended, UTC).strftime("%m/%d/%Y %H:%M:%S")
                return None, AuthFailure(
                    401, "Unauthorized", f"TokenExpired: token expired at {when}"
                )
            grant = self.grants.get(at.grant_id)
            if grant is None or grant.revoked:
                return None, AuthFailure(403, "Forbidden", "AuthenticationUnsuccessful")
            return grant, None

    def tenant_allowed(self, tenant_id: str | None) -> bool:
        if not tenant_id:
            return False
        with self.lock:
            return tenant_id.strip().lower() in self.connections

    def list_connections(self, auth_event_id: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            out = []
            for c in self.connections.values():
                tenant = self.store.tenant(c.tenant_id)
                if tenant is None or (auth_event_id and c.auth_event_id != auth_event_id):
                    continue
                out.append(
                    {
                        "id": c.id,
                        "authEventId": c.auth_event_id,
                        "tenantId": c.tenant_id,
                        "tenantType": "ORGANISATION",
                        "tenantName": tenant.name,
                        "createdDateUtc": utc_string(c.created),
                        "updatedDateUtc": utc_string(c.updated),
                    }
                )
            return out

    def delete_connection(self, connection_id: str) -> bool:
        with self.lock:
            for tid, c in list(self.connections.items()):
                if c.id == connection_id.lower():
                    del self.connections[tid]
                    return True
            return False

    def live_refresh_tokens(self) -> int:
        now = self.now()
        with self.lock:
            return sum(
                1
                for rt in self.refresh.values()
                if rt.superseded_at is None or now <= rt.superseded_at + self.config.refresh_grace
            )


def error_page(message: str) -> str:
    """The page Xero shows when an authorize request is wrong: no code is issued."""
    return (
        "<!doctype html><html><head><title>Xero | Error</title></head><body>"
        f"<h1>Sorry, something went wrong</h1><p>Error: {html.escape(message)}</p></body></html>"
    )
