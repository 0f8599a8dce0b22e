"""Upsert a page of mirror rows by primary key, on SQLite and PostgreSQL alike.

A page is written in two statements whatever its size: one `SELECT` reads the stored
version (`updated_date_utc`, or another column) of the page's ids, then one
`INSERT ... ON CONFLICT DO UPDATE` executemany writes the rows that are new or changed.
Rows whose version is unchanged are counted and not rewritten, so a run that re-reads
an overlap (or a whole organisation) costs reads, not writes.

Pure SQLAlchemy over the caller's connection and transaction: the caller decides what
commits together (the last page of a read and its watermark, say).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Connection, Table, select
from sqlalchemy.dialects import postgresql, sqlite

TENANT = "tenant_id"
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged


@dataclass(slots=True)
class UpsertResult:
    """What a page did: the counts, and the rows that were inserted or changed (the same
    dicts that were passed in, for previews and status counts)."""

    counts: UpsertCounts
    changed: list[dict[str, Any]] = field(default_factory=list)


def _key_columns(table: Table) -> tuple[Column, Column | None]:
    """The tenant column and the record's own id column (None: one row per tenant)."""
    pk = list(table.primary_key.columns)
    names = [c.name for c in pk]
    if TENANT not in names or len(pk) > 2:
        raise ValueError(f"{table.name}: expected a primary key of tenant_id [+ one id]")
    rest = [c for c in pk if c.name != TENANT]
    return table.c[TENANT], (rest[0] if rest else None)


def _key(row: dict[str, Any], id_col: Column | None) -> tuple[Any, Any]:
    return row[TENANT], (row[id_col.name] if id_col is not None else None)


def stored_versions(
    conn: Connection, table: Table, keys: Iterable[tuple[Any, Any]], compare: str
) -> dict[tuple[Any, Any], Any]:
    """Key → stored value of `compare`, for those of `keys` that have a row (one query
    per tenant in the page, which is one in practice)."""
    tenant_col, id_col = _key_columns(table)
    by_tenant: dict[Any, list[Any]] = {}
    for tenant, ident in keys:
        by_tenant.setdefault(tenant, []).append(ident)
    found: dict[tuple[Any, Any], Any] = {}
    for tenant, idents in by_tenant.items():
        if id_col is None:
            query = select(tenant_col, table.c[compare]).where(tenant_col == tenant)
            found.update({(t, None): v for t, v in conn.execute(query)})
            continue
        query = select(id_col, table.c[compare]).where(tenant_col == tenant, id_col.in_(idents))
        found.update({(tenant, i): v for i, v in conn.execute(query)})
    return found


def upsert_statement(conn: Connection, table: Table, columns: Sequence[str]):
    """`INSERT ... ON CONFLICT (pk) DO UPDATE SET` every other given column, in the
    connection's dialect."""
    try:
        insert = _INSERTS[conn.dialect.name]
    except KeyError:
        raise ValueError(f"no upsert for the {conn.dialect.name} dialect") from None
    keys = [c.name for c in table.primary_key.columns]
    stmt = insert(table)
    updates = {name: stmt.excluded[name] for name in columns if name not in keys}
    return stmt.on_conflict_do_update(index_elements=keys, set_=updates)


def upsert_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    compare: str = "updated_date_utc",
    rewrite_unchanged: bool = False,
) -> UpsertResult:
    """Insert or update `rows` (dicts with the same keys) by primary key.

    A row is unchanged when its stored `compare` value equals the new one (a None on
    either side counts as changed); unchanged rows are not rewritten unless
    `rewrite_unchanged` (a full refresh that must rewrite everything). When a page holds
    one id twice, the last occurrence wins.
    """
    if not rows:
        return UpsertResult(UpsertCounts())
    _, id_col = _key_columns(table)
    latest = {_key(row, id_col): row for row in rows}
    stored = stored_versions(conn, table, latest.keys(), compare)
    inserted = updated = unchanged = 0
    changed: list[dict[str, Any]] = []
    to_write: list[dict[str, Any]] = []
    for key, row in latest.items():
        if key not in stored:
            inserted += 1
        elif stored[key] is not None and stored[key] == row.get(compare):
            unchanged += 1
            if rewrite_unchanged:
                to_write.append(row)
            continue
        else:
            updated += 1
        changed.append(row)
        to_write.append(row)
    if to_write:
        conn.execute(upsert_statement(conn, table, list(rows[0])), to_write)
    return UpsertResult(UpsertCounts(inserted, updated, unchanged), changed)
