"""Where local state lives, which database to use, and engines that behave alike on both.

SQLite is the embedded default (one file under `$XERO_PIPELINES_HOME`); PostgreSQL is
production. Both get real transactions: pysqlite's own transaction handling is replaced
by explicit `BEGIN`s (SQLAlchemy's documented recipe), so a write lock can be taken up
front with `locked_transaction` when two processes must not interleave (token refresh).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from xero_pipelines.db import jsontext

HOME_ENV = "XERO_PIPELINES_HOME"
URL_ENV = "CRM_DATABASE_URL"


# JSON columns (the mirrors' `raw`) keep Decimal amounts exact, on both databases.
_JSON = {"json_serializer": jsontext.dumps, "json_deserializer": jsontext.loads}


class DatabaseUrlError(ValueError):
    """The configured database URL cannot be used; the message says why, in one line."""


def pipelines_home() -> Path:
    """The folder for local state (`$XERO_PIPELINES_HOME`, default `./.xero_pipelines`)."""
    return Path(os.environ.get(HOME_ENV) or ".xero_pipelines").expanduser().resolve()


def database_url(url: str | None = None) -> str:
    """The CRM database URL: the argument, else `$CRM_DATABASE_URL`, else embedded SQLite."""
    url = url or os.environ.get(URL_ENV)
    if url:
        return url
    return f"sqlite:///{pipelines_home() / 'crm.sqlite'}"


def create_db_engine(url: str | None = None) -> Engine:
    """An engine for `url` (see `database_url`), creating the SQLite folder if needed."""
    resolved = database_url(url)
    try:
        parsed = make_url(resolved)
    except (ArgumentError, ValueError) as exc:
        raise DatabaseUrlError(f"CRM_DATABASE_URL is not a database URL: {exc}") from None

    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30}, **_JSON)
        _use_real_sqlite_transactions(engine)
        return engine
    try:
        return create_engine(
            parsed, pool_pre_ping=True, connect_args=_pg_connect_args(parsed), **_JSON
        )
    except Exception as exc:  # unknown dialect or missing driver
        raise DatabaseUrlError(f"cannot use database URL {parsed!r}: {exc}") from None


@lru_cache(maxsize=16)
def cached_engine(url: str) -> Engine:
    """One engine (and pool) per URL per process, for resources created per run."""
    return create_db_engine(url)


def _pg_connect_args(parsed) -> dict:
    if parsed.get_backend_name() == "postgresql":
        return {"connect_timeout": 10}
    return {}


def _use_real_sqlite_transactions(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("sqlite_begin_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def locked_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that holds the database's write lock from its first statement.

    On SQLite that is `BEGIN IMMEDIATE` (one writer at a time across processes); on
    PostgreSQL the caller adds `.with_for_update()` to the rows it must serialise on.
    """
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn = conn.execution_options(sqlite_begin_immediate=True)
        with conn.begin():
            yield conn
