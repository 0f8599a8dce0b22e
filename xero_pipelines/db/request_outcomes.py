"""How a job writes what became of a request (the sensors own the other half,
`request_queue.py`: pending → queued).

A job touches only the rows that are `queued` for its ids, and, once it has claimed them,
only those carrying its run id: a request the sensor gave to another run meanwhile is
left to that run. A link made by an export is written in the same transaction as the
request's `done`, so the CRM never sees one without the other.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Connection, Engine, Table, case, select, update
from sqlalchemy.exc import IntegrityError

from xero_pipelines.db.engine import locked_transaction
from xero_pipelines.db.locks import lock_link_table
from xero_pipelines.db.models import XeroAccountLink, XeroDraftRequest, XeroExportRequest

EXPORT_REQUESTS = "xero_export_requests"
DRAFT_REQUESTS = "xero_draft_requests"
DISCONNECTED = "Xero is disconnected: an administrator must reconnect"
_TABLES: dict[str, Table] = {
    EXPORT_REQUESTS: XeroExportRequest.__table__,  # type: ignore[dict-item]
    DRAFT_REQUESTS: XeroDraftRequest.__table__,  # type: ignore[dict-item]
}
_LINKS: Table = XeroAccountLink.__table__  # type: ignore[assignment]


def request_table(name: str) -> Table:
    if name not in _TABLES:
        raise ValueError(f"not a request table: {name!r}")
    return _TABLES[name]


@contextmanager
def _transaction(conn_or_engine: Connection | Engine) -> Iterator[Connection]:
    """A transaction of its own for an engine; the caller's for a connection."""
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.begin() as conn:
            yield conn
    else:
        yield conn_or_engine


def claim_for_run(
    engine: Engine,
    table: str,
    request_ids: Collection[int],
    run_id: str,
    *,
    run_key: str | None = None,
) -> list[int]:
    """Write `run_id` on the requests of `request_ids` that are still queued; return the
    ids this run owns now.

    `run_key` is the run's `dagster/run_key` tag (a sensor-launched run has one): then
    only rows the sensor claimed for that key are taken, so a run that starts late, after
    the sensor gave its rows to a newer run, takes nothing. A request no longer queued
    (done, failed, or sent back to pending) is skipped. The run id it replaces is the
    earlier run's: `tried_before` reads it first, to know that run may have written.
    """
    t = request_table(table)
    ids = sorted(set(request_ids))
    if not ids:
        return []
    mine = [t.c.id.in_(ids), t.c.status == "queued"]
    if run_key is not None:
        mine.append(t.c.run_key == run_key)
    with engine.begin() as conn:
        conn.execute(update(t).where(*mine).values(run_id=run_id))
        rows = conn.execute(select(t.c.id).where(*mine, t.c.run_id == run_id))
        return sorted(row.id for row in rows)


def _finish(
    conn_or_engine: Connection | Engine,
    table: str,
    request_id: int,
    run_id: str | None,
    values: dict[str, Any],
) -> bool:
    t = request_table(table)
    condition = [t.c.id == request_id, t.c.status == "queued"]
    if run_id is not None:
        condition.append(t.c.run_id == run_id)
    with _transaction(conn_or_engine) as conn:
        result = conn.execute(update(t).where(*condition).values(**values))
        return result.rowcount == 1


def mark_done(
    conn_or_engine: Connection | Engine,
    table: str,
    request_id: int,
    *,
    run_id: str | None = None,
    **values: Any,
) -> bool:
    """`done`, with what Xero gave back (`xero_contact_id`, `xero_document_id`,
    `xero_document_number`, `xero_url`). False when the row was not ours to finish."""
    now = datetime.now(UTC)
    done = {"status": "done", "error": None, "processed_at": now, **values}
    return _finish(conn_or_engine, table, request_id, run_id, done)


def mark_failed(
    conn_or_engine: Connection | Engine,
    table: str,
    request_id: int,
    sentence: str,
    *,
    run_id: str | None = None,
) -> bool:
    """`failed` for good, with the sentence the CRM user reads."""
    now = datetime.now(UTC)
    failed = {"status": "failed", "error": sentence, "processed_at": now}
    return _finish(conn_or_engine, table, request_id, run_id, failed)


def mark_waiting(
    conn_or_engine: Connection | Engine,
    table: str,
    request_ids: Collection[int],
    sentence: str = DISCONNECTED,
    *,
    run_id: str | None = None,
) -> list[int]:
    """Back to `pending` with `sentence` in `error`: nothing is wrong with the request
    (Xero is disconnected), so it waits for the next run instead of failing for good.

    The launch that met the disconnection does not count against the sensor's attempt
    limit (`attempts` goes back down by one), so a long disconnection never uses a
    request's attempts up. The sensor claims nothing while Xero is disconnected.
    """
    t = request_table(table)
    ids = sorted(set(request_ids))
    if not ids:
        return []
    condition = [t.c.id.in_(ids), t.c.status == "queued"]
    if run_id is not None:
        condition.append(t.c.run_id == run_id)
    with _transaction(conn_or_engine) as conn:
        rows = conn.execute(select(t.c.id).where(*condition)).all()
        waiting = sorted(row.id for row in rows)
        if waiting:
            conn.execute(
                update(t)
                .where(t.c.id.in_(waiting))
                .values(
                    status="pending",
                    error=sentence,
                    attempts=case((t.c.attempts > 0, t.c.attempts - 1), else_=0),
                )
            )
        return waiting


def _link_pairs(conn: Connection, key: Column, value: Column, ids: Collection) -> dict:
    """key → value over the link table for the given keys, read 500 keys at a time."""
    wanted = sorted(set(ids))
    out: dict = {}
    for start in range(0, len(wanted), 500):
        rows = conn.execute(select(key, value).where(key.in_(wanted[start : start + 500])))
        out.update(dict(rows.all()))
    return out


def linked_contacts(conn: Connection, account_ids: Collection[int]) -> dict[int, str]:
    """crm_account_id → xero_contact_id for the accounts that are linked."""
    return _link_pairs(conn, _LINKS.c.crm_account_id, _LINKS.c.xero_contact_id, account_ids)


def linked_elsewhere(conn: Connection, contact_ids: Collection[str]) -> dict[str, int]:
    """xero_contact_id → crm_account_id for the contacts some account already holds."""
    return _link_pairs(conn, _LINKS.c.xero_contact_id, _LINKS.c.crm_account_id, contact_ids)


@contextmanager
def link_writer(engine: Engine) -> Iterator[Connection]:
    """A transaction holding the link table's write lock (`db.locks.lock_link_table`), the
    same one the link asset and the customer import take, so writers queue instead of
    colliding on the table's unique constraints."""
    with locked_transaction(engine) as conn:
        lock_link_table(conn)
        yield conn


class LinkConflict(Exception):
    """The account, or the Xero contact, is already linked to something else."""


def record_link(
    conn: Connection, crm_account_id: int, xero_contact_id: str, matched_by: str
) -> None:
    """Link the account to the contact, unless that exact link exists already.

    Raises `LinkConflict` when either side is linked elsewhere (e.g. the import linked
    the account to another contact a moment ago); the caller's savepoint keeps the rest.
    """
    existing = linked_contacts(conn, [crm_account_id]).get(crm_account_id)
    if existing == xero_contact_id:
        return
    if existing is not None:
        raise LinkConflict(f"account {crm_account_id} is linked to Xero contact {existing}")
    holder = linked_elsewhere(conn, [xero_contact_id]).get(xero_contact_id)
    if holder is not None:
        raise LinkConflict(f"Xero contact {xero_contact_id} is linked to CRM account {holder}")
    try:
        with conn.begin_nested():
            conn.execute(
                _LINKS.insert().values(
                    crm_account_id=crm_account_id,
                    xero_contact_id=xero_contact_id,
                    matched_by=matched_by,
                    linked_at=datetime.now(UTC),
                )
            )
    except IntegrityError as exc:
        raise LinkConflict(f"account {crm_account_id} was linked meanwhile") from exc
