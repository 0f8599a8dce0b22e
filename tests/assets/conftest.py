"""Fixtures for asset tests: a Xero connection stored through the production path, and
the `crm` and `xero` resources of a real run, on SQLite and PostgreSQL (`db_url`).

- `connected_tenant`: runs the real OAuth2 flow against the sandbox (`connect`), storing
  the encrypted tokens in the test's database; its value is the tenant id.
- `make_xero_resource(api_url=None)`: a `XeroResource` on that connection; `api_url`
  points the accounting calls elsewhere (a gateway in front of the sandbox).
- `xero_resources`: `{"crm": CrmDatabase, "xero": XeroResource}` for `dg.materialize`.
- `xero_user`: acts in the sandbox's organisation over its Xero API (as a user in Xero
  would): create, change, archive, void.
- `fast_retries`: the client's retry backoff shortened to milliseconds, for tests that
  exhaust the retries on purpose.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partialmethod
from typing import Any

import pytest
import requests
from cryptography.fernet import Fernet

from tests.fixtures.sandbox import SandboxClient
from tests.xero.connect_helpers import connect_flow, sandbox_app
from xero_pipelines.db import create_db_engine
from xero_pipelines.resources.crm import CrmDatabase
from xero_pipelines.resources.xero import XeroResource
from xero_pipelines.xero.client import XeroClient
from xero_pipelines.xero.crypto import TokenCipher

API = "/api.xro/2.0/"


@pytest.fixture
def connected_tenant(sandbox: SandboxClient, db_url: str, monkeypatch) -> str:
    key = Fernet.generate_key()
    monkeypatch.setenv("XERO_TOKEN_KEY", key.decode())
    engine = create_db_engine(db_url)
    try:
        return connect_flow(engine, sandbox_app(sandbox.url), TokenCipher(key)).tenant_id
    finally:
        engine.dispose()


@pytest.fixture
def make_xero_resource(
    sandbox: SandboxClient, db_url: str, connected_tenant: str
) -> Callable[..., XeroResource]:
    def make(api_url: str | None = None) -> XeroResource:
        return XeroResource(
            crm=CrmDatabase(url=db_url),
            client_id="sandbox",
            client_secret="sandbox",
            api_url=api_url or sandbox.url,
            identity_url=sandbox.url,
            login_url=sandbox.url,
            timeout=30,
        )

    return make


@pytest.fixture
def xero_resources(make_xero_resource) -> dict[str, Any]:
    xero = make_xero_resource()
    return {"crm": xero.crm, "xero": xero}


@pytest.fixture
def fast_retries(monkeypatch) -> None:
    monkeypatch.setattr(
        XeroClient,
        "__init__",
        partialmethod(XeroClient.__init__, backoff_base=0.01, backoff_max=0.05),
    )


class XeroUser:
    """Changes the organisation through the sandbox's Xero API, as a user in Xero would."""

    def __init__(self, sandbox: SandboxClient):
        self.sandbox = sandbox
        self.headers = {**sandbox.connect().headers(), "Content-Type": "application/json"}
        self.http = requests.Session()

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        resp = self.http.request(
            method, self.sandbox.url + API + path, json=body, headers=self.headers, timeout=30
        )
        assert resp.status_code == 200, resp.text
        return resp.json()

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        resp = self.http.get(
            self.sandbox.url + API + path, params=params, headers=self.headers, timeout=30
        )
        assert resp.status_code == 200, resp.text
        return resp.json()

    def put(self, path: str, body: Any) -> dict[str, Any]:
        return self._call("PUT", path, body)

    def post(self, path: str, body: Any) -> dict[str, Any]:
        return self._call("POST", path, body)

    def create_contact(self, name: str, **fields: Any) -> str:
        body = {"Contacts": [{"Name": name, **fields}]}
        return self.put("Contacts", body)["Contacts"][0]["ContactID"]

    def update_contact(self, contact_id: str, **fields: Any) -> dict[str, Any]:
        body = {"Contacts": [{"ContactID": contact_id, **fields}]}
        return self.post(f"Contacts/{contact_id}", body)["Contacts"][0]

    def create_invoice(self, contact_id: str, amount: str, **fields: Any) -> dict[str, Any]:
        invoice = {
            "Type": "ACCREC",
            "Contact": {"ContactID": contact_id},
            "Date": "2026-01-05",
            "DueDate": "2026-01-20",
            "LineAmountTypes": "NoTax",
            "LineItems": [
                {
                    "Description": "Work",
                    "Quantity": 1,
                    "UnitAmount": amount,
                    "AccountCode": "200",
                }
            ],
            "Status": "AUTHORISED",
            **fields,
        }
        return self.put("Invoices", {"Invoices": [invoice]})["Invoices"][0]

    def update_invoice(self, invoice_id: str, **fields: Any) -> dict[str, Any]:
        body = {"Invoices": [{"InvoiceID": invoice_id, **fields}]}
        return self.post(f"Invoices/{invoice_id}", body)["Invoices"][0]


@pytest.fixture
def xero_user(sandbox: SandboxClient) -> XeroUser:
    return XeroUser(sandbox)
