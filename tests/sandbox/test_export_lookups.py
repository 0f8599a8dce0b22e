"""What the on-demand exports rely on (issue 9): per-element results with summarizeErrors=false,
the lookups they make before writing, and Xero's refusal of a currency not enabled."""

from __future__ import annotations

from tests.sandbox.conftest import Api, create_contact, create_invoice

LINE = {"Description": "x", "Quantity": 1, "UnitAmount": 100, "AccountCode": "200"}


def test_contacts_put_with_summarize_errors_false_reports_each_element(api: Api) -> None:
    create_contact(api, "Taken Ltd")
    r = api.put(
        "Contacts",
        {
            "Contacts": [
                {"Name": "First New Ltd", "ContactNumber": "CRM-1"},
                {"Name": "Taken Ltd"},
                {"Name": "Second New Ltd", "EmailAddress": "not an email"},
                {"Name": "Third New Ltd"},
            ]
        },
        params={"summarizeErrors": "false"},
    )
    assert r.status_code == 200, r.text
    results = r.json()["Contacts"]
    assert [c["StatusAttributeString"] for c in results] == ["OK", "ERROR", "ERROR", "OK"]
    assert results[0]["ContactID"] and "ValidationErrors" not in results[0]
    assert results[1]["Name"] == "Taken Ltd" and results[1]["HasValidationErrors"] is True
    assert "already assigned to another contact" in results[1]["ValidationErrors"][0]["Message"]
    assert results[2]["ValidationErrors"] == [{"Message": "Email address must be valid."}]
    stored = {c["Name"] for c in api.get("Contacts").json()["Contacts"]}
    assert stored == {"Taken Ltd", "First New Ltd", "Third New Ltd"}


def test_contact_by_contact_number(api: Api) -> None:
    a = create_contact(api, "Numbered Ltd", ContactNumber="CRM-42")
    create_contact(api, "Other Ltd", ContactNumber="CRM-420")
    found = api.get("Contacts", params={"where": 'ContactNumber=="CRM-42"'}).json()["Contacts"]
    assert [c["ContactID"] for c in found] == [a["ContactID"]]
    assert api.get("Contacts/CRM-42").json()["Contacts"][0]["ContactID"] == a["ContactID"]
    none = api.get("Contacts", params={"where": 'ContactNumber=="CRM-4"'}).json()["Contacts"]
    assert none == []


def test_invoice_by_reference_and_contact(api: Api) -> None:
    a = create_contact(api, "Ref A Ltd")["ContactID"]
    b = create_contact(api, "Ref B Ltd")["ContactID"]
    mine = create_invoice(api, a, Reference="OPP-7").json()["Invoices"][0]
    create_invoice(api, b, Reference="OPP-7")
    create_invoice(api, a, Reference="OPP-8")
    where = f'Reference=="OPP-7" AND Contact.ContactID==guid("{a}")'
    found = api.get("Invoices", params={"where": where}).json()["Invoices"]
    assert [i["InvoiceID"] for i in found] == [mine["InvoiceID"]]
    paged = api.get("Invoices", params={"where": where, "page": 1}).json()
    assert paged["pagination"]["itemCount"] == 1


def test_quotes_by_contact(api: Api) -> None:
    a = create_contact(api, "Quote A Ltd")["ContactID"]
    b = create_contact(api, "Quote B Ltd")["ContactID"]
    for contact in (a, a, b):
        r = api.put("Quotes", {"Contact": {"ContactID": contact}, "LineItems": [LINE]})
        assert r.status_code == 200, r.text
    found = api.get("Quotes", params={"ContactID": a}).json()["Quotes"]
    assert len(found) == 2 and {q["Contact"]["ContactID"] for q in found} == {a}
    assert len(api.get("Quotes", params={"ContactID": a.upper(), "page": 1}).json()["Quotes"]) == 2
    unknown = "00000000-0000-0000-0000-000000000000"
    assert api.get("Quotes", params={"ContactID": unknown}).json()["Quotes"] == []


def test_documents_in_a_currency_the_organisation_has_not_enabled(api: Api) -> None:
    """Xero: "Organisation is not subscribed to currency EUR" (a 400 ValidationException)."""
    c = {"Contact": {"ContactID": create_contact(api, "Euro Ltd")["ContactID"]}}
    for key, body in (
        ("Invoices", {"Type": "ACCREC", **c, "LineItems": [LINE]}),
        ("Quotes", {**c, "LineItems": [LINE]}),
        ("CreditNotes", {"Type": "ACCRECCREDIT", **c, "LineItems": [LINE]}),
    ):
        r = api.put(key, {**body, "CurrencyCode": "EUR"})
        assert r.status_code == 400, (key, r.text)
        assert r.json()["Type"] == "ValidationException"
        assert r.json()["Elements"][0]["ValidationErrors"] == [
            {"Message": "Organisation is not subscribed to currency EUR"}
        ]
        assert api.put(key, {**body, "CurrencyCode": "NZD"}).status_code == 200  # the base
    api.sandbox.enable_currency("EUR")
    r = api.put("Invoices", {"Type": "ACCREC", **c, "LineItems": [LINE], "CurrencyCode": "EUR"})
    assert r.status_code == 200 and r.json()["Invoices"][0]["CurrencyCode"] == "EUR"
    assert r.json()["Invoices"][0]["CurrencyRate"] == 0.55  # EUR per NZD, XE-like default
