"""The one read-and-write loop behind every Xero mirror asset.

Incremental rule: each mirror keeps a watermark per organisation (the greatest
`UpdatedDateUTC` it stored) in `xero_sync_state`. A run asks Xero for what changed since
a few seconds before it (`If-Modified-Since`; the overlap is harmless because rows are
upserted by Xero id), in pages of 1,000, and writes each page as it arrives, so memory
holds a handful of pages whatever the size of the organisation. Once page 1 has told
`pagination.pageCount`, the other pages are fetched a few at a time on a small thread
pool (the client's pacer keeps the organisation within Xero's 5 calls in flight) and
written, in order, from the caller's thread.

The new watermark is written in the same transaction as the last page, so a run that
dies mid-read leaves the old one: the next run reads those pages again. When Xero's
`itemCount` moves during the read (records changed under the pages being read, which can
shift a record from one page to another), the watermark is not moved either.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
from sqlalchemy import Engine

from xero_pipelines.assets.progress import NO_PROGRESS, MirrorProgress
from xero_pipelines.db.engine import locked_transaction
from xero_pipelines.db.sync_state import count_rows, read_sync_state, save_sync_state
from xero_pipelines.db.upsert import UpsertCounts, upsert_rows
from xero_pipelines.xero.client import XeroClient
from xero_pipelines.xero.records import MappedPage, RecordKind, Skipped, map_page

PAGE_SIZE = 1000
PAGES_IN_FLIGHT = 4
OVERLAP = timedelta(seconds=5)
REPORTED_SKIPS = 10
PREVIEW_ROWS = 10
TRIM_EVERY = 10  # pages

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MirrorSpec:
    """What one mirror reads and where it writes it."""

    asset: str  # asset key, also the `xero_sync_state.asset` value
    kind: RecordKind
    path: str  # Accounting API path, e.g. "Invoices"
    params: Mapping[str, str] = field(default_factory=dict)
    paged: bool = True  # False: one call returns everything (Accounts, Organisation)
    incremental: bool = True  # False: always read whole
    archived: frozenset[str] = frozenset()  # statuses counted as archived
    compare: str = "updated_date_utc"  # the column that tells an unchanged row
    preview: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Page:
    number: int
    items: list[Any]
    item_count: int | None  # Xero's pagination.itemCount, when it sends one
    page_count: int | None = None  # pagination.pageCount (1 for an unpaged endpoint)


@dataclass
class MirrorReport:
    """What a mirror run did, for metadata and checks."""

    asset: str
    since: datetime | None
    previous_watermark: datetime | None
    full_refresh: bool = False
    watermark: datetime | None = None
    counts: UpsertCounts = field(default_factory=UpsertCounts)
    archived: int = 0
    rows_read: int = 0
    pages: int = 0
    # Xero's pagination.itemCount on the first and the latest page (None: not sent).
    # Two numbers, not one per page: a long read keeps nothing of the pages it wrote.
    item_count: int | None = None
    last_item_count: int | None = None
    skipped: int = 0
    skipped_sample: list[Skipped] = field(default_factory=list)
    preview: list[dict[str, Any]] = field(default_factory=list)
    rows_total: int = 0

    item_count_moved: bool = False


# ---- reading ---------------------------------------------------------------------------


def _query(spec: MirrorSpec, page: int | None) -> dict[str, Any]:
    query = dict(spec.params)
    if page is not None:
        query.update(page=page, pageSize=PAGE_SIZE)
    return query


def _page(spec: MirrorSpec, number: int, body: Mapping[str, Any]) -> Page:
    items = body.get(spec.kind.collection) or []
    if not isinstance(items, list):
        raise ValueError(f"Xero's {spec.path} answer has no {spec.kind.collection} list")
    pagination = body.get("pagination")
    counts = pagination if isinstance(pagination, Mapping) else {}
    items_total, pages_total = counts.get("itemCount"), counts.get("pageCount")
    return Page(
        number,
        items,
        items_total if isinstance(items_total, int) else None,
        pages_total if isinstance(pages_total, int) else None,
    )


def read_pages(
    client: XeroClient,
    spec: MirrorSpec,
    since: datetime | None,
    *,
    in_flight: int = PAGES_IN_FLIGHT,
) -> Iterator[Page]:
    """Yield the read's pages in order: page 1, then the rest fetched `in_flight` at a
    time. Without `pagination`, pages are read one by one until an empty one."""

    def fetch(number: int | None) -> dict[str, Any]:
        return client.get(spec.path, _query(spec, number), if_modified_since=since)

    if not spec.paged:
        yield replace(_page(spec, 1, fetch(None)), page_count=1)
        return
    first = fetch(1)
    yield _page(spec, 1, first)
    pagination = first.get("pagination")
    page_count = pagination.get("pageCount") if isinstance(pagination, Mapping) else None
    if not isinstance(page_count, int):
        yield from _read_until_empty(spec, fetch, bool(first.get(spec.kind.collection)))
        return
    yield from _read_concurrently(spec, fetch, page_count, max(1, in_flight))


def _read_until_empty(spec: MirrorSpec, fetch, more: bool) -> Iterator[Page]:
    number = 1
    while more:
        number += 1
        page = _page(spec, number, fetch(number))
        more = bool(page.items)
        if more:
            yield page


def _read_concurrently(spec: MirrorSpec, fetch, page_count: int, in_flight: int) -> Iterator[Page]:
    """Pages 2..page_count, at most `in_flight` requested ahead of the one being written."""
    pending: deque[tuple[int, Future]] = deque()
    numbers = iter(range(2, page_count + 1))
    with ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix=spec.asset) as pool:
        try:
            for number in numbers:
                pending.append((number, pool.submit(fetch, number)))
                if len(pending) >= in_flight:
                    break
            while pending:
                number, future = pending.popleft()
                body = future.result()
                following = next(numbers, None)
                if following is not None:
                    pending.append((following, pool.submit(fetch, following)))
                yield _page(spec, number, body)
        finally:
            for _, future in pending:
                future.cancel()


def _malloc_trim() -> Callable[[], object]:
    """glibc's `malloc_trim(0)`, or a no-op where there is none (macOS, musl).

    The pages are decoded on the fetch threads, each with its own glibc arena; what they
    free stays in those arenas, so without a trim the process grows with the number of
    pages read (measured: +100 MiB over 300 pages of invoices), and with one it stays
    flat at a handful of pages."""
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: trim(0)


release_freed_memory = _malloc_trim()


# ---- writing ---------------------------------------------------------------------------


def _since(spec: MirrorSpec, watermark: datetime | None, full_refresh: bool) -> datetime | None:
    if full_refresh or not spec.incremental or watermark is None:
        return None
    return watermark - OVERLAP


def _latest(current: datetime | None, rows: list[dict[str, Any]]) -> datetime | None:
    stamps = [r["updated_date_utc"] for r in rows if r.get("updated_date_utc") is not None]
    if not stamps:
        return current
    newest = max(stamps)
    return newest if current is None or newest > current else current


def _next_watermark(
    previous: datetime | None, seen: datetime | None, item_count_moved: bool
) -> datetime | None:
    """The newest `UpdatedDateUTC` stored, never moved back, and not moved at all when
    Xero's count changed under the read (a record may have slipped between pages)."""
    if item_count_moved or seen is None or (previous is not None and previous >= seen):
        return previous
    return seen


def _note(
    report: MirrorReport, spec: MirrorSpec, mapped: MappedPage, page: Page, logger: Any
) -> None:
    report.rows_read += len(page.items)
    report.pages += 1
    if page.item_count is not None:
        if report.item_count is None:
            report.item_count = page.item_count
        report.item_count_moved |= page.item_count != report.item_count
        report.last_item_count = page.item_count
    if mapped.skipped:
        report.skipped += len(mapped.skipped)
        room = REPORTED_SKIPS - len(report.skipped_sample)
        report.skipped_sample.extend(mapped.skipped[: max(0, room)])
        logger.warning(
            "%s page %d: %d record(s) skipped, e.g. %s",
            spec.asset,
            page.number,
            len(mapped.skipped),
            "; ".join(f"{s.record_id}: {s.reason}" for s in mapped.skipped[:3]),
        )


def _write(
    engine: Engine,
    spec: MirrorSpec,
    report: MirrorReport,
    rows: list[dict[str, Any]],
    *,
    tenant_id: str,
    rewrite: bool,
    final_watermark: datetime | None = None,
    synced_at: datetime | None = None,
) -> None:
    """One transaction: a page's rows and, with the last page, the mirror's state.

    It takes the write lock first (`BEGIN IMMEDIATE` on SQLite): a deferred transaction
    that reads the stored versions and then writes fails at once ("database is locked")
    when another connection committed in between, e.g. the token store recording Xero's
    limit headers from a fetch thread."""
    with locked_transaction(engine, refetchable=True) as conn:
        result = upsert_rows(
            conn, spec.kind.table, rows, compare=spec.compare, rewrite_unchanged=rewrite
        )
        if synced_at is not None:
            report.rows_total = count_rows(conn, spec.kind.table, tenant_id)
            save_sync_state(
                conn,
                tenant_id=tenant_id,
                asset=spec.asset,
                watermark=final_watermark,
                synced_at=synced_at,
                rows_total=report.rows_total,
            )
    report.counts += result.counts
    status = spec.kind.status_column
    if status and spec.archived:
        report.archived += sum(1 for r in result.changed if r.get(status) in spec.archived)
    room = PREVIEW_ROWS - len(report.preview)
    if room > 0 and spec.preview:
        report.preview.extend({c: r.get(c) for c in spec.preview} for r in result.changed[:room])


def mirror(
    client: XeroClient,
    engine: Engine,
    spec: MirrorSpec,
    *,
    tenant_id: str,
    full_refresh: bool = False,
    in_flight: int = PAGES_IN_FLIGHT,
    logger: Any = log,
    progress: MirrorProgress = NO_PROGRESS,
) -> MirrorReport:
    """Read `spec`'s records from Xero (incrementally unless `full_refresh`) and upsert
    them into its mirror table, page by page; returns what was read and written.

    Skipped records are logged as warnings on `logger` (the asset's `context.log`);
    `progress` hears of page 1's counts and of every page (`assets/progress.py`)."""
    try:
        return _mirror(client, engine, spec, tenant_id, full_refresh, in_flight, logger, progress)
    finally:
        progress.finished(spec.asset)


def _mirror(
    client: XeroClient,
    engine: Engine,
    spec: MirrorSpec,
    tenant_id: str,
    full_refresh: bool,
    in_flight: int,
    logger: Any,
    progress: MirrorProgress,
) -> MirrorReport:
    synced_at = datetime.now(UTC)
    with engine.connect() as conn:
        state = read_sync_state(conn, tenant_id, spec.asset)
    previous = state.watermark if state else None
    since = _since(spec, previous, full_refresh)
    report = MirrorReport(spec.asset, since, previous, full_refresh=full_refresh)
    seen: datetime | None = None
    held: list[dict[str, Any]] = []  # written when the next page arrives, or with the state
    # closing: a failed write stops the page fetches at once
    with closing(read_pages(client, spec, since, in_flight=in_flight)) as pages:
        for page in pages:
            if page.number == 1:
                progress.started(spec.asset, page.page_count, page.item_count)
            progress.page(spec.asset, page.number, len(page.items))
            mapped = map_page(spec.kind, page.items, tenant_id=tenant_id, synced_at=synced_at)
            _note(report, spec, mapped, page, logger)
            seen = _latest(seen, mapped.rows)
            if held:
                _write(engine, spec, report, held, tenant_id=tenant_id, rewrite=full_refresh)
            held = mapped.rows
            if page.number % TRIM_EVERY == 0:
                release_freed_memory()
    report.watermark = _next_watermark(previous, seen, report.item_count_moved)
    _write(
        engine,
        spec,
        report,
        held,
        tenant_id=tenant_id,
        rewrite=full_refresh,
        final_watermark=report.watermark,
        synced_at=synced_at,
    )
    return report


# ---- what an operator reads in the UI --------------------------------------------------


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else "none"


def _cell(value: Any) -> str:
    shown = value.isoformat() if isinstance(value, datetime) else "" if value is None else value
    return str(shown).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    """Rows as a small Markdown table (pipes and newlines in values escaped)."""
    if not rows or not columns:
        return "_no rows inserted or updated_"
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def call_delta(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """This asset's Xero calls out of the run's client counters (a run's assets may share
    one client), with the limits Xero reported last."""
    by_endpoint_before = before.get("xero_calls_by_endpoint") or {}
    by_endpoint = {
        endpoint: n - by_endpoint_before.get(endpoint, 0)
        for endpoint, n in (after.get("xero_calls_by_endpoint") or {}).items()
        if n - by_endpoint_before.get(endpoint, 0)
    }
    out: dict[str, Any] = {
        key: after.get(key, 0) - before.get(key, 0)
        for key in ("xero_calls", "xero_retries", "xero_rate_limit_waits", "xero_token_refreshes")
    }
    out["xero_calls_by_endpoint"] = dg.MetadataValue.json(by_endpoint)
    for key in ("xero_day_remaining", "xero_minute_remaining"):
        if after.get(key) is not None:
            out[key] = after[key]
    return out


def report_metadata(report: MirrorReport, spec: MirrorSpec) -> dict[str, Any]:
    """The materialization's metadata: counts, watermark, skips and a preview."""
    skipped = [{"id": s.record_id, "reason": s.reason} for s in report.skipped_sample]
    meta: dict[str, Any] = {
        "rows_inserted": report.counts.inserted,
        "rows_updated": report.counts.updated,
        "rows_unchanged": report.counts.unchanged,
        "rows_archived": report.archived,
        "rows_skipped": report.skipped,
        "rows_read": report.rows_read,
        "rows_total": report.rows_total,
        "pages": report.pages,
        "full_refresh": report.full_refresh,
        "if_modified_since": _iso(report.since),
        "watermark": _iso(report.watermark),
        "previous_watermark": _iso(report.previous_watermark),
        "skipped_records": dg.MetadataValue.json(skipped),
        "preview": dg.MetadataValue.md(markdown_table(report.preview, spec.preview)),
    }
    if report.item_count is not None:
        meta["item_count"] = report.item_count
    return meta
