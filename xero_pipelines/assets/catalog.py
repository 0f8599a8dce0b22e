"""What the UI shows of an asset besides its data: owners, kinds, the column schema, links.

Kinds: `xero` on what holds Xero's data, plus the CRM database's backend. The backend is
only certain at run time, but the code location is loaded with the same environment as
its runs, so `CRM_DATABASE_URL`'s scheme at load time (a parse, no connection) names it:
`postgres`, or `sqlite` for the contract's embedded default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import dagster as dg
from sqlalchemy import JSON, Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from xero_pipelines.db.engine import database_url
from xero_pipelines.db.types import UTCDateTime
from xero_pipelines.domain.catalog import OWNERS

XERO_KIND = "xero"
BACKEND_KINDS = {"postgresql": "postgres", "sqlite": "sqlite"}

# Columns that mean the same in every table that has them.
COMMON_COLUMNS = {
    "tenant_id": "The Xero organisation (tenant id) the row belongs to.",
    "updated_date_utc": "Xero's UpdatedDateUTC: the mirror's watermark is the greatest.",
    "raw": "The whole Xero record as JSON (JSONB on PostgreSQL).",
    "synced_at": "When the import last wrote this row.",
    "xero_url": "Opens the record in Xero (deep link by the organisation's ShortCode).",
}


def crm_backend_kind(url: str | None = None) -> str:
    """`postgres` or `sqlite`: the backend of the CRM database the code location is
    configured with. An unparsable URL gives `sql` here; loading the resources reports it."""
    try:
        backend = make_url(database_url(url)).get_backend_name()
    except (ArgumentError, ValueError):
        return "sql"
    return BACKEND_KINDS.get(backend, backend)


def xero_kinds() -> set[str]:
    """Kinds of an asset holding Xero's data in the CRM database."""
    return {XERO_KIND, crm_backend_kind()}


def crm_kinds() -> set[str]:
    return {crm_backend_kind()}


OWNER_LIST = list(OWNERS)


def _type_name(column: Any) -> str:
    if isinstance(column.type, UTCDateTime):
        return "timestamp (UTC)"
    if isinstance(column.type, JSON):
        return "json"
    return str(column.type).lower()


def table_schema(table: Table, descriptions: Mapping[str, str] | None = None) -> dg.TableSchema:
    """The table's columns as Dagster's `TableSchema`: name, type, nullability, primary
    key; descriptions from `descriptions`, else `COMMON_COLUMNS`, else the column's comment."""
    descriptions = {**COMMON_COLUMNS, **(descriptions or {})}
    key = [c.name for c in table.primary_key.columns]
    columns = [
        dg.TableColumn(
            name=c.name,
            type=_type_name(c),
            description=descriptions.get(c.name) or c.comment,
            constraints=dg.TableColumnConstraints(
                nullable=bool(c.nullable), unique=bool(c.unique) or key == [c.name]
            ),
        )
        for c in table.columns
    ]
    constraints = dg.TableConstraints(other=[f"primary key ({', '.join(key)})"]) if key else None
    return dg.TableSchema(columns=columns, constraints=constraints)


def schema_metadata(table: Table, descriptions: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Definition metadata that declares the table's column schema and name."""
    return {
        "dagster/column_schema": dg.MetadataValue.table_schema(table_schema(table, descriptions)),
        "dagster/table_name": table.name,
    }


def url_entries(prefix: str, links: Iterable[tuple[Any, str | None]], limit: int = 5) -> dict:
    """Up to `limit` clickable `MetadataValue.url` entries, one per (id, url)."""
    out: dict[str, dg.MetadataValue] = {}
    for ident, url in links:
        if url and len(out) < limit:
            out[f"{prefix}_{ident}"] = dg.MetadataValue.url(url)
    return out
