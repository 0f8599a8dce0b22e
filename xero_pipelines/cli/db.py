"""`xero-pipelines db upgrade|downgrade|current`."""

from __future__ import annotations

import click
from alembic.util import CommandError
from sqlalchemy.exc import SQLAlchemyError

from xero_pipelines.cli.errors import one_line_errors
from xero_pipelines.db import SchemaConflictError, create_db_engine, database_url, upgrade
from xero_pipelines.db.engine import DatabaseUrlError, safe_url
from xero_pipelines.db.migrate import current_revision, downgrade

DB_ERRORS = (DatabaseUrlError, SchemaConflictError, SQLAlchemyError, CommandError, OSError)


@click.group()
def db() -> None:
    """Create and migrate the contract's tables (CRM_DATABASE_URL)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@one_line_errors(*DB_ERRORS)
def upgrade_command(revision: str) -> None:
    """Create or migrate every table; CRM tables only where they do not exist."""
    url = database_url()
    engine = create_db_engine(url)
    try:
        now = upgrade(engine, revision)
    finally:
        engine.dispose()
    click.echo(f"{safe_url(url)} is at revision {now}")


@db.command("downgrade")
@click.argument("revision", default="base")
@one_line_errors(*DB_ERRORS)
def downgrade_command(revision: str) -> None:
    """Undo migrations down to REVISION; the CRM's own tables and rows are kept."""
    url = database_url()
    engine = create_db_engine(url)
    try:
        now = downgrade(engine, revision)
    finally:
        engine.dispose()
    click.echo(f"{safe_url(url)} is at revision {now or 'base'}")


@db.command("current")
@one_line_errors(*DB_ERRORS)
def current_command() -> None:
    """Print the revision the database is at."""
    url = database_url()
    engine = create_db_engine(url)
    try:
        click.echo(current_revision(engine) or "base")
    finally:
        engine.dispose()
