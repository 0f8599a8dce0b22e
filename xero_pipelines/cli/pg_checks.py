"""PostgreSQL logins, checked for real and explained in one sentence.

libpq says why a connection failed in its own words (`FATAL:  password authentication
failed for user "x"`); an operator needs to know which setting to change. These turn the
one into the other, for Dagster's storage and the CRM database alike, and never show a
password (the message goes through `redact`; the target is shown as host:port).
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from xero_pipelines.db.engine import redact

TIMEOUT = 5  # seconds for the connection attempt
LOGIN_PARTS = ("username", "password", "hostname", "port", "db_name")


def pg_login_problem(url: str, label: str, names: Mapping[str, str]) -> str | None:
    """Log in to PostgreSQL at `url` as Dagster will (the same URL through SQLAlchemy, so
    the same driver). `names` says, per part of the login, which setting to edit."""
    engine = sqlalchemy.create_engine(
        url, poolclass=NullPool, connect_args={"connect_timeout": TIMEOUT}
    )
    try:
        with engine.connect():
            return None
    except Exception as exc:
        return pg_failure(exc, url, label, names)
    finally:
        engine.dispose()


def pg_failure(exc: BaseException, url: str, label: str, names: Mapping[str, str]) -> str:
    """One sentence for a failed PostgreSQL connection, from libpq's message."""
    parsed = make_url(url)
    target = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    user = parsed.username or "(no user)"
    reason = _libpq_reason(redact(str(getattr(exc, "orig", None) or exc), url))
    lowered = reason.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return (
            f"{label}: cannot log in to PostgreSQL at {target} as {user}: "
            f"{'password authentication failed' if 'failed' in lowered else reason} "
            f"— check {names['password']}"
        )
    if "role" in lowered and "does not exist" in lowered:
        return (
            f"{label}: cannot log in to PostgreSQL at {target} as {user}: no such role "
            f"— check {names['username']}"
        )
    if "database" in lowered and "does not exist" in lowered:
        return (
            f"{label}: PostgreSQL at {target} has no database {parsed.database!r} "
            f"— check {names['db_name']} (or create the database)"
        )
    if reason in _UNREACHABLE.values():
        where = _either(names["hostname"], names["port"])
        return f"{label}: cannot reach PostgreSQL at {target} ({reason}) — check {where}"
    return f"{label}: cannot connect to PostgreSQL at {target} as {user}: {reason}"


# libpq's words for a server it cannot reach, and the short reason shown for each.
_UNREACHABLE = {
    "connection refused": "connection refused",
    "timeout expired": f"no answer within {TIMEOUT} s",
    "timed out": f"no answer within {TIMEOUT} s",
    "could not translate host name": "host name not found",
    "failed to resolve host": "host name not found",
    "name or service not known": "host name not found",
    "no route to host": "no route to host",
    "network is unreachable": "network is unreachable",
}


def _libpq_reason(text: str) -> str:
    """`connection to server at "h", port p failed: FATAL:  x` → `x` (first line)."""
    line = text.strip().splitlines()[0] if text.strip() else "no reason given"
    lowered = line.lower()
    for words, reason in _UNREACHABLE.items():
        if words in lowered:
            return reason
    if " failed: " in line:
        line = line.rsplit(" failed: ", 1)[1]
    return " ".join(line.replace("FATAL:", "").split())


def _either(first: str, second: str) -> str:
    return first if first == second else f"{first} and {second}"
