"""Idempotency-Key over HTTP: replay without a second write, mismatch → 400, window."""

from __future__ import annotations

import json

from tests.sandbox.conftest import Api
from xero_sandbox import SandboxServer


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


def test_a_replay_counts_against_the_minute_limit(api: Api) -> None:
    """Xero applies its rate limits to every call that reaches the API, before the request is
    read, and documents no exemption for replays; the sandbox counts a replay too, so a client
    that retries with a key must still respect the limit (see docs/sandbox.md)."""
    api.sandbox.limits(enabled=True, minute=3, day=100, app_minute=1000)
    body = {"Contacts": [{"Name": "Counted Ltd"}]}
    first = api.put("Contacts", body, headers={"Idempotency-Key": "k-rate"})
    replay = api.put("Contacts", body, headers={"Idempotency-Key": "k-rate"})
    assert first.status_code == replay.status_code == 200
    assert first.json() == replay.json()
    assert int(first.headers["X-MinLimit-Remaining"]) == 2
    assert int(replay.headers["X-MinLimit-Remaining"]) == 1
    api.put("Contacts", body, headers={"Idempotency-Key": "k-rate"})
    refused = api.put("Contacts", body, headers={"Idempotency-Key": "k-rate"})
    assert refused.status_code == 429 and refused.headers["X-Rate-Limit-Problem"] == "minute"


def test_post_is_idempotent_too(api: Api) -> None:
    body = {"Contacts": [{"Name": "Posted Ltd"}]}
    a = api.post("Contacts", body, headers={"Idempotency-Key": "p-1"})
    b = api.post("Contacts", body, headers={"Idempotency-Key": "p-1"})
    assert a.status_code == b.status_code == 200 and a.content == b.content
    assert _count(api) == 1
    cid = a.json()["Contacts"][0]["ContactID"]
    upd = {"Contacts": [{"EmailAddress": "a@example.com"}]}
    c = api.post(f"Contacts/{cid}", upd, headers={"Idempotency-Key": "p-2"})
    d = api.post(f"Contacts/{cid}", upd, headers={"Idempotency-Key": "p-2"})
    assert c.status_code == d.status_code == 200 and c.content == d.content
    # the replay did not write again: UpdatedDateUTC is the first write's
    assert (
        api.get(f"Contacts/{cid}").json()["Contacts"][0]["UpdatedDateUTC"]
        == (c.json()["Contacts"][0]["UpdatedDateUTC"])
    )
    # the same key on another path is a different request
    other = api.post("Contacts", upd, headers={"Idempotency-Key": "p-2"})
    assert other.status_code == 400


def test_key_mismatch_body_is_xeros_validation_shape(api: Api) -> None:
    api.put("Contacts", {"Name": "Shape Ltd"}, headers={"Idempotency-Key": "k-shape"})
    r = api.put("Contacts", {"Name": "Other Shape Ltd"}, headers={"Idempotency-Key": "k-shape"})
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"ErrorNumber", "Type", "Message", "Elements"}
    assert body["ErrorNumber"] == 10 and body["Type"] == "ValidationException"
    assert "Idempotency-Key" in body["Message"] and body["Elements"] == []
    for name in ("X-MinLimit-Remaining", "X-DayLimit-Remaining", "X-AppMinLimit-Remaining"):
        assert name in r.headers


def test_per_key_locks_are_pruned(api: Api, sandbox_server: SandboxServer) -> None:
    """One lock per key in flight, not one per key ever seen (that grew without end)."""
    cache = sandbox_server.app.state.sandbox.idempotency
    for i in range(40):
        r = api.put("Contacts", {"Name": f"Lock {i}"}, headers={"Idempotency-Key": f"lk-{i}"})
        assert r.status_code == 200
    assert len(cache.key_locks) == 0


def test_concurrent_retries_of_one_key_write_once(api: Api, sandbox_server: SandboxServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    body = {"Contacts": [{"Name": "Racing Ltd"}]}

    def put(_: int) -> bytes:
        r = api.put("Contacts", body, headers={"Idempotency-Key": "race"})
        assert r.status_code == 200, r.text
        return r.content

    with ThreadPoolExecutor(max_workers=8) as pool:
        bodies = set(pool.map(put, range(16)))
    assert len(bodies) == 1 and _count(api) == 1
    assert len(sandbox_server.app.state.sandbox.idempotency.key_locks) == 0
