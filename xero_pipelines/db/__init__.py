"""The contract's tables (SQLAlchemy 2 models), their Alembic migrations, and engines.

This room imports nothing else of ours: every other package may rely on it.
"""

from xero_pipelines.db import mirrors  # registers the mirror tables on Base.metadata
from xero_pipelines.db.engine import create_db_engine, database_url, pipelines_home
from xero_pipelines.db.migrate import SchemaConflictError, downgrade, upgrade

__all__ = [
    "SchemaConflictError",
    "create_db_engine",
    "database_url",
    "downgrade",
    "mirrors",
    "pipelines_home",
    "upgrade",
]
