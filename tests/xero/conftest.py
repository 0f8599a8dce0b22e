"""A `TokenProvider` that gets REAL tokens from the sandbox and refreshes them for real.

It is a test helper, not a mock: the authorize redirect, the code exchange, the refresh and
`/connections` all go over HTTP, so the client under test meets the sandbox's real 401s.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from xero_pipelines.xero.client import XeroClient
from xero_pipelines.xero.errors import XeroConnectionLostError
from xero_pipelines.xero.pacing import Pacer
from xero_pipelines.xero.protocols import LimitSnapshot

REDIRECT_URI = "http://localhost:8765/callback"
SCOPES = "openid offline_access accounting.contacts accounting.invoices accounting.settings.read"


class SandboxTokens:
    """Authorization-code + PKCE against the sandbox, then refresh-token rotation."""

    def __init__(self, url: str, tenant_name: str | None = None):
        self.url = url
        self.refreshes = 0
        self.lost: list[str] = []
        self.observed: list[LimitSnapshot] = []
        self._lock = threading.Lock()
        self._access, self._refresh = self._authorize()
        self._tenant = self._pick_tenant(tenant_name)

    def _authorize(self) -> tuple[str, str]:
        verifier = secrets.token_urlsafe(48)
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        state = secrets.token_urlsafe(8)
        resp = requests.get(
            f"{self.url}/identity/connect/authorize",
            params={
                "response_type": "code",
                "client_id": "sandbox",
                "redirect_uri": REDIRECT_URI,
                "scope": SCOPES,
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
            allow_redirects=False,
            timeout=10,
        )
        assert resp.status_code == 302, resp.text
        query = parse_qs(urlsplit(resp.headers["Location"]).query)
        assert query["state"] == [state]
        return self._token_call(
            grant_type="authorization_code",
            code=query["code"][0],
            redirect_uri=REDIRECT_URI,
            code_verifier=verifier,
        )

    def _token_call(self, **form: str) -> tuple[str, str]:
        resp = requests.post(
            f"{self.url}/connect/token", data=form, auth=("sandbox", "sandbox"), timeout=10
        )
        if resp.status_code != 200:
            # As the real TokenStore does: a refused grant is flagged, then reported as lost.
            reason = f"refresh refused: {resp.json().get('error', resp.status_code)}"
            self.mark_lost(reason)
            raise XeroConnectionLostError(reason)
        body = resp.json()
        return body["access_token"], body["refresh_token"]

    def _pick_tenant(self, name: str | None) -> str:
        resp = requests.get(
            f"{self.url}/connections",
            headers={"Authorization": f"Bearer {self._access}"},
            timeout=10,
        )
        resp.raise_for_status()
        conns = resp.json()
        if name is not None:
            conns = [c for c in conns if c["tenantName"] == name]
        return conns[0]["tenantId"]

    # ---- TokenProvider ----

    @property
    def tenant_id(self) -> str:
        return self._tenant

    def access_token(self) -> str:
        if self.lost:
            raise XeroConnectionLostError(self.lost[-1])
        return self._access

    def refresh_after_rejection(self, rejected_token: str) -> str:
        with self._lock:
            if rejected_token != self._access:
                return self._access  # another thread refreshed already
            self._access, self._refresh = self._token_call(
                grant_type="refresh_token", refresh_token=self._refresh
            )
            self.refreshes += 1
            return self._access

    def mark_lost(self, reason: str) -> None:
        self.lost.append(reason)

    def observe(self, limits: LimitSnapshot) -> None:
        self.observed.append(limits)

    def __repr__(self) -> str:
        return f"SandboxTokens({self.url!r}, tenant={self._tenant!r})"


@pytest.fixture
def tokens(sandbox) -> SandboxTokens:
    return SandboxTokens(sandbox.url)


@pytest.fixture
def make_client(sandbox, tokens) -> Callable[..., XeroClient]:
    """A client on the sandbox with a fresh pacer and short backoff (fast tests)."""

    def make(**kw) -> XeroClient:
        kw.setdefault("pacer", Pacer())
        kw.setdefault("backoff_base", 0.01)
        kw.setdefault("backoff_max", 0.1)
        kw.setdefault("timeout", 10)
        return XeroClient(sandbox.url, kw.pop("tokens", tokens), **kw)

    return make


@pytest.fixture
def client(make_client) -> XeroClient:
    return make_client()
