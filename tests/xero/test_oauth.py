"""The OAuth2 protocol against the sandbox over HTTP: PKCE code flow, refresh, revocation,
`/connections`, and the flow's failure modes."""

from __future__ import annotations

import socket
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.xero.connect_helpers import Browser, sandbox_app, token_calls
from xero_pipelines.xero.config import XeroAppConfig, XeroConfigError
from xero_pipelines.xero.errors import XeroConnectionLostError, XeroError
from xero_pipelines.xero.oauth import (
    AuthorizationError,
    auth_event_id,
    authorize,
    delete_connection,
    list_connections,
    refresh_tokens,
    revoke_refresh_token,
)


@pytest.fixture
def app(sandbox):
    return sandbox_app(sandbox.url)


def test_code_flow_with_pkce_refresh_and_revocation(app, sandbox):
    browser = Browser()
    tokens = authorize(app, port=0, timeout=20, open_browser=False, echo=browser)
    query = parse_qs(urlsplit(browser.urls[0]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["scope"][0].split() == app.scopes.split()
    assert tokens.expires_at > datetime.now(UTC)
    assert set(tokens.scopes.split()) == set(app.scopes.split())
    assert "access_token" not in repr(tokens) and tokens.access_token not in repr(tokens)

    [tenant] = list_connections(app, tokens.access_token)
    assert tenant.tenant_name == "Demo Company (Sandbox)" and tenant.connection_id

    rotated = refresh_tokens(app, tokens.refresh_token)
    assert rotated.refresh_token != tokens.refresh_token
    assert list_connections(app, rotated.access_token)

    revoke_refresh_token(app, rotated.refresh_token)
    with pytest.raises(XeroConnectionLostError, match="invalid_grant"):
        refresh_tokens(app, rotated.refresh_token)
    assert token_calls(sandbox.stats()) == 3


def test_delete_connection(app):
    tokens = authorize(app, port=0, timeout=20, open_browser=False, echo=Browser())
    [tenant] = list_connections(app, tokens.access_token)
    delete_connection(app, tokens.access_token, tenant.connection_id)
    assert list_connections(app, tokens.access_token) == []


def test_access_denied_in_xero(app):
    def deny(line: str) -> None:
        if line.startswith("http"):
            query = parse_qs(urlsplit(line).query)
            callback = query["redirect_uri"][0]
            requests.get(
                callback, params={"error": "access_denied", "state": query["state"][0]}, timeout=5
            )

    with pytest.raises(AuthorizationError, match="Xero did not grant access: access_denied"):
        authorize(app, port=0, timeout=20, open_browser=False, echo=deny)


def test_without_offline_access_there_is_no_refresh_token(app):
    narrow = replace(app, scopes="openid accounting.contacts")
    with pytest.raises(AuthorizationError, match="add the `offline_access` scope"):
        authorize(narrow, port=0, timeout=20, open_browser=False, echo=Browser())


def test_wrong_client_secret(app):
    wrong = replace(app, client_secret="not-it")
    with pytest.raises(AuthorizationError, match="invalid_client"):
        authorize(wrong, port=0, timeout=20, open_browser=False, echo=Browser())


def test_port_in_use(app):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(AuthorizationError, match=f"cannot listen on port {port}.*--port N"):
            authorize(app, port=port, timeout=5, open_browser=False, echo=Browser())


def test_missing_credentials():
    with pytest.raises(XeroConfigError, match="XERO_CLIENT_ID and XERO_CLIENT_SECRET not set"):
        authorize(XeroAppConfig.from_env({}), port=0, timeout=1, open_browser=False)


def test_connections_of_one_consent(app):
    tokens = authorize(app, port=0, timeout=20, open_browser=False, echo=Browser())
    event = auth_event_id(tokens.access_token)
    assert event and len(event) == 36
    assert len(list_connections(app, tokens.access_token, auth_event_id=event)) == 1
    other = "00000000-0000-4000-8000-000000000000"
    assert list_connections(app, tokens.access_token, auth_event_id=other) == []
    assert auth_event_id("opaque-token") is None


def test_refresh_survives_identity_server_503s(app, sandbox):
    tokens = authorize(app, port=0, timeout=20, open_browser=False, echo=Browser())
    sandbox.faults(status=503, count=2, path="/connect/token")
    rotated = refresh_tokens(app, tokens.refresh_token, backoff=0.01)
    assert rotated.refresh_token != tokens.refresh_token
    assert list_connections(app, rotated.access_token)
    assert token_calls(sandbox.stats()) == 4  # the code exchange, two 503s, the refresh


def test_refresh_gives_up_after_bounded_retries(app, sandbox):
    tokens = authorize(app, port=0, timeout=20, open_browser=False, echo=Browser())
    sandbox.faults(status=503, count=10, path="/connect/token")
    with pytest.raises(XeroError, match="token refresh failed after 3 attempts: HTTP 503") as c:
        refresh_tokens(app, tokens.refresh_token, backoff=0.01)
    assert not isinstance(c.value, XeroConnectionLostError)
    assert token_calls(sandbox.stats()) == 1 + 3


def test_refresh_retries_a_connection_error(app):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    nowhere = replace(app, identity_url=f"http://127.0.0.1:{port}")
    started = datetime.now(UTC)
    with pytest.raises(XeroError, match="after 3 attempts: ConnectionError"):
        refresh_tokens(nowhere, "whatever", backoff=0.2)
    assert (datetime.now(UTC) - started).total_seconds() >= 0.6  # 0.2 + 0.4: it did retry


def test_invalid_grant_is_never_retried(app, sandbox):
    with pytest.raises(XeroConnectionLostError, match="invalid_grant"):
        refresh_tokens(app, "not-a-refresh-token", backoff=0.01)
    assert token_calls(sandbox.stats()) == 1
