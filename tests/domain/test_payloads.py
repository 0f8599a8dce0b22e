"""Xero payloads from commands, the batch idempotency parts, and Xero's per-element answer."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from xero_pipelines.domain.payloads import (
    ItemOutcome,
    contact_number,
    contact_payload,
    contact_update_payload,
    document_deep_link,
    document_payload,
    idempotency_parts,
    item_outcomes,
)
from xero_pipelines.domain.requests import (
    Address,
    ContactDetails,
    DraftCommand,
    Line,
    Person,
)

DETAILS = ContactDetails(
    account_id=42,
    name="O'Brien Plumbing & Sons",
    account_number="A-42",
    email="pat@obrien.example",
    first_name="Pat",
    last_name="O'Brien",
    phone="09 555 0101",
    address=Address("2 Quay St", None, "Auckland", "Auckland", "1010", "New Zealand"),
    persons=(Person("Kim", None, "kim@obrien.example"),),
    account_email="office@obrien.example",
)


def test_a_new_contact_carries_everything_and_the_crm_key():
    assert contact_payload(DETAILS) == {
        "Name": "O'Brien Plumbing & Sons",
        "AccountNumber": "A-42",
        "ContactNumber": "CRM-42",
        "EmailAddress": "pat@obrien.example",
        "FirstName": "Pat",
        "LastName": "O'Brien",
        "Phones": [{"PhoneType": "DEFAULT", "PhoneNumber": "09 555 0101"}],
        "Addresses": [
            {
                "AddressType": "STREET",
                "AddressLine1": "2 Quay St",
                "City": "Auckland",
                "Region": "Auckland",
                "PostalCode": "1010",
                "Country": "New Zealand",
            }
        ],
        "ContactPersons": [{"FirstName": "Kim", "EmailAddress": "kim@obrien.example"}],
    }


def test_an_update_sends_only_what_the_crm_owns():
    body = contact_update_payload(DETAILS, "c-1")
    assert body["ContactID"] == "c-1"
    assert "ContactNumber" not in body and "ContactPersons" not in body
    assert body["Name"] == DETAILS.name and body["EmailAddress"] == DETAILS.email


def test_empty_fields_are_left_out():
    bare = ContactDetails(1, "Bare", None, None, None, None, None, None, ())
    assert contact_payload(bare) == {"Name": "Bare", "ContactNumber": "CRM-1"}
    assert contact_update_payload(bare, "c") == {"ContactID": "c", "Name": "Bare"}


def test_contact_number_is_stable():
    assert contact_number(42) == contact_number(42) == "CRM-42"


COMMAND = DraftCommand(
    request_id=5,
    kind="invoice",
    opportunity_id=30,
    account_id=42,
    xero_contact_id="c-42",
    account_code="200",
    currency_code="AUD",
    reference="OPP-30",
    lines=(
        Line("Design", Decimal("1.5"), Decimal("800.1234"), Decimal("10"), None),
        Line("Hosting", Decimal("12"), Decimal("19.99"), None, "OUTPUT2"),
    ),
)


def test_an_invoice_payload():
    body = document_payload(
        COMMAND, invoice_status="AUTHORISED", quote_status="SENT", today=date(2026, 3, 1)
    )
    assert body == {
        "Type": "ACCREC",
        "Status": "AUTHORISED",
        "Contact": {"ContactID": "c-42"},
        "Date": "2026-03-01",
        "Reference": "OPP-30",
        "LineAmountTypes": "Exclusive",
        "CurrencyCode": "AUD",
        "LineItems": [
            {
                "Description": "Design",
                "Quantity": Decimal("1.5"),
                "UnitAmount": Decimal("800.1234"),
                "AccountCode": "200",
                "DiscountRate": Decimal("10"),
            },
            {
                "Description": "Hosting",
                "Quantity": Decimal("12"),
                "UnitAmount": Decimal("19.99"),
                "AccountCode": "200",
                "TaxType": "OUTPUT2",
            },
        ],
    }
    money = [v for line in body["LineItems"] for v in line.values() if not isinstance(v, str)]
    assert all(isinstance(v, Decimal) for v in money)  # never a float


def test_a_quote_payload_has_the_quote_status_and_no_type():
    quote = DraftCommand(5, "quote", 30, 42, "c-42", "200", None, "PO-9", COMMAND.lines)
    body = document_payload(
        quote, invoice_status="AUTHORISED", quote_status="SENT", today=date(2026, 3, 1)
    )
    assert body["Status"] == "SENT" and "Type" not in body
    assert "CurrencyCode" not in body and body["Reference"] == "PO-9"


def test_idempotency_parts_are_stable_and_tell_batches_apart():
    items = [(2, {"Name": "B"}), (1, {"Name": "A", "N": Decimal("1.50")})]
    same = idempotency_parts("PUT Contacts", list(reversed(items)))
    assert idempotency_parts("PUT Contacts", items) == same
    assert idempotency_parts("PUT Contacts", items[:1]) != same
    assert idempotency_parts("PUT Contacts", [(2, {"Name": "B2"}), items[1]]) != same
    assert idempotency_parts("PUT Invoices", items) != same
    assert idempotency_parts("PUT Contacts", [(3, {"Name": "B"}), items[1]]) != same


def test_xero_answers_element_by_element():
    answered = [
        {"InvoiceID": "i-1", "InvoiceNumber": "INV-0001", "StatusAttributeString": "OK"},
        {
            "StatusAttributeString": "ERROR",
            "ValidationErrors": [
                {"Message": "Account code '999' is not a valid code for this document."},
                {"Message": "Description cannot be empty"},
            ],
        },
        {"InvoiceID": "i-3", "StatusAttributeString": "WARNING"},
    ]
    outcomes = item_outcomes(3, answered, "InvoiceID", "InvoiceNumber")
    assert outcomes[0] == ItemOutcome(True, "i-1", "INV-0001", ())
    assert not outcomes[1].ok
    assert outcomes[1].error == (
        "Account code '999' is not a valid code for this document. Description cannot be empty."
    )
    assert outcomes[2] == ItemOutcome(True, "i-3", None, ())


def test_an_answer_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match="answered 1 elements for 2 sent"):
        item_outcomes(2, [{"ContactID": "c"}], "ContactID", None)


def test_deep_links():
    assert document_deep_link("!AbC", "invoice", "i-1") == (
        "https://go.xero.com/organisationlogin/default.aspx?shortcode=!AbC"
        "&redirecturl=/AccountsReceivable/View.aspx?InvoiceID=i-1"
    )
    assert document_deep_link("!AbC", "quote", "q-1") == (
        "https://go.xero.com/app/!AbC/quotes/view/q-1"
    )
    assert document_deep_link(None, "quote", "q-1") is None
