"""What the export and draft jobs share: their config, claiming the run's requests, the
per-request outcome log, and what a Xero failure means for the requests still open.

- A request the CRM got wrong, or that Xero refused, fails alone with its sentence.
- Xero disconnected (grant lost, not connected, access refused): every open request goes
  back to `pending` with "Xero is disconnected: an administrator must reconnect", none is
  failed for good, and the run fails so an operator sees it.
- Xero unreachable or over its limits after the client's retries: the open requests stay
  `queued` and the run fails; the sensor puts them back (up to its attempt limit).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import dagster as dg
from sqlalchemy import Engine, select

from xero_pipelines.db.request_outcomes import (
    DISCONNECTED,
    claim_for_run,
    mark_done,
    mark_failed,
    mark_waiting,
    request_table,
)
from xero_pipelines.domain.markdown import markdown_table
from xero_pipelines.xero.errors import (
    XeroAuthenticationError,
    XeroConnectionLostError,
    XeroNotConnectedError,
    XeroRateLimitError,
    XeroServerError,
    XeroTransportError,
)

BATCH_SIZE = 50  # Xero's advice for one PUT/POST of many elements
RUN_KEY_TAG = "dagster/run_key"  # the tag Dagster puts on a run requested with a run key
DISCONNECTED_ERRORS = (XeroConnectionLostError, XeroNotConnectedError, XeroAuthenticationError)
UNAVAILABLE_ERRORS = (XeroServerError, XeroTransportError, XeroRateLimitError)
T = TypeVar("T")
# What a `done` outcome may carry (export: the contact; draft: the document), in order.
DONE_COLUMNS = ("xero_contact_id", "xero_document_id", "xero_document_number", "xero_url")


class RequestBatchConfig(dg.Config):
    """The requests one run works on (the sensor puts at most its batch size here)."""

    request_ids: list[int]


def run_config(op_name: str, request_ids: Sequence[int]) -> dict[str, Any]:
    return {"ops": {op_name: {"config": {"request_ids": sorted({int(i) for i in request_ids})}}}}


def batches(items: Sequence[T], size: int = BATCH_SIZE) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def tried_before(engine: Engine, table: str, ids: Sequence[int], run_id: str) -> set[int]:
    """Requests an earlier run may already have written to Xero: another run's id is on
    them, they were attempted more than once, or they were sent back with a reason. Only
    these pay for a look-up in Xero before anything is created for them."""
    t = request_table(table)
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.id, t.c.run_id, t.c.attempts, t.c.error).where(t.c.id.in_(list(ids)))
        ).all()
    return {
        r.id
        for r in rows
        if (r.run_id and r.run_id != run_id) or (r.attempts or 0) > 1 or r.error is not None
    }


@dataclass
class Outcomes:
    """Writes each request's outcome as soon as it is known, and keeps it for the run's
    metadata and log."""

    engine: Engine
    table: str
    run_id: str
    log: Any
    results: dict[int, dict[str, Any]] = field(default_factory=dict)

    def open_ids(self, ids: Sequence[int]) -> list[int]:
        return [i for i in ids if i not in self.results]

    def done(self, request_id: int, conn: Any = None, **values: Any) -> None:
        if mark_done(conn or self.engine, self.table, request_id, run_id=self.run_id, **values):
            self.results[request_id] = {"status": "done", **values}

    def failed(
        self, request_id: int, sentence: str, conn: Any = None, xero_error: str | None = None
    ) -> None:
        """Fail the request with `sentence` (what the CRM user reads); `xero_error` is
        Xero's own text, when Xero refused it, kept for the run's log and metadata."""
        if mark_failed(conn or self.engine, self.table, request_id, sentence, run_id=self.run_id):
            result = {"status": "failed", "error": sentence}
            if xero_error:
                result["xero_error"] = xero_error
            self.results[request_id] = result
            said = f" Xero said: {xero_error}" if xero_error else ""
            self.log.warning(f"request {request_id} failed: {sentence}{said}")

    def waiting(self, request_ids: Sequence[int]) -> None:
        ids = self.open_ids(request_ids)
        for request_id in mark_waiting(self.engine, self.table, ids, run_id=self.run_id):
            self.results[request_id] = {"status": "pending", "error": DISCONNECTED}

    def metadata(self, requested: int, claimed: int, calls: dict[str, Any]) -> dict[str, Any]:
        statuses = [r["status"] for r in self.results.values()]
        return {
            "requests": requested,
            "claimed": claimed,
            "done": statuses.count("done"),
            "failed": statuses.count("failed"),
            "waiting": statuses.count("pending"),
            **outcome_tables(self.results),
            "outcomes": dg.MetadataValue.json(
                {str(k): self.results[k] for k in sorted(self.results)}
            ),
            **calls,
        }


LINKS_SHOWN = 5  # clickable url entries; the table lists every request


def outcome_tables(results: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """What the run page shows first: the failures with the sentence written to the row
    and Xero's own words, the Xero records created or linked (clickable), and a few of
    them as `MetadataValue.url` entries."""
    failed = [
        {"request": k, "sentence": r["error"], "xero_said": r.get("xero_error", "")}
        for k, r in sorted(results.items())
        if r["status"] == "failed"
    ]
    done = [
        {"request": k, **{c: r.get(c) for c in DONE_COLUMNS}}
        for k, r in sorted(results.items())
        if r["status"] == "done"
    ]
    shown = [c for c in DONE_COLUMNS if any(row[c] for row in done)]
    out: dict[str, Any] = {
        "failures": dg.MetadataValue.md(
            markdown_table(failed, ("request", "sentence", "xero_said"), empty="_no failure_")
        ),
        "xero_records": dg.MetadataValue.md(
            markdown_table(done, ("request", *shown), links=("xero_url",), empty="_none_")
        ),
    }
    for row in [row for row in done if row.get("xero_url")][:LINKS_SHOWN]:
        out[f"xero_link_request_{row['request']}"] = dg.MetadataValue.url(row["xero_url"])
    return out


def process(
    context: dg.OpExecutionContext,
    *,
    engine: Engine,
    table: str,
    request_ids: Sequence[int],
    call_metadata: Callable[[], dict[str, Any]],
    work: Callable[[list[int], set[int], Outcomes], None],
) -> dg.Output:
    """Claim the run's requests, let `work` act on them, and settle what Xero's failures
    leave open. Returns the op's output, with the outcomes as metadata."""
    run_id = context.run_id
    run_key = context.run.tags.get(RUN_KEY_TAG)
    retried = tried_before(engine, table, request_ids, run_id)
    claimed = claim_for_run(engine, table, request_ids, run_id, run_key=run_key)
    skipped = sorted(set(request_ids) - set(claimed))
    if skipped:
        context.log.info(f"requests no longer queued, left alone: {skipped}")
    outcomes = Outcomes(engine, table, run_id, context.log)
    try:
        work(claimed, retried & set(claimed), outcomes)
    except DISCONNECTED_ERRORS as exc:
        outcomes.waiting(claimed)
        context.log.error(f"Xero is disconnected, {len(claimed)} requests wait: {exc}")
        meta = outcomes.metadata(len(request_ids), len(claimed), call_metadata())
        raise dg.Failure(description=f"{DISCONNECTED} ({exc})", metadata=meta) from exc
    except UNAVAILABLE_ERRORS as exc:
        still_open = outcomes.open_ids(claimed)
        context.log.error(f"Xero is unavailable; {len(still_open)} requests stay queued: {exc}")
        meta = outcomes.metadata(len(request_ids), len(claimed), call_metadata())
        raise dg.Failure(description=f"Xero is unavailable: {exc}", metadata=meta) from exc
    meta = outcomes.metadata(len(request_ids), len(claimed), call_metadata())
    summary = {k: meta[k] for k in ("requests", "claimed", "done", "failed", "waiting")}
    context.log.info(f"requests: {summary}")
    return dg.Output(summary, metadata=meta)
