"""`xero-pipelines requests list|retry` over request rows that real runs answered: an
export and a draft done against the sandbox, a draft Xero refused, an export of an account
the CRM had not saved yet, and a row still pending; on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy import insert, select

from tests.assets.conftest import connected_tenant, make_xero_resource  # noqa: F401
from tests.cli.cli_runner import run_cli, table_body
from tests.jobs.conftest import JobEnv, env  # noqa: F401
from xero_pipelines.db.models import CrmAccount, XeroDraftRequest, XeroExportRequest
from xero_pipelines.db.request_queue import EXPORT_REQUESTS, claim_pending

LINE = {"description": "Hosting", "quantity": Decimal("12"), "unit_price": Decimal("19.99")}
MISSING_ACCOUNT = 987_654


@dataclass
class Queue:
    account: int
    exported: int  # export request, done
    drafted: int  # draft request, done
    refused: int  # draft request Xero refused: failed
    early: int  # export of an account the CRM saved later: failed
    waiting: int  # export request nobody claimed yet: pending
    other_account: int


@pytest.fixture
def queue(env: JobEnv, monkeypatch) -> Queue:  # noqa: F811
    monkeypatch.setenv("CRM_DATABASE_URL", env.db_url)
    env.sync_mirrors()
    account = env.account("Request Customer Ltd")
    [exported] = env.export_requests({"crm_account_id": account})
    assert env.run_export([exported]).success
    good = env.opportunity(account, [LINE], opportunity_number="OK-1")
    bogus = env.opportunity(account, [{**LINE, "tax_type": "BOGUS"}], opportunity_number="B-1")
    drafted, refused = env.draft_requests(
        *({"opportunity_id": o, "revenue_account_code": "200"} for o in (good, bogus))
    )
    assert env.run_draft([drafted, refused]).success
    [early] = env.export_requests({"crm_account_id": MISSING_ACCOUNT})
    assert env.run_export([early]).success
    other = env.account("Someone Else Ltd")
    with env.engine.begin() as conn:
        waiting = conn.scalar(
            insert(XeroExportRequest)
            .values(crm_account_id=other, action="update")
            .returning(XeroExportRequest.id)
        )
    statuses = {**rows(env, XeroExportRequest), **rows(env, XeroDraftRequest)}
    assert [statuses[i].status for i in (exported, drafted, refused, early, waiting)] == [
        "done",
        "done",
        "failed",
        "failed",
        "pending",
    ]
    return Queue(account, exported, drafted, refused, early, waiting, other)


def rows(job_env: JobEnv, model) -> dict[int, object]:
    with job_env.engine.connect() as conn:
        return {r.id: r for r in conn.execute(select(model.__table__))}


def table_rows(out: str) -> dict[tuple[str, int], list[str]]:
    """The request table's rows by (kind, id)."""
    return {(cells[1], int(cells[0])): cells for cells in table_body(out)}


def test_list_shows_every_request_with_its_outcome(env: JobEnv, queue: Queue, capsys):  # noqa: F811
    code, out, err = run_cli(capsys, "requests", "list")
    assert (code, err) == (0, "")
    shown = {key: " | ".join(cells) for key, cells in table_rows(out).items()}
    assert set(shown) == {
        ("export", queue.exported),
        ("draft", queue.drafted),
        ("draft", queue.refused),
        ("export", queue.early),
        ("update", queue.waiting),
    }
    exports, drafts = rows(env, XeroExportRequest), rows(env, XeroDraftRequest)
    done = shown[("export", queue.exported)]
    assert "done" in done and exports[queue.exported].xero_contact_id in done
    assert exports[queue.exported].run_id[:8] in done
    assert drafts[queue.drafted].xero_document_number in shown[("draft", queue.drafted)]
    assert "The TaxType code 'BOGUS' does not exist" in shown[("draft", queue.refused)]
    assert f"CRM account {MISSING_ACCOUNT} was not found" in shown[("export", queue.early)]
    assert "pending" in shown[("update", queue.waiting)]
    # a draft shows its opportunity's account
    assert table_rows(out)[("draft", queue.refused)][2] == str(queue.account)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--status", "failed"], {"refused", "early"}),
        (["--status", "pending"], {"waiting"}),
        (["--kind", "draft"], {"drafted", "refused"}),
        (["--kind", "export", "--status", "done"], {"exported"}),
        (["--account", "ACCOUNT"], {"exported", "drafted", "refused"}),
        (["--account", "OTHER", "--kind", "draft"], set()),
        (["--limit", "2"], {"waiting", "early"}),  # the newest two
    ],
)
def test_list_filters(queue: Queue, capsys, options, expected):
    values = {"ACCOUNT": str(queue.account), "OTHER": str(queue.other_account)}
    code, out, _ = run_cli(capsys, "requests", "list", *(values.get(o, o) for o in options))
    assert code == 0
    shown = {request_id for _, request_id in table_rows(out)}
    assert shown == {getattr(queue, name) for name in expected}
    if not expected:
        assert out.strip() == "no requests match"


def test_retry_sends_a_failed_request_back_and_the_next_run_answers_it(
    env: JobEnv,  # noqa: F811
    queue: Queue,
    capsys,
):
    before = rows(env, XeroExportRequest)[queue.early]
    assert (before.attempts, before.processed_at is not None) == (1, True)
    # The CRM saves the account the request named; the operator sends the request again.
    with env.engine.begin() as conn:
        conn.execute(insert(CrmAccount).values(id=MISSING_ACCOUNT, name="Saved Late Ltd"))

    code, out, err = run_cli(capsys, "requests", "retry", str(queue.early), "--kind", "export")

    assert (code, err) == (0, "")
    assert out.strip() == f"export request {queue.early}: failed -> pending (attempts 1 -> 0)"
    after = rows(env, XeroExportRequest)[queue.early]
    assert (after.status, after.attempts, after.error, after.processed_at) == (
        "pending",
        0,
        None,
        None,
    )
    # The sensor's claim sees it as new, and the export job now answers it.
    [batch] = claim_pending(env.engine, EXPORT_REQUESTS, batch_size=50, max_batches=1)
    assert dict(zip(batch.request_ids, batch.attempts, strict=True))[queue.early] == 1
    assert env.run_export([queue.early]).success
    answered = rows(env, XeroExportRequest)[queue.early]
    assert answered.status == "done" and answered.xero_contact_id


def test_retry_refuses_a_done_request_and_changes_nothing(env: JobEnv, queue: Queue, capsys):  # noqa: F811
    before = {**rows(env, XeroExportRequest), **rows(env, XeroDraftRequest)}

    code, out, err = run_cli(
        capsys, "requests", "retry", str(queue.refused), str(queue.drafted), "--kind", "draft"
    )

    assert code == 1 and out == ""
    [line] = err.strip().splitlines()
    assert line.startswith(f"Error: draft request {queue.drafted} is done (Xero record ")
    assert "never retried" in line
    after = {**rows(env, XeroExportRequest), **rows(env, XeroDraftRequest)}
    assert after == before  # all or none: the failed draft was not retried either


def test_retry_refuses_unknown_and_ambiguous_ids(env: JobEnv, queue: Queue, capsys):  # noqa: F811
    code, _, err = run_cli(capsys, "requests", "retry", "424242")
    assert code == 1
    assert err.strip() == "Error: no export or draft request has id 424242"

    # Without --kind, an id both tables hold must be named with its table.
    with env.engine.begin() as conn:
        conn.execute(insert(XeroDraftRequest).values(id=queue.early, opportunity_id=1))
    shared = queue.early
    code, _, err = run_cli(capsys, "requests", "retry", str(shared))
    assert code == 1
    assert f"{shared} is both an export and a draft request id" in err
    assert "--kind" in err


def test_commands_say_when_the_database_has_no_tables(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CRM_DATABASE_URL", f"sqlite:///{tmp_path / 'none.sqlite'}")
    code, _, err = run_cli(capsys, "requests", "list")
    assert code == 1
    assert "xero-pipelines db upgrade" in err
