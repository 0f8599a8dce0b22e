"""`xero-pipelines requests list|retry`: the request queue from an operator's chair.

The CRM's buttons insert rows into `xero_export_requests` and `xero_draft_requests`; the
sensors and jobs move them on (`pending` → `queued` → `done` or `failed`). These commands
read both tables as one table and send failed or stuck rows back to `pending`; the
queries live in `db/request_admin.py`.
"""

from __future__ import annotations

from datetime import datetime

import click
from rich.table import Table

from xero_pipelines.cli.connection import ERRORS, integration_engine
from xero_pipelines.cli.console import console
from xero_pipelines.cli.errors import CliError, one_line_errors
from xero_pipelines.db.models import REQUEST_STATUSES
from xero_pipelines.db.request_admin import (
    REQUEST_KINDS,
    RequestRow,
    RetryRefused,
    list_requests,
    retry_requests,
)

STATUS_STYLE = {"pending": "yellow", "queued": "cyan", "done": "green", "failed": "bold red"}
KIND = click.Choice(REQUEST_KINDS)


@click.group()
def requests() -> None:
    """List the CRM's export and draft requests, or send failed ones back to pending."""


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _number(value: int | None) -> str:
    return "-" if value is None else str(value)


def _table(rows: list[RequestRow]) -> Table:
    table = Table(caption=f"{len(rows)} request(s), newest first; times in UTC")
    table.add_column("id", justify="right")
    table.add_column("kind")
    table.add_column("account", justify="right")
    table.add_column("opportunity", justify="right")
    table.add_column("status")
    table.add_column("attempts", justify="right")
    table.add_column("requested")
    table.add_column("processed")
    table.add_column("run")
    table.add_column("Xero record", overflow="fold")
    table.add_column("error", overflow="fold")
    for r in rows:
        table.add_row(
            str(r.id),
            r.kind,
            _number(r.account_id),
            _number(r.opportunity_id),
            f"[{STATUS_STYLE.get(r.status, '')}]{r.status}[/]",
            str(r.attempts),
            _when(r.requested_at),
            _when(r.processed_at),
            (r.run_id or "-")[:8],  # as the Dagster UI shortens run ids
            r.xero_record or "-",
            r.error or "",
        )
    return table


@requests.command("list")
@click.option("--status", type=click.Choice(REQUEST_STATUSES), help="Only rows in this status.")
@click.option("--account", "account_id", type=int, help="Only this CRM account's requests.")
@click.option("--kind", type=KIND, help="Only export (export and update) or draft requests.")
@click.option(
    "--limit", default=50, show_default=True, type=click.IntRange(1, 10_000), help="Newest N."
)
@one_line_errors(*ERRORS)
def list_command(status: str | None, account_id: int | None, kind: str | None, limit: int) -> None:
    """Print the newest requests as a table (a draft's account is its opportunity's)."""
    engine = integration_engine()
    try:
        kinds = (kind,) if kind else REQUEST_KINDS
        rows = list_requests(engine, kinds=kinds, status=status, account_id=account_id, limit=limit)
    finally:
        engine.dispose()
    if not rows:
        click.echo("no requests match")
        return
    console().print(_table(rows))


@requests.command("retry")
@click.argument("ids", nargs=-1, required=True, type=int)
@click.option("--kind", type=KIND, help="The table of IDS, when an id is in both.")
@one_line_errors(*ERRORS)
def retry_command(ids: tuple[int, ...], kind: str | None) -> None:
    """Send requests IDS back to `pending` with attempts reset and the error cleared; the
    sensor claims them on its next tick. All or none: a done or unknown id changes nothing."""
    engine = integration_engine()
    try:
        retried = retry_requests(engine, ids, kind)
    except RetryRefused as exc:
        raise CliError(str(exc)) from None
    finally:
        engine.dispose()
    for r in retried:
        click.echo(
            f"{r.table} request {r.id}: {r.previous_status} -> pending "
            f"(attempts {r.previous_attempts} -> 0)"
        )
