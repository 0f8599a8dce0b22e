"""The mirrors' watermarks (`xero_sync_state`), read and written in the caller's transaction.

A mirror writes its new watermark in the same transaction as the last page the
watermark covers, so a run that dies mid-read leaves the old watermark, and the rows it
did store are simply upserted again next time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Table, func, select

from xero_pipelines.db.mirrors import XeroSyncState
from xero_pipelines.db.upsert import upsert_statement

_STATE = XeroSyncState.__table__


@dataclass(frozen=True, slots=True)
class SyncState:
    watermark: datetime | None
    last_synced_at: datetime | None
    rows_total: int


def read_sync_state(conn: Connection, tenant_id: str, asset: str) -> SyncState | None:
    """The mirror's state for this organisation, or None before its first sync."""
    row = conn.execute(
        select(_STATE.c.watermark, _STATE.c.last_synced_at, _STATE.c.rows_total).where(
            _STATE.c.tenant_id == tenant_id, _STATE.c.asset == asset
        )
    ).first()
    return SyncState(row.watermark, row.last_synced_at, row.rows_total) if row else None


def save_sync_state(
    conn: Connection,
    *,
    tenant_id: str,
    asset: str,
    watermark: datetime | None,
    synced_at: datetime,
    rows_total: int,
) -> None:
    """Write (insert or replace) the mirror's state; commit is the caller's."""
    values = {
        "tenant_id": tenant_id,
        "asset": asset,
        "watermark": watermark,
        "last_synced_at": synced_at,
        "rows_total": rows_total,
    }
    conn.execute(upsert_statement(conn.dialect, _STATE, list(values)), [values])


def count_rows(conn: Connection, table: Table, tenant_id: str) -> int:
    """Rows this organisation has in a mirror table."""
    query = select(func.count()).select_from(table).where(table.c.tenant_id == tenant_id)
    return int(conn.execute(query).scalar_one())


def all_sync_states(conn: Connection, tenant_id: str) -> dict[str, SyncState]:
    """Every mirror's state for this organisation, by asset (for `status`)."""
    rows = conn.execute(
        select(_STATE.c.asset, _STATE.c.watermark, _STATE.c.last_synced_at, _STATE.c.rows_total)
        .where(_STATE.c.tenant_id == tenant_id)
        .order_by(_STATE.c.asset)
    )
    return {r.asset: SyncState(r.watermark, r.last_synced_at, r.rows_total) for r in rows}
