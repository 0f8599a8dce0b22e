"""Run the Alembic migrations from code (the CLI and the tests), not from an alembic.ini."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from xero_pipelines.db.engine import create_db_engine
from xero_pipelines.db.errors import SchemaConflictError

SCRIPT_LOCATION = "xero_pipelines.db:migrations"

__all__ = ["SchemaConflictError", "current_revision", "downgrade", "upgrade"]


def _config(connection) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine | None = None, revision: str = "head") -> str | None:
    """Create or migrate every contract table; returns the revision now in place."""
    engine = engine or create_db_engine()
    with engine.begin() as connection:
        command.upgrade(_config(connection), revision)
    return current_revision(engine)


def downgrade(engine: Engine | None = None, revision: str = "base") -> str | None:
    """Undo migrations. CRM-owned tables and their rows are always left in place."""
    engine = engine or create_db_engine()
    with engine.begin() as connection:
        command.downgrade(_config(connection), revision)
    return current_revision(engine)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
