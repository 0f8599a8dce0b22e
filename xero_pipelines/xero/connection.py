"""The connection's use cases: connect, reconnect, disconnect, status.

Plain functions returning dataclasses, so the CLI and the demo share them. Only one
organisation is connected at a time: links and summaries hold its contact ids, so
switching organisations means `disconnect --purge` first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, Row, delete, inspect, text, update

from xero_pipelines.db.models import XeroConnection
from xero_pipelines.xero import oauth
from xero_pipelines.xero.config import XeroAppConfig
from xero_pipelines.xero.crypto import (
    TokenCipher,
    TokenKeyChangedError,
    TokenKeyError,
    TokenKeyMissingError,
)
from xero_pipelines.xero.errors import (
    XeroAuthenticationError,
    XeroConnectionLostError,
    XeroError,
    XeroNotConnectedError,
)
from xero_pipelines.xero.oauth import TokenSet, XeroTenant
from xero_pipelines.xero.tokens import TokenStore, current_connection

# Tables filled from Xero that `disconnect --purge` empties (dependants first): what the
# import computed, its mirrors, and their watermarks (so a new connection reads in full).
IMPORTED_DATA_TABLES: tuple[str, ...] = (
    "xero_account_summaries",
    "xero_account_links",
    "xero_contacts",
    "xero_invoices",
    "xero_credit_notes",
    "xero_revenue_accounts",
    "xero_organisation",
    "xero_sync_state",
)


class WrongOrganisationError(XeroError):
    """The user authorised an organisation other than the one this CRM is linked to."""


class AlreadyConnectedError(XeroError):
    """`connect` while a healthy connection exists."""


@dataclass(frozen=True)
class ConnectResult:
    tenant_id: str
    tenant_name: str
    connection_id: str
    scopes: str
    access_token_expires_at: datetime
    reconnected: bool


@dataclass(frozen=True)
class DisconnectResult:
    tenant_id: str | None
    tenant_name: str | None
    connection_deleted: bool
    revoked: bool
    purged_tables: tuple[str, ...]
    warnings: tuple[str, ...]
    # False when Xero may still hold the grant: revocation or connection deletion failed.
    remote_removed: bool = True
    # True when the stored tokens could not be decrypted, so Xero was not even asked: the
    # grant is certainly still live there.
    tokens_unreadable: bool = False


@dataclass(frozen=True)
class ConnectionStatus:
    """What `status` shows. Holds no secret: every field may be printed."""

    # "connected", "needs_reconnect" (Xero dropped the grant), "unreadable" (the stored
    # tokens cannot be decrypted: see `token_error`), "disconnected" (the row is kept
    # after `disconnect`, without tokens), "not_connected"
    state: str
    tenant_name: str | None = None
    tenant_id: str | None = None
    connection_id: str | None = None
    connected_at: datetime | None = None
    access_token_expires_at: datetime | None = None
    scopes: tuple[str, ...] = ()
    last_call_at: datetime | None = None
    day_limit_remaining: int | None = None
    min_limit_remaining: int | None = None
    reconnect_reason: str | None = None
    check_error: str | None = None
    token_error: str | None = None

    @property
    def needs_reconnect(self) -> bool:
        return self.state == "needs_reconnect"

    @property
    def connected(self) -> bool:
        """An organisation is connected (usable or not): not after `disconnect`."""
        return self.state not in ("not_connected", "disconnected")

    @property
    def usable(self) -> bool:
        """Connected, the tokens readable, and Xero did not object when asked."""
        return self.state == "connected" and self.check_error is None


def _defaults(app: XeroAppConfig | None, cipher: TokenCipher | None):
    return app or XeroAppConfig.from_env(), cipher or TokenCipher.from_env()


def _load(engine: Engine) -> Row | None:
    with engine.connect() as conn:
        return current_connection(conn)


def _has_imported_data(engine: Engine) -> bool:
    names = set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        for table in IMPORTED_DATA_TABLES:
            if table in names and conn.execute(text(f"SELECT 1 FROM {table} LIMIT 1")).first():
                return True
    return False


def _grant_values(tenant: XeroTenant, tokens: TokenSet, cipher: TokenCipher) -> dict:
    return {
        "tenant_id": tenant.tenant_id,
        "tenant_name": tenant.tenant_name,
        "connection_id": tenant.connection_id or None,
        "token_ciphertext": cipher.encrypt(tokens.to_json()),
        "access_token_expires_at": tokens.expires_at,
        "scopes": tokens.scopes or None,
        "needs_reconnect": False,
        "reconnect_reason": None,
        "updated_at": datetime.now(UTC),
    }


def _result(tenant: XeroTenant, tokens: TokenSet, reconnected: bool) -> ConnectResult:
    return ConnectResult(
        tenant.tenant_id,
        tenant.tenant_name,
        tenant.connection_id,
        tokens.scopes,
        tokens.expires_at,
        reconnected,
    )


def _discard(app: XeroAppConfig, tokens: TokenSet) -> None:
    """Revoke a grant we will not keep, so no organisation stays connected by accident."""
    with contextlib.suppress(XeroError):
        oauth.revoke_refresh_token(app, tokens.refresh_token)


def _tenants_of_this_consent(app: XeroAppConfig, tokens: TokenSet) -> list[XeroTenant]:
    """The organisations picked in this consent; all connected ones if Xero cannot say."""
    event = oauth.auth_event_id(tokens.access_token)
    if event:
        picked = oauth.list_connections(app, tokens.access_token, auth_event_id=event)
        if picked:
            return picked
    return oauth.list_connections(app, tokens.access_token)


def connect(
    engine: Engine,
    app: XeroAppConfig | None = None,
    cipher: TokenCipher | None = None,
    *,
    tenant: str | None = None,
    port: int = oauth.DEFAULT_PORT,
    timeout: float = oauth.DEFAULT_TIMEOUT,
    open_browser: bool = True,
    echo: Callable[[str], None] = print,
) -> ConnectResult:
    """Authorise the app in Xero and remember the chosen organisation and its tokens."""
    app, cipher = _defaults(app, cipher)
    existing = _load(engine)
    if existing is not None and existing.token_ciphertext and not existing.needs_reconnect:
        raise AlreadyConnectedError(
            f"already connected to {existing.tenant_name} ({existing.tenant_id}): run "
            "`xero-pipelines reconnect` to renew it, or `xero-pipelines disconnect` first"
        )
    tokens = oauth.authorize(app, port=port, timeout=timeout, open_browser=open_browser, echo=echo)
    try:
        chosen = oauth.choose_tenant(_tenants_of_this_consent(app, tokens), tenant)
    except XeroError:
        _discard(app, tokens)  # ambiguous or unknown organisation: keep no live grant
        raise

    if (
        existing is not None
        and existing.tenant_id != chosen.tenant_id
        and _has_imported_data(engine)
    ):
        _discard(app, tokens)
        raise WrongOrganisationError(
            f"the imported Xero data belongs to {existing.tenant_name} "
            f"({existing.tenant_id}), not {chosen.describe()}: run `xero-pipelines "
            "reconnect` for that organisation, or `xero-pipelines disconnect --purge` "
            "before connecting another one"
        )
    try:
        with engine.begin() as conn:
            values = _grant_values(chosen, tokens, cipher)
            if existing is None:
                conn.execute(XeroConnection.__table__.insert().values(**values))
            elif existing.tenant_id == chosen.tenant_id:
                conn.execute(
                    update(XeroConnection).where(XeroConnection.id == existing.id).values(**values)
                )
            else:  # a disconnected organisation with no data left: start afresh
                conn.execute(delete(XeroConnection).where(XeroConnection.id == existing.id))
                conn.execute(XeroConnection.__table__.insert().values(**values))
    except Exception:
        # Not stored (read-only database, lost connection, no key file): nothing could
        # ever revoke this grant later, so revoke it now.
        _discard(app, tokens)
        raise
    return _result(chosen, tokens, reconnected=False)


def reconnect(
    engine: Engine,
    app: XeroAppConfig | None = None,
    cipher: TokenCipher | None = None,
    *,
    port: int = oauth.DEFAULT_PORT,
    timeout: float = oauth.DEFAULT_TIMEOUT,
    open_browser: bool = True,
    echo: Callable[[str], None] = print,
) -> ConnectResult:
    """Authorise again for the connected organisation: new tokens, same links and data."""
    app, cipher = _defaults(app, cipher)
    existing = _load(engine)
    if existing is None:
        raise XeroNotConnectedError("nothing to reconnect: run `xero-pipelines connect`")
    tokens = oauth.authorize(
        app, port=port, timeout=timeout, open_browser=open_browser, echo=echo, command="reconnect"
    )
    tenants = oauth.list_connections(app, tokens.access_token)
    match = next((t for t in tenants if t.tenant_id == existing.tenant_id), None)
    if match is None:
        _discard(app, tokens)
        authorised = "; ".join(t.describe() for t in tenants) or "no organisation"
        raise WrongOrganisationError(
            f"this CRM is connected to {existing.tenant_name} ({existing.tenant_id}) but you "
            f"authorised {authorised}: run `xero-pipelines reconnect` again and choose "
            f"{existing.tenant_name}; to switch organisations run `xero-pipelines disconnect "
            "--purge` and then `xero-pipelines connect`"
        )
    with engine.begin() as conn:
        conn.execute(
            update(XeroConnection)
            .where(XeroConnection.id == existing.id)
            .values(**_grant_values(match, tokens, cipher))
        )
    return _result(match, tokens, reconnected=True)


def disconnect(
    engine: Engine,
    app: XeroAppConfig | None = None,
    cipher: TokenCipher | None = None,
    *,
    purge: bool = False,
) -> DisconnectResult:
    """Delete the Xero connection, revoke the grant and wipe the tokens (best effort
    remotely, always locally); `purge` also empties the imported Xero data."""
    app, cipher = _defaults(app, cipher)
    row = _load(engine)
    if row is None and not purge:
        raise XeroNotConnectedError("nothing to disconnect: Xero is not connected")
    if row is not None and not row.token_ciphertext and not purge:
        raise XeroNotConnectedError(
            f"already disconnected from {row.tenant_name}: nothing to do "
            "(`--purge` also deletes the imported Xero data)"
        )
    warnings: list[str] = []
    deleted = revoked = unreadable = False
    remote_removed = True
    if row is not None and row.token_ciphertext:
        unreadable = _token_error(cipher, row) is not None
        if unreadable:
            warnings.append(f"the stored tokens cannot be read: {_key_cause(cipher, row)}")
        else:
            deleted, revoked = _remote_disconnect(engine, app, cipher, row, warnings)
        # A connection Xero already called lost (invalid_grant, 403, gone from
        # /connections) has nothing left to remove there.
        remote_removed = bool(row.needs_reconnect) or (
            revoked and (deleted or not row.connection_id)
        )
    purged: list[str] = []
    with engine.begin() as conn:
        if purge:
            names = set(inspect(conn).get_table_names())
            for table in IMPORTED_DATA_TABLES:
                if table in names:
                    conn.execute(text(f"DELETE FROM {table}"))
                    purged.append(table)
            conn.execute(delete(XeroConnection))
        elif row is not None:
            conn.execute(
                update(XeroConnection)
                .where(XeroConnection.id == row.id)
                .values(
                    token_ciphertext=None,
                    access_token_expires_at=None,
                    connection_id=None,
                    scopes=None,
                    needs_reconnect=False,
                    reconnect_reason=None,
                    updated_at=datetime.now(UTC),
                )
            )
    return DisconnectResult(
        row.tenant_id if row else None,
        row.tenant_name if row else None,
        deleted,
        revoked,
        tuple(purged),
        tuple(warnings),
        remote_removed,
        unreadable and not row.needs_reconnect,
    )


def _remote_disconnect(
    engine: Engine,
    app: XeroAppConfig,
    cipher: TokenCipher,
    row: Row,
    warnings: list[str],
) -> tuple[bool, bool]:
    deleted = revoked = False
    store = TokenStore(engine, app, cipher)
    try:
        access = store.access_token()
        if row.connection_id:
            oauth.delete_connection(app, access, row.connection_id)
            deleted = True
    except (XeroError, TokenKeyError) as exc:
        warnings.append(f"could not delete the connection in Xero: {exc}")
    try:
        fresh = _load(engine)
        assert fresh is not None and fresh.token_ciphertext
        tokens = TokenSet.from_json(cipher.decrypt(fresh.token_ciphertext))
        oauth.revoke_refresh_token(app, tokens.refresh_token)
        revoked = True
    except (XeroError, TokenKeyError) as exc:
        warnings.append(f"could not revoke the refresh token: {exc}")
    return deleted, revoked


def _token_error(cipher: TokenCipher, row: Row) -> str | None:
    """Why the stored token set cannot be used, found without asking Xero; None if it can."""
    try:
        TokenSet.from_json(cipher.decrypt(row.token_ciphertext))
    except TokenKeyError as exc:
        return str(exc)
    except (ValueError, KeyError, TypeError):
        return "the stored token set is damaged: run `xero-pipelines reconnect`"
    return None


def _key_cause(cipher: TokenCipher, row: Row) -> str:
    """The reason in a few words, without advice that no longer applies once wiped."""
    try:
        cipher.decrypt(row.token_ciphertext)
    except TokenKeyMissingError:
        return "the token key file they were encrypted with is missing"
    except TokenKeyChangedError:
        return "they were encrypted with another token key"
    except TokenKeyError as exc:
        return str(exc)
    return "the stored token set is damaged"


def status(
    engine: Engine,
    app: XeroAppConfig | None = None,
    cipher: TokenCipher | None = None,
    *,
    check: bool = True,
) -> ConnectionStatus:
    """The connection as stored. The tokens are always decrypted (locally): tokens that
    cannot be read make the state "unreadable". With `check`, Xero is then asked whether
    the connection still stands (refreshing if due), so a grant removed inside Xero shows
    as needing reconnect and an unreachable Xero as `check_error`."""
    row = _load(engine)
    if row is None:
        return ConnectionStatus(state="not_connected")
    check_error = token_error = None
    if row.token_ciphertext and not row.needs_reconnect:
        try:
            app, cipher = _defaults(app, cipher)
        except TokenKeyError as exc:  # a malformed XERO_TOKEN_KEY or key file
            token_error = str(exc)
        else:
            token_error = _token_error(cipher, row)
            if token_error is None and check:
                check_error = _check_live(engine, app, cipher, row)
                row = _load(engine)
                assert row is not None
    if row.token_ciphertext is None:
        state = "disconnected"
    elif row.needs_reconnect:
        state = "needs_reconnect"
    elif token_error:
        state = "unreadable"
    else:
        state = "connected"
    return ConnectionStatus(
        state=state,
        tenant_name=row.tenant_name,
        tenant_id=row.tenant_id,
        connection_id=row.connection_id,
        connected_at=row.connected_at,
        access_token_expires_at=row.access_token_expires_at,
        scopes=tuple((row.scopes or "").split()),
        last_call_at=row.last_call_at,
        day_limit_remaining=row.day_limit_remaining,
        min_limit_remaining=row.min_limit_remaining,
        reconnect_reason=row.reconnect_reason,
        check_error=check_error,
        token_error=token_error,
    )


def _check_live(engine: Engine, app: XeroAppConfig, cipher: TokenCipher, row: Row) -> str | None:
    """Ask `GET /connections` whether our organisation is still connected."""
    store = TokenStore(engine, app, cipher)
    try:
        token = store.access_token()
        try:
            tenants = oauth.list_connections(app, token)
        except XeroAuthenticationError as exc:
            if exc.status != 401:
                raise
            tenants = oauth.list_connections(app, store.refresh_after_rejection(token))
    except XeroConnectionLostError:
        return None  # already recorded by the store
    except XeroAuthenticationError as exc:
        if exc.status != 403:
            # A fresh token refused with 401: the refresh worked, so the grant stands.
            return f"Xero refused the token at /connections: {exc.messages[0]}"
        store.mark_lost(f"Xero answered {exc.status} {exc.messages[0]}", announce=False)
        return None
    except TokenKeyError as exc:
        return str(exc)
    except XeroError as exc:
        return f"could not reach Xero: {exc}"
    if row.tenant_id not in {t.tenant_id for t in tenants}:
        store.mark_lost(
            f"{row.tenant_name} is no longer connected to this app in Xero", announce=False
        )
    return None


__all__ = [
    "IMPORTED_DATA_TABLES",
    "AlreadyConnectedError",
    "ConnectResult",
    "ConnectionStatus",
    "DisconnectResult",
    "WrongOrganisationError",
    "connect",
    "disconnect",
    "reconnect",
    "status",
]
