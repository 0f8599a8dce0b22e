"""What the end-to-end tests share: a CRM filled as a CRM developer would, the production
connection, the import's mirrors, the daemon's environment, and the sandbox read back over
raw HTTP (never through the production client, so the client cannot vouch for itself)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import dagster as dg
import requests
from cryptography.fernet import Fernet
from sqlalchemy import Engine, insert, select

from tests.e2e.daemon import DaemonProcess
from tests.xero.connect_helpers import connect_flow, sandbox_app
from xero_pipelines.db.models import (
    CrmAccount,
    CrmContact,
    CrmOpportunity,
    CrmOpportunityLine,
)
from xero_pipelines.resources.crm import CrmDatabase
from xero_pipelines.resources.xero import XeroResource
from xero_pipelines.xero.crypto import TokenCipher

API = "/api.xro/2.0/"
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
    insert_crm(engine, accounts, contacts, opportunities, lines)


def insert_crm(
    engine: Engine,
    accounts: list[dict],
    contacts: list[dict],
    opportunities: list[dict],
    lines: list[dict],
) -> None:
    """CRM rows in one transaction, parents before children, as the CRM writes them."""
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


def token_key(monkeypatch) -> bytes:
    """A new XERO_TOKEN_KEY in the environment the services inherit, as a deployment sets
    it: a test that starts its Celery workers (or daemon) before it connects makes the key
    first."""
    key = Fernet.generate_key()
    monkeypatch.setenv("XERO_TOKEN_KEY", key.decode())
    return key


def connect(engine: Engine, sandbox_url: str, monkeypatch) -> None:
    """`xero-pipelines connect`'s flow against the sandbox, with the test's XERO_TOKEN_KEY
    (a new one if it has none yet; every test starts without one)."""
    key = os.environ.get("XERO_TOKEN_KEY", "").encode() or token_key(monkeypatch)
    connect_flow(engine, sandbox_app(sandbox_url), TokenCipher(key))


def sandbox_resources(db_url: str, sandbox_url: str) -> dict[str, dg.ConfigurableResource]:
    """The `crm` and `xero` resources of a run against the sandbox."""
    crm = CrmDatabase(url=db_url)
    xero = XeroResource(
        crm=crm,
        client_id="sandbox",
        client_secret="sandbox",
        api_url=sandbox_url,
        identity_url=sandbox_url,
        login_url=sandbox_url,
    )
    return {"crm": crm, "xero": xero}


def sync_mirrors(db_url: str, sandbox_url: str) -> None:
    """The import's mirror assets, as the hourly schedule runs them."""
    from xero_pipelines.assets.xero import xero_contacts, xero_organisation, xero_revenue_accounts

    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [xero_contacts, xero_revenue_accounts, xero_organisation],
            resources=sandbox_resources(db_url, sandbox_url),
            instance=instance,
        )
    assert result.success


def daemon_env(db_url: str, sandbox_url: str, interval: int, batch: int) -> dict[str, str]:
    """What the deployment sets; XERO_TOKEN_KEY and XERO_PIPELINES_HOME are inherited."""
    return {
        "CRM_DATABASE_URL": db_url,
        "XERO_CLIENT_ID": "sandbox",
        "XERO_CLIENT_SECRET": "sandbox",
        "XERO_API_URL": sandbox_url,
        "XERO_IDENTITY_URL": sandbox_url,
        "XERO_LOGIN_URL": sandbox_url,
        "XERO_REQUEST_SENSOR_INTERVAL": str(interval),
        "XERO_REQUEST_BATCH_SIZE": str(batch),
        "XERO_IMPORT_CRON": "0 0 1 1 *",  # the schedule stays out of the way
    }
