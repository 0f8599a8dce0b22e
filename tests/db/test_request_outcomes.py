"""The jobs' side of the request tables, on SQLite and PostgreSQL: a run claims only what
is still queued (for its run key), writes outcomes only on its own rows, sends rows back
to wait without using up an attempt, and links one to one."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select

from xero_pipelines.db.models import XeroAccountLink, XeroExportRequest
from xero_pipelines.db.request_outcomes import (
    DISCONNECTED,
    EXPORT_REQUESTS,
    LinkConflict,
    claim_for_run,
    link_writer,
    mark_done,
    mark_failed,
    mark_waiting,
    record_link,
)

T = XeroExportRequest.__table__


def rows(engine) -> dict[int, object]:
    with engine.connect() as conn:
        return {r.id: r for r in conn.execute(select(T))}


@pytest.fixture
def queued(db_engine) -> list[int]:
    """Rows 1-3 queued by the sensor under key-a, row 4 under key-b, row 5 still pending."""
    with db_engine.begin() as conn:
        for i in range(1, 6):
            status = "pending" if i == 5 else "queued"
            key = None if i == 5 else ("key-b" if i == 4 else "key-a")
            conn.execute(
                insert(T).values(id=i, crm_account_id=i, status=status, run_key=key, attempts=1)
            )
    return [1, 2, 3, 4, 5]


def test_a_run_claims_what_is_still_queued_for_its_key(db_engine, queued):
    assert claim_for_run(db_engine, EXPORT_REQUESTS, queued, "run-1", run_key="key-a") == [1, 2, 3]
    assert rows(db_engine)[4].run_id is None  # another key's row is left to its run
    assert rows(db_engine)[5].run_id is None  # pending: not ours
    # without a run key (a run launched by hand) every queued row asked for is taken
    assert claim_for_run(db_engine, EXPORT_REQUESTS, [3, 4, 5], "run-2") == [3, 4]
    assert claim_for_run(db_engine, EXPORT_REQUESTS, [], "run-3") == []


def test_outcomes_are_written_only_on_the_runs_own_queued_rows(db_engine, queued):
    claim_for_run(db_engine, EXPORT_REQUESTS, [1, 2, 3], "run-1", run_key="key-a")
    assert mark_done(db_engine, EXPORT_REQUESTS, 1, run_id="run-1", xero_contact_id="c-1")
    assert not mark_done(db_engine, EXPORT_REQUESTS, 1, run_id="run-1")  # already done
    assert not mark_failed(db_engine, EXPORT_REQUESTS, 2, "no", run_id="run-9")  # not its row
    assert not mark_failed(db_engine, EXPORT_REQUESTS, 5, "no")  # pending: not a job's row
    assert mark_failed(db_engine, EXPORT_REQUESTS, 2, "Give the account a name.", run_id="run-1")
    stored = rows(db_engine)
    assert (stored[1].status, stored[1].xero_contact_id, stored[1].error) == ("done", "c-1", None)
    assert stored[1].processed_at is not None
    assert (stored[2].status, stored[2].error) == ("failed", "Give the account a name.")
    assert stored[5].status == "pending"


def test_waiting_rows_go_back_to_pending_without_using_an_attempt(db_engine, queued):
    claim_for_run(db_engine, EXPORT_REQUESTS, [1, 2, 3], "run-1", run_key="key-a")
    mark_done(db_engine, EXPORT_REQUESTS, 1, run_id="run-1")
    assert mark_waiting(db_engine, EXPORT_REQUESTS, [1, 2, 3, 4], run_id="run-1") == [2, 3]
    stored = rows(db_engine)
    assert stored[1].status == "done"
    for i in (2, 3):
        assert (stored[i].status, stored[i].error, stored[i].attempts) == (
            "pending",
            DISCONNECTED,
            0,
        )
        assert stored[i].run_id == "run-1"  # the next run knows this one may have written
    assert stored[4].status == "queued"


def test_links_are_one_to_one(db_engine):
    links = XeroAccountLink.__table__
    with link_writer(db_engine) as conn:  # the link table's lock, as every link writer
        record_link(conn, 1, "c-1", "export")
        record_link(conn, 1, "c-1", "export")  # the same link again changes nothing
        with pytest.raises(LinkConflict, match="linked to Xero contact c-1"):
            record_link(conn, 1, "c-2", "export")
        with pytest.raises(LinkConflict, match="linked to CRM account 1"):
            record_link(conn, 2, "c-1", "export")
        record_link(conn, 2, "c-2", "name")
    with db_engine.connect() as conn:
        stored = {
            r.crm_account_id: (r.xero_contact_id, r.matched_by) for r in conn.execute(select(links))
        }
    assert stored == {1: ("c-1", "export"), 2: ("c-2", "name")}


def test_an_unknown_table_is_refused(db_engine):
    with pytest.raises(ValueError, match="not a request table"):
        claim_for_run(db_engine, "crm_accounts", [1], "run-1")
