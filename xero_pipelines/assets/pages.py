"""One page of a mirror read: decoded, mapped, stored, and what that did.

The same functions serve the run's own process and the page writers
(`assets/page_writers.py`), which is why this module imports neither Dagster nor the HTTP
client: a writer process loads it in a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from xero_pipelines.db.engine import locked_transaction
from xero_pipelines.db.sync_state import count_rows, save_sync_state
from xero_pipelines.db.upsert import UpsertCounts, upsert_rows
from xero_pipelines.xero.records import KINDS, MappedPage, RecordKind, Skipped, map_page
from xero_pipelines.xero.responses import loads

PREVIEW_ROWS = 10
REPORTED_SKIPS = 10

_KIND_OF = {kind.collection: kind for kind in KINDS}


@dataclass(frozen=True, slots=True)
class Page:
    """A page as Xero sent it, with its envelope's counts."""

    number: int
    items: list[Any]
    item_count: int | None  # Xero's pagination.itemCount, when it sends one
    page_count: int | None = None  # pagination.pageCount (1 for an unpaged endpoint)


@dataclass(frozen=True)
class PageJob:
    """What every page of one read shares: how its records become rows, and how the rows
    are written. Plain data, so that it can be handed to a writer process."""

    collection: str  # the record kind, by its list's key in Xero's envelope ("Invoices")
    path: str  # the Accounting API path, for errors
    tenant_id: str
    synced_at: datetime
    compare: str  # the column that tells an unchanged row
    rewrite: bool  # rewrite unchanged rows too (a full refresh)
    archived: frozenset[str] = frozenset()  # statuses counted as archived
    preview: tuple[str, ...] = ()

    @property
    def kind(self) -> RecordKind:
        return _KIND_OF[self.collection]


@dataclass(frozen=True)
class FinalState:
    """The mirror's state, written in the same transaction as the read's last page."""

    asset: str
    watermark: datetime | None


@dataclass
class PageStored:
    """What storing one page did: small, whatever the page's size."""

    number: int
    rows_read: int
    item_count: int | None
    counts: UpsertCounts = field(default_factory=UpsertCounts)
    archived: int = 0
    preview: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    skipped_sample: list[Skipped] = field(default_factory=list)
    latest: datetime | None = None  # the newest UpdatedDateUTC stored
    rows_total: int | None = None  # the table's rows, counted with the final state


def decode_page(job: PageJob, number: int, body: bytes | Mapping[str, Any]) -> Page:
    """Xero's answer (its bytes, or already decoded) → a `Page`; a 304's empty body is an
    empty page."""
    if isinstance(body, bytes | bytearray):
        try:
            body = loads(body) if body.strip() else {}
        except ValueError:
            raise ValueError(f"Xero's {job.path} page {number} is not JSON") from None
    if not isinstance(body, Mapping):
        raise ValueError(f"Xero's {job.path} page {number} is not a JSON object")
    items = body.get(job.collection) or []
    if not isinstance(items, list):
        raise ValueError(f"Xero's {job.path} answer has no {job.collection} list")
    pagination = body.get("pagination")
    counts = pagination if isinstance(pagination, Mapping) else {}
    items_total, pages_total = counts.get("itemCount"), counts.get("pageCount")
    return Page(
        number,
        items,
        items_total if isinstance(items_total, int) else None,
        pages_total if isinstance(pages_total, int) else None,
    )


def map_items(job: PageJob, page: Page) -> MappedPage:
    return map_page(job.kind, page.items, tenant_id=job.tenant_id, synced_at=job.synced_at)


def latest_update(rows: list[dict[str, Any]]) -> datetime | None:
    """The newest `UpdatedDateUTC` among mapped rows (None: none has one)."""
    return max(
        (r["updated_date_utc"] for r in rows if r.get("updated_date_utc") is not None),
        default=None,
    )


def store_page(
    engine: Engine,
    job: PageJob,
    page: Page,
    mapped: MappedPage,
    *,
    state: FinalState | None = None,
) -> PageStored:
    """Upsert a mapped page in one transaction (with the mirror's final state, if given).

    It takes the write lock first (`BEGIN IMMEDIATE` on SQLite): a deferred transaction
    that reads the stored versions and then writes fails at once ("database is locked")
    when another connection committed in between, e.g. another page writer."""
    rows_total = None
    with locked_transaction(engine, refetchable=True) as conn:
        result = upsert_rows(
            conn, job.kind.table, mapped.rows, compare=job.compare, rewrite_unchanged=job.rewrite
        )
        if state is not None:
            rows_total = count_rows(conn, job.kind.table, job.tenant_id)
            save_sync_state(
                conn,
                tenant_id=job.tenant_id,
                asset=state.asset,
                watermark=state.watermark,
                synced_at=job.synced_at,
                rows_total=rows_total,
            )
    status = job.kind.status_column
    archived = 0
    if status and job.archived:
        archived = sum(1 for r in result.changed if r.get(status) in job.archived)
    preview = [{c: r.get(c) for c in job.preview} for r in result.changed[:PREVIEW_ROWS]]
    return PageStored(
        number=page.number,
        rows_read=len(page.items),
        item_count=page.item_count,
        counts=result.counts,
        archived=archived,
        preview=preview if job.preview else [],
        skipped=len(mapped.skipped),
        skipped_sample=mapped.skipped[:REPORTED_SKIPS],
        latest=latest_update(mapped.rows),
        rows_total=rows_total,
    )


def decode_and_store(engine: Engine, job: PageJob, number: int, body: bytes) -> PageStored:
    """A page fetched but not decoded, stored: what a page writer does with each page."""
    page = decode_page(job, number, body)
    return store_page(engine, job, page, map_items(job, page))
