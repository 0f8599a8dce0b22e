"""`CrmDatabase`: the CRM's database (SQLite or PostgreSQL) as a Dagster resource."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import ConfigurableResource
from pydantic import Field
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from xero_pipelines.db.engine import cached_engine, database_url


class CrmDatabase(ConfigurableResource):
    """Hands out SQLAlchemy engines and sessions for the CRM database.

    `url` comes from `EnvVar("CRM_DATABASE_URL")` when that is set (so a password never
    reaches run config or the UI); unset, the contract's embedded SQLite under
    `$XERO_PIPELINES_HOME` is used.
    """

    url: str | None = Field(
        default=None, description="SQLAlchemy URL; unset means $XERO_PIPELINES_HOME/crm.sqlite"
    )

    @property
    def resolved_url(self) -> str:
        return database_url(self.url)

    def engine(self) -> Engine:
        """One pooled engine per URL per process."""
        return cached_engine(self.resolved_url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block succeeds and rolls back when it fails."""
        with Session(self.engine(), expire_on_commit=False) as session, session.begin():
            yield session
