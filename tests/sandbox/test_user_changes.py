"""Changes a user makes in Xero's web app, as the import's tests need them: archive a contact,
void and pay an invoice, merge two contacts, archive an account."""

from __future__ import annotations

from typing import Any

import requests

from tests.sandbox.conftest import Api, create_contact, create_invoice

LINE = {"Description": "x", "Quantity": 1, "UnitAmount": 100, "AccountCode": "200"}


def _get(api: Api, kind: str, ident: str) -> dict[str, Any]:
    r = api.get(f"{kind}/{ident}")
    assert r.status_code == 200, r.text
    return r.json()[kind][0]


def _authorised(api: Api, contact_id: str, **fields: Any) -> dict[str, Any]:
    r = create_invoice(api, contact_id, Status="AUTHORISED", **fields)
    assert r.status_code == 200, r.text
    return r.json()["Invoices"][0]


def _admin(api: Api, path: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{api.url}/_sandbox/{path}", json=body, timeout=10)


def test_archive_a_contact_and_void_an_invoice_through_the_api(api: Api) -> None:
    c = create_contact(api, "Archivable Ltd")["ContactID"]
    inv = _authorised(api, c)
    r = api.post("Contacts", {"ContactID": c, "ContactStatus": "ARCHIVED"})
    assert r.status_code == 200 and r.json()["Contacts"][0]["ContactStatus"] == "ARCHIVED"
    # Xero refuses new invoices and credit notes for an archived contact
    archived = (
        "The contact with the specified contact details has been archived. The contact must be "
        "un-archived before creating new invoices or credit notes."
    )
    for key, body in (
        ("Invoices", {"Type": "ACCREC", "Contact": {"ContactID": c}, "LineItems": [LINE]}),
        ("CreditNotes", {"Type": "ACCRECCREDIT", "Contact": {"ContactID": c}}),
    ):
        r = api.put(key, body)
        assert r.status_code == 400
        assert r.json()["Elements"][0]["ValidationErrors"] == [{"Message": archived}]
    # its existing invoices can still be voided
    r = api.post(f"Invoices/{inv['InvoiceID']}", {"Status": "VOIDED"})
    voided = r.json()["Invoices"][0]
    assert voided["Status"] == "VOIDED" and voided["AmountDue"] == 0.0
    assert voided["UpdatedDateUTC"] > inv["UpdatedDateUTC"]


def test_pay_an_invoice_partly_then_fully(api: Api) -> None:
    c = create_contact(api, "Payer Ltd")["ContactID"]
    inv = _authorised(api, c)  # 230.00
    part = api.sandbox.pay_invoice(inv["InvoiceID"], 30.5, date="2026-11-10")
    assert (part["AmountPaid"], part["AmountDue"], part["Status"]) == (30.5, 199.5, "AUTHORISED")
    assert part["UpdatedDateUTC"] > inv["UpdatedDateUTC"]
    assert part["Payments"][0]["Amount"] == 30.5
    assert part == _get(api, "Invoices", inv["InvoiceID"])
    rest = api.sandbox.pay_invoice(inv["InvoiceID"], "199.50", date="2026-11-12")
    assert (rest["AmountPaid"], rest["AmountDue"], rest["Status"]) == (230.0, 0.0, "PAID")
    assert rest["FullyPaidOnDate"] == "/Date(1794441600000+0000)/"
    assert rest["UpdatedDateUTC"] > part["UpdatedDateUTC"]
    r = api.post(f"Invoices/{inv['InvoiceID']}", {"Status": "VOIDED"})
    assert r.status_code == 400
    assert r.json()["Elements"][0]["ValidationErrors"] == [
        {
            "Message": "This document cannot be edited as it has a payment or credit note "
            "allocated to it."
        }
    ]


def test_payments_refused_by_the_admin_api(api: Api) -> None:
    c = create_contact(api, "Refusals Ltd")["ContactID"]
    inv = _authorised(api, c)["InvoiceID"]
    draft = create_invoice(api, c).json()["Invoices"][0]["InvoiceID"]
    for invoice_id, body in (
        (inv, {"amount": 230.01}),
        (inv, {"amount": 0}),
        (inv, {"amount": "lots"}),
        (inv, {"amount": 10, "date": "31/12/2026"}),
        (draft, {"amount": 10}),
    ):
        r = _admin(api, f"invoices/{invoice_id}/pay", body)
        assert r.status_code == 400 and "error" in r.json(), (body, r.text)
    r = _admin(api, "invoices/00000000-0000-0000-0000-000000000000/pay", {"amount": 1})
    assert r.status_code == 404
    assert _get(api, "Invoices", inv)["AmountPaid"] == 0.0


def test_merge_two_contacts_as_xero_does(api: Api) -> None:
    keep = create_contact(api, "Keeper Ltd")
    dupe = create_contact(api, "Keeper Limited")
    inv = _authorised(api, dupe["ContactID"])
    note = api.put(
        "CreditNotes", {"Type": "ACCRECCREDIT", "Contact": {"ContactID": dupe["ContactID"]}}
    ).json()["CreditNotes"][0]
    quote = api.put(
        "Quotes", {"Contact": {"ContactID": dupe["ContactID"]}, "LineItems": [LINE]}
    ).json()["Quotes"][0]
    result = api.sandbox.merge_contacts(dupe["ContactID"], keep["ContactID"])
    assert result["moved"] == {"invoices": 1, "quotes": 1, "credit_notes": 1}
    merged = _get(api, "Contacts", dupe["ContactID"])
    assert merged["ContactStatus"] == "ARCHIVED"
    assert merged["MergedToContactID"] == keep["ContactID"]
    assert merged["UpdatedDateUTC"] > dupe["UpdatedDateUTC"]
    kept = _get(api, "Contacts", keep["ContactID"])
    assert "MergedToContactID" not in kept and kept["IsCustomer"] is True
    assert kept["UpdatedDateUTC"] == keep["UpdatedDateUTC"]
    moved = _get(api, "Invoices", inv["InvoiceID"])
    assert moved["Contact"]["ContactID"] == keep["ContactID"]
    assert moved["UpdatedDateUTC"] == inv["UpdatedDateUTC"]  # the documents are not bumped
    assert (
        _get(api, "CreditNotes", note["CreditNoteID"])["Contact"]["ContactID"]
        == (keep["ContactID"])
    )
    assert _get(api, "Quotes", quote["QuoteID"])["Contact"]["ContactID"] == keep["ContactID"]
    assert kept["Balances"]["AccountsReceivable"]["Outstanding"] == 230.0
    # MergedToContactID: with paging and for one contact, not in the unpaged list (Xero's doc)
    params = {"includeArchived": "true", "where": 'Name=="Keeper Limited"'}
    paged = api.get("Contacts", params={**params, "page": 1}).json()["Contacts"]
    assert paged[0]["MergedToContactID"] == keep["ContactID"]
    unpaged = api.get("Contacts", params=params).json()["Contacts"]
    assert "MergedToContactID" not in unpaged[0]
    modified = api.get(
        "Contacts",
        params={"includeArchived": "true"},
        headers={"If-Modified-Since": "2000-01-01T00:00:00"},
    ).json()["Contacts"]
    assert {c["ContactID"] for c in modified} == {keep["ContactID"], dupe["ContactID"]}


def test_merges_refused(api: Api) -> None:
    a = create_contact(api, "A Ltd")["ContactID"]
    b = create_contact(api, "B Ltd")["ContactID"]
    unknown = "00000000-0000-0000-0000-000000000000"
    for body in ({"from": a, "into": a}, {"from": a, "into": unknown}, {"from": "x", "into": b}):
        r = _admin(api, "contacts/merge", body)
        assert r.status_code == 400 and "error" in r.json(), (body, r.text)
    api.sandbox.merge_contacts(a, b)
    for body in ({"from": a, "into": b}, {"from": b, "into": a}):  # merged already; archived
        assert _admin(api, "contacts/merge", body).status_code == 400


def test_archive_an_account_through_the_admin_api(api: Api) -> None:
    before = api.get("Accounts", params={"where": 'Code=="260"'}).json()["Accounts"][0]
    after = api.sandbox.set_account_status("260", "ARCHIVED")
    assert after["Status"] == "ARCHIVED" and after["UpdatedDateUTC"] > before["UpdatedDateUTC"]
    revenue = api.get("Accounts", params={"where": 'Class=="REVENUE" AND Status=="ACTIVE"'})
    assert "260" not in {a["Code"] for a in revenue.json()["Accounts"]}
    assert api.sandbox.set_account_status("260", "ACTIVE")["Status"] == "ACTIVE"
    assert _admin(api, "accounts", {"code": "999", "status": "ARCHIVED"}).status_code == 404
    assert _admin(api, "accounts", {"code": "200", "status": "GONE"}).status_code == 400
    assert _admin(api, "accounts", {"code": "610", "status": "ARCHIVED"}).status_code == 400
