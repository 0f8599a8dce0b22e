"""The hand-built JSON of big pages stays valid and exact for awkward text and money."""

from __future__ import annotations

import json

from tests.sandbox.conftest import Api, create_contact

AWKWARD = 'Quote " back\\slash / tab\t nl\n ctrl\x01 emoji 🦜 Māori Zoë'


def test_awkward_text_round_trips_in_every_rendering(api: Api) -> None:
    c = create_contact(
        api,
        AWKWARD,
        EmailAddress="a@b.example.com",
        Addresses=[{"AddressType": "STREET", "AddressLine1": AWKWARD}],
    )
    assert c["Name"] == AWKWARD
    assert c["Addresses"][0]["AddressLine1"] == AWKWARD
    for params in ({}, {"page": 1}, {"summaryOnly": "true"}):
        got = api.get("Contacts", params=params).json()["Contacts"][0]
        assert got["Name"] == AWKWARD
    r = api.put(
        "Invoices",
        {
            "Type": "ACCREC",
            "Contact": {"ContactID": c["ContactID"]},
            "Reference": AWKWARD,
            "LineItems": [
                {"Description": AWKWARD, "Quantity": 1, "UnitAmount": 1, "AccountCode": "200"}
            ],
        },
    )
    assert r.status_code == 200, r.text
    for resp in (
        r,
        api.get("Invoices", params={"page": 1}),
        api.get(f"Invoices/{r.json()['Invoices'][0]['InvoiceID']}"),
    ):
        inv = resp.json()["Invoices"][0]
        assert inv["Reference"] == AWKWARD
        assert inv["LineItems"][0]["Description"] == AWKWARD
        assert inv["Contact"]["Name"] == AWKWARD


def test_money_is_printed_with_two_decimals(api: Api) -> None:
    c = create_contact(api, "Money Ltd")["ContactID"]
    r = api.put(
        "Invoices",
        {
            "Type": "ACCREC",
            "Contact": {"ContactID": c},
            "LineItems": [
                {"Description": "x", "Quantity": 3, "UnitAmount": 0.1, "AccountCode": "200"}
            ],
        },
    )
    text = r.text
    assert '"SubTotal":0.30' in text and '"TotalTax":0.05' in text and '"Total":0.35' in text
    assert '"Quantity":3.0000' in text and '"UnitAmount":0.10' in text
    unitdp = api.get(f"Invoices/{r.json()['Invoices'][0]['InvoiceID']}", params={"unitdp": 4})
    assert '"UnitAmount":0.1000' in unitdp.text
    json.loads(unitdp.text)
