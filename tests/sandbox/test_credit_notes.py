"""`/CreditNotes` and their allocation to invoices, over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox.conftest import Api, create_contact, create_invoice

LINE = {"Description": "Refund", "Quantity": 1, "UnitAmount": 100, "AccountCode": "200"}


def _credit_note(api: Api, contact_id: str, **fields: Any) -> dict[str, Any]:
    body = {"Type": "ACCRECCREDIT", "Contact": {"ContactID": contact_id}, "LineItems": [LINE]}
    r = api.put("CreditNotes", {**body, **fields})
    assert r.status_code == 200, r.text
    return r.json()["CreditNotes"][0]


def _invoice(api: Api, contact_id: str, **fields: Any) -> dict[str, Any]:
    r = create_invoice(api, contact_id, Status="AUTHORISED", **fields)  # 2 x 100 + GST = 230
    assert r.status_code == 200, r.text
    return r.json()["Invoices"][0]


def _allocate(api: Api, note_id: str, invoice_id: str, amount: Any, **kw: Any):
    element = {"Amount": amount, "Invoice": {"InvoiceID": invoice_id}, "Date": "2026-11-20"}
    return api.put(f"CreditNotes/{note_id}/Allocations", {"Allocations": [element]}, **kw)


def _get(api: Api, kind: str, ident: str) -> dict[str, Any]:
    r = api.get(f"{kind}/{ident}")
    assert r.status_code == 200, r.text
    return r.json()[kind][0]


def _errors(r) -> list[str]:
    assert r.status_code == 400, r.text
    assert r.json()["Type"] == "ValidationException"
    return [e["Message"] for el in r.json()["Elements"] for e in el["ValidationErrors"]]


def test_create_number_totals_and_remaining_credit(api: Api) -> None:
    c = create_contact(api, "Credit Ltd")["ContactID"]
    a = _credit_note(api, c, Date="2026-11-01", Reference="Returned goods")
    assert a["CreditNoteNumber"] == "CN-0001" and a["Status"] == "DRAFT"
    assert a["Type"] == "ACCRECCREDIT" and a["Reference"] == "Returned goods"
    assert (a["SubTotal"], a["TotalTax"], a["Total"]) == (100.0, 15.0, 115.0)
    assert a["RemainingCredit"] == 115.0 and a["Allocations"] == []
    assert a["CurrencyCode"] == "NZD" and a["CurrencyRate"] == 1.0
    assert a["Date"] == "/Date(1793491200000+0000)/" and a["StatusAttributeString"] == "OK"
    b = _credit_note(api, c)
    assert b["CreditNoteNumber"] == "CN-0002"
    supplier = _credit_note(api, c, Type="ACCPAYCREDIT", CreditNoteNumber="SUP-CN-9")
    assert supplier["CreditNoteNumber"] == "SUP-CN-9"
    assert _get(api, "CreditNotes", "CN-0001")["CreditNoteID"] == a["CreditNoteID"]
    assert api.get("CreditNotes/CN-9999").status_code == 404
    assert api.get("CreditNotes/00000000-0000-0000-0000-000000000000").status_code == 404
    dup = api.put("CreditNotes", {"Type": "ACCRECCREDIT", "Contact": {"ContactID": c},
                                  "CreditNoteNumber": "CN-0001"})  # fmt: skip
    assert _errors(dup) == ["Credit Note # must be unique."]


def test_status_rules_like_invoices(api: Api) -> None:
    c = create_contact(api, "Status Ltd")["ContactID"]
    assert "Credit Note Type must be ACCRECCREDIT or ACCPAYCREDIT" in _errors(
        api.put("CreditNotes", {"Type": "ACCREC", "Contact": {"ContactID": c}})
    )
    paid = {"Type": "ACCRECCREDIT", "Contact": {"ContactID": c}, "Status": "PAID"}
    assert _errors(api.put("CreditNotes", {**paid, "LineItems": [LINE]})) == [
        "Credit Note not of valid status for creation"
    ]
    n = _credit_note(api, c)["CreditNoteID"]
    r = api.post(f"CreditNotes/{n}", {"Status": "AUTHORISED"})
    assert r.status_code == 200 and r.json()["CreditNotes"][0]["Status"] == "AUTHORISED"
    assert _errors(api.post(f"CreditNotes/{n}", {"Status": "DRAFT"})) == [
        "Credit Note not of valid status for modification"
    ]
    r = api.post(f"CreditNotes/{n}", {"Status": "VOIDED"})
    voided = r.json()["CreditNotes"][0]
    assert voided["Status"] == "VOIDED" and voided["RemainingCredit"] == 0.0
    draft = _credit_note(api, c)["CreditNoteID"]
    assert api.post("CreditNotes", {"CreditNoteID": draft, "Status": "DELETED"}).status_code == 200


def test_list_paging_where_order_and_modified_since(api: Api) -> None:
    api.sandbox.seed(contacts=20, invoices=200, credit_notes=60, seed=4)
    everything = api.get("CreditNotes").json()
    assert "pagination" not in everything and len(everything["CreditNotes"]) == 60
    assert all("LineItems" not in n for n in everything["CreditNotes"])  # no page, no lines
    first = api.get("CreditNotes", params={"page": 1, "pageSize": 25}).json()
    assert first["pagination"] == {"page": 1, "pageSize": 25, "pageCount": 3, "itemCount": 60}
    assert all(n["LineItems"] for n in first["CreditNotes"])
    ids = [
        n["CreditNoteID"]
        for page in (1, 2, 3)
        for n in api.get("CreditNotes", params={"page": page, "pageSize": 25}).json()["CreditNotes"]
    ]
    assert len(ids) == len(set(ids)) == 60
    for page in (4, 10**6, 10**30):  # beyond the last page: an empty list, as Xero answers
        r = api.get("CreditNotes", params={"page": page, "pageSize": 25})
        assert r.status_code == 200 and r.json()["CreditNotes"] == []
    where = 'Type=="ACCRECCREDIT" AND Status=="AUTHORISED" AND RemainingCredit>0'
    found = api.get("CreditNotes", params={"where": where, "order": "Date DESC"}).json()
    dates = [n["Date"] for n in found["CreditNotes"]]
    assert found["CreditNotes"] and all(n["Status"] == "AUTHORISED" for n in found["CreditNotes"])
    assert dates == sorted(dates, key=lambda d: int(d[6:-7]), reverse=True)
    assert api.get("CreditNotes", params={"where": "Bogus==1"}).status_code == 400
    c = create_contact(api, "Fresh Ltd")["ContactID"]
    fresh = _credit_note(api, c)
    since = {"If-Modified-Since": "2999-01-01T00:00:00"}
    assert api.get("CreditNotes", headers=since).json()["CreditNotes"] == []
    stamp = int(fresh["UpdatedDateUTC"][6:-7])
    recent = api.get("CreditNotes", headers={"If-Modified-Since": _iso(stamp)}).json()
    assert [n["CreditNoteID"] for n in recent["CreditNotes"]] == [fresh["CreditNoteID"]]


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def test_allocation_moves_credit_to_the_invoice(api: Api) -> None:
    c = create_contact(api, "Alloc Ltd")["ContactID"]
    inv = _invoice(api, c)
    note = _credit_note(api, c, Status="AUTHORISED")  # 115.00
    r = _allocate(api, note["CreditNoteID"], inv["InvoiceID"], 60)
    assert r.status_code == 200, r.text
    allocation = r.json()["Allocations"][0]
    assert allocation["Amount"] == 60.0 and allocation["Date"] == "/Date(1795132800000+0000)/"
    assert allocation["Invoice"]["InvoiceID"] == inv["InvoiceID"]
    assert allocation["CreditNote"]["CreditNoteID"] == note["CreditNoteID"]
    n, i = _get(api, "CreditNotes", note["CreditNoteID"]), _get(api, "Invoices", inv["InvoiceID"])
    assert n["RemainingCredit"] == 55.0 and n["Status"] == "AUTHORISED"
    assert n["Allocations"][0]["Amount"] == 60.0
    assert n["Allocations"][0]["Invoice"]["InvoiceNumber"] == inv["InvoiceNumber"]
    assert n["Allocations"][0]["AllocationID"] == allocation["AllocationID"]
    assert (i["AmountDue"], i["AmountCredited"], i["Status"]) == (170.0, 60.0, "AUTHORISED")
    assert i["CreditNotes"][0]["AppliedAmount"] == 60.0
    assert i["CreditNotes"][0]["CreditNoteNumber"] == note["CreditNoteNumber"]
    assert n["UpdatedDateUTC"] > note["UpdatedDateUTC"]
    assert i["UpdatedDateUTC"] > inv["UpdatedDateUTC"]
    # the rest of the credit: the credit note is PAID, fully allocated on the allocation date
    assert _allocate(api, note["CreditNoteID"], inv["InvoiceID"], "55.00").status_code == 200
    n = _get(api, "CreditNotes", note["CreditNoteID"])
    assert n["Status"] == "PAID" and n["RemainingCredit"] == 0.0
    assert n["FullyPaidOnDate"] == "/Date(1795132800000+0000)/"
    # a second credit note settles the invoice: PAID by credit alone
    other = _credit_note(api, c, Status="AUTHORISED", LineItems=[{**LINE, "UnitAmount": 200}])
    assert _allocate(api, other["CreditNoteID"], inv["InvoiceID"], 115).status_code == 200
    i = _get(api, "Invoices", inv["InvoiceID"])
    assert (i["Status"], i["AmountDue"], i["AmountCredited"], i["AmountPaid"]) == (
        "PAID",
        0.0,
        230.0,
        0.0,
    )
    assert i["FullyPaidOnDate"] == "/Date(1795132800000+0000)/" and len(i["CreditNotes"]) == 3
    assert _get(api, "CreditNotes", other["CreditNoteID"])["RemainingCredit"] == 115.0


def test_allocations_refused_as_xero_refuses_them(api: Api) -> None:
    c = create_contact(api, "Refused Ltd")["ContactID"]
    other_contact = create_contact(api, "Someone Else Ltd")["ContactID"]
    inv = _invoice(api, c)["InvoiceID"]
    note = _credit_note(api, c, Status="AUTHORISED")["CreditNoteID"]
    too_much = "Credit Note cannot be allocated as amount is greater than amount outstanding"
    assert _errors(_allocate(api, note, inv, 116)) == [too_much]  # more than the credit left
    big = _credit_note(api, c, Status="AUTHORISED", LineItems=[{**LINE, "UnitAmount": 900}])
    assert _errors(_allocate(api, big["CreditNoteID"], inv, 231)) == [too_much]  # than due
    draft = _credit_note(api, c)["CreditNoteID"]
    assert _errors(_allocate(api, draft, inv, 1)) == [
        "Only AUTHORISED credit notes can be allocated"
    ]
    bill = _invoice(api, c, Type="ACCPAY", LineItems=[{**LINE, "AccountCode": "429"}])
    assert _errors(_allocate(api, note, bill["InvoiceID"], 1)) == [
        "Credit Note cannot be allocated to an incorrect invoice type"
    ]
    elsewhere = _invoice(api, other_contact)["InvoiceID"]
    assert "for the same contact" in _errors(_allocate(api, note, elsewhere, 1))[0]
    api.sandbox.enable_currency("USD")
    usd = _invoice(api, c, CurrencyCode="USD")["InvoiceID"]
    assert "same currency" in _errors(_allocate(api, note, usd, 1))[0]
    for amount in (0, -5, "abc", None):
        assert _errors(_allocate(api, note, inv, amount)) == ["Amount must be a positive number"]
    no_date = {"Amount": 1, "Invoice": {"InvoiceID": inv}}
    assert _errors(api.put(f"CreditNotes/{note}/Allocations", no_date)) == [
        "Date must be specified"
    ]
    missing = {"Amount": 1, "Invoice": {"InvoiceID": "not-a-guid"}, "Date": "2026-11-20"}
    assert _errors(api.put(f"CreditNotes/{note}/Allocations", missing)) == [
        "Invoice could not be found"
    ]
    assert _allocate(api, "00000000-0000-0000-0000-000000000000", inv, 1).status_code == 404
    paid = _invoice(api, c)
    assert api.sandbox.pay_invoice(paid["InvoiceID"], 230)["Status"] == "PAID"
    # both, as in the Xero answer quoted in waynerobinson/xeroizer#320
    assert _errors(_allocate(api, note, paid["InvoiceID"], 1)) == [
        "The invoice you are trying to allocate to has already been paid off",
        too_much,
    ]
    # nothing was written by any of the refusals
    assert _get(api, "CreditNotes", note)["RemainingCredit"] == 115.0
    assert _get(api, "Invoices", inv)["AmountDue"] == 230.0


def test_summarize_errors_false_keeps_the_good_allocations(api: Api) -> None:
    c = create_contact(api, "Mixed Ltd")["ContactID"]
    inv = _invoice(api, c)["InvoiceID"]
    note = _credit_note(api, c, Status="AUTHORISED")["CreditNoteID"]
    good = {"Amount": 10, "Invoice": {"InvoiceID": inv}, "Date": "2026-11-20"}
    r = api.put(
        f"CreditNotes/{note}/Allocations",
        {"Allocations": [good, {**good, "Amount": 500}, good]},
        params={"summarizeErrors": "false"},
    )
    assert r.status_code == 200, r.text
    results = r.json()["Allocations"]
    assert "StatusAttributeString" not in results[0] and results[2]["Amount"] == 10.0
    assert results[1]["StatusAttributeString"] == "ERROR" and results[1]["ValidationErrors"]
    assert _get(api, "CreditNotes", note)["RemainingCredit"] == 95.0
    # the default (summarizeErrors) refuses the whole call
    r = api.put(f"CreditNotes/{note}/Allocations", {"Allocations": [good, {**good, "Amount": 0}]})
    assert r.status_code == 400
    assert _get(api, "CreditNotes", note)["RemainingCredit"] == 95.0


def test_settled_documents_cannot_be_voided_or_edited_below_what_is_settled(api: Api) -> None:
    c = create_contact(api, "Settled Ltd")["ContactID"]
    inv = _invoice(api, c)["InvoiceID"]
    note = _credit_note(api, c, Status="AUTHORISED")["CreditNoteID"]
    assert _allocate(api, note, inv, 50).status_code == 200
    settled = "This document cannot be edited as it has a payment or credit note allocated to it."
    assert _errors(api.post(f"Invoices/{inv}", {"Status": "VOIDED"})) == [settled]
    assert _errors(api.post(f"CreditNotes/{note}", {"Status": "VOIDED"})) == [settled]
    small = [{**LINE, "UnitAmount": 10}]
    assert (
        "cannot be less than the amount already paid"
        in _errors(api.post(f"CreditNotes/{note}", {"LineItems": small}))[0]
    )


def test_an_allocation_replayed_with_its_idempotency_key_is_applied_once(api: Api) -> None:
    c = create_contact(api, "Replay Ltd")["ContactID"]
    inv = _invoice(api, c)["InvoiceID"]
    note = _credit_note(api, c, Status="AUTHORISED")["CreditNoteID"]
    key = {"Idempotency-Key": "alloc-1"}
    first = _allocate(api, note, inv, 25, headers=key)
    again = _allocate(api, note, inv, 25, headers=key)
    assert first.status_code == again.status_code == 200 and first.text == again.text
    assert _get(api, "Invoices", inv)["AmountCredited"] == 25.0


@pytest.mark.parametrize("seed", [1, 7])
def test_generated_credit_notes_are_consistent_with_their_invoices(api: Api, seed: int) -> None:
    result = api.sandbox.seed(contacts=40, invoices=600, credit_notes=80, seed=seed)
    assert result["credit_notes"] == 80
    notes = api.get("CreditNotes", params={"page": 1, "pageSize": 1000}).json()["CreditNotes"]
    assert len(notes) == 80 and {n["Status"] for n in notes} >= {"AUTHORISED", "PAID", "DRAFT"}
    assert {n["Type"] for n in notes} == {"ACCRECCREDIT", "ACCPAYCREDIT"}
    applied: dict[str, float] = {}
    for n in notes:
        allocated = sum(a["Amount"] for a in n["Allocations"])
        if n["Status"] in ("AUTHORISED", "PAID", "DRAFT", "SUBMITTED"):
            assert round(n["Total"] - allocated, 2) == n["RemainingCredit"], n
        assert (n["Status"] == "PAID") == (n["RemainingCredit"] == 0 and allocated > 0)
        for a in n["Allocations"]:
            iid = a["Invoice"]["InvoiceID"]
            applied[iid] = round(applied.get(iid, 0) + a["Amount"], 2)
    assert applied, "some credit notes are allocated to invoices"
    for iid, amount in applied.items():
        i = _get(api, "Invoices", iid)
        assert i["AmountCredited"] == amount
        assert round(i["Total"] - i["AmountPaid"] - i["AmountCredited"], 2) == i["AmountDue"]
        assert sum(x["AppliedAmount"] for x in i["CreditNotes"]) == pytest.approx(amount)
        assert i["Status"] in ("AUTHORISED", "PAID")
    assert api.sandbox.state()["tenants"][0]["credit_notes"] == 80
    again = api.sandbox.seed(contacts=40, invoices=600, credit_notes=80, seed=seed)
    assert again["credit_notes"] == 80
    same = api.get("CreditNotes", params={"page": 1, "pageSize": 1000}).json()["CreditNotes"]
    assert [n["CreditNoteID"] for n in same] == [n["CreditNoteID"] for n in notes]
