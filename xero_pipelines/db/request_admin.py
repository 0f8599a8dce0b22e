"""The request tables as an operator sees them: list the rows, and send some back.

The sensors (`request_queue`) and the jobs (`request_outcomes`) move rows on by
themselves; this module is for the person answering "why did my export not happen?":
`list_requests` reads both tables as one list, newest first, and `retry_requests` puts
rows back to `pending` with their attempts reset, so the sensor claims them on its next
tick as if the CRM had just inserted them.

A `done` row is never retried: it already made its record in Xero, and a second run would
make another. A retried row keeps `run_id`, as a requeued one does (`request_queue`): the
next run sees that an earlier run may have written to Xero and looks before it creates.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, Row, Select, select, update

from xero_pipelines.db.engine import locked_transaction
from xero_pipelines.db.models import CrmOpportunity, XeroDraftRequest, XeroExportRequest

REQUEST_KINDS = ("export", "draft")  # `--kind`: the table a request lives in
_MODELS = {"export": XeroExportRequest, "draft": XeroDraftRequest}
RETRYABLE = ("pending", "queued", "failed")


@dataclass(frozen=True)
class RequestRow:
    """One request as the operator's table shows it.

    `table` is the request's table (`export` or `draft`); `kind` what it asks for
    (`export`, `update` or `draft`); `account_id` is the CRM account it concerns (a draft's
    through its opportunity, None when that opportunity is gone); `xero_record` names what
    it made in Xero (a contact id, or a document number with its id).
    """

    table: str
    id: int
    kind: str
    account_id: int | None
    opportunity_id: int | None
    status: str
    attempts: int
    requested_at: datetime | None
    processed_at: datetime | None
    xero_record: str | None
    xero_url: str | None
    error: str | None
    run_id: str | None


def _export_query(status: str | None, account_id: int | None) -> Select:
    t = XeroExportRequest
    query = select(t)
    if status is not None:
        query = query.where(t.status == status)
    if account_id is not None:
        query = query.where(t.crm_account_id == account_id)
    return query.order_by(t.requested_at.desc(), t.id.desc())


def _draft_query(status: str | None, account_id: int | None) -> Select:
    t, opp = XeroDraftRequest, CrmOpportunity
    query = select(t, opp.account_id).outerjoin(opp, opp.id == t.opportunity_id)
    if status is not None:
        query = query.where(t.status == status)
    if account_id is not None:
        query = query.where(opp.account_id == account_id)
    return query.order_by(t.requested_at.desc(), t.id.desc())


def _export_row(r: Row) -> RequestRow:
    return RequestRow(
        "export",
        r.id,
        r.action or "export",
        r.crm_account_id,
        None,
        r.status,
        r.attempts or 0,
        r.requested_at,
        r.processed_at,
        r.xero_contact_id,
        r.xero_url,
        r.error,
        r.run_id,
    )


def _draft_row(r: Row) -> RequestRow:
    if r.xero_document_number and r.xero_document_id:
        record = f"{r.xero_document_number} ({r.xero_document_id})"
    else:
        record = r.xero_document_number or r.xero_document_id
    return RequestRow(
        "draft",
        r.id,
        "draft",
        r.account_id,
        r.opportunity_id,
        r.status,
        r.attempts or 0,
        r.requested_at,
        r.processed_at,
        record,
        r.xero_url,
        r.error,
        r.run_id,
    )


def _newest_first(row: RequestRow) -> tuple:
    # (has a time, time, id): a row without a time never compares its None with a time
    return (row.requested_at is not None, row.requested_at or datetime.min, row.id)


def list_requests(
    engine: Engine,
    *,
    kinds: Iterable[str] = REQUEST_KINDS,
    status: str | None = None,
    account_id: int | None = None,
    limit: int = 50,
) -> list[RequestRow]:
    """The newest `limit` requests of the `kinds` tables, newest first (by request time,
    then id), optionally only one `status` or one CRM account's (a draft's account is its
    opportunity's)."""
    rows: list[RequestRow] = []
    with engine.connect() as conn:
        if "export" in kinds:
            found = conn.execute(_export_query(status, account_id).limit(limit))
            rows += [_export_row(r) for r in found]
        if "draft" in kinds:
            found = conn.execute(_draft_query(status, account_id).limit(limit))
            rows += [_draft_row(r) for r in found]
    rows.sort(key=_newest_first, reverse=True)
    return rows[:limit]


@dataclass(frozen=True)
class Retried:
    """A row sent back to `pending`: what it was before."""

    table: str
    id: int
    previous_status: str
    previous_attempts: int


class RetryRefused(Exception):
    """Nothing was changed: `reasons` says, per refused id, why (one sentence each)."""

    def __init__(self, reasons: list[str]):
        self.reasons = reasons
        super().__init__("; ".join(reasons))


def _tables_holding(
    conn: Connection, ids: Collection[int], kind: str | None
) -> dict[int, list[tuple[str, Row]]]:
    """id → the request tables (as `(kind, row)`) holding a row with that id, locked."""
    found: dict[int, list[tuple[str, Row]]] = {i: [] for i in ids}
    for name in [kind] if kind else REQUEST_KINDS:
        model = _MODELS[name]
        query = select(model).where(model.id.in_(sorted(ids)))
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        for row in conn.execute(query):
            found[row.id].append((name, row))
    return found


def _refusal(request_id: int, holders: list[tuple[str, Row]], kind: str | None) -> str | None:
    if not holders:
        where = f"{kind} request" if kind else "export or draft request"
        return f"no {where} has id {request_id}"
    if len(holders) > 1:
        return (
            f"{request_id} is both an export and a draft request id: "
            "say which with --kind export or --kind draft"
        )
    name, row = holders[0]
    if row.status == "done":
        made = row.xero_contact_id if name == "export" else row.xero_document_number
        return (
            f"{name} request {request_id} is done (Xero record {made or 'unknown'}): a done "
            "request is never retried, the CRM inserts a new one to send it again"
        )
    return None


def retry_requests(engine: Engine, ids: Iterable[int], kind: str | None = None) -> list[Retried]:
    """Send the requests `ids` back to `pending` with `attempts` 0 and no error, all or
    none: when any id is unknown, ambiguous (both tables have it and `kind` is None) or
    `done`, nothing changes and `RetryRefused` lists why.

    A `queued` row is taken too (its run is stuck or lost; the sensor also does this when
    it sees the run fail): the next run finds `run_id` set and looks in Xero first.
    """
    wanted = sorted(set(ids))
    if kind is not None and kind not in REQUEST_KINDS:
        raise ValueError(f"not a request kind: {kind!r}")
    with locked_transaction(engine) as conn:
        holders = _tables_holding(conn, wanted, kind)
        reasons = [r for i in wanted if (r := _refusal(i, holders[i], kind))]
        if reasons:
            raise RetryRefused(reasons)
        retried = []
        for request_id in wanted:
            name, row = holders[request_id][0]
            model = _MODELS[name]
            conn.execute(
                update(model)
                .where(model.id == request_id, model.status.in_(RETRYABLE))
                .values(status="pending", attempts=0, error=None, processed_at=None, run_key=None)
            )
            retried.append(Retried(name, request_id, row.status, row.attempts or 0))
    return retried
