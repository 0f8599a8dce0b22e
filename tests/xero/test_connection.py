"""connect / reconnect / disconnect / status against the sandbox, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError

from tests.xero.connect_helpers import (
    Browser,
    connect_flow,
    connection_row,
    reconnect_flow,
    sandbox_app,
    stored_tokens,
)
from xero_pipelines.db import create_db_engine
from xero_pipelines.db.mirrors import XeroContactRow
from xero_pipelines.db.models import XeroAccountLink, XeroAccountSummary, XeroConnection
from xero_pipelines.xero.connection import (
    AlreadyConnectedError,
    WrongOrganisationError,
    connect,
    disconnect,
    status,
)
from xero_pipelines.xero.crypto import TokenCipher
from xero_pipelines.xero.errors import XeroConnectionLostError, XeroNotConnectedError
from xero_pipelines.xero.oauth import TenantChoiceError, list_connections, refresh_tokens
from xero_pipelines.xero.tokens import TokenStore


@pytest.fixture
def cipher() -> TokenCipher:
    return TokenCipher(Fernet.generate_key())


@pytest.fixture
def app(sandbox):
    return sandbox_app(sandbox.url)


def _link(engine, xero_contact_id: str = "6d0c4b8e-5b0e-4d51-9b3c-0f1f1a1a1a1a") -> None:
    with engine.begin() as conn:
        conn.execute(
            XeroAccountLink.__table__.insert().values(
                crm_account_id=1, xero_contact_id=xero_contact_id, matched_by="manual"
            )
        )
        conn.execute(
            XeroAccountSummary.__table__.insert().values(
                crm_account_id=1,
                xero_contact_id=xero_contact_id,
                balance=0,
                overdue_amount=0,
                total_sales=0,
            )
        )


def _count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def test_full_cycle(db_engine, app, cipher, sandbox):
    assert status(db_engine, app, cipher).state == "not_connected"
    browser = Browser()
    result = connect(db_engine, app, cipher, port=0, timeout=20, open_browser=False, echo=browser)
    assert len(browser.urls) == 1 and "/identity/connect/authorize?" in browser.urls[0]
    assert result.tenant_name == "Demo Company (Sandbox)"
    assert "offline_access" in result.scopes.split()

    st = status(db_engine, app, cipher)
    assert st.state == "connected" and not st.needs_reconnect
    assert (st.tenant_id, st.tenant_name) == (result.tenant_id, result.tenant_name)
    assert st.connection_id == result.connection_id
    assert st.connected_at is not None and st.access_token_expires_at is not None
    assert "accounting.invoices" in st.scopes

    with pytest.raises(AlreadyConnectedError, match="xero-pipelines reconnect"):
        connect_flow(db_engine, app, cipher)

    _link(db_engine)
    before = stored_tokens(db_engine, cipher)
    again = reconnect_flow(db_engine, app, cipher)
    assert again.reconnected and again.tenant_id == result.tenant_id
    after = stored_tokens(db_engine, cipher)
    assert after.refresh_token != before.refresh_token
    assert _count(db_engine, XeroAccountLink) == 1  # links and data kept
    assert connection_row(db_engine).connected_at == st.connected_at

    gone = disconnect(db_engine, app, cipher)
    assert gone.connection_deleted and gone.revoked and not gone.warnings
    assert gone.remote_removed
    assert gone.purged_tables == ()
    row = connection_row(db_engine)
    assert row.token_ciphertext is None and row.access_token_expires_at is None
    assert _count(db_engine, XeroAccountLink) == 1  # imported data stays
    assert status(db_engine, app, cipher).state == "disconnected"
    assert sandbox.state()  # the sandbox is reachable; the grant is gone:
    with pytest.raises(XeroConnectionLostError):
        refresh_tokens(app, after.refresh_token)
    with pytest.raises(XeroNotConnectedError):
        TokenStore(db_engine, app, cipher).access_token()

    # Connecting the same organisation again after a plain disconnect reuses the row.
    back = connect_flow(db_engine, app, cipher)
    assert back.tenant_id == result.tenant_id
    assert _count(db_engine, XeroConnection) == 1


def test_disconnect_purge_drops_imported_data(db_engine, app, cipher):
    connect_flow(db_engine, app, cipher)
    _link(db_engine)
    with db_engine.begin() as conn:
        conn.execute(
            XeroContactRow.__table__.insert(),
            {"tenant_id": "t", "contact_id": "c", "raw": {}, "synced_at": datetime.now(UTC)},
        )
    result = disconnect(db_engine, app, cipher, purge=True)
    assert set(result.purged_tables) == {
        "xero_account_links",
        "xero_account_summaries",
        "xero_contacts",
        "xero_invoices",
        "xero_credit_notes",
        "xero_revenue_accounts",
        "xero_organisation",
        "xero_sync_state",
    }
    assert _count(db_engine, XeroContactRow) == 0
    assert _count(db_engine, XeroAccountLink) == 0
    assert _count(db_engine, XeroAccountSummary) == 0
    assert _count(db_engine, XeroConnection) == 0
    assert status(db_engine, app, cipher).state == "not_connected"


def test_disconnect_says_when_xero_may_still_hold_the_grant(db_engine, app, cipher, sandbox):
    connect_flow(db_engine, app, cipher)
    tokens = stored_tokens(db_engine, cipher)
    sandbox.faults(status=503, count=5, path="/connect/revocation")
    sandbox.faults(status=503, count=5, path="/connections")
    gone = disconnect(db_engine, app, cipher)
    assert not gone.remote_removed
    assert not gone.revoked and not gone.connection_deleted
    assert any("could not revoke" in w for w in gone.warnings)
    assert connection_row(db_engine).token_ciphertext is None  # wiped locally all the same
    sandbox.clear_faults()
    assert list_connections(app, tokens.access_token)  # ... while Xero still has the grant


def test_disconnect_of_a_connection_xero_already_dropped_is_clean(db_engine, app, cipher, sandbox):
    connect_flow(db_engine, app, cipher)
    sandbox.revoke_app()
    assert status(db_engine, app, cipher).needs_reconnect
    gone = disconnect(db_engine, app, cipher)
    assert gone.remote_removed  # nothing left to remove in Xero


def test_disconnect_when_nothing_is_connected(db_engine, app, cipher):
    with pytest.raises(XeroNotConnectedError, match="nothing to disconnect"):
        disconnect(db_engine, app, cipher)


def test_several_organisations_need_a_tenant(db_engine, app, cipher, sandbox):
    second_id = sandbox.add_tenant("Second Org Ltd")
    with pytest.raises(TenantChoiceError) as info:
        connect_flow(db_engine, app, cipher)
    message = str(info.value)
    assert "Demo Company (Sandbox)" in message and "Second Org Ltd" in message
    assert "--tenant" in message
    assert connection_row(db_engine) is None
    # The grant nobody will use was revoked, not left alive in Xero.
    assert sandbox.stats().get("POST /connect/revocation") == 1
    assert sandbox.state()["live_refresh_tokens"] == 0
    result = connect_flow(db_engine, app, cipher, tenant=second_id)
    assert (result.tenant_id, result.tenant_name) == (second_id, "Second Org Ltd")


def test_an_unknown_tenant_revokes_the_fresh_grant(db_engine, app, cipher, sandbox):
    with pytest.raises(TenantChoiceError, match="no single organisation matches"):
        connect_flow(db_engine, app, cipher, tenant="No Such Org")
    assert connection_row(db_engine) is None
    assert sandbox.stats().get("POST /connect/revocation") == 1
    state = sandbox.state()
    assert state["live_refresh_tokens"] == 0
    assert state["connections"] == 0


def test_reconnect_to_another_organisation_is_refused(db_engine, app, cipher):
    connect_flow(db_engine, app, cipher)
    _link(db_engine)
    other = "0f8fad5b-d9cb-469f-a165-70867728950e"
    with db_engine.begin() as conn:  # this CRM was linked to an organisation not authorised now
        conn.execute(update(XeroConnection).values(tenant_id=other, tenant_name="Old Org Ltd"))
    before = connection_row(db_engine)
    with pytest.raises(WrongOrganisationError) as info:
        reconnect_flow(db_engine, app, cipher)
    message = str(info.value)
    assert "Old Org Ltd" in message and "Demo Company (Sandbox)" in message
    assert "disconnect --purge" in message
    after = connection_row(db_engine)
    assert (after.tenant_id, after.token_ciphertext) == (other, before.token_ciphertext)
    assert _count(db_engine, XeroAccountLink) == 1


def test_reconnect_without_a_connection(db_engine, app, cipher):
    with pytest.raises(XeroNotConnectedError, match="xero-pipelines connect"):
        reconnect_flow(db_engine, app, cipher)


def test_app_removed_inside_xero_shows_in_status_and_reconnect_heals(
    db_engine, app, cipher, sandbox
):
    connect_flow(db_engine, app, cipher)
    sandbox.revoke_app()
    st = status(db_engine, app, cipher)
    assert st.state == "needs_reconnect" and st.needs_reconnect
    assert st.reconnect_reason
    offline = status(db_engine, app, cipher, check=False)
    assert offline.state == "needs_reconnect"
    reconnect_flow(db_engine, app, cipher)
    assert status(db_engine, app, cipher).state == "connected"
    assert connection_row(db_engine).reconnect_reason is None


def test_a_401_at_connections_is_reported_by_status_but_never_marks_lost(
    db_engine, app, cipher, sandbox
):
    connect_flow(db_engine, app, cipher)
    sandbox.faults(status=401, count=2, path="/connections")
    st = status(db_engine, app, cipher)
    assert st.state == "connected" and not st.needs_reconnect
    assert "Fault injected by the sandbox" in (st.check_error or "")
    assert not connection_row(db_engine).needs_reconnect


def test_a_changed_token_key_is_reported_and_reconnect_recovers(db_engine, app, cipher, sandbox):
    connect_flow(db_engine, app, cipher)
    other = TokenCipher(Fernet.generate_key())
    calls = sandbox.stats()
    for check in (True, False):
        st = status(db_engine, app, other, check=check)
        assert st.state == "unreadable" and not st.usable and st.connected
        assert st.token_error == (
            "the token key changed: set XERO_TOKEN_KEY back or run `xero-pipelines reconnect`"
        )
    assert sandbox.stats() == calls  # found locally: Xero was not asked
    assert status(db_engine, app, cipher).usable  # the right key still reads them
    reconnect_flow(db_engine, app, other)
    token = stored_tokens(db_engine, other).access_token
    assert list_connections(app, token)


def test_connecting_another_organisation_keeps_data_safe(db_engine, app, cipher, sandbox):
    connect_flow(db_engine, app, cipher)
    _link(db_engine)
    disconnect(db_engine, app, cipher)  # data kept
    other = "0f8fad5b-d9cb-469f-a165-70867728950e"
    with db_engine.begin() as conn:  # the kept data came from an organisation not on offer now
        conn.execute(update(XeroConnection).values(tenant_id=other, tenant_name="Old Org Ltd"))
    with pytest.raises(WrongOrganisationError, match="imported Xero data belongs to Old Org Ltd"):
        connect_flow(db_engine, app, cipher)
    assert connection_row(db_engine).tenant_id == other
    disconnect(db_engine, app, cipher, purge=True)
    assert connect_flow(db_engine, app, cipher).tenant_name == "Demo Company (Sandbox)"


def read_only_url(url: str) -> str:
    """The same database, opened so that every write fails (as on a read-only replica)."""
    if url.startswith("sqlite:///"):
        return f"sqlite:///file:{url.removeprefix('sqlite:///')}?mode=ro&uri=true"
    return f"{url}?options=-c%20default_transaction_read_only%3Don"


def test_a_failed_final_write_revokes_the_fresh_grant(db_url, app, cipher, sandbox):
    """Nothing was stored, so nothing could ever revoke that grant later."""
    engine = create_db_engine(read_only_url(db_url))
    try:
        with pytest.raises(SQLAlchemyError, match=r"read-only|readonly"):
            connect_flow(engine, app, cipher)
        assert connection_row(engine) is None
    finally:
        engine.dispose()
    assert sandbox.stats().get("POST /connect/revocation") == 1
    state = sandbox.state()
    assert state["live_refresh_tokens"] == 0
    assert state["connections"] == 0


def test_a_deleted_key_file_is_reported_not_replaced(db_engine, app, tmp_path, sandbox):
    home = tmp_path / "key-home"
    connect_flow(db_engine, app, TokenCipher.from_env({}, home))
    (home / "token.key").unlink()
    st = status(db_engine, app, TokenCipher.from_env({}, home))
    assert st.state == "unreadable"
    assert "token.key is missing but the stored tokens were encrypted with it" in (
        st.token_error or ""
    )
    assert not (home / "token.key").exists()


def test_status_of_an_unreachable_xero_is_not_usable(db_engine, app, cipher, sandbox):
    connect_flow(db_engine, app, cipher)
    sandbox.faults(status=503, count=5, path="/connections")
    st = status(db_engine, app, cipher)
    assert st.state == "connected" and not st.usable
    assert (st.check_error or "").startswith("could not reach Xero")
    assert status(db_engine, app, cipher, check=False).usable  # offline: not asked


@pytest.mark.parametrize("purge", [False, True])
def test_disconnect_with_unreadable_tokens_says_the_grant_is_live(
    db_engine, app, cipher, sandbox, purge
):
    connect_flow(db_engine, app, cipher)
    gone = disconnect(db_engine, app, TokenCipher(Fernet.generate_key()), purge=purge)
    assert gone.tokens_unreadable and not gone.remote_removed
    assert gone.warnings == (
        "the stored tokens cannot be read: they were encrypted with another token key",
    )
    assert sandbox.stats().get("POST /connect/revocation") is None
    assert sandbox.state()["live_refresh_tokens"] == 1  # still live in Xero
    assert not status(db_engine, app, cipher).connected
