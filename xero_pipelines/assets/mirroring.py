"""The one read-and-write loop behind every Xero mirror asset.

Incremental rule: each mirror keeps a watermark per organisation (the greatest
`UpdatedDateUTC` it stored) in `xero_sync_state`. A run asks Xero for what changed since
a few seconds before it (`If-Modified-Since`; the overlap is harmless because rows are
upserted by Xero id), in pages of 1,000, and writes each page as it arrives, so memory
holds a handful of pages whatever the size of the organisation. Once page 1 has told
`pagination.pageCount`, the other pages are fetched a few at a time on a small thread
pool (the client's pacer keeps the organisation within Xero's 5 calls in flight) and
stored as they come: in the caller's thread, or for a long read by a few writer
processes (`assets/page_writers.py`), so decoding and writing use more than one core.

Page 1 is stored last, in the same transaction as the new watermark, once every other
page is in the table: a run that dies mid-read leaves the old watermark, and the next run
reads those pages again. When Xero's `itemCount` moves during the read (records changed
under the pages being read, which can shift a record from one page to another), the
watermark is not moved either.
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

from xero_pipelines.assets.page_writers import PageWriters
from xero_pipelines.assets.pages import (
    PREVIEW_ROWS,
    REPORTED_SKIPS,
    FinalState,
    Page,
    PageJob,
    PageStored,
    decode_and_store,
    decode_page,
    latest_update,
    map_items,
    store_page,
)
from xero_pipelines.assets.progress import NO_PROGRESS, MirrorProgress
from xero_pipelines.db.sync_state import read_sync_state
from xero_pipelines.db.upsert import UpsertCounts
from xero_pipelines.xero.client import XeroClient
from xero_pipelines.xero.records import RecordKind, Skipped

PAGE_SIZE = 1000
PAGES_IN_FLIGHT = 4
PAGE_WRITERS = 2  # writer processes for a long read: the cores of the 2-core reference machine
# Pages after page 1 that make a read worth the writers' start (~0.5 CPU-s each, against
# ~0.1 CPU-s a page): contacts and invoices of a large organisation, not its 9 pages of
# credit notes or an hourly run's changes.
PAGES_FOR_WRITERS = 20
OVERLAP = timedelta(seconds=5)
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
    page_writers: int = 0  # writer processes used (0: pages stored in the run's process)
    page_writer_peak_rss_mib: float = 0.0  # the largest writer's peak

    item_count_moved: bool = False

    def note_read(self, rows: int, item_count: int | None) -> None:
        self.rows_read += rows
        self.pages += 1
        if item_count is not None:
            if self.item_count is None:
                self.item_count = item_count
            self.item_count_moved |= item_count != self.item_count
            self.last_item_count = item_count

    def note_stored(self, stored: PageStored, logger: Any) -> None:
        self.counts += stored.counts
        self.archived += stored.archived
        self.preview.extend(stored.preview[: max(0, PREVIEW_ROWS - len(self.preview))])
        if stored.rows_total is not None:
            self.rows_total = stored.rows_total
        if stored.skipped:
            self.skipped += stored.skipped
            room = REPORTED_SKIPS - len(self.skipped_sample)
            self.skipped_sample.extend(stored.skipped_sample[: max(0, room)])
            logger.warning(
                "%s page %d: %d record(s) skipped, e.g. %s",
                self.asset,
                stored.number,
                stored.skipped,
                "; ".join(f"{s.record_id}: {s.reason}" for s in stored.skipped_sample[:3]),
            )


# ---- reading ---------------------------------------------------------------------------


def _query(spec: MirrorSpec, page: int | None) -> dict[str, Any]:
    query = dict(spec.params)
    if page is not None:
        query.update(page=page, pageSize=PAGE_SIZE)
    return query


def fetch_ahead(
    fetch: Callable[[int], bytes], numbers: range, in_flight: int
) -> Iterator[tuple[int, bytes]]:
    """`(number, body)` for each page of `numbers`, in order, at most `in_flight` fetched
    ahead of the one the caller is on."""
    pending: deque[tuple[int, Future[bytes]]] = deque()
    remaining = iter(numbers)
    with ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="xero-page") as pool:
        try:
            for number in remaining:
                pending.append((number, pool.submit(fetch, number)))
                if len(pending) >= in_flight:
                    break
            while pending:
                number, future = pending.popleft()
                body = future.result()
                following = next(remaining, None)
                if following is not None:
                    pending.append((following, pool.submit(fetch, following)))
                yield number, body
        finally:
            for _, future in pending:
                future.cancel()


def _malloc_trim() -> Callable[[], object]:
    """glibc's `malloc_trim(0)`, or a no-op where there is none (macOS, musl).

    The pages are received on the fetch threads, each with its own glibc arena; what they
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


# ---- the read ----------------------------------------------------------------------------


def _since(spec: MirrorSpec, watermark: datetime | None, full_refresh: bool) -> datetime | None:
    if full_refresh or not spec.incremental or watermark is None:
        return None
    return watermark - OVERLAP


def _next_watermark(
    previous: datetime | None, seen: datetime | None, item_count_moved: bool
) -> datetime | None:
    """The newest `UpdatedDateUTC` stored, never moved back, and not moved at all when
    Xero's count changed under the read (a record may have slipped between pages)."""
    if item_count_moved or seen is None or (previous is not None and previous >= seen):
        return previous
    return seen


@dataclass(frozen=True)
class _Read:
    """One mirror run's fixed parts, passed to the steps of `_mirror`."""

    client: XeroClient
    engine: Engine
    spec: MirrorSpec
    job: PageJob
    since: datetime | None
    in_flight: int
    page_writers: int
    writers_from: int

    def fetch(self, number: int | None) -> bytes:
        query = _query(self.spec, number)
        return self.client.get_bytes(self.spec.path, query, if_modified_since=self.since)


def _pages_after_first(read: _Read, first: Page, report: MirrorReport) -> Iterator[PageStored]:
    """Store pages 2..N: by writer processes for a long read, else in this process."""
    if not read.spec.paged:
        return
    if first.page_count is None:
        yield from _until_empty(read, bool(first.items))
        return
    numbers = range(2, first.page_count + 1)
    bodies = fetch_ahead(read.fetch, numbers, max(1, read.in_flight))
    with closing(bodies):
        if read.page_writers and len(numbers) >= read.writers_from:
            url = read.engine.url.render_as_string(hide_password=False)
            with PageWriters(read.job, url, read.page_writers) as writers:
                report.page_writers = writers.size
                yield from writers.store_all(bodies)
            peaks = writers.peak_rss_kib
            report.page_writer_peak_rss_mib = round(max(peaks, default=0) / 1024, 1)
            return
        for number, body in bodies:
            yield decode_and_store(read.engine, read.job, number, body)


def _until_empty(read: _Read, more: bool) -> Iterator[PageStored]:
    """Without Xero's `pageCount` (some emulators), pages one by one until an empty one."""
    number = 1
    while more:
        number += 1
        page = decode_page(read.job, number, read.fetch(number))
        more = bool(page.items)
        if more:
            yield store_page(read.engine, read.job, page, map_items(read.job, page))


def mirror(
    client: XeroClient,
    engine: Engine,
    spec: MirrorSpec,
    *,
    tenant_id: str,
    full_refresh: bool = False,
    in_flight: int = PAGES_IN_FLIGHT,
    page_writers: int = PAGE_WRITERS,
    page_writers_from: int = PAGES_FOR_WRITERS,
    logger: Any = log,
    progress: MirrorProgress = NO_PROGRESS,
) -> MirrorReport:
    """Read `spec`'s records from Xero (incrementally unless `full_refresh`) and upsert
    them into its mirror table, page by page; returns what was read and written.

    A read of `page_writers_from` pages or more after page 1 is stored by `page_writers`
    child processes (`assets/page_writers.py`; 0: never). Skipped records are logged as
    warnings on `logger` (the asset's `context.log`); `progress` hears of page 1's counts
    and of every page (`assets/progress.py`)."""
    synced_at = datetime.now(UTC)
    with engine.connect() as conn:
        state = read_sync_state(conn, tenant_id, spec.asset)
    previous = state.watermark if state else None
    since = _since(spec, previous, full_refresh)
    job = PageJob(
        collection=spec.kind.collection,
        path=spec.path,
        tenant_id=tenant_id,
        synced_at=synced_at,
        compare=spec.compare,
        rewrite=full_refresh,
        archived=spec.archived,
        preview=spec.preview,
    )
    read = _Read(client, engine, spec, job, since, in_flight, page_writers, page_writers_from)
    report = MirrorReport(spec.asset, since, previous, full_refresh=full_refresh)
    try:
        _mirror(read, report, previous, logger, progress)
    finally:
        progress.finished(spec.asset)
    return report


def _mirror(
    read: _Read,
    report: MirrorReport,
    previous: datetime | None,
    logger: Any,
    progress: MirrorProgress,
) -> None:
    """Page 1 is read first and stored last, with the watermark, once every other page
    is stored (whichever process stored it): the watermark never passes a page that is
    not in the table."""
    spec, job = read.spec, read.job
    first = decode_page(job, 1, read.fetch(1 if spec.paged else None))
    if not spec.paged:
        first = replace(first, page_count=1)
    progress.started(spec.asset, first.page_count, first.item_count)
    progress.page(spec.asset, 1, len(first.items))
    report.note_read(len(first.items), first.item_count)
    held = map_items(job, first)
    seen = latest_update(held.rows)
    for stored in _pages_after_first(read, first, report):
        report.note_read(stored.rows_read, stored.item_count)
        report.note_stored(stored, logger)
        progress.page(spec.asset, stored.number, stored.rows_read)
        if stored.latest is not None and (seen is None or stored.latest > seen):
            seen = stored.latest
        if stored.number % TRIM_EVERY == 0:
            release_freed_memory()
    report.watermark = _next_watermark(previous, seen, report.item_count_moved)
    final = FinalState(spec.asset, report.watermark)
    report.note_stored(store_page(read.engine, job, first, held, state=final), logger)


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
    if report.page_writers:
        meta["page_writers"] = report.page_writers
        meta["page_writer_peak_rss_mib"] = report.page_writer_peak_rss_mib
    return meta
