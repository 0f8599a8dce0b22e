"""End to end: the CRM inserts request rows, `dagster-daemon` (a real process, with its
code server and a process per run) picks them up with the request sensors and runs the
jobs against the sandbox over HTTP; the rows end `done` and Xero holds the records.

The CRM database is the test's (`db_url`: SQLite and PostgreSQL), connected to the
sandbox through the real OAuth2 flow; the import's mirrors are synced first, as the
schedule would, since matching and revenue accounts come from them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import dagster as dg
import pytest
import requests
from cryptography.fernet import Fernet
from sqlalchemy import Engine, insert, select

from tests.e2e.daemon import DaemonProcess, dagster_daemon, runs_for_key, sensor_ticks
from tests.xero.connect_helpers import connect_flow, sandbox_app
from xero_pipelines.db.models import (
    CrmAccount,
    CrmContact,
    CrmOpportunity,
    CrmOpportunityLine,
    XeroAccountLink,
    XeroDraftRequest,
    XeroExportRequest,
)
from xero_pipelines.resources.crm import CrmDatabase
from xero_pipelines.resources.xero import XeroResource
from xero_pipelines.xero.crypto import TokenCipher

pytestmark = pytest.mark.slow

API = "/api.xro/2.0/"
INTERVAL = 2  # seconds between sensor ticks in this test
BATCH = 4  # requests per run, so the accounts below need several runs
ACCOUNTS = 9
WAIT = 300  # seconds at most for the daemon to finish everything


# --- the CRM as a CRM developer fills it -------------------------------------------------


def load_crm(engine: Engine) -> None:
    """Nine accounts, each with a primary and a second contact and one NZD opportunity
    of two lines (one discounted)."""
    accounts, contacts, opportunities, lines = [], [], [], []
    for i in range(1, ACCOUNTS + 1):
        accounts.append(
            {
                "id": i,
                "name": f"Harbour Freight {i} Ltd",
                "account_number": f"E2E-{i:03d}",
                "email": f"accounts@harbour{i}.example",
                "phone": f"+64 9 555 01{i:02d}",
                "address_line1": f"{i} Quay Street",
                "city": "Auckland",
                "postal_code": "1010",
                "country": "NZ",
            }
        )
        for n, primary in ((1, True), (2, False)):
            contacts.append(
                {
                    "id": 10 * i + n,
                    "account_id": i,
                    "first_name": "Aroha" if primary else "Ben",
                    "last_name": f"Ngata{i}",
                    "email": f"{'aroha' if primary else 'ben'}@harbour{i}.example",
                    "phone": f"+64 21 555 {i:02d}{n}",
                    "is_primary": primary,
                }
            )
        opportunities.append(
            {
                "id": i,
                "account_id": i,
                "name": f"Freight platform for Harbour {i}",
                "opportunity_number": f"OPP-E2E-{i:03d}",
                "currency_code": "NZD",
                "amount": Decimal("3255.00"),
            }
        )
        lines += [
            {
                "id": 2 * i,
                "opportunity_id": i,
                "description": "Annual subscription",
                "quantity": Decimal(2),
                "unit_price": Decimal("1200.00"),
                "discount_rate": Decimal(0),
                "tax_type": "OUTPUT2",
            },
            {
                "id": 2 * i + 1,
                "opportunity_id": i,
                "description": "Onboarding workshop (1 day)",
                "quantity": Decimal(1),
                "unit_price": Decimal("950.00"),
                "discount_rate": Decimal(10),
                "tax_type": "OUTPUT2",
            },
        ]
    with engine.begin() as conn:
        for model, rows in (
            (CrmAccount, accounts),
            (CrmContact, contacts),
            (CrmOpportunity, opportunities),
            (CrmOpportunityLine, lines),
        ):
            conn.execute(insert(model), rows)


def insert_requests(engine: Engine, model, rows: list[dict]) -> tuple[list[int], float]:
    """Insert the rows in one transaction, as the CRM does; their ids and the time the
    transaction committed."""
    with engine.begin() as conn:
        conn.execute(insert(model), rows)
        ids = conn.execute(select(model.id).order_by(model.id)).scalars().all()
    return list(ids), time.time()


def read_rows(engine: Engine, model) -> dict[int, Any]:
    with engine.connect() as conn:
        return {row.id: row for row in conn.execute(select(model.__table__))}


def wait_for(
    daemon: DaemonProcess, settled: Callable[[], bool], what: str, timeout: float = WAIT
) -> None:
    deadline = time.monotonic() + timeout
    while not settled():
        daemon.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{daemon.log_tail()}")
        time.sleep(0.5)


def all_finished(engine: Engine, model) -> Callable[[], bool]:
    def check() -> bool:
        return all(r.status in ("done", "failed") for r in read_rows(engine, model).values())

    return check


# --- the sandbox, read back over raw HTTP (never through the production client) ----------


class XeroReader:
    def __init__(self, sandbox) -> None:
        self.url = sandbox.url
        self.headers = {**sandbox.connect().headers(), "Content-Type": "application/json"}

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        r = requests.get(self.url + API + path, headers=self.headers, params=params, timeout=30)
        r.raise_for_status()
        return r.json()

    def put(self, path: str, body: dict) -> dict[str, Any]:
        r = requests.put(self.url + API + path, headers=self.headers, json=body, timeout=30)
        r.raise_for_status()
        return r.json()


def connect(engine: Engine, sandbox_url: str, monkeypatch) -> None:
    """`xero-pipelines connect`'s flow against the sandbox; the token key goes into the
    environment the daemon inherits, as a deployment sets XERO_TOKEN_KEY."""
    key = Fernet.generate_key()
    monkeypatch.setenv("XERO_TOKEN_KEY", key.decode())
    connect_flow(engine, sandbox_app(sandbox_url), TokenCipher(key))


def sync_mirrors(db_url: str, sandbox_url: str) -> None:
    """The import's mirror assets, as the hourly schedule runs them."""
    from xero_pipelines.assets.xero import xero_contacts, xero_organisation, xero_revenue_accounts

    crm = CrmDatabase(url=db_url)
    xero = XeroResource(
        crm=crm,
        client_id="sandbox",
        client_secret="sandbox",
        api_url=sandbox_url,
        identity_url=sandbox_url,
        login_url=sandbox_url,
    )
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [xero_contacts, xero_revenue_accounts, xero_organisation],
            resources={"crm": crm, "xero": xero},
            instance=instance,
        )
    assert result.success


def daemon_env(db_url: str, sandbox_url: str) -> dict[str, str]:
    """What the deployment sets; XERO_TOKEN_KEY and XERO_PIPELINES_HOME are inherited."""
    return {
        "CRM_DATABASE_URL": db_url,
        "XERO_CLIENT_ID": "sandbox",
        "XERO_CLIENT_SECRET": "sandbox",
        "XERO_API_URL": sandbox_url,
        "XERO_IDENTITY_URL": sandbox_url,
        "XERO_LOGIN_URL": sandbox_url,
        "XERO_REQUEST_SENSOR_INTERVAL": str(INTERVAL),
        "XERO_REQUEST_BATCH_SIZE": str(BATCH),
        "XERO_IMPORT_CRON": "0 0 1 1 *",  # the schedule stays out of the way
    }


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

    with dagster_daemon(tmp_path, daemon_env(db_url, sandbox.url)) as daemon:
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
