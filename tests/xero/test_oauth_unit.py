"""The flow's pieces that need no Xero: tenant choice, the callback's state check, timeouts."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from xero_pipelines.xero.config import XeroAppConfig
from xero_pipelines.xero.oauth import (
    AuthorizationTimeoutError,
    TenantChoiceError,
    XeroTenant,
    authorize,
    choose_tenant,
)

A = XeroTenant("c1", "11111111-1111-4111-8111-111111111111", "Alpha Ltd")
B = XeroTenant("c2", "22222222-2222-4222-8222-222222222222", "Beta Ltd")
APP = XeroAppConfig(
    "client", "s3cret-value", "http://127.0.0.1:9", "http://127.0.0.1:9", "http://x"
)


def test_the_only_tenant_is_chosen():
    assert choose_tenant([A], None) == A


def test_several_tenants_need_a_choice_and_the_error_lists_them():
    with pytest.raises(TenantChoiceError) as info:
        choose_tenant([A, B], None)
    assert A.tenant_id in str(info.value) and "Beta Ltd" in str(info.value)
    assert "--tenant" in str(info.value)


def test_tenant_by_id_or_name():
    assert choose_tenant([A, B], B.tenant_id.upper()) == B
    assert choose_tenant([A, B], "alpha ltd") == A
    with pytest.raises(TenantChoiceError, match="no single organisation matches --tenant Gamma"):
        choose_tenant([A, B], "Gamma")


def test_no_tenant_at_all():
    with pytest.raises(TenantChoiceError, match="covers no Xero organisation"):
        choose_tenant([], None)


def test_app_config_hides_the_secret_and_reads_defaults():
    app = XeroAppConfig.from_env({"XERO_CLIENT_ID": "id", "XERO_CLIENT_SECRET": "s3cret-value"})
    assert "s3cret-value" not in repr(app)
    assert app.authorize_url == "https://login.xero.com/identity/connect/authorize"
    assert app.token_url == "https://identity.xero.com/connect/token"
    assert app.connections_url == "https://api.xero.com/connections"
    assert "offline_access" in app.scope_list and "accounting.invoices" in app.scope_list


def test_an_abandoned_flow_times_out_and_a_forged_callback_is_refused():
    lines: list[str] = []
    got_url = threading.Event()
    outcome: dict[str, BaseException] = {}

    def echo(line: str) -> None:
        lines.append(line)
        if line.startswith("http"):
            got_url.set()

    def run() -> None:
        try:
            authorize(APP, port=0, timeout=1.5, open_browser=False, echo=echo)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    assert got_url.wait(5)
    url = next(line for line in lines if line.startswith("http"))
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and query["state"][0]
    callback = query["redirect_uri"][0]
    assert callback.startswith("http://localhost:") and callback.endswith("/callback")
    forged = requests.get(callback, params={"code": "x", "state": "not-the-state"}, timeout=5)
    assert forged.status_code == 400
    thread.join(10)
    error = outcome["error"]
    assert isinstance(error, AuthorizationTimeoutError)
    assert "abandoned" in str(error) and "xero-pipelines connect" in str(error)


def test_the_callback_page_does_not_claim_success_before_the_exchange():
    """The browser learns only that the answer arrived: the code exchange may still fail."""
    import requests

    from xero_pipelines.xero.oauth import loopback_callback, redirect_uri

    with loopback_callback(0, "the-state") as server:
        url = redirect_uri(server.server_address[1])
        page = requests.get(url, params={"code": "c", "state": "the-state"}, timeout=5)
    assert page.status_code == 200
    assert "return to the terminal" in page.text
    assert "Connected" not in page.text
