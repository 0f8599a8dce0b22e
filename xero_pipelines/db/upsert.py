"""Upsert a page of mirror rows by primary key, on SQLite and PostgreSQL alike.

A page is written in two statements whatever its size: one `SELECT` reads the stored
version (`updated_date_utc`, or another column) of the page's ids, then one
`INSERT ... ON CONFLICT DO UPDATE` executemany writes the rows that are new or changed.
Rows whose version is unchanged are counted and not rewritten, so a run that re-reads
an overlap (or a whole organisation) costs reads, not writes.

SQLAlchemy over the caller's connection and transaction (the caller decides what commits
together: the last page of a read and its watermark, say); the write itself is
SQLAlchemy's statement handed to the driver's `executemany` (see `execute_many`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, Dialect, Table, any_, bindparam, select
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
        query = select(id_col, table.c[compare]).where(
            tenant_col == tenant, _one_of(conn, id_col, idents)
        )
        with _by_index(conn):
            found.update({(tenant, i): v for i, v in conn.execute(query)})
    return found


def _one_of(conn: Connection, column: Column, values: list[Any]) -> ColumnElement[bool]:
    """`column IN (values)`; on PostgreSQL `= ANY(array)`: one parameter, not a thousand."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam("ids", values, type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


@contextmanager
def _by_index(conn: Connection) -> Iterator[None]:
    """On PostgreSQL, look the page's ids up through the primary key whatever the
    planner's statistics say. A mirror filled by a first import grows far faster than
    autovacuum re-analyses it; believing the table tiny, the planner scanned all of it
    for every page (200 ms a page at 30,000 invoices, growing with the table)."""
    if conn.dialect.name != "postgresql":
        yield
        return
    before = conn.exec_driver_sql("SHOW enable_seqscan").scalar_one()
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"SET LOCAL enable_seqscan = {'on' if before == 'on' else 'off'}")


def upsert_statement(dialect: Dialect, table: Table, columns: Sequence[str]):
    """`INSERT ... ON CONFLICT (pk) DO UPDATE SET` every other given column, in the
    dialect's own syntax (`conn.dialect`)."""
    try:
        insert = _INSERTS[dialect.name]
    except KeyError:
        raise ValueError(f"no upsert for the {dialect.name} dialect") from None
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
        execute_many(conn, table, to_write)
    return UpsertResult(UpsertCounts(inserted, updated, unchanged), changed)


@dataclass(frozen=True, slots=True)
class _Prepared:
    """An upsert compiled once per dialect, table and column set: its SQL, and for each
    parameter the row key it reads and the column type's bind processor."""

    sql: str
    params: tuple[tuple[str, str, Callable[[Any], Any] | None], ...]  # (param, key, proc)
    positional: bool


@lru_cache(maxsize=64)
def _prepare(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> _Prepared:
    compiled = upsert_statement(dialect, table, columns).compile(dialect=dialect)
    names = compiled.positiontup if compiled.positional else list(compiled.binds)
    params = []
    for name in names:
        bind = compiled.binds[name]
        processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
        params.append((name, bind.key, processor))
    return _Prepared(str(compiled), tuple(params), bool(compiled.positional))


def execute_many(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Upsert `rows` (dicts with the same keys) in one driver `executemany`.

    The statement is SQLAlchemy's, compiled once and cached; each value goes through its
    column type's bind processor exactly as `conn.execute` would do it (Money rounds to
    cents, UTC timestamps, exact JSON), without SQLAlchemy's per-row bookkeeping, which
    cost as much CPU as the driver itself on PostgreSQL."""
    prepared = _prepare(conn.dialect, table, tuple(rows[0]))
    steps = prepared.params
    if prepared.positional:
        data: list[Any] = [
            tuple(p(row[key]) if p else row[key] for _, key, p in steps) for row in rows
        ]
    else:
        data = [{name: p(row[key]) if p else row[key] for name, key, p in steps} for row in rows]
    conn.exec_driver_sql(prepared.sql, data)
