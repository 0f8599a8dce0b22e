"""Idempotency-Key over HTTP: replay without a second write, mismatch → 400, window."""

from __future__ import annotations

import json

from tests.sandbox.conftest import Api


def _count(api: Api) -> int:
    return len(api.get("Contacts").json()["Contacts"])


def test_same_key_same_body_replays_without_second_write(api: Api) -> None:
    body = {"Contacts": [{"Name": "Idem Ltd"}]}
    first = api.put("Contacts", body, headers={"Idempotency-Key": "k-1"})
    second = api.put("Contacts", body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert _count(api) == 1
    # without the key the retry is a second write (refused: duplicate name)
    assert api.put("Contacts", body).status_code == 400


def test_same_key_other_body_is_400(api: Api) -> None:
    api.put("Contacts", {"Name": "One Ltd"}, headers={"Idempotency-Key": "k-2"})
    r = api.put("Contacts", {"Name": "Two Ltd"}, headers={"Idempotency-Key": "k-2"})
    assert r.status_code == 400
    assert _count(api) == 1


def test_keys_are_per_tenant_and_errors_replay(api: Api) -> None:
    other = api.sandbox.add_tenant("Idem Org")
    api.conn = api.sandbox.connect()
    body = {"Contacts": [{"Name": "X" * 300}]}
    a = api.put("Contacts", body, headers={"Idempotency-Key": "k-3"})
    b = api.put("Contacts", body, headers={"Idempotency-Key": "k-3"})
    assert a.status_code == b.status_code == 400 and a.content == b.content
    ok = api.put(
        "Contacts",
        {"Name": "Other Org Contact"},
        tenant_id=other,
        headers={"Idempotency-Key": "k-3"},
    )
    assert ok.status_code == 200


def test_invoice_replay_keeps_one_invoice(api: Api) -> None:
    c = api.put("Contacts", {"Name": "Inv Idem"}).json()["Contacts"][0]["ContactID"]
    raw = json.dumps(
        {
            "Type": "ACCREC",
            "Contact": {"ContactID": c},
            "LineItems": [{"Description": "x", "UnitAmount": 1}],
        }
    )
    hdrs = {"Idempotency-Key": "inv-1", "Content-Type": "application/json"}
    r1 = api.call("PUT", "Invoices", data=raw, headers=hdrs)
    r2 = api.call("PUT", "Invoices", data=raw, headers=hdrs)
    assert r1.json()["Invoices"][0]["InvoiceID"] == r2.json()["Invoices"][0]["InvoiceID"]
    assert len(api.get("Invoices").json()["Invoices"]) == 1


def test_window_expiry_allows_a_new_write(api: Api) -> None:
    api.sandbox.limits(idempotency_window=0)
    body = {"Contacts": [{"Name": "Window Ltd"}]}
    assert api.put("Contacts", body, headers={"Idempotency-Key": "k-4"}).status_code == 200
    again = api.put("Contacts", body, headers={"Idempotency-Key": "k-4"})
    assert again.status_code == 400  # executed again: duplicate name
    assert api.put("Contacts", body, headers={"Idempotency-Key": "k" * 129}).status_code == 400
