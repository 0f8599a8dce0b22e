"""The token store against the sandbox over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import multiprocessing
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet

from tests.xero.connect_helpers import (
    age_tokens,
    connect_flow,
    connection_row,
    sandbox_app,
    stored_tokens,
    token_calls,
)
from xero_pipelines.db import create_db_engine
from xero_pipelines.xero.crypto import TokenCipher
from xero_pipelines.xero.errors import (
    RECONNECT_HINT,
    XeroConnectionLostError,
    XeroNotConnectedError,
)
from xero_pipelines.xero.oauth import list_connections
from xero_pipelines.xero.protocols import LimitSnapshot
from xero_pipelines.xero.tokens import TokenStore


@pytest.fixture
def key() -> bytes:
    return Fernet.generate_key()


@pytest.fixture
def cipher(key) -> TokenCipher:
    return TokenCipher(key)


@pytest.fixture
def app(sandbox):
    return sandbox_app(sandbox.url)


@pytest.fixture
def connected(db_engine, app, cipher):
    return connect_flow(db_engine, app, cipher)


def test_not_connected(db_engine, app, cipher):
    with pytest.raises(XeroNotConnectedError, match="run `xero-pipelines connect`"):
        TokenStore(db_engine, app, cipher).access_token()


def test_a_valid_token_is_reused_without_refreshing(db_engine, app, cipher, connected, sandbox):
    store = TokenStore(db_engine, app, cipher)
    assert store.tenant_id == connected.tenant_id
    first = store.access_token()
    assert store.access_token() == first
    assert token_calls(sandbox.stats()) == 1  # the code exchange only
    assert store.refreshes == 0


def test_a_token_close_to_expiry_is_refreshed_and_committed(
    db_engine, app, cipher, connected, sandbox
):
    before = age_tokens(db_engine, cipher, seconds_left=30)  # inside the 60 s leeway
    store = TokenStore(db_engine, app, cipher)
    token = store.access_token()
    after = stored_tokens(db_engine, cipher)
    assert token == after.access_token != before.access_token
    assert after.refresh_token != before.refresh_token  # rotated and stored
    assert after.expires_at > datetime.now(UTC)
    assert connection_row(db_engine).access_token_expires_at == after.expires_at
    assert [t.tenant_id for t in list_connections(app, token)] == [connected.tenant_id]
    assert token_calls(sandbox.stats()) == 2


def test_token_expired_answer_refreshes_once(db_engine, app, cipher, connected, sandbox):
    store = TokenStore(db_engine, app, cipher)
    old = store.access_token()
    sandbox.faults(expire_tokens=True)
    new = store.refresh_after_rejection(old)
    assert new != old
    assert store.refresh_after_rejection(old) == new  # a second 401 for the old token
    other = TokenStore(db_engine, app, cipher)  # another run still holding the old token
    assert other.refresh_after_rejection(old) == new
    assert token_calls(sandbox.stats()) == 2
    assert list_connections(app, new)


def _refresh_in_process(db_url, api_url, key, barrier, queue, rejected) -> None:
    engine = create_db_engine(db_url)
    app = sandbox_app(api_url)
    store = TokenStore(engine, app, TokenCipher(key))
    try:
        store.tenant_id  # noqa: B018 - load the (stale) tokens before the race
        barrier.wait(30)
        token = store.refresh_after_rejection(rejected) if rejected else store.access_token()
        queue.put(("ok", token, len(list_connections(app, token))))
    except Exception as exc:
        queue.put(("error", f"{type(exc).__name__}: {exc}", 0))
    finally:
        engine.dispose()


@pytest.mark.parametrize("trigger", ["expiry", "rejection"])
def test_two_processes_refreshing_at_once_end_with_one_token_set(
    db_url, db_engine, app, key, cipher, connected, sandbox, trigger
):
    if trigger == "expiry":
        age_tokens(db_engine, cipher)
        rejected = None
    else:
        rejected = stored_tokens(db_engine, cipher).access_token
        sandbox.faults(expire_tokens=True)
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(
            target=_refresh_in_process, args=(db_url, sandbox.url, key, barrier, queue, rejected)
        )
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=90) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert [r[0] for r in results] == ["ok", "ok"], results
    tokens = {r[1] for r in results}
    assert len(tokens) == 1  # both use the one new token set
    assert tokens == {stored_tokens(db_engine, cipher).access_token}
    assert token_calls(sandbox.stats()) == 2  # the code exchange and exactly one refresh
    # The stored refresh token is the live one: the next refresh works.
    age_tokens(db_engine, cipher)
    assert TokenStore(db_engine, app, cipher).access_token() not in tokens
    assert connection_row(db_engine).needs_reconnect is False


def test_invalid_grant_marks_the_connection_lost_and_later_runs_fail_fast(
    db_engine, app, cipher, connected, sandbox, caplog
):
    caplog.set_level(logging.DEBUG)
    sandbox.revoke_app()
    age_tokens(db_engine, cipher)
    with pytest.raises(XeroConnectionLostError) as info:
        TokenStore(db_engine, app, cipher).access_token()
    assert str(info.value).startswith(RECONNECT_HINT)
    assert "invalid_grant" in str(info.value)
    row = connection_row(db_engine)
    assert row.needs_reconnect is True and "invalid_grant" in row.reconnect_reason
    calls = token_calls(sandbox.stats())
    with pytest.raises(XeroConnectionLostError, match="run `xero-pipelines reconnect`"):
        TokenStore(db_engine, app, cipher).check()
    assert token_calls(sandbox.stats()) == calls  # failed fast, without asking Xero


def test_mark_lost_is_persisted(db_engine, app, cipher, connected):
    store = TokenStore(db_engine, app, cipher)
    store.access_token()
    store.mark_lost("Xero answered 403 AuthenticationUnsuccessful")
    with pytest.raises(XeroConnectionLostError, match="403 AuthenticationUnsuccessful"):
        store.access_token()
    assert connection_row(db_engine).needs_reconnect is True


def test_observe_writes_limits_at_most_every_interval(db_engine, app, cipher, connected):
    store = TokenStore(db_engine, app, cipher, observe_interval=3600)
    store.access_token()

    def snap(day: int) -> LimitSnapshot:
        return LimitSnapshot(59, day, 9999, datetime.now(UTC))

    store.observe(snap(4999))
    store.observe(snap(4998))
    store.observe(snap(4997))
    assert connection_row(db_engine).day_limit_remaining == 4999  # throttled
    assert store.last_limits.day_remaining == 4997
    store.flush()
    row = connection_row(db_engine)
    assert row.day_limit_remaining == 4997 and row.min_limit_remaining == 59
    assert row.last_call_at is not None


def test_someone_elses_fresh_token_in_the_database_is_picked_up(db_engine, app, cipher, connected):
    store = TokenStore(db_engine, app, cipher)
    old = store.access_token()
    age_tokens(db_engine, cipher)
    fresh = TokenStore(db_engine, app, cipher).access_token()  # another run refreshed
    assert store.refresh_after_rejection(old) == fresh  # no second refresh


def test_a_refresh_survives_a_503_storm_at_the_identity_server(
    db_engine, app, cipher, connected, sandbox
):
    """The refresh runs under the row lock; two 503s from /connect/token do not fail the run."""
    before = age_tokens(db_engine, cipher, seconds_left=-5)
    sandbox.faults(status=503, count=2, path="/connect/token")
    store = TokenStore(db_engine, app, cipher)
    token = store.access_token()
    after = stored_tokens(db_engine, cipher)
    assert token == after.access_token != before.access_token
    assert after.refresh_token != before.refresh_token
    assert not connection_row(db_engine).needs_reconnect
    assert token_calls(sandbox.stats()) == 1 + 3  # the code exchange, two 503s, the refresh
    assert list_connections(app, token)
