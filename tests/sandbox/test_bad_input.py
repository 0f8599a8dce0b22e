"""Bad input answered as Xero answers: 4xx with Xero's bodies, never a 500, never a crash."""

from __future__ import annotations

import requests

from tests.sandbox.conftest import Api, create_contact


def _alive(api: Api) -> None:
    assert api.get("Contacts").status_code == 200


def test_malformed_json(api: Api) -> None:
    r = api.call(
        "PUT",
        "Contacts",
        data=b'{"Contacts": [{"Name": "x"',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json()["Type"] == "PostDataInvalidException"
    r = api.call(
        "PUT", "Contacts", data=b"\xff\xfe\x00garbage", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    _alive(api)


def test_wrong_content_type(api: Api) -> None:
    r = api.call("PUT", "Contacts", data='{"Name": "x"}', headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    r = api.call(
        "PUT",
        "Contacts",
        data="Name=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 415
    _alive(api)


def test_empty_and_wrong_shapes(api: Api) -> None:
    for body in (b"", b"[]", b'{"Contacts": "x"}', b'{"Contacts": [1, 2]}', b"42", b"null"):
        r = api.call("PUT", "Contacts", data=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, body
    _alive(api)


def test_unknown_fields_are_ignored(api: Api) -> None:
    r = api.put(
        "Contacts", {"Contacts": [{"Name": "Extra Ltd", "Favourite": "blue", "Nested": {"a": [1]}}]}
    )
    assert r.status_code == 200
    assert "Favourite" not in r.json()["Contacts"][0]


def test_over_long_strings(api: Api) -> None:
    r = api.put("Contacts", {"Contacts": [{"Name": "N" * 256}]})
    assert r.status_code == 400
    assert r.json()["Type"] == "ValidationException"
    assert "255" in r.json()["Elements"][0]["ValidationErrors"][0]["Message"]
    assert api.put("Contacts", {"Name": "N" * 255}).status_code == 200
    assert api.put("Contacts", {"Name": "M", "ContactNumber": "9" * 51}).status_code == 400
    assert api.put("Contacts", {"Name": "E", "EmailAddress": "not-an-email"}).status_code == 400
    assert api.put("Contacts", {"Name": ""}).status_code == 400
    assert api.put("Contacts", {"Name": "T", "Phones": [{"PhoneType": "PAGER"}]}).status_code == 400


def test_page_beyond_the_end_and_odd_paging(api: Api) -> None:
    create_contact(api, "Only Ltd")
    for params in (
        {"page": 1000},
        {"page": -3},
        {"page": "abc"},
        {"page": 1, "pageSize": 0},
        {"page": 1, "pageSize": "x"},
    ):
        r = api.get("Contacts", params=params)
        assert r.status_code == 200, params
    assert api.get("Contacts", params={"page": 1000}).json()["Contacts"] == []
    assert api.get("Invoices", params={"page": 1000}).json()["Invoices"] == []


def test_negative_quantities_on_invoices(api: Api) -> None:
    c = create_contact(api, "Neg Ltd")["ContactID"]
    neg_total = {
        "Type": "ACCREC",
        "Contact": {"ContactID": c},
        "LineItems": [
            {"Description": "refund", "Quantity": -2, "UnitAmount": 10, "AccountCode": "200"}
        ],
    }
    r = api.put("Invoices", neg_total)
    assert r.status_code == 400 and r.json()["Type"] == "ValidationException"
    # a negative line is allowed when the invoice total stays positive, as in Xero
    mixed = {
        **neg_total,
        "LineItems": [
            {"Description": "work", "Quantity": 5, "UnitAmount": 10, "AccountCode": "200"},
            {"Description": "discount", "Quantity": -1, "UnitAmount": 10, "AccountCode": "200"},
        ],
    }
    r = api.put("Invoices", mixed)
    assert r.status_code == 200 and r.json()["Invoices"][0]["SubTotal"] == 40.0
    r = api.put("Quotes", {"Contact": {"ContactID": c}, "LineItems": neg_total["LineItems"]})
    assert r.status_code == 400


def test_wrong_types_and_dates(api: Api) -> None:
    c = create_contact(api, "Types Ltd")["ContactID"]
    base = {"Type": "ACCREC", "Contact": {"ContactID": c}}
    for extra in (
        {"LineItems": [{"Description": "x", "Quantity": "lots"}]},
        {"LineItems": "nope"},
        {"Date": "31/31/2026"},
        {"LineAmountTypes": "Weird"},
        {"CurrencyCode": "XXX"},
        {"Status": "BOGUS"},
        {"Type": "RECEIPT"},
        {"Contact": {"ContactID": "not-a-guid"}},
        {"Contact": "x"},
        {"LineItems": [{"Description": "x", "UnitAmount": 1, "TaxType": "NOPE"}]},
    ):
        r = api.put("Invoices", {**base, **extra})
        assert r.status_code == 400, (extra, r.text)
    _alive(api)


def test_hostile_where_and_unknown_paths(api: Api) -> None:
    for where in (
        'Name=="x"; DROP TABLE contacts',
        "1==1",
        'Name=="a" OR',
        "((",
        '"x"=="x"',
        'Name.Explode("x")',
    ):
        r = api.get("Contacts", params={"where": where})
        assert r.status_code in (200, 400), where
    _alive(api)
    assert api.get("Nonexistent").status_code == 404
    r = requests.patch(f"{api.url}/api.xro/2.0/Contacts", headers=api.headers(), timeout=10)
    assert r.status_code in (404, 405)
    _alive(api)
