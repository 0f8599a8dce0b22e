"""`xero-pipelines crm sample`: fill the CRM tables with realistic, deterministic data."""

from __future__ import annotations

import click

from xero_pipelines.cli.db import DB_ERRORS
from xero_pipelines.cli.errors import one_line_errors
from xero_pipelines.db import create_db_engine, upgrade
from xero_pipelines.db.sample import load_sample_crm


@click.group()
def crm() -> None:
    """Work with the CRM tables (CRM_DATABASE_URL)."""


@crm.command("sample")
@click.option("--accounts", default=50, show_default=True, type=click.IntRange(0, 1_000_000))
@click.option("--seed", default=0, show_default=True, type=int, help="Same seed, same rows.")
@one_line_errors(*DB_ERRORS)
def sample_command(accounts: int, seed: int) -> None:
    """Insert ACCOUNTS sample accounts with contacts, opportunities and lines."""
    engine = create_db_engine()
    try:
        upgrade(engine)
        sample = load_sample_crm(engine, accounts, seed)
    finally:
        engine.dispose()
    click.echo(
        f"inserted {len(sample.accounts)} accounts, {len(sample.contacts)} contacts, "
        f"{len(sample.opportunities)} opportunities, {len(sample.lines)} lines"
    )
