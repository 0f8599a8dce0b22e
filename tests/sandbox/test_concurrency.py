"""Many clients at once: no 500s, no lost writes, consistent pages (state guarded properly)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests

from tests.fixtures.sandbox import SandboxClient
from tests.sandbox.conftest import Api


def test_parallel_writes_and_reads(api: Api) -> None:
    api.sandbox.seed(contacts=200, invoices=2000, seed=4)
    c = api.get("Contacts", params={"page": 1, "pageSize": 1}).json()["Contacts"][0]["ContactID"]

    def work(i: int) -> list[int]:
        codes = []
        for j in range(8):
            codes.append(api.put("Contacts", {"Name": f"Parallel {i}-{j}"}).status_code)
            codes.append(
                api.put(
                    "Invoices",
                    {
                        "Type": "ACCREC",
                        "Contact": {"ContactID": c},
                        "LineItems": [{"Description": "p", "UnitAmount": 1, "AccountCode": "200"}],
                    },
                ).status_code
            )
            codes.append(
                api.get("Invoices", params={"page": 1 + (i + j) % 3, "pageSize": 1000}).status_code
            )
        return codes

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = [code for result in pool.map(work, range(8)) for code in result]
    assert set(codes) == {200}
    state = api.sandbox.state()["tenants"][0]
    assert state["contacts"] == 200 + 64 and state["invoices"] == 2000 + 64
    numbers = [
        i["InvoiceNumber"]
        for i in api.get("Invoices", params={"where": 'Type=="ACCREC"'}).json()["Invoices"]
    ]
    assert len(numbers) == len(set(numbers))  # no InvoiceNumber handed out twice


LIMIT_HEADERS = ("X-MinLimit-Remaining", "X-DayLimit-Remaining", "X-AppMinLimit-Remaining")


def test_limit_headers_on_error_responses_too(sandbox: SandboxClient) -> None:
    """Xero sends the rate-limit headers on every API response, refusals included."""
    sandbox.limits(minute=50)
    conn = sandbox.connect()
    base = f"{sandbox.url}/api.xro/2.0"
    h = conn.headers()
    got = {
        404: requests.get(
            f"{base}/Contacts/00000000-0000-0000-0000-000000000000", headers=h, timeout=10
        ),
        400: requests.put(f"{base}/Contacts", json={"Name": ""}, headers=h, timeout=10),
        401: requests.get(
            f"{base}/Contacts", headers={**h, "Authorization": "Bearer nope"}, timeout=10
        ),
        403: requests.get(f"{base}/Contacts", headers={**h, "xero-tenant-id": "nope"}, timeout=10),
    }
    sandbox.faults(status=503, count=1)
    got[503] = requests.get(f"{base}/Contacts", headers=h, timeout=10)
    sandbox.faults(rate_limit="minute", count=1)
    got[429] = requests.get(f"{base}/Contacts", headers=h, timeout=10)
    sandbox.limits(minute=0)
    got[-429] = requests.get(f"{base}/Contacts", headers=h, timeout=10)
    for status, resp in got.items():
        assert resp.status_code == abs(status), (status, resp.text)
        for name in LIMIT_HEADERS:
            assert name in resp.headers, (status, name)
            assert int(resp.headers[name]) >= 0
    body = got[503].json()  # a Xero-like problem body, not a bare dict
    assert body["Status"] == 503 and body["Title"] == "Service Unavailable"
    assert "Instance" in body and "Fault injected by the sandbox" in body["Detail"]
