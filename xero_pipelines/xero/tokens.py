"""The token store: the one connected organisation's token set, encrypted in the database.

Refreshes are serialised per connection across processes: the row is locked (`SELECT ...
FOR UPDATE` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite), re-read, and only refreshed if
nobody else has rotated it meanwhile. Xero rotates the refresh token on every use, so the
new one is committed before the new access token is handed out: a crash afterwards
loses nothing, and two runs refreshing at once end with one valid token set.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, Row, select, update
from sqlalchemy.exc import SQLAlchemyError

from xero_pipelines.db.engine import locked_transaction
from xero_pipelines.db.models import XeroConnection
from xero_pipelines.xero.config import XeroAppConfig
from xero_pipelines.xero.crypto import TokenCipher
from xero_pipelines.xero.errors import XeroConnectionLostError, XeroNotConnectedError
from xero_pipelines.xero.oauth import TokenSet, refresh_tokens
from xero_pipelines.xero.protocols import LimitSnapshot

log = logging.getLogger(__name__)

REFRESH_LEEWAY = 60.0
OBSERVE_INTERVAL = 5.0

DISCONNECTED = "Xero is not connected (it was disconnected): run `xero-pipelines connect`"


def current_connection(conn: Connection, *, for_update: bool = False) -> Row | None:
    """The connected organisation's row (the first one: there is at most one in use)."""
    table = XeroConnection.__table__
    stmt = select(table).order_by(table.c.id).limit(1)
    if for_update:
        stmt = stmt.with_for_update()
    return conn.execute(stmt).first()


class TokenStore:
    """`TokenProvider` over the `xero_connections` row; safe across threads and processes."""

    def __init__(
        self,
        engine: Engine,
        app: XeroAppConfig,
        cipher: TokenCipher,
        *,
        leeway: float = REFRESH_LEEWAY,
        observe_interval: float = OBSERVE_INTERVAL,
    ) -> None:
        self._engine = engine
        self._app = app
        self._cipher = cipher
        self._leeway = leeway
        self._observe_interval = observe_interval
        self._lock = threading.RLock()
        self._row_id: int | None = None
        self._tenant_id: str | None = None
        self._tenant_name: str | None = None
        self._tokens: TokenSet | None = None
        self._last_write = float("-inf")
        self._pending: LimitSnapshot | None = None
        self._pending_success_at: datetime | None = None
        self.last_limits: LimitSnapshot | None = None
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"TokenStore(tenant_id={self._tenant_id!r})"

    # --- TokenProvider ---------------------------------------------------------------

    @property
    def tenant_id(self) -> str:
        self._ensure_loaded()
        assert self._tenant_id is not None
        return self._tenant_id

    @property
    def tenant_name(self) -> str:
        self._ensure_loaded()
        assert self._tenant_name is not None
        return self._tenant_name

    def access_token(self) -> str:
        with self._lock:
            tokens = self._ensure_loaded()
            if tokens.seconds_left() > self._leeway:
                return tokens.access_token
            return self._refresh(rejected=None)

    def refresh_after_rejection(self, rejected_token: str) -> str:
        with self._lock:
            self._ensure_loaded()
            return self._refresh(rejected=rejected_token)

    def mark_lost(self, reason: str, *, announce: bool = True) -> None:
        """Flag the connection as needing reconnect; `announce=False` when the caller
        reports it itself (`status` prints it, so a log line would say it twice)."""
        with self._lock:
            self._tokens = None
            with self._engine.begin() as conn:
                row_id = self._row_id or _first_id(conn)
                if row_id is not None:
                    conn.execute(
                        update(XeroConnection)
                        .where(XeroConnection.id == row_id)
                        .values(needs_reconnect=True, reconnect_reason=reason)
                    )
        if announce:
            log.warning("Xero connection lost (%s): run `xero-pipelines reconnect`", reason)

    def observe(self, limits: LimitSnapshot) -> None:
        """Keep the limits; write them at most once per `observe_interval` seconds.

        Only a successful call moves `last_call_at`: `status` shows the last call that
        worked, not the last error. Limit headers count from any answer.
        """
        with self._lock:
            if limits.succeeded:
                self._pending_success_at = limits.seen_at
            if limits.min_remaining is not None or limits.day_remaining is not None:
                self.last_limits = limits
                self._pending = limits
            if time.monotonic() - self._last_write >= self._observe_interval:
                self.flush()

    # --- extras ----------------------------------------------------------------------

    def check(self) -> None:
        """Fail fast (`XeroConnectionLostError`, `XeroNotConnectedError`) before a run."""
        with self._lock:
            self._tokens = None
            self._ensure_loaded()

    def flush(self) -> None:
        """Write the last observed limits and call time now (also at the end of a run)."""
        with self._lock:
            limits, self._pending = self._pending, None
            success_at, self._pending_success_at = self._pending_success_at, None
            if (limits is None and success_at is None) or self._row_id is None:
                return
            values: dict = {}
            if success_at is not None:
                values["last_call_at"] = success_at
            if limits is not None and limits.min_remaining is not None:
                values["min_limit_remaining"] = limits.min_remaining
            if limits is not None and limits.day_remaining is not None:
                values["day_limit_remaining"] = limits.day_remaining
            try:
                with self._engine.begin() as conn:
                    conn.execute(
                        update(XeroConnection)
                        .where(XeroConnection.id == self._row_id)
                        .values(**values)
                    )
            except SQLAlchemyError as exc:  # bookkeeping must not fail a call Xero answered
                log.warning("could not record Xero's limit headers: %s", type(exc).__name__)
            self._last_write = time.monotonic()

    # --- internals -------------------------------------------------------------------

    def _ensure_loaded(self) -> TokenSet:
        if self._tokens is not None:
            return self._tokens
        with self._engine.connect() as conn:
            row = current_connection(conn)
            self._tokens = self._read(row)
        return self._tokens

    def _read(self, row: Row | None) -> TokenSet:
        if row is None:
            raise XeroNotConnectedError()
        self._row_id, self._tenant_id, self._tenant_name = row.id, row.tenant_id, row.tenant_name
        if row.needs_reconnect:
            raise XeroConnectionLostError(row.reconnect_reason)
        if row.token_ciphertext is None:
            raise XeroNotConnectedError(DISCONNECTED)
        return TokenSet.from_json(self._cipher.decrypt(row.token_ciphertext))

    def _refresh(self, rejected: str | None) -> str:
        lost: XeroConnectionLostError | None = None
        new: TokenSet | None = None
        with locked_transaction(self._engine) as conn:
            current = self._read(current_connection(conn, for_update=True))
            if current.access_token != rejected and current.seconds_left() > self._leeway:
                self._tokens = current  # another thread or process rotated already
                return current.access_token
            try:
                new = refresh_tokens(self._app, current.refresh_token)
            except XeroConnectionLostError as exc:
                lost = exc
                conn.execute(
                    update(XeroConnection)
                    .where(XeroConnection.id == self._row_id)
                    .values(needs_reconnect=True, reconnect_reason=exc.reason)
                )
            else:
                conn.execute(
                    update(XeroConnection)
                    .where(XeroConnection.id == self._row_id)
                    .values(
                        token_ciphertext=self._cipher.encrypt(new.to_json()),
                        access_token_expires_at=new.expires_at,
                        scopes=new.scopes or current.scopes or None,
                        updated_at=datetime.now(UTC),
                    )
                )
        # Committed: the rotated refresh token is safe before the access token is used.
        if lost is not None:
            self._tokens = None
            raise lost
        assert new is not None
        self._tokens = new
        self.refreshes += 1
        log.info("refreshed the Xero access token for tenant %s", self._tenant_id)
        return new.access_token


def _first_id(conn) -> int | None:
    row = current_connection(conn)
    return row.id if row else None
