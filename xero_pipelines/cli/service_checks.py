"""Start-up checks of the services the code location talks to: the CRM database, the
Celery broker, Xero, and the code location itself.

Each check makes one real connection with a short timeout and returns one sentence when
it fails (None when fine), naming the setting to fix. Passwords never appear: hosts are
shown as host:port, database URLs through `safe_url`, driver messages through `redact`.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import requests
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError

from xero_pipelines.cli.pg_checks import LOGIN_PARTS, pg_failure
from xero_pipelines.db.engine import URL_ENV, create_db_engine, database_url, redact, safe_url
from xero_pipelines.db.migrate import SCRIPT_LOCATION, current_revision
from xero_pipelines.xero.config import XeroAppConfig, XeroConfigError

TIMEOUT = 5  # seconds for each connection attempt
EXECUTOR_ENV = "XERO_PIPELINES_EXECUTOR"
BROKER_ENV = "XERO_PIPELINES_CELERY_BROKER"
BROKER_PORTS = {"redis": 6379, "rediss": 6379, "amqp": 5672, "pyamqp": 5672, "amqps": 5671}


# ---- the CRM database -------------------------------------------------------------------


def crm_problem() -> str | None:
    """The CRM database accepts a connection and its tables are at the code's revision
    (the sensors and jobs read them from their first tick). A SQLite file that does not
    exist is reported, not created."""
    url = database_url()
    upgrade = f"run `xero-pipelines db upgrade`, or set {URL_ENV} to the CRM's database"
    if _sqlite_file_missing(url):
        return f"CRM database {safe_url(url)} does not exist: {upgrade}"
    try:
        engine = create_db_engine(url)
    except ValueError as exc:  # DatabaseUrlError: says which variable, redacted
        return str(exc)
    try:
        revision = current_revision(engine)
    except Exception as exc:
        return _crm_failure(exc, url)
    finally:
        engine.dispose()
    heads = ScriptDirectory.from_config(_alembic_config()).get_heads()
    if revision is None:
        return f"CRM database {safe_url(url)} has none of the pipeline's tables: {upgrade}"
    if revision not in heads:
        return (
            f"CRM database {safe_url(url)} is at revision {revision}, this code needs "
            f"{', '.join(heads)}: run `xero-pipelines db upgrade`"
        )
    return None


def _sqlite_file_missing(url: str) -> bool:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return False  # create_db_engine reports the bad URL
    name = parsed.database
    if parsed.get_backend_name() != "sqlite" or not name or name == ":memory:":
        return False
    return not name.startswith("file:") and not Path(name).expanduser().exists()


def _crm_failure(exc: BaseException, url: str) -> str:
    if make_url(url).get_backend_name() == "postgresql":
        return pg_failure(exc, url, "CRM database", dict.fromkeys(LOGIN_PARTS, URL_ENV))
    reason = redact(str(getattr(exc, "orig", None) or exc), url).strip().splitlines()[0]
    return f"CRM database {safe_url(url)}: {reason} — check {URL_ENV}"


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


def tokens_problem(engine_url: str | None = None) -> str | None:
    """Stored Xero tokens, if any, can be decrypted with this process's key
    (`XERO_TOKEN_KEY` or the key file): every machine must use the key they were stored
    with. Not being connected yet is fine (`xero-pipelines connect` after start-up)."""
    from xero_pipelines.xero.connection import status

    engine: Engine = create_db_engine(engine_url)
    try:
        state = status(engine, check=False)
    except Exception:  # the CRM check reports a database it cannot read
        return None
    finally:
        engine.dispose()
    if state.state == "unreadable":
        return f"the stored Xero connection cannot be read: {state.token_error}"
    return None


# ---- the Celery broker ------------------------------------------------------------------


def celery_configured(env: Mapping[str, str]) -> bool:
    return env.get(EXECUTOR_ENV, "").strip().lower() == "celery"


def broker_problem(env: Mapping[str, str]) -> str | None:
    """With the Celery executor, its broker answers (a Redis PING when the `redis`
    package is installed, else a TCP connection)."""
    if not celery_configured(env):
        return None
    url = env.get(BROKER_ENV, "").strip()
    if not url:
        return (
            f"{BROKER_ENV} is not set: {EXECUTOR_ENV}=celery needs the Celery broker's URL "
            "(e.g. redis://host:6379/0)"
        )
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        host, port = parts.hostname or "localhost", parts.port or BROKER_PORTS.get(scheme)
    except ValueError:
        return f"{BROKER_ENV} has an invalid port: use scheme://host:port/..."
    if port is None:
        return f"{BROKER_ENV} must be a redis:// or amqp:// URL, not {scheme or 'no'} scheme"
    shown = f"{scheme}://{host}:{port}"
    try:
        _ping_broker(url, scheme, host, port)
    except PermissionError as exc:
        return f"cannot log in to the Celery broker at {shown}: {exc} — check {BROKER_ENV}"
    except OSError as exc:
        return f"cannot reach the Celery broker at {shown} ({_reason(exc)}) — check {BROKER_ENV}"
    return None


def _ping_broker(url: str, scheme: str, host: str, port: int) -> None:
    """Raise OSError when unreachable, PermissionError when the login is refused."""
    try:
        import redis
    except ImportError:
        redis = None
    if redis is None or not scheme.startswith("redis"):
        socket.create_connection((host, port), timeout=TIMEOUT).close()
        return
    client = redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT)
    try:
        client.ping()
    except redis.AuthenticationError:
        raise PermissionError("the password was refused") from None
    except redis.ResponseError as exc:
        if any(word in str(exc) for word in ("NOAUTH", "WRONGPASS", "AUTH")):
            raise PermissionError("the broker refused the login") from None
        raise OSError(str(exc).splitlines()[0]) from None
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        cause = exc.__cause__ or exc.__context__
        raise cause if isinstance(cause, OSError) else OSError(str(exc)) from None
    finally:
        client.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer within {TIMEOUT} s"
    if isinstance(exc, socket.gaierror):
        return "host name not found"
    return (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__).strip()


# ---- Xero ---------------------------------------------------------------------------------


def xero_credentials_problem(env: Mapping[str, str]) -> str | None:
    """The Xero app's id and secret are set: every run that calls Xero needs them."""
    try:
        XeroAppConfig.from_env(env).require_credentials()
    except XeroConfigError as exc:
        return str(exc)
    return None


def xero_api_problem(env: Mapping[str, str]) -> str | None:
    """Xero's API answers at `XERO_API_URL` (`/connections` without a token: Xero says
    401, which proves it is there; a 404 says the base URL is wrong)."""
    base = XeroAppConfig.from_env(env).api_url
    parts = urlsplit(base)
    shown = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    try:
        answer = requests.get(f"{base}/connections", timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        return f"cannot reach Xero's API at {shown} ({_http_reason(exc)}) — check XERO_API_URL"
    if answer.status_code == 404:
        return (
            f"Xero's API at {shown} answers 404 for /connections: XERO_API_URL must be the "
            "base of Xero's API (https://api.xero.com)"
        )
    return None


def _http_reason(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return f"no answer within {TIMEOUT} s"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake failed"
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return "not a URL"
    text = str(exc)
    for words, reason in (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "host name not found"),
        ("Temporary failure in name resolution", "host name not found"),
        ("No route to host", "no route to host"),
    ):
        if words in text:
            return reason
    return type(exc).__name__


# ---- the code location -------------------------------------------------------------------


def code_location_problem(env: Mapping[str, str]) -> str | None:
    """The code location loads as the daemon will load it (its executor settings, its
    resources' variables by name): a failure here would otherwise show only in the UI."""
    try:
        import xero_pipelines.definitions  # noqa: F401
    except Exception as exc:
        text = redact(" ".join(str(exc).split()), database_url())
        return f"the code location xero_pipelines does not load: {text or type(exc).__name__}"
    return None
