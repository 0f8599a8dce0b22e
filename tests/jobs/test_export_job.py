"""`xero_export_job` against the sandbox over real HTTP, on SQLite and PostgreSQL: new
contacts with the CRM's fields, matches linked instead of duplicated, updates, batches with
per-element errors, bad input, a lost connection, and Xero's 503 and 429 mid-batch."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.jobs.conftest import JobEnv, calls_between, output_metadata
from xero_pipelines.db.models import XeroExportRequest
from xero_pipelines.db.request_outcomes import DISCONNECTED
from xero_pipelines.db.request_queue import EXPORT_REQUESTS
from xero_pipelines.jobs.export import EXPORT_OP
from xero_pipelines.jobs.tags import XERO_CONCURRENCY_TAG

PUT = "PUT /api.xro/2.0/Contacts"
POST = "POST /api.xro/2.0/Contacts"
GET = "GET /api.xro/2.0/Contacts"


def by_number(env: JobEnv, number: str) -> list[dict]:
    return [c for c in env.xero_contacts() if c.get("ContactNumber") == number]


def test_the_job_carries_the_xero_concurrency_tag():
    from xero_pipelines.jobs.export import xero_export_job

    assert XERO_CONCURRENCY_TAG in xero_export_job.tags


def test_export_creates_the_contact_with_the_crms_fields_and_links_it(env: JobEnv):
    env.sync_mirrors()
    account = env.account(
        "Zoë's Café & Co",
        account_number="ZC-1",
        email="office@zoe.example",
        phone="09 000",
        address_line1="1 Queen St",
        city="Auckland",
        postal_code="1010",
        country="New Zealand",
    )
    env.contact(
        account,
        first_name="Zoë",
        last_name="Smith",
        email="zoe@zoe.example",
        phone="09 111",
        mobile="021 222",
        is_primary=True,
    )
    main = env.contact(
        account, first_name="Tom", last_name="Jones", email="tom@zoe.example", phone="09 333"
    )
    env.contact(account, first_name="No", last_name="Mail")
    [request] = env.export_requests({"crm_account_id": account, "main_contact_id": main})
    before = env.calls()

    result = env.run_export([request])

    assert result.success
    assert calls_between(before, env.calls()) == {PUT: 1}
    row = env.requests(XeroExportRequest)[request]
    assert (row.status, row.error) == ("done", None)
    assert row.run_id == result.run_id and row.processed_at is not None
    assert env.links() == {account: (row.xero_contact_id, "export")}
    assert row.xero_url.endswith(f"/Contacts/View/{row.xero_contact_id}")
    [contact] = by_number(env, f"CRM-{account}")
    assert contact["ContactID"] == row.xero_contact_id
    assert (contact["Name"], contact["AccountNumber"]) == ("Zoë's Café & Co", "ZC-1")
    assert (contact["FirstName"], contact["LastName"], contact["EmailAddress"]) == (
        "Tom",
        "Jones",
        "tom@zoe.example",
    )
    phone = next(p for p in contact["Phones"] if p["PhoneType"] == "DEFAULT")
    assert phone["PhoneNumber"] == "09 333"  # the main contact's `phone` (the default field)
    street = next(a for a in contact["Addresses"] if a["AddressType"] == "STREET")
    assert (street["AddressLine1"], street["City"], street["PostalCode"]) == (
        "1 Queen St",
        "Auckland",
        "1010",
    )
    assert [p["EmailAddress"] for p in contact["ContactPersons"]] == ["zoe@zoe.example"]
    meta = output_metadata(result, EXPORT_OP)
    assert (meta["done"], meta["failed"], meta["xero_calls"]) == (1, 0, 1)
    assert meta["outcomes"][str(request)]["status"] == "done"


def test_the_phone_field_setting_picks_the_column(env: JobEnv):
    from xero_pipelines.xero.settings_store import set_setting

    env.sync_mirrors()
    set_setting(env.engine, "phone_field", "mobile")
    account = env.account("Mobile Ltd")
    env.contact(account, first_name="M", phone="09 1", mobile="021 9", is_primary=True)
    [request] = env.export_requests({"crm_account_id": account})
    assert env.run_export([request]).success
    [contact] = by_number(env, f"CRM-{account}")
    phone = next(p for p in contact["Phones"] if p["PhoneType"] == "DEFAULT")
    assert phone["PhoneNumber"] == "021 9"


@pytest.mark.parametrize(
    ("existing", "crm", "rule"),
    [
        ({"AccountNumber": "ACME-9"}, {"account_number": "acme-9"}, "account_number"),
        ({"EmailAddress": "Billing@Acme.example"}, {"email": "billing@acme.example"}, "email"),
        ({}, {}, "name"),
    ],
)
def test_a_matching_contact_is_linked_instead_of_created(env: JobEnv, existing, crm, rule):
    [contact] = env.xero_put("Contacts", {"Contacts": [{"Name": "ACME Limited", **existing}]})[
        "Contacts"
    ]
    env.sync_mirrors()
    name = "Acme Ltd" if rule == "name" else "Something Else Entirely"
    account = env.account(name, **crm)
    [request] = env.export_requests({"crm_account_id": account})
    count = len(env.xero_contacts())
    before = env.calls()

    assert env.run_export([request]).success

    assert calls_between(before, env.calls()) == {}  # decided from the mirror alone
    assert len(env.xero_contacts()) == count
    row = env.requests(XeroExportRequest)[request]
    assert (row.status, row.xero_contact_id) == ("done", contact["ContactID"])
    assert env.links() == {account: (contact["ContactID"], rule)}


def test_several_matching_contacts_fail_the_request_naming_them(env: JobEnv):
    env.xero_put(
        "Contacts",
        {
            "Contacts": [
                {"Name": "Kiwi Traders North", "EmailAddress": "ops@kiwi.example"},
                {"Name": "Kiwi Traders South", "EmailAddress": "OPS@kiwi.example"},
            ]
        },
    )
    env.sync_mirrors()
    account = env.account("Kiwi Traders", email="ops@kiwi.example")
    [request] = env.export_requests({"crm_account_id": account})
    before = env.calls()

    assert env.run_export([request]).success

    assert calls_between(before, env.calls()) == {}
    row = env.requests(XeroExportRequest)[request]
    assert row.status == "failed"
    assert row.error == (
        "Several Xero contacts match this account by email (Kiwi Traders North; Kiwi "
        "Traders South): link the right one by hand, or make them differ in Xero, then "
        "export again."
    )
    assert env.links() == {}


def test_an_already_linked_account_is_answered_with_its_link(env: JobEnv):
    env.sync_mirrors()
    account = env.account("Linked Ltd")
    env.link(account, "7d3cbb2e-2f3c-4c55-9a43-6f7a1d0e7c21", "manual")
    [request] = env.export_requests({"crm_account_id": account})
    before = env.calls()

    assert env.run_export([request]).success

    assert calls_between(before, env.calls()) == {}
    row = env.requests(XeroExportRequest)[request]
    assert (row.status, row.xero_contact_id) == ("done", "7d3cbb2e-2f3c-4c55-9a43-6f7a1d0e7c21")
    assert env.links()[account][1] == "manual"  # the existing link is kept as it was


def test_two_requests_for_one_account_export_it_once(env: JobEnv):
    env.sync_mirrors()
    account = env.account("Twice Clicked Ltd")
    first, second = env.export_requests({"crm_account_id": account}, {"crm_account_id": account})
    assert env.run_export([first, second]).success
    rows = env.requests(XeroExportRequest)
    assert rows[first].status == rows[second].status == "done"
    assert rows[first].xero_contact_id == rows[second].xero_contact_id
    assert len(by_number(env, f"CRM-{account}")) == 1


def test_batches_of_fifty_and_one_refused_account_fails_alone(env: JobEnv):
    # An archived contact holds account number TAKEN-1: the mirror's rules skip archived
    # contacts, so the job sends it, and Xero refuses that one element only.
    [old] = env.xero_put(
        "Contacts", {"Contacts": [{"Name": "Old Co", "AccountNumber": "TAKEN-1"}]}
    )["Contacts"]
    env.xero_post(
        "Contacts", {"Contacts": [{"ContactID": old["ContactID"], "ContactStatus": "ARCHIVED"}]}
    )
    env.sync_mirrors()
    accounts = [env.account(f"Batch Customer {i:02d}") for i in range(60)]
    bad = env.account("Refused Co", account_number="TAKEN-1")
    ids = env.export_requests(
        *({"crm_account_id": a} for a in [*accounts[:30], bad, *accounts[30:]])
    )
    before = env.calls()

    result = env.run_export(ids)

    assert result.success
    assert calls_between(before, env.calls()) == {PUT: 2}  # 50 + 11 elements
    rows = env.requests(XeroExportRequest)
    refused = next(r for r in rows.values() if r.crm_account_id == bad)
    assert refused.status == "failed"
    assert refused.error == (
        "Xero refused this account: The Account Number already exists. Please enter a "
        "different Account Number."
    )
    assert sorted(r.status for r in rows.values() if r.id != refused.id) == ["done"] * 60
    messages = [record.user_message for record in env.instance.all_logs(result.run_id)]
    assert any(refused.error in m and str(refused.id) in m for m in messages)  # for operators
    meta = output_metadata(result, EXPORT_OP)
    assert (meta["done"], meta["failed"]) == (60, 1)
    assert meta["outcomes"][str(refused.id)] == {
        "status": "failed",
        "error": refused.error,
        "xero_error": "The Account Number already exists. Please enter a different Account Number.",
    }
    assert len(env.links()) == 60
    assert {c["ContactNumber"] for c in env.xero_contacts() if c.get("ContactNumber")} == {
        f"CRM-{a}" for a in accounts
    }


def test_update_pushes_the_crms_fields_to_the_linked_contact(env: JobEnv):
    env.sync_mirrors()
    account = env.account("Before Rename Ltd", email="old@rename.example")
    [export] = env.export_requests({"crm_account_id": account})
    assert env.run_export([export]).success
    contact_id = env.requests(XeroExportRequest)[export].xero_contact_id
    with env.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE crm_accounts SET name = :n, email = :e, account_number = :a WHERE id = :i"
            ),
            {"n": "After Rename Ltd", "e": "new@rename.example", "a": "AR-1", "i": account},
        )
    env.contact(account, first_name="New", last_name="Boss", is_primary=True, phone="09 77")
    [update] = env.export_requests({"crm_account_id": account, "action": "update"})
    before = env.calls()

    assert env.run_export([update]).success

    assert calls_between(before, env.calls()) == {POST: 1}
    row = env.requests(XeroExportRequest)[update]
    assert (row.status, row.xero_contact_id) == ("done", contact_id)
    [contact] = env.xero_get(f"Contacts/{contact_id}")["Contacts"]
    assert (contact["Name"], contact["AccountNumber"], contact["FirstName"]) == (
        "After Rename Ltd",
        "AR-1",
        "New",
    )
    assert contact["EmailAddress"] == "new@rename.example"  # the new main contact has none
    assert contact["ContactNumber"] == f"CRM-{account}"  # the key is not rewritten
    assert len(env.xero_contacts()) == 1


def test_update_of_an_unlinked_account_fails_with_the_sentence(env: JobEnv):
    env.sync_mirrors()
    account = env.account("Never Exported Ltd")
    [request] = env.export_requests({"crm_account_id": account, "action": "update"})
    before = env.calls()
    assert env.run_export([request]).success
    assert calls_between(before, env.calls()) == {}
    row = env.requests(XeroExportRequest)[request]
    assert (row.status, row.error) == (
        "failed",
        "This account is not linked to Xero yet: export it first.",
    )


def test_bad_input_fails_only_its_own_request(env: JobEnv):
    env.sync_mirrors()
    if env.engine.dialect.name == "postgresql":  # a CRM whose name column is wider
        with env.engine.begin() as conn:
            conn.execute(text("ALTER TABLE crm_accounts ALTER COLUMN name TYPE TEXT"))
    good = env.account("Good Customer Ltd")
    other = env.account("Other Account Ltd")
    strangers_contact = env.contact(other, first_name="Sam", email="sam@other.example")
    cases = {
        "unknown": ({"crm_account_id": 999_999}, "CRM account 999999 was not found"),
        "stranger": (
            {"crm_account_id": env.account("Picky Ltd"), "main_contact_id": strangers_contact},
            "The chosen main contact belongs to another account",
        ),
        "no name": ({"crm_account_id": env.account("   ")}, "The account has no name"),
        "long name": (
            {"crm_account_id": env.account("L" * 300)},
            "The account name has 300 characters and Xero allows 255",
        ),
        "bad email": (
            {"crm_account_id": env.account("Mail Ltd", email="mail@@example")},
            "The email address 'mail@@example' of the account is not valid",
        ),
    }
    ids = env.export_requests({"crm_account_id": good}, *(row for row, _ in cases.values()))
    before = env.calls()

    assert env.run_export(ids).success

    assert calls_between(before, env.calls()) == {PUT: 1}
    rows = env.requests(XeroExportRequest)
    assert rows[ids[0]].status == "done"
    for request_id, (_, start) in zip(ids[1:], cases.values(), strict=True):
        assert rows[request_id].status == "failed"
        assert rows[request_id].error.startswith(start), rows[request_id].error
    assert [c["Name"] for c in env.xero_contacts()] == ["Good Customer Ltd"]


def test_a_lost_connection_leaves_every_request_waiting(env: JobEnv):
    env.sync_mirrors()
    ids = env.export_requests(*({"crm_account_id": env.account(f"Wait {i}")} for i in range(3)))
    env.sandbox.revoke_app()

    result = env.run_export(ids)

    assert not result.success
    rows = env.requests(XeroExportRequest)
    for request_id in ids:
        row = rows[request_id]
        assert (row.status, row.error) == ("pending", DISCONNECTED)
        assert row.attempts == 0  # this launch does not count against the attempt limit
    assert env.links() == {}


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 503, "count": 2, "path": "/api.xro/2.0/Contacts"},
        {"rate_limit": "minute", "count": 2, "retry_after": 1, "path": "/api.xro/2.0/Contacts"},
    ],
    ids=["503", "429"],
)
def test_503_and_429_during_an_export_batch_are_retried_without_duplicates(env: JobEnv, fault):
    env.sync_mirrors()
    accounts = [env.account(f"Storm Customer {i:02d}") for i in range(75)]
    ids = env.export_requests(*({"crm_account_id": a} for a in accounts))
    env.sandbox.faults(**fault)

    result = env.run_export(ids)

    assert result.success
    meta = output_metadata(result, EXPORT_OP)
    assert meta["done"] == 75
    assert meta["xero_retries"] + meta["xero_rate_limit_waits"] >= 1
    numbers = [c.get("ContactNumber") for c in env.xero_contacts()]
    assert sorted(numbers) == sorted(f"CRM-{a}" for a in accounts)  # each exactly once


@pytest.mark.parametrize("when", ["after", "before"])
def test_a_run_killed_around_its_xero_call_and_retried_creates_each_contact_once(env: JobEnv, when):
    """Killed after Xero created the contacts but before the commit (or just before the
    call), the sensor requeues the rows and a new run answers them: the look-up by
    ContactNumber finds what the dead run created, although Xero forgot the key."""
    env.sync_mirrors()
    accounts = [env.account(f"Crash Customer {i}") for i in range(3)]
    ids = env.export_requests(*({"crm_account_id": a} for a in accounts))

    env.crash("export", ids, when)

    rows = env.requests(XeroExportRequest)
    assert all(rows[i].status == "queued" and rows[i].run_id for i in ids)  # nothing committed
    assert len(env.xero_contacts()) == (3 if when == "after" else 0)
    env.sandbox.limits(idempotency_window=0)  # minutes later: Xero has forgotten the key
    env.requeue_as_the_sensor_does(EXPORT_REQUESTS)
    before = env.calls()

    assert env.run_export(ids).success

    expected = {GET: 1} if when == "after" else {GET: 1, PUT: 1}
    assert calls_between(before, env.calls()) == expected
    rows = env.requests(XeroExportRequest)
    assert [rows[i].status for i in ids] == ["done"] * 3
    assert sorted(c["ContactNumber"] for c in env.xero_contacts()) == sorted(
        f"CRM-{a}" for a in accounts
    )
    assert {a: by for a, (_, by) in env.links().items()} == {a: "export" for a in accounts}


def test_xero_down_beyond_the_retries_fails_the_run_and_leaves_requests_queued(
    env: JobEnv, fast_retries
):
    """Nothing is wrong with the requests: they stay queued for the sensor to put back,
    and the next run creates each contact once."""
    env.sync_mirrors()
    accounts = [env.account(f"Outage Customer {i}") for i in range(2)]
    ids = env.export_requests(*({"crm_account_id": a} for a in accounts))
    env.sandbox.faults(status=503, count=1000, path="/api.xro/2.0/Contacts")

    result = env.run_export(ids)

    assert not result.success
    rows = env.requests(XeroExportRequest)
    assert [(rows[i].status, rows[i].error) for i in ids] == [("queued", None)] * 2
    env.sandbox.clear_faults()
    assert env.xero_contacts() == []
    env.requeue_as_the_sensor_does(EXPORT_REQUESTS)

    assert env.run_export(ids).success

    assert [env.requests(XeroExportRequest)[i].status for i in ids] == ["done"] * 2
    assert sorted(c["ContactNumber"] for c in env.xero_contacts()) == sorted(
        f"CRM-{a}" for a in accounts
    )
