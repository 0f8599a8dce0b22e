"""OAuth2 against the sandbox over HTTP: PKCE, single-use codes, rotation, grace, revocation."""

from __future__ import annotations

import base64
import hashlib
import time
from urllib.parse import parse_qs, urlsplit

import requests

from tests.fixtures.sandbox import REDIRECT_URI, SandboxClient

SCOPE = "openid offline_access accounting.contacts accounting.settings.read"


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _authorize(sb: SandboxClient, verifier: str = "v" * 50, **over: str) -> requests.Response:
    params = {
        "response_type": "code",
        "client_id": "sandbox",
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
        "state": "st-1",
        "code_challenge": _challenge(verifier),
        "code_challenge_method": "S256",
        **over,
    }
    return requests.get(
        f"{sb.url}/identity/connect/authorize", params=params, allow_redirects=False, timeout=10
    )


def _code(sb: SandboxClient, verifier: str = "v" * 50) -> str:
    r = _authorize(sb, verifier)
    assert r.status_code == 302
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert query["state"] == ["st-1"]
    return query["code"][0]


def _token(
    sb: SandboxClient, auth: tuple[str, str] | None = ("sandbox", "sandbox"), **form: str
) -> requests.Response:
    return requests.post(f"{sb.url}/connect/token", data=form, auth=auth, timeout=10)


def _exchange(
    sb: SandboxClient,
    code: str,
    verifier: str = "v" * 50,
    auth: tuple[str, str] | None = ("sandbox", "sandbox"),
    **form: str,
) -> requests.Response:
    """The authorization-code grant as a client sends it; `form` adds or replaces fields."""
    fields = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
        **form,
    }
    return _token(sb, auth, **fields)


def test_authorize_redirects_with_code_and_state(sandbox: SandboxClient) -> None:
    r = _authorize(sandbox)
    assert r.status_code == 302
    loc = urlsplit(r.headers["location"])
    assert f"{loc.scheme}://{loc.netloc}{loc.path}" == REDIRECT_URI
    assert parse_qs(loc.query)["code"][0]


def test_authorize_refuses_wrong_client_and_foreign_redirect(sandbox: SandboxClient) -> None:
    for over in (
        {"client_id": "nope"},
        {"redirect_uri": "https://evil.example.com/cb"},
        {"redirect_uri": "http://192.168.1.5:8000/cb"},
        {"scope": "accounting.everything"},
        {"redirect_uri": "http://localhost/cb"},
        {"redirect_uri": "http://user@localhost:80@evil.example.com/cb"},
        {"redirect_uri": "https://localhost:8765/cb"},
        {"response_type": "token"},
    ):
        r = _authorize(sandbox, **over)
        assert r.status_code == 400, over
        assert "location" not in r.headers
        assert "code=" not in r.text
    assert _authorize(sandbox, redirect_uri="http://127.0.0.1:5123/x").status_code == 302


def test_code_exchange_checks_pkce_and_is_single_use(sandbox: SandboxClient) -> None:
    code = _code(sandbox)
    bad = _exchange(sandbox, code, "w" * 50)
    assert bad.status_code == 400 and bad.json() == {"error": "invalid_grant"}
    # a failed attempt burns the code too
    again = _exchange(sandbox, code)
    assert again.json()["error"] == "invalid_grant"
    code = _code(sandbox)
    ok = _exchange(sandbox, code)
    assert ok.status_code == 200
    body = ok.json()
    assert set(body) == {
        "access_token",
        "refresh_token",
        "expires_in",
        "token_type",
        "scope",
        "id_token",
    }
    assert body["expires_in"] == 1800 and body["token_type"] == "Bearer"
    replay = _exchange(sandbox, code)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"


def test_code_expires(sandbox: SandboxClient) -> None:
    sandbox.limits(code_ttl=0)
    code = _code(sandbox)
    time.sleep(0.01)
    r = _exchange(sandbox, code)
    assert r.json()["error"] == "invalid_grant"


def test_client_auth_basic_or_form_and_wrong_secret(sandbox: SandboxClient) -> None:
    code = _code(sandbox)
    r = _exchange(sandbox, code, auth=None, client_id="sandbox", client_secret="sandbox")
    assert r.status_code == 200
    bad = _token(
        sandbox,
        auth=("sandbox", "wrong"),
        grant_type="refresh_token",
        refresh_token=r.json()["refresh_token"],
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_client"
    assert _token(sandbox, grant_type="password").json()["error"] == "unsupported_grant_type"


def test_refresh_rotates_and_old_token_has_grace_then_invalid_grant(sandbox: SandboxClient) -> None:
    first = sandbox.connect().tokens
    second = _token(sandbox, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    assert second.json()["access_token"] != first["access_token"]
    # within the grace period the old refresh token still works
    again = _token(sandbox, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert again.status_code == 200
    sandbox.limits(refresh_grace=0)
    time.sleep(0.01)
    late = _token(sandbox, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"
    # the newest one is still good
    newest = _token(
        sandbox, grant_type="refresh_token", refresh_token=second.json()["refresh_token"]
    )
    assert newest.status_code == 200
    assert (
        _token(sandbox, grant_type="refresh_token", refresh_token="made-up").json()["error"]
        == "invalid_grant"
    )


def test_grace_period_boundary_on_the_identity_clock(sandbox: SandboxClient) -> None:
    """The grace period crossed on the sandbox's identity clock (the test above only switches
    the grace off): the old refresh token still works inside it, even twice, and is
    invalid_grant once it has passed; no sleep, no reading of the test machine's clock."""
    sandbox.limits(refresh_grace=60)
    first = sandbox.connect().tokens
    second = _token(sandbox, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200
    sandbox.advance_clock(59)
    for _ in range(2):
        inside = _token(sandbox, grant_type="refresh_token", refresh_token=first["refresh_token"])
        assert inside.status_code == 200, inside.text
    sandbox.advance_clock(2)
    late = _token(sandbox, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"
    # the rotated token was never superseded, so it has no grace clock and still works
    newest = _token(
        sandbox, grant_type="refresh_token", refresh_token=second.json()["refresh_token"]
    )
    assert newest.status_code == 200


def test_access_token_expiry_gives_problem_details(sandbox: SandboxClient) -> None:
    sandbox.limits(access_token_ttl=1)
    conn = sandbox.connect()
    assert conn.tokens["expires_in"] == 1
    url = f"{sandbox.url}/api.xro/2.0/Contacts"
    assert requests.get(url, headers=conn.headers(), timeout=10).status_code == 200
    time.sleep(1.05)
    r = requests.get(url, headers=conn.headers(), timeout=10)
    assert r.status_code == 401
    body = r.json()
    assert body["Title"] == "Unauthorized" and body["Status"] == 401
    assert body["Detail"].startswith("TokenExpired")
    fresh = _token(sandbox, grant_type="refresh_token", refresh_token=conn.refresh_token).json()
    headers = {**conn.headers(), "Authorization": f"Bearer {fresh['access_token']}"}
    assert requests.get(url, headers=headers, timeout=10).status_code == 200


def test_missing_or_unknown_bearer_is_401(sandbox: SandboxClient) -> None:
    conn = sandbox.connect()
    url = f"{sandbox.url}/api.xro/2.0/Contacts"
    headers = conn.headers()
    del headers["Authorization"]
    assert requests.get(url, headers=headers, timeout=10).status_code == 401
    headers["Authorization"] = "Bearer nonsense"
    r = requests.get(url, headers=headers, timeout=10)
    assert r.status_code == 401 and r.json()["Detail"] == "AuthenticationUnsuccessful"


def test_revocation_kills_refresh_token_and_connections(sandbox: SandboxClient) -> None:
    conn = sandbox.connect()
    r = requests.post(
        f"{sandbox.url}/connect/revocation",
        data={"token": conn.refresh_token},
        auth=("sandbox", "sandbox"),
        timeout=10,
    )
    assert r.status_code == 200
    late = _token(sandbox, grant_type="refresh_token", refresh_token=conn.refresh_token)
    assert late.json()["error"] == "invalid_grant"
    r = requests.get(f"{sandbox.url}/api.xro/2.0/Contacts", headers=conn.headers(), timeout=10)
    assert r.status_code == 403
    assert sandbox.state()["live_refresh_tokens"] == 0


def test_connections_list_and_delete_then_403(sandbox: SandboxClient) -> None:
    conn = sandbox.connect()
    auth = {"Authorization": f"Bearer {conn.access_token}"}
    conns = requests.get(f"{sandbox.url}/connections", headers=auth, timeout=10).json()
    assert [c["tenantName"] for c in conns] == ["Demo Company (Sandbox)"]
    assert conns[0]["tenantType"] == "ORGANISATION"
    assert conns[0]["authEventId"] == conns[0]["authEventId"]
    r = requests.delete(f"{sandbox.url}/connections/{conns[0]['id']}", headers=auth, timeout=10)
    assert r.status_code == 204
    again = requests.delete(f"{sandbox.url}/connections/{conns[0]['id']}", headers=auth, timeout=10)
    assert again.status_code == 404
    r = requests.get(f"{sandbox.url}/api.xro/2.0/Contacts", headers=conn.headers(), timeout=10)
    assert r.status_code == 403
    assert r.json()["Detail"] == "AuthenticationUnsuccessful"
    assert requests.get(f"{sandbox.url}/connections", headers=auth, timeout=10).json() == []
    # consenting again restores access
    conn2 = sandbox.connect()
    r = requests.get(f"{sandbox.url}/api.xro/2.0/Contacts", headers=conn2.headers(), timeout=10)
    assert r.status_code == 200


def test_revoke_app_in_xero(sandbox: SandboxClient) -> None:
    conn = sandbox.connect()
    sandbox.revoke_app()
    r = requests.get(f"{sandbox.url}/api.xro/2.0/Contacts", headers=conn.headers(), timeout=10)
    assert r.status_code == 403
    assert (
        _token(sandbox, grant_type="refresh_token", refresh_token=conn.refresh_token).json()[
            "error"
        ]
        == "invalid_grant"
    )


def test_multiple_tenants_are_isolated(sandbox: SandboxClient) -> None:
    other = sandbox.add_tenant("Other Org Ltd")
    sandbox.seed(contacts=5, invoices=0, seed=3)
    conn = sandbox.connect()
    assert {c["tenantName"] for c in conn.connections} == {
        "Demo Company (Sandbox)",
        "Other Org Ltd",
    }
    url = f"{sandbox.url}/api.xro/2.0/Contacts"
    assert len(requests.get(url, headers=conn.headers(), timeout=10).json()["Contacts"]) == 5
    assert requests.get(url, headers=conn.headers(other), timeout=10).json()["Contacts"] == []
    r = requests.put(url, json={"Name": "Only In Other"}, headers=conn.headers(other), timeout=10)
    assert r.status_code == 200
    cid = r.json()["Contacts"][0]["ContactID"]
    assert requests.get(f"{url}/{cid}", headers=conn.headers(), timeout=10).status_code == 404
    assert requests.get(f"{url}/{cid}", headers=conn.headers(other), timeout=10).status_code == 200
    # unknown or missing tenant id → 403
    assert (
        requests.get(
            url, headers=conn.headers("00000000-0000-0000-0000-000000000000"), timeout=10
        ).status_code
        == 403
    )
    headers = conn.headers()
    del headers["xero-tenant-id"]
    assert requests.get(url, headers=headers, timeout=10).status_code == 403


def test_tenant_added_after_consent_needs_new_consent(sandbox: SandboxClient) -> None:
    conn = sandbox.connect()
    other = sandbox.add_tenant("Late Org")
    url = f"{sandbox.url}/api.xro/2.0/Contacts"
    assert requests.get(url, headers=conn.headers(other), timeout=10).status_code == 403
    conn2 = sandbox.connect()
    assert requests.get(url, headers=conn2.headers(other), timeout=10).status_code == 200


def test_code_exchange_needs_the_same_redirect_uri(sandbox: SandboxClient) -> None:
    code = _code(sandbox)
    r = _token(sandbox, grant_type="authorization_code", code=code, code_verifier="v" * 50)
    assert r.json()["error"] == "invalid_grant"
    code = _code(sandbox)
    r = _exchange(sandbox, code, redirect_uri="http://localhost:9999/other")
    assert r.json()["error"] == "invalid_grant"


def test_identity_clock_refuses_what_is_not_a_step_forward(sandbox: SandboxClient) -> None:
    for body in ({}, {"advance": -1}, {"advance": "60"}, {"advance": True}):
        r = requests.post(f"{sandbox.url}/_sandbox/clock", json=body, timeout=10)
        assert r.status_code == 400, body
        assert "advance" in r.json()["error"]
    assert sandbox.advance_clock(30) == 30
    sandbox.reset()
    assert sandbox.advance_clock(1) == 1  # a reset puts the clock back
