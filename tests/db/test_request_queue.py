"""The request queue on SQLite and PostgreSQL: claiming, run ids, requeueing, the index."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import insert, select, text

from xero_pipelines.db.request_queue import (
    DRAFT_REQUESTS,
    EXPORT_REQUESTS,
    QueuedRow,
    claim_pending,
    note_pending,
    open_counts,
    pending_query,
    queued_rows,
    requeue,
    run_key,
)


def add_requests(engine, spec=EXPORT_REQUESTS, n=1, **values) -> list[int]:
    """Insert `n` requests as the CRM does (only the subject; defaults for the rest)."""
    t = spec.table
    with engine.begin() as conn:
        start = conn.execute(select(text("coalesce(max(id), 0)")).select_from(t)).scalar_one()
        rows = [{"id": start + i + 1, spec.subject: 1000 + start + i, **values} for i in range(n)]
        conn.execute(insert(t), rows)
    return [row["id"] for row in rows]


def rows_by_id(engine, spec=EXPORT_REQUESTS) -> dict[int, dict]:
    t = spec.table
    with engine.connect() as conn:
        return {row.id: row._asdict() for row in conn.execute(select(t))}


def test_claims_the_oldest_pending_rows_in_batches_with_their_run_keys(db_engine):
    add_requests(db_engine, n=3, status="done")
    ids = add_requests(db_engine, n=25)
    add_requests(db_engine, n=2, status="failed")

    batches = claim_pending(db_engine, EXPORT_REQUESTS, batch_size=10, max_batches=2)

    assert [b.request_ids for b in batches] == [tuple(ids[:10]), tuple(ids[10:20])]
    assert [b.subject_ids for b in batches] == [
        tuple(1000 + i - 1 for i in ids[:10]),
        tuple(1000 + i - 1 for i in ids[10:20]),
    ]
    assert all(b.attempts == (1,) * 10 for b in batches)
    assert len({b.run_key for b in batches}) == 2
    rows = rows_by_id(db_engine)
    for batch in batches:
        for request_id in batch.request_ids:
            row = rows[request_id]
            assert (row["status"], row["run_key"], row["attempts"]) == ("queued", batch.run_key, 1)
    assert {rows[i]["status"] for i in ids[20:]} == {"pending"}
    assert {r["status"] for i, r in rows.items() if i not in ids} == {"done", "failed"}
    assert open_counts(db_engine, EXPORT_REQUESTS) == {"pending": 5, "queued": 20}


def test_a_second_claim_takes_only_what_is_still_pending(db_engine):
    ids = add_requests(db_engine, DRAFT_REQUESTS, n=7)
    first = claim_pending(db_engine, DRAFT_REQUESTS, batch_size=5, max_batches=1)
    second = claim_pending(db_engine, DRAFT_REQUESTS, batch_size=5, max_batches=1)
    third = claim_pending(db_engine, DRAFT_REQUESTS, batch_size=5, max_batches=1)
    assert [b.request_ids for b in first + second] == [tuple(ids[:5]), tuple(ids[5:])]
    assert third == []


def test_run_keys_follow_ids_and_attempts():
    key = run_key("export", [(2, 1), (1, 1)])
    assert key == run_key("export", [(1, 1), (2, 1)])  # order of the rows does not matter
    assert key.startswith("export-1-2-n2-")
    assert run_key("export", [(1, 2), (2, 1)]) != key  # a retried request: a new key
    assert run_key("export", [(1, 1), (3, 1)]) != key
    assert run_key("draft", [(1, 1), (2, 1)]) != key
    assert len(run_key("export", [(i, 3) for i in range(10**9, 10**9 + 50)])) <= 128


def test_concurrent_claims_never_take_a_row_twice(db_engine):
    ids = add_requests(db_engine, n=60)
    claimed: list[int] = []
    errors: list[BaseException] = []

    def claim() -> None:
        try:
            for batch in claim_pending(db_engine, EXPORT_REQUESTS, batch_size=10, max_batches=4):
                claimed.extend(batch.request_ids)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=claim) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(claimed) == ids  # 3 x 40 asked for, 60 there: each exactly once
    assert {r["attempts"] for r in rows_by_id(db_engine).values()} == {1}


def test_pending_rows_are_told_why_they_wait(db_engine):
    waiting = add_requests(db_engine, n=2)
    add_requests(db_engine, n=1, status="failed", error="Bad email.")
    sentence = "Xero is disconnected: an administrator must reconnect."
    assert note_pending(db_engine, EXPORT_REQUESTS, sentence) == 2
    assert note_pending(db_engine, EXPORT_REQUESTS, sentence) == 0  # said already
    rows = rows_by_id(db_engine)
    assert [rows[i]["error"] for i in waiting] == [sentence, sentence]
    assert [r["error"] for r in rows.values() if r["status"] == "failed"] == ["Bad email."]


def test_requeue_puts_rows_back_until_the_last_attempt_then_fails_them(db_engine):
    add_requests(db_engine, n=2)
    add_requests(db_engine, n=1, attempts=2, run_id="run-of-attempt-2")
    [batch] = claim_pending(db_engine, EXPORT_REQUESTS, batch_size=10, max_batches=1)
    assert batch.attempts == (1, 1, 3)
    sentence = "Gave up after 3 attempts because the run failed."

    done = requeue(
        db_engine,
        EXPORT_REQUESTS,
        queued_rows(db_engine, EXPORT_REQUESTS),
        max_attempts=3,
        failed_sentence=sentence,
    )

    first, second, last = batch.request_ids
    assert done.pending == (first, second) and done.failed == (last,)
    rows = rows_by_id(db_engine)
    for request_id in (first, second):
        row = rows[request_id]
        assert (row["status"], row["run_key"], row["attempts"]) == ("pending", None, 1)
    assert (rows[last]["status"], rows[last]["error"]) == ("failed", sentence)
    assert rows[last]["processed_at"] is not None
    assert rows[last]["run_id"] == "run-of-attempt-2"  # the queue never clears run_id

    again = claim_pending(db_engine, EXPORT_REQUESTS, batch_size=10, max_batches=1)
    assert again[0].request_ids == (first, second) and again[0].attempts == (2, 2)
    assert again[0].run_key != batch.run_key


def test_requeue_keeps_the_run_id_a_retry_looks_for(db_engine):
    """A killed run may have written to Xero: its id stays, so the next run looks first."""
    [request_id] = add_requests(db_engine, n=1)
    [batch] = claim_pending(db_engine, EXPORT_REQUESTS, batch_size=10, max_batches=1)
    t = EXPORT_REQUESTS.table
    with db_engine.begin() as conn:
        conn.execute(t.update().where(t.c.id == request_id).values(run_id="killed-run"))
    requeue(
        db_engine,
        EXPORT_REQUESTS,
        queued_rows(db_engine, EXPORT_REQUESTS),
        max_attempts=3,
        failed_sentence="x",
    )
    claim_pending(db_engine, EXPORT_REQUESTS, batch_size=10, max_batches=1)
    row = rows_by_id(db_engine)[request_id]
    assert (row["status"], row["run_id"], row["attempts"]) == ("queued", "killed-run", 2)
    assert row["run_key"] not in (None, batch.run_key)


def test_requeue_leaves_rows_that_moved_on_since_they_were_read(db_engine):
    add_requests(db_engine, n=3)
    [batch] = claim_pending(db_engine, EXPORT_REQUESTS, batch_size=10, max_batches=1)
    seen = queued_rows(db_engine, EXPORT_REQUESTS)
    answered, regiven, stale = batch.request_ids
    t = EXPORT_REQUESTS.table
    with db_engine.begin() as conn:
        conn.execute(t.update().where(t.c.id == answered).values(status="done"))
        conn.execute(t.update().where(t.c.id == regiven).values(run_key="another-run"))

    done = requeue(db_engine, EXPORT_REQUESTS, seen, max_attempts=3, failed_sentence="x")

    assert done.pending == (stale,) and done.failed == ()
    rows = rows_by_id(db_engine)
    assert rows[answered]["status"] == "done"
    assert (rows[regiven]["status"], rows[regiven]["run_key"]) == ("queued", "another-run")


def test_queued_rows_list_each_row_with_its_run_key(db_engine):
    add_requests(db_engine, n=2)
    [batch] = claim_pending(db_engine, EXPORT_REQUESTS, batch_size=10, max_batches=1)
    assert queued_rows(db_engine, EXPORT_REQUESTS) == [
        QueuedRow(request_id, batch.run_key, 1) for request_id in batch.request_ids
    ]


@pytest.mark.parametrize("spec", [EXPORT_REQUESTS, DRAFT_REQUESTS], ids=lambda s: s.kind)
def test_a_tick_reads_the_open_rows_index_not_the_finished_rows(db_engine, spec):
    """With many `done` rows, finding the next pending ones walks `ix_<table>_open`."""
    t = spec.table
    with db_engine.begin() as conn:
        conn.execute(insert(t), [{"status": "done"} for _ in range(20_000)])
        conn.execute(insert(t), [{"status": "pending"} for _ in range(5)])
        conn.execute(text(f"ANALYZE {spec.name}"))
    query = pending_query(spec, 50)
    sql = str(query.compile(db_engine, compile_kwargs={"literal_binds": True}))
    explain = "EXPLAIN QUERY PLAN " if db_engine.dialect.name == "sqlite" else "EXPLAIN "
    with db_engine.connect() as conn:
        plan = " ".join(str(part) for row in conn.execute(text(explain + sql)) for part in row)
    assert f"ix_{spec.name}_open" in plan, plan
