"""Contacts' `Balances`: AUTHORISED invoices less AUTHORISED credit notes, raw (unconverted)."""

from __future__ import annotations

from typing import Any

from tests.sandbox.conftest import Api, create_contact, create_invoice

LINE = {"Description": "x", "Quantity": 1, "UnitAmount": 100, "AccountCode": "200"}  # 115.00
BILL_LINE = {**LINE, "AccountCode": "429"}


def _put(api: Api, key: str, body: dict[str, Any]) -> dict[str, Any]:
    r = api.put(key, body)
    assert r.status_code == 200, r.text
    return r.json()[key][0]


def _balances(api: Api, contact_id: str) -> dict[str, dict[str, float]]:
    return api.get(f"Contacts/{contact_id}").json()["Contacts"][0]["Balances"]


def test_outstanding_less_credit_overdue_from_invoices_alone(api: Api) -> None:
    c = create_contact(api, "Balance Ltd")
    cid = c["ContactID"]
    contact = {"Contact": {"ContactID": cid}}
    late = {"Type": "ACCREC", **contact, "Status": "AUTHORISED", "DueDate": "2020-01-31"}
    _put(api, "Invoices", {**late, "LineItems": [LINE]})  # 115.00 overdue
    _put(api, "Invoices", {**late, "DueDate": "2999-01-01", "LineItems": [LINE]})  # not yet due
    _put(api, "Invoices", {**late, "Status": "DRAFT", "LineItems": [LINE]})  # drafts: nothing
    credit = {"Type": "ACCRECCREDIT", **contact, "Status": "AUTHORISED"}
    _put(api, "CreditNotes", {**credit, "LineItems": [{**LINE, "UnitAmount": 20}]})  # 23.00
    _put(api, "CreditNotes", {**credit, "Status": "DRAFT", "LineItems": [LINE]})
    assert _balances(api, cid)["AccountsReceivable"] == {"Outstanding": 207.0, "Overdue": 115.0}
    # bills and supplier credit: the payable side, which credit can take below zero
    bill = {"Type": "ACCPAY", **contact, "Status": "AUTHORISED", "DueDate": "2999-01-01"}
    _put(api, "Invoices", {**bill, "LineItems": [BILL_LINE]})
    supplier_credit = {"Type": "ACCPAYCREDIT", **contact, "Status": "AUTHORISED"}
    _put(api, "CreditNotes", {**supplier_credit, "LineItems": [{**BILL_LINE, "UnitAmount": 200}]})
    assert _balances(api, cid)["AccountsPayable"] == {"Outstanding": -115.0, "Overdue": 0.0}
    after = api.get(f"Contacts/{cid}").json()["Contacts"][0]
    assert after["UpdatedDateUTC"] == c["UpdatedDateUTC"]  # Xero does not bump it for this


def test_payments_and_allocations_change_balances_not_the_contact(api: Api) -> None:
    c = create_contact(api, "Settling Ltd")
    cid = c["ContactID"]
    inv = create_invoice(api, cid, Status="AUTHORISED", DueDate="2020-01-31").json()
    invoice_id = inv["Invoices"][0]["InvoiceID"]  # 230.00, overdue
    note = _put(
        api,
        "CreditNotes",
        {"Type": "ACCRECCREDIT", "Contact": {"ContactID": cid}, "Status": "AUTHORISED",
         "LineItems": [LINE]},
    )  # fmt: skip
    assert _balances(api, cid)["AccountsReceivable"] == {"Outstanding": 115.0, "Overdue": 230.0}
    allocation = {"Amount": 15, "Invoice": {"InvoiceID": invoice_id}, "Date": "2026-01-05"}
    r = api.put(f"CreditNotes/{note['CreditNoteID']}/Allocations", allocation)
    assert r.status_code == 200, r.text
    # the allocation moves credit onto the invoice: outstanding unchanged, overdue down
    assert _balances(api, cid)["AccountsReceivable"] == {"Outstanding": 115.0, "Overdue": 215.0}
    api.sandbox.pay_invoice(invoice_id, 100)
    assert _balances(api, cid)["AccountsReceivable"] == {"Outstanding": 15.0, "Overdue": 115.0}
    contact = api.get(f"Contacts/{cid}").json()["Contacts"][0]
    assert contact["UpdatedDateUTC"] == c["UpdatedDateUTC"]


def test_balances_are_raw_amounts_not_converted_to_base_currency(api: Api) -> None:
    """Xero's schema: "not converted to base currency". 100 USD + 115 NZD shows 215."""
    api.sandbox.enable_currency("USD")
    cid = create_contact(api, "Multi Currency Ltd")["ContactID"]
    base = {"Type": "ACCREC", "Contact": {"ContactID": cid}, "Status": "AUTHORISED"}
    _put(api, "Invoices", {**base, "DueDate": "2999-01-01", "LineItems": [LINE]})
    usd = {**base, "CurrencyCode": "USD", "CurrencyRate": 0.5, "DueDate": "2999-01-01"}
    _put(api, "Invoices", {**usd, "LineAmountTypes": "NoTax", "LineItems": [LINE]})
    assert _balances(api, cid)["AccountsReceivable"] == {"Outstanding": 215.0, "Overdue": 0.0}
