"""Where local state lives, which database to use, and engines that behave alike on both.

SQLite is the embedded default (one file under `$XERO_PIPELINES_HOME`); PostgreSQL is
production. Both get real transactions: pysqlite's own transaction handling is replaced
by explicit `BEGIN`s (SQLAlchemy's documented recipe), so a write lock can be taken up
front with `locked_transaction` when two processes must not interleave (token refresh).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, quote_plus

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from xero_pipelines.db import jsontext

HOME_ENV = "XERO_PIPELINES_HOME"
URL_ENV = "CRM_DATABASE_URL"


# JSON columns (the mirrors' `raw`) keep Decimal amounts exact, on both databases.
_JSON = {"json_serializer": jsontext.dumps, "json_deserializer": jsontext.loads}


class DatabaseUrlError(ValueError):
    """The configured database URL cannot be used; the message says why, in one line."""


MASK = "***"
# Query parameters that carry a credential: libpq's `password` and `sslpassword`, MySQL's
# `passwd`, other drivers' tokens, secrets and keys. A name that says so is enough.
_SECRET_PARAM = re.compile(r"pass|pwd|secret|token|key|auth|cred", re.IGNORECASE)
# A value that embeds a credential itself: a libpq/ODBC connection string, or a URL.
_SECRET_VALUE = re.compile(r"(?:pass\w*|pwd)\s*=|://[^/?#\s]*@", re.IGNORECASE)
# In a string that is not a URL SQLAlchemy can parse, or inside a connection string.
_RAW_PASSWORD = re.compile(r"://[^/?#:@]*:(?P<secret>[^/?#]*)@")
_KEYWORD_PASSWORD = re.compile(
    r"\b(?:pass\w*|pwd)\s*=\s*(?P<secret>'(?:[^'\\]|\\.)*'|\{[^}]*\}|[^\s;&]+)", re.IGNORECASE
)
_RAW_PARAM = re.compile(r"(?P<key>[?&][^=&#]*)=(?P<value>[^&#]*)")
# Shorter secrets are not searched for in free text: they would blank out ordinary words.
_MIN_REDACTED = 4


def _secret_param(key: str, value: str) -> bool:
    return bool(_SECRET_PARAM.search(key) or _SECRET_VALUE.search(value))


def _query_pairs(parsed: URL) -> list[tuple[str, str]]:
    return [
        (key, value)
        for key, values in parsed.query.items()
        for value in ((values,) if isinstance(values, str) else values)
    ]


def safe_url(url: str | URL) -> str:
    """`url` fit to print: the password and every credential-bearing query parameter
    (`?password=`, `?sslpassword=`, a connection string holding `PWD=`...) become `***`.

    The one way this package shows a database URL, in output and in errors alike.
    """
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except (ArgumentError, ValueError):
        return _mask_unparsed(str(url))
    host = parsed.host
    if host and "@" in host:  # an unescaped `@` in the password: the rest landed in host
        host = f"{MASK}@{host.rsplit('@', 1)[1]}"
    text = parsed.set(host=host, query={}).render_as_string(hide_password=True)
    pairs = _query_pairs(parsed)
    if pairs:
        text += "?" + "&".join(
            f"{quote_plus(k)}={MASK if _secret_param(k, v) else quote_plus(v)}" for k, v in pairs
        )
    return text


def _mask_unparsed(text: str) -> str:
    for pattern in (_RAW_PASSWORD, _KEYWORD_PASSWORD):
        text = pattern.sub(lambda m: m.group(0).replace(m.group("secret"), MASK), text)
    return _RAW_PARAM.sub(
        lambda m: (
            f"{m.group('key')}={MASK}"
            if _secret_param(m.group("key"), m.group("value"))
            else m.group(0)
        ),
        text,
    )


def _embedded(value: str) -> set[str]:
    """`value` and the passwords written inside it (`PWD=...`, `password='...'`)."""
    found = {value}
    for pattern in (_RAW_PASSWORD, _KEYWORD_PASSWORD):
        found |= {m.group("secret").strip("'{}") for m in pattern.finditer(value)}
    return found


def _secrets(url: str | URL) -> set[str]:
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except (ArgumentError, ValueError):
        raw = str(url)
        found = _embedded(raw) - {raw}
        for m in _RAW_PARAM.finditer(raw):
            if _secret_param(m.group("key"), m.group("value")):
                found |= _embedded(m.group("value"))
        return found
    found: set[str] = set()
    for key, value in _query_pairs(parsed):
        if _secret_param(key, value):
            found |= _embedded(value)
    if parsed.password:
        found.add(str(parsed.password))
    if parsed.host and "@" in parsed.host:
        found.add(parsed.host.rsplit("@", 1)[0])
    return found


def redact(text: str, url: str | URL | None) -> str:
    """`text` (an error message, say) with `url`'s credentials replaced by `***`, also
    where they appear URL-quoted. Secrets under four characters are left to `safe_url`."""
    if not url:
        return text
    for secret in sorted(_secrets(url), key=len, reverse=True):
        if len(secret) >= _MIN_REDACTED:
            for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
                text = text.replace(form, MASK)
    return text


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
        raise DatabaseUrlError(
            f"CRM_DATABASE_URL is not a database URL: {redact(str(exc), resolved)}"
        ) from None

    if parsed.get_backend_name() == "sqlite":
        name = parsed.database
        if name and name != ":memory:" and not name.startswith("file:"):  # not a URI filename
            Path(name).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30}, **_JSON)
        _use_real_sqlite_transactions(engine)
        return engine
    try:
        return create_engine(
            parsed, pool_pre_ping=True, connect_args=_pg_connect_args(parsed), **_JSON
        )
    except Exception as exc:  # unknown dialect or missing driver
        raise DatabaseUrlError(
            f"cannot use database URL {safe_url(parsed)}: {redact(str(exc), parsed)}"
        ) from None


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
def locked_transaction(engine: Engine, *, refetchable: bool = False) -> Iterator[Connection]:
    """A transaction that holds the database's write lock from its first statement.

    On SQLite that is `BEGIN IMMEDIATE` (one writer at a time across processes); on
    PostgreSQL the caller adds `.with_for_update()` to the rows it must serialise on.

    `refetchable` is for rows Xero can give again (mirror pages and their watermark): on
    SQLite the commit then does not wait for the disk (`synchronous=NORMAL`, consistent in
    WAL mode; a power cut may drop the last pages together with their watermark, and the
    next run reads them again). Tokens and requests never use it.
    """
    with engine.connect() as conn:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            conn = conn.execution_options(sqlite_begin_immediate=True)
            if refetchable:  # on the driver: SQLAlchemy would open a transaction first
                conn.connection.dbapi_connection.execute("PRAGMA synchronous=NORMAL")
        try:
            with conn.begin():
                yield conn
        finally:
            if sqlite and refetchable:
                conn.connection.dbapi_connection.execute("PRAGMA synchronous=FULL")
