"""Fixtures for the sandbox's own tests: a connected client speaking plain `requests`."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.fixtures.sandbox import Connected, SandboxClient

API = "/api.xro/2.0"


class Api:
    """Thin `requests` wrapper for one tenant (Bearer + xero-tenant-id), no production code."""

    def __init__(self, sandbox: SandboxClient, conn: Connected) -> None:
        self.sandbox = sandbox
        self.conn = conn
        self.url = sandbox.url
        self.tenant_id = conn.tenant_id
        self.http = requests.Session()

    def headers(self, tenant_id: str | None = None, **extra: str) -> dict[str, str]:
        return {**self.conn.headers(tenant_id), **extra}

    def call(
        self,
        method: str,
        path: str,
        *,
        tenant_id: str | None = None,
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> requests.Response:
        url = path if path.startswith("http") else f"{self.url}{API}/{path.lstrip('/')}"
        merged = {**self.headers(tenant_id), **(headers or {})}
        return self.http.request(method, url, headers=merged, timeout=30, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.call("GET", path, **kw)

    def put(self, path: str, body: Any, **kw: Any) -> requests.Response:
        return self.call("PUT", path, json=body, **kw)

    def post(self, path: str, body: Any, **kw: Any) -> requests.Response:
        return self.call("POST", path, json=body, **kw)


@pytest.fixture
def api(sandbox: SandboxClient) -> Api:
    """A fresh sandbox with rate limits off, connected through the real OAuth2 flow."""
    sandbox.limits(enabled=False)
    return Api(sandbox, sandbox.connect())


def create_contact(api: Api, name: str, **fields: Any) -> dict[str, Any]:
    r = api.put("Contacts", {"Contacts": [{"Name": name, **fields}]})
    assert r.status_code == 200, r.text
    return r.json()["Contacts"][0]


def create_invoice(
    api: Api, contact_id: str, lines: list[dict[str, Any]] | None = None, **fields: Any
) -> requests.Response:
    body = {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact_id},
        "LineItems": lines
        if lines is not None
        else [
            {"Description": "Consulting", "Quantity": 2, "UnitAmount": 100, "AccountCode": "200"}
        ],
        **fields,
    }
    return api.put("Invoices", {"Invoices": [body]})
