"""The request tables as a work queue: the sensors' side of `pending` → `queued`.

The CRM inserts `pending` rows; a sensor tick claims them here and asks Dagster for a run
per batch. Dagster gives a run its id only when it launches it, so a claimed row carries
the sensor's `run_key` (written in the claiming transaction), and the sensor follows the
row's run through the instance by that key (the `dagster/run_key` tag). The job writes
`run_id` itself when it starts (`request_outcomes.claim_for_run`); this module never
writes or clears it, so after a retry `run_id` still names the run that may already have
written to Xero, and the next run looks before it creates.

A row whose run failed, was canceled, ended without answering it, or never appeared goes
back to `pending` (`requeue`) until `attempts` (one per launch) reaches the maximum; then
it is `failed` with a sentence saying why. Jobs write the outcomes (`request_outcomes`);
this module never sets `done`.

Every read goes through the partial index `ix_<table>_open` (rows `pending` or `queued`),
so a table with millions of finished rows costs a tick no more than its queue does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, Select, Table, func, select, text, update

from xero_pipelines.db.engine import locked_transaction
from xero_pipelines.db.models import OPEN_REQUESTS, Base
from xero_pipelines.db.types import utcnow


@dataclass(frozen=True)
class RequestTable:
    """One request table: its name, the run-key prefix and the column naming the subject."""

    name: str
    kind: str
    subject: str

    @property
    def table(self) -> Table:
        return Base.metadata.tables[self.name]


EXPORT_REQUESTS = RequestTable("xero_export_requests", "export", "crm_account_id")
DRAFT_REQUESTS = RequestTable("xero_draft_requests", "draft", "opportunity_id")


@dataclass(frozen=True)
class ClaimedBatch:
    """Rows just moved to `queued` for one run; `attempts` counts this launch."""

    run_key: str
    request_ids: tuple[int, ...]
    subject_ids: tuple[int | None, ...]
    attempts: tuple[int, ...]


@dataclass(frozen=True)
class QueuedRow:
    id: int
    run_key: str | None
    attempts: int


@dataclass(frozen=True)
class Requeued:
    """What `requeue` did: rows back to `pending`, and rows `failed` for good."""

    pending: tuple[int, ...]
    failed: tuple[int, ...]


def run_key(kind: str, ids_and_attempts: Iterable[tuple[int, int]]) -> str:
    """A run key from the request ids and each one's attempt number.

    The same rows at the same attempt give the same key (so Dagster launches a
    re-evaluated tick's run once); a requeued row has a new attempt number, so its next
    run gets a new key. Readable start (`export-101-150-n50-`), then a digest of all.
    """
    pairs = sorted(ids_and_attempts)
    digest = hashlib.sha256(",".join(f"{i}:{a}" for i, a in pairs).encode()).hexdigest()[:20]
    return f"{kind}-{pairs[0][0]}-{pairs[-1][0]}-n{len(pairs)}-{digest}"


def _open(table: Table, status: str):
    """`status = :status` plus the partial index's own predicate, written as in the index:
    SQLite uses a partial index only when the query repeats its WHERE terms."""
    return (text(OPEN_REQUESTS), table.c.status == status)


def pending_query(spec: RequestTable, limit: int) -> Select:
    """The oldest `limit` pending rows, in id order: an ordered walk of the partial index."""
    t = spec.table
    return (
        select(t.c.id, t.c.attempts, t.c[spec.subject])
        .where(*_open(t, "pending"))
        .order_by(t.c.id)
        .limit(limit)
    )


def claim_pending(
    engine: Engine, spec: RequestTable, *, batch_size: int, max_batches: int
) -> list[ClaimedBatch]:
    """Move the oldest `pending` rows (id order, at most `batch_size * max_batches`) to
    `queued`, in batches of `batch_size`, each with its run key; one transaction.

    The write lock (SQLite) or `FOR UPDATE SKIP LOCKED` (PostgreSQL) keeps two ticks
    from claiming one row; `status = 'pending'` in the UPDATE makes it a compare-and-set.
    """
    t = spec.table
    query = pending_query(spec, batch_size * max_batches)
    if engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed = []
    with locked_transaction(engine) as conn:
        found = conn.execute(query).all()
        for start in range(0, len(found), batch_size):
            rows = found[start : start + batch_size]
            ids = tuple(row.id for row in rows)
            attempts = tuple(row.attempts + 1 for row in rows)
            key = run_key(spec.kind, zip(ids, attempts, strict=True))
            conn.execute(
                update(t)
                .where(t.c.id.in_(ids), t.c.status == "pending")
                .values(status="queued", run_key=key, attempts=t.c.attempts + 1)
            )
            subjects = tuple(row[2] for row in rows)
            claimed.append(ClaimedBatch(key, ids, subjects, attempts))
    return claimed


def queued_rows(engine: Engine, spec: RequestTable) -> list[QueuedRow]:
    """Every `queued` row, with the run key it was claimed for."""
    t = spec.table
    query = select(t.c.id, t.c.run_key, t.c.attempts).where(*_open(t, "queued"))
    with engine.connect() as conn:
        return [QueuedRow(*row) for row in conn.execute(query.order_by(t.c.id))]


def open_counts(engine: Engine, spec: RequestTable) -> dict[str, int]:
    """How many rows are `pending` and `queued` (for a tick's skip reason)."""
    t = spec.table
    query = select(t.c.status, func.count()).where(text(OPEN_REQUESTS)).group_by(t.c.status)
    counts = {"pending": 0, "queued": 0}
    with engine.connect() as conn:
        counts.update({status: n for status, n in conn.execute(query)})
    return counts


def note_pending(engine: Engine, spec: RequestTable, sentence: str) -> int:
    """Write `sentence` into `error` of every `pending` row that does not say it yet, so
    the CRM shows why they wait (e.g. Xero is disconnected); returns how many."""
    t = spec.table
    stale = (t.c.error.is_(None)) | (t.c.error != sentence)
    with engine.begin() as conn:
        query = update(t).where(*_open(t, "pending"), stale).values(error=sentence)
        return conn.execute(query).rowcount


def requeue(
    engine: Engine,
    spec: RequestTable,
    rows: Sequence[QueuedRow],
    *,
    max_attempts: int,
    failed_sentence: str,
) -> Requeued:
    """Put `rows` (as read by `queued_rows`) back to `pending`, or fail those that have
    had `max_attempts` launches with `failed_sentence`.

    Only rows still `queued` for the same run key move: one that a job answered since
    it was read, or that was given to another run, is left alone. `run_id` is kept.
    """
    t = spec.table
    pending, failed = [], []
    with engine.begin() as conn:
        for row in rows:
            same = (
                t.c.id == row.id,
                t.c.status == "queued",
                t.c.run_key.is_(None) if row.run_key is None else t.c.run_key == row.run_key,
            )
            if row.attempts >= max_attempts:
                values = {"status": "failed", "error": failed_sentence, "processed_at": utcnow()}
            else:
                values = {"status": "pending", "run_key": None}
            if conn.execute(update(t).where(*same).values(**values)).rowcount:
                (failed if values["status"] == "failed" else pending).append(row.id)
    return Requeued(tuple(pending), tuple(failed))
