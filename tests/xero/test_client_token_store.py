"""`XeroClient` over the production `TokenStore` (encrypted tokens in the database), on
SQLite and PostgreSQL, connected through the real authorization flow against the sandbox.

The client tests in `test_client.py` use the `SandboxTokens` test provider; these repeat the
token behaviours that matter with the store that production runs use.
"""

from __future__ import annotations

import time
import uuid

import pytest
from cryptography.fernet import Fernet

from tests.xero.connect_helpers import (
    connect_flow,
    connection_row,
    sandbox_app,
    stored_tokens,
    token_calls,
)
from xero_pipelines.xero.client import XeroClient
from xero_pipelines.xero.connection import status
from xero_pipelines.xero.crypto import TokenCipher
from xero_pipelines.xero.errors import (
    RECONNECT_HINT,
    XeroAuthenticationError,
    XeroConnectionLostError,
    XeroNotFoundError,
    XeroTokenExpiredError,
    XeroValidationError,
)
from xero_pipelines.xero.pacing import Pacer
from xero_pipelines.xero.tokens import TokenStore

CONTACTS = "GET /api.xro/2.0/Contacts"
ALL = {"includeArchived": "true"}


@pytest.fixture
def cipher() -> TokenCipher:
    return TokenCipher(Fernet.generate_key())


@pytest.fixture
def app(sandbox):
    return sandbox_app(sandbox.url)


@pytest.fixture
def store(db_engine, app, cipher, sandbox) -> TokenStore:
    connect_flow(db_engine, app, cipher)
    return TokenStore(db_engine, app, cipher)


def make_client(sandbox, store: TokenStore, **kw) -> XeroClient:
    kw.setdefault("pacer", Pacer())
    return XeroClient(sandbox.url, store, backoff_base=0.01, backoff_max=0.1, timeout=10, **kw)


@pytest.fixture
def client(sandbox, store) -> XeroClient:
    return make_client(sandbox, store)


def test_token_expiring_in_the_middle_of_a_20_page_read(sandbox, client, store, db_engine, cipher):
    sandbox.seed(contacts=2000, seed=3)
    before = stored_tokens(db_engine, cipher)
    seen = 0
    for number, page in enumerate(client.iter_pages("Contacts", "Contacts", ALL, page_size=100), 1):
        seen += len(page)
        if number == 7:
            sandbox.faults(expire_tokens=True)
    assert seen == 2000
    assert store.refreshes == 1 and client.token_refreshes == 1
    stats = sandbox.stats()
    assert stats[CONTACTS] == 21  # 20 pages + the one repeated after the refresh
    assert token_calls(stats) == 2  # the code exchange and one refresh
    after = stored_tokens(db_engine, cipher)  # the rotated set was committed
    assert after.refresh_token != before.refresh_token
    assert after.access_token != before.access_token
    assert not connection_row(db_engine).needs_reconnect


def test_a_revoked_connection_gives_the_reconnect_message(
    sandbox, client, store, db_engine, app, cipher
):
    client.get("Contacts")
    sandbox.revoke_app()
    with pytest.raises(XeroConnectionLostError) as caught:
        client.get("Contacts")
    assert str(caught.value).startswith(RECONNECT_HINT)
    row = connection_row(db_engine)
    assert row.needs_reconnect and row.reconnect_reason
    token = stored_tokens(db_engine, cipher)
    assert token.access_token not in str(caught.value)
    # Every later run fails fast, before calling Xero.
    calls = sandbox.stats()
    with pytest.raises(XeroConnectionLostError, match="xero-pipelines reconnect"):
        TokenStore(db_engine, app, cipher).check()
    with pytest.raises(XeroConnectionLostError):
        client.get("Contacts")
    assert sandbox.stats() == calls


def test_a_revoked_connection_found_on_refresh_gives_the_reconnect_message(
    sandbox, client, db_engine
):
    sandbox.revoke_app()
    sandbox.faults(expire_tokens=True)
    with pytest.raises(XeroConnectionLostError) as caught:
        client.get("Contacts")
    assert str(caught.value).startswith(RECONNECT_HINT)
    assert "invalid_grant" in connection_row(db_engine).reconnect_reason


def test_a_401_that_is_not_token_expired_keeps_tokens_and_connection(
    sandbox, client, store, db_engine, cipher
):
    before = stored_tokens(db_engine, cipher)
    sandbox.faults(status=401, count=1, path="/api.xro/")
    with pytest.raises(XeroAuthenticationError) as caught:
        client.get("Contacts")
    assert "check XERO_SCOPES and run `xero-pipelines reconnect`" in str(caught.value)
    assert token_calls(sandbox.stats()) == 1  # the code exchange only: nothing rotated
    assert stored_tokens(db_engine, cipher) == before
    assert not connection_row(db_engine).needs_reconnect
    assert "Contacts" in client.get("Contacts")  # the next call just works


def test_token_expired_after_a_successful_refresh_does_not_mark_lost(sandbox, client, db_engine):
    sandbox.limits(access_token_ttl=0)
    sandbox.faults(expire_tokens=True)
    with pytest.raises(XeroTokenExpiredError):
        client.get("Contacts")
    assert not connection_row(db_engine).needs_reconnect


def test_the_token_is_taken_after_the_pacer_wait(sandbox, db_engine, app, cipher):
    """A wait for the pacer can outlast the refresh leeway: the token sent must be the one
    valid for the leeway at send time, not the one current before the wait."""
    sandbox.limits(access_token_ttl=63)
    connect_flow(db_engine, app, cipher)
    store = TokenStore(db_engine, app, cipher, leeway=61)
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # really waits: the token ages in real time
        waits.append(seconds)
        time.sleep(seconds)

    pacer = Pacer(sleep=sleep)
    client = make_client(sandbox, store, pacer=pacer)
    assert store.access_token()  # 62+ s left: no refresh due yet
    assert store.refreshes == 0
    pacer.block_for(2.5)  # e.g. after a minute 429 elsewhere in the process
    assert "Contacts" in client.get("Contacts")
    assert len(waits) == 1 and 0 < waits[0] <= 2.5  # the call waited for its turn
    assert store.refreshes == 1  # refreshed after the wait, before sending
    assert client.token_refreshes == 0  # ... and not because Xero refused a token
    assert stored_tokens(db_engine, cipher).seconds_left() > 61


def test_status_keeps_the_last_successful_call_not_the_last_error(sandbox, db_engine, app, cipher):
    connect_flow(db_engine, app, cipher)
    store = TokenStore(db_engine, app, cipher, observe_interval=0)
    client = make_client(sandbox, store)
    client.get("Contacts")
    ok = connection_row(db_engine)
    assert ok.last_call_at is not None and ok.day_limit_remaining is not None
    time.sleep(0.05)
    with pytest.raises(XeroNotFoundError):  # a 404 that carries Xero's limit headers
        client.get(f"Contacts/{uuid.uuid4()}")
    sandbox.faults(rate_limit="minute", count=1, retry_after=0)
    with pytest.raises(XeroValidationError):  # a 429 waited out, then a 400
        client.get("Contacts", {"where": "Name=="})
    store.flush()
    row = connection_row(db_engine)
    assert row.last_call_at == ok.last_call_at
    assert row.day_limit_remaining < ok.day_limit_remaining  # the limits still count
    assert status(db_engine, app, cipher, check=False).last_call_at == ok.last_call_at
    time.sleep(0.05)
    client.get("Contacts")
    store.flush()
    assert connection_row(db_engine).last_call_at > ok.last_call_at
