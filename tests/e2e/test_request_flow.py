"""End to end: the CRM inserts request rows, `dagster-daemon` (a real process, with its
code server and a process per run) picks them up with the request sensors and runs the
jobs against the sandbox over HTTP; the rows end `done` and Xero holds the records.

The CRM database is the test's (`db_url`: SQLite and PostgreSQL), connected to the
sandbox through the real OAuth2 flow; the import's mirrors are synced first, as the
schedule would, since matching and revenue accounts come from them.
"""

from __future__ import annotations

import dagster as dg
import pytest

from tests.e2e.daemon import dagster_daemon, runs_for_key, sensor_ticks
from tests.e2e.helpers import (
    ACCOUNTS,
    XeroReader,
    all_finished,
    connect,
    daemon_env,
    insert_requests,
    load_crm,
    read_rows,
    sync_mirrors,
    wait_for,
)
from xero_pipelines.db.models import XeroAccountLink, XeroDraftRequest, XeroExportRequest

pytestmark = pytest.mark.slow

INTERVAL = 2  # seconds between sensor ticks in this test
BATCH = 4  # requests per run, so the accounts below need several runs


def late_launches(instance: dg.DagsterInstance, sensor: str, keys: set[str], committed: float):
    """Run keys asked for by a tick later than the first tick that began after the
    requests were committed (the daemon's tick timestamps; none expected)."""
    ticks = sensor_ticks(instance, sensor)
    first_after = min(t.timestamp for t in ticks if t.timestamp >= committed)
    launched = {key: min(t.timestamp for t in ticks if key in t.run_keys) for key in keys}
    return {key: at - first_after for key, at in launched.items() if at > first_after}


# --- the test -----------------------------------------------------------------------------


def test_crm_requests_become_xero_records_through_the_daemon(
    sandbox, db_url, db_engine, tmp_path, monkeypatch
):
    connect(db_engine, sandbox.url, monkeypatch)
    load_crm(db_engine)
    xero = XeroReader(sandbox)
    # Account 1 is in Xero already (same account number): export links it, never twice.
    existing = xero.put(
        "Contacts", {"Contacts": [{"Name": "Harbour Freight One", "AccountNumber": "E2E-001"}]}
    )["Contacts"][0]["ContactID"]
    sync_mirrors(db_url, sandbox.url)

    with dagster_daemon(tmp_path, daemon_env(db_url, sandbox.url, INTERVAL, BATCH)) as daemon:
        instance = daemon.instance()
        wait_for(
            daemon,
            lambda: (
                sensor_ticks(instance, "xero_export_request_sensor")
                and sensor_ticks(instance, "xero_draft_request_sensor")
            ),
            "the request sensors' first ticks",
            timeout=180,
        )

        # Account 2's second contact is its chosen main one; the others use the primary.
        export_rows = [
            {"crm_account_id": i, "main_contact_id": 22 if i == 2 else None}
            for i in range(1, ACCOUNTS + 1)
        ]
        export_ids, export_at = insert_requests(db_engine, XeroExportRequest, export_rows)
        wait_for(daemon, all_finished(db_engine, XeroExportRequest), "the export requests")

        draft_rows = [
            {
                "opportunity_id": i,
                "revenue_account_code": "200",
                "export_type": "quote" if i % 3 == 0 else None,  # None: the setting (invoice)
            }
            for i in range(1, ACCOUNTS + 1)
        ]
        draft_ids, draft_at = insert_requests(db_engine, XeroDraftRequest, draft_rows)
        wait_for(daemon, all_finished(db_engine, XeroDraftRequest), "the draft requests")

        exports = read_rows(db_engine, XeroExportRequest)
        drafts = read_rows(db_engine, XeroDraftRequest)
        export_keys = {r.run_key for r in exports.values()}
        draft_keys = {r.run_key for r in drafts.values()}
        late = {
            **late_launches(instance, "xero_export_request_sensor", export_keys, export_at),
            **late_launches(instance, "xero_draft_request_sensor", draft_keys, draft_at),
        }

        def runs_ended() -> bool:  # a run's outcomes commit a moment before the run ends
            found = [runs_for_key(instance, key) for key in export_keys | draft_keys]
            return all(r.is_finished for runs in found for r in runs)

        wait_for(daemon, runs_ended, "the runs to end", timeout=120)
        runs = {key: runs_for_key(instance, key) for key in export_keys | draft_keys}

    # Every request is done, on its first attempt, by the run its sensor asked for.
    for row in [*exports.values(), *drafts.values()]:
        assert (row.status, row.error, row.attempts) == ("done", None, 1), row
        [run] = runs[row.run_key]  # one run per run key: nothing launched twice
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert row.run_id == run.run_id
    assert len(export_keys) == -(-ACCOUNTS // BATCH) == len(draft_keys)  # 3 runs each

    # Every run was asked for by the first tick that began after the insert committed, or
    # by one in flight then: within one sensor interval, on the daemon's own tick clock.
    assert late == {}

    # Xero holds one contact per account: account 1 linked to the one it had, the others
    # created with the CRM's key, and no duplicates.
    links = {
        r.crm_account_id: (r.xero_contact_id, r.matched_by)
        for r in read_rows(db_engine, XeroAccountLink).values()
    }
    assert links[1] == (existing, "account_number")
    contacts = xero.get("Contacts", includeArchived="true")["Contacts"]
    by_number = {}
    for contact in contacts:
        by_number.setdefault(contact.get("AccountNumber"), []).append(contact)
    for i in range(1, ACCOUNTS + 1):
        [contact] = by_number[f"E2E-{i:03d}"]
        assert links[i][0] == contact["ContactID"] == exports[export_ids[i - 1]].xero_contact_id
        if i > 1:
            assert links[i][1] == "export"
            assert contact["Name"] == f"Harbour Freight {i} Ltd"
    main_of_2 = by_number["E2E-002"][0]
    assert (main_of_2["FirstName"], main_of_2["EmailAddress"]) == ("Ben", "ben@harbour2.example")

    # One draft invoice or quote per opportunity, on the account's contact.
    for request_id, row in zip(draft_ids, draft_rows, strict=True):
        done = drafts[request_id]
        opportunity = row["opportunity_id"]
        kind = "Quotes" if row["export_type"] == "quote" else "Invoices"
        [document] = xero.get(f"{kind}/{done.xero_document_id}")[kind]
        assert document["Reference"] == f"OPP-E2E-{opportunity:03d}"
        assert document["Contact"]["ContactID"] == links[opportunity][0]
        assert document["Status"] == "DRAFT"
        number = document["QuoteNumber" if kind == "Quotes" else "InvoiceNumber"]
        assert done.xero_document_number == number and done.xero_url
    invoices = xero.get("Invoices", where='Type=="ACCREC"')["Invoices"]
    quotes = xero.get("Quotes")["Quotes"]
    assert len(invoices) == 6 and len(quotes) == 3
