"""`xero-pipelines connect|reconnect|disconnect|status`: the Xero connection."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
from sqlalchemy import Engine, inspect, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from xero_pipelines.cli.errors import CliError, one_line_errors
from xero_pipelines.db import create_db_engine
from xero_pipelines.db.engine import DatabaseUrlError, database_url
from xero_pipelines.db.sync_state import SyncState, all_sync_states
from xero_pipelines.xero import connection as use_cases
from xero_pipelines.xero.errors import RECONNECT_HINT, XeroError
from xero_pipelines.xero.oauth import DEFAULT_PORT, DEFAULT_TIMEOUT

ERRORS = (XeroError, DatabaseUrlError, SQLAlchemyError, OSError)


NO_TABLES = "the database has no Xero tables yet: run `xero-pipelines db upgrade`"
REMOVE_IN_XERO = (
    "remove the app under Connected Apps in Xero "
    "(Settings > Connected Apps, https://go.xero.com/Settings/ConnectedApps)"
)


def _sqlite_file_missing(url: str) -> bool:
    """A SQLite URL whose file does not exist (opening it would create an empty one)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return False  # create_db_engine reports the bad URL
    if parsed.get_backend_name() != "sqlite":
        return False
    name = parsed.database
    if not name or name == ":memory:" or name.startswith("file:"):
        return False
    return not Path(name).expanduser().exists()


def integration_engine() -> Engine:
    """The integration database, which must already hold the contract's tables.

    Checking never creates anything: a missing SQLite file is reported, not made empty.
    """
    url = database_url()
    if _sqlite_file_missing(url):
        raise CliError(NO_TABLES)
    engine = create_db_engine(url)
    if not inspect(engine).has_table("xero_connections"):
        engine.dispose()
        raise CliError(NO_TABLES)
    return engine


def _flow_options(func):
    func = click.option(
        "--timeout",
        type=click.FloatRange(min=1),
        default=DEFAULT_TIMEOUT,
        show_default=True,
        help="Seconds to wait for the browser to come back.",
    )(func)
    func = click.option(
        "--port",
        type=click.IntRange(0, 65535),
        default=DEFAULT_PORT,
        show_default=True,
        help="Loopback port of the redirect URI http://localhost:PORT/callback.",
    )(func)
    return click.option(
        "--no-browser", is_flag=True, help="Only print the authorize URL; open it yourself."
    )(func)


@click.command()
@_flow_options
@click.option(
    "--tenant", help="Tenant id (or exact name) when several organisations are authorised."
)
@one_line_errors(*ERRORS)
def connect(no_browser: bool, port: int, timeout: float, tenant: str | None) -> None:
    """Authorise this integration in Xero and pick the organisation."""
    engine = integration_engine()
    try:
        result = use_cases.connect(
            engine,
            tenant=tenant,
            port=port,
            timeout=timeout,
            open_browser=not no_browser,
            echo=click.echo,
        )
    finally:
        engine.dispose()
    click.echo(f"Connected to {result.tenant_name} (tenant {result.tenant_id}).")


@click.command()
@_flow_options
@one_line_errors(*ERRORS)
def reconnect(no_browser: bool, port: int, timeout: float) -> None:
    """Authorise again for the connected organisation; links and data are kept."""
    engine = integration_engine()
    try:
        result = use_cases.reconnect(
            engine, port=port, timeout=timeout, open_browser=not no_browser, echo=click.echo
        )
    finally:
        engine.dispose()
    click.echo(f"Reconnected to {result.tenant_name} (tenant {result.tenant_id}).")


@click.command()
@click.option("--purge", is_flag=True, help="Also delete the data imported from Xero.")
@one_line_errors(*ERRORS)
def disconnect(purge: bool) -> None:
    """Remove the Xero connection and wipe the stored tokens."""
    engine = integration_engine()
    try:
        result = use_cases.disconnect(engine, purge=purge)
    finally:
        engine.dispose()
    name = result.tenant_name or "Xero"
    if result.remote_removed:
        for warning in result.warnings:
            click.echo(f"Warning: {warning}", err=True)
        click.echo(f"Disconnected from {name}; the stored tokens are wiped.")
    if result.purged_tables:
        click.echo(f"Deleted the imported Xero data ({', '.join(result.purged_tables)}).")
    elif not purge:
        click.echo("Imported data is kept (use --purge to delete it).")
    if not result.remote_removed:
        why = "; ".join(result.warnings) or "Xero did not confirm the removal"
        if result.tokens_unreadable:  # Xero was never asked: the grant is certainly live
            raise CliError(
                f"the local tokens are wiped, but {name} is still connected to this app in "
                f"Xero, because the grant could not be revoked ({why}): {REMOVE_IN_XERO}"
            )
        raise CliError(
            f"the local tokens are wiped, but {name} may still be connected to this app in "
            f"Xero ({why}): {REMOVE_IN_XERO}"
        )


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"


# The import's assets, in the order the import runs them (contract section 6).
SYNCED_ASSETS = (
    "xero_organisation",
    "xero_revenue_accounts",
    "xero_contacts",
    "xero_invoices",
    "xero_credit_notes",
    "crm_accounts",
    "xero_account_links",
    "xero_account_summaries",
)


def _last_syncs(engine: Engine, tenant_id: str | None) -> dict[str, SyncState]:
    """Each asset's last sync for this organisation; none on a database that predates
    the import's tables (run `xero-pipelines db upgrade`)."""
    if tenant_id is None:
        return {}
    try:
        with engine.connect() as conn:
            return all_sync_states(conn, tenant_id)
    except SQLAlchemyError:
        return {}


def _sync_line(state: SyncState | None) -> str:
    if state is None or state.last_synced_at is None:
        return "never"
    return f"{_when(state.last_synced_at)} ({state.rows_total} rows)"


def _number(value: int | None) -> str:
    return "-" if value is None else str(value)


@click.command()
@click.option("--offline", is_flag=True, help="Show what is stored without asking Xero.")
@one_line_errors(*ERRORS)
def status(offline: bool) -> None:
    """Show the connected organisation, token expiry, scopes and API limits.

    Exits 0 when the connection is usable (and Xero, unless --offline, agrees) or when
    nothing is connected; 1, with the reason on stderr, when the tokens cannot be read,
    the grant is lost, or Xero could not be asked.
    """
    engine = integration_engine()
    try:
        st = use_cases.status(engine, check=not offline)
        syncs = _last_syncs(engine, st.tenant_id) if st.connected else {}
    finally:
        engine.dispose()
    if not st.connected:
        after = f" (disconnected from {st.tenant_name})" if st.tenant_name else ""
        click.echo(f"Not connected{after}: run `xero-pipelines connect`.")
        return
    rows = [
        ("Organisation", st.tenant_name or "-"),
        ("Tenant id", st.tenant_id or "-"),
        ("Connected since", _when(st.connected_at)),
        ("Access token expires", _when(st.access_token_expires_at)),
        ("Scopes granted", " ".join(st.scopes) or "-"),
        ("Last successful call", _when(st.last_call_at)),
        ("Day limit remaining", _number(st.day_limit_remaining)),
        ("Minute limit remaining", _number(st.min_limit_remaining)),
    ]
    problem = None
    if st.state == "needs_reconnect":
        reason = f" ({st.reconnect_reason})" if st.reconnect_reason else ""
        problem = f"{RECONNECT_HINT}{reason}"
        rows.append(("Reconnect needed", f"yes: {problem}"))
    elif st.state == "unreadable":
        problem = f"the stored tokens cannot be read: {st.token_error}"
        rows.append(("Reconnect needed", f"yes: {problem}"))
    elif st.check_error:
        problem = st.check_error
        rows.append(("Reconnect needed", "unknown: the check failed"))
    else:
        rows.append(("Reconnect needed", "no"))
    if st.check_error:
        rows.append(("Check", st.check_error))
    width = max(len(label) for label, _ in rows) + 1
    for label, value in rows:
        click.echo(f"{label + ':':<{width}} {value}")
    click.echo("Last sync per asset:")
    asset_width = max(len(asset) for asset in SYNCED_ASSETS) + 1
    for asset in SYNCED_ASSETS:
        click.echo(f"  {asset + ':':<{asset_width}} {_sync_line(syncs.get(asset))}")
    if problem:
        raise CliError(problem)
