"""`/Quotes` and `/Accounts` over HTTP."""

from __future__ import annotations

from tests.fixtures.sandbox import SandboxClient
from tests.sandbox.conftest import Api, create_contact

LINES = [{"Description": "Design", "Quantity": 2, "UnitAmount": 500, "AccountCode": "200"}]


def test_quote_create_number_totals_and_transitions(api: Api) -> None:
    c = create_contact(api, "Quote Ltd")["ContactID"]
    r = api.put(
        "Quotes",
        {
            "Quotes": [
                {
                    "Contact": {"ContactID": c},
                    "LineItems": LINES,
                    "Date": "2026-11-01",
                    "ExpiryDate": "2026-12-01",
                    "Title": "Website",
                    "Reference": "OPP-7",
                }
            ]
        },
    )
    assert r.status_code == 200, r.text
    q = r.json()["Quotes"][0]
    assert q["QuoteNumber"] == "QU-0001" and q["Status"] == "DRAFT"
    assert (q["SubTotal"], q["TotalTax"], q["Total"]) == (1000.0, 150.0, 1150.0)
    assert q["LineAmountTypes"] == "EXCLUSIVE"
    qid = q["QuoteID"]
    for status in ("SENT", "ACCEPTED", "INVOICED"):
        r = api.post(f"Quotes/{qid}", {"Status": status})
        assert r.status_code == 200 and r.json()["Quotes"][0]["Status"] == status
    r = api.post(f"Quotes/{qid}", {"Status": "DRAFT"})
    assert r.status_code == 400
    assert api.put("Quotes", {"Contact": {"ContactID": c}, "Status": "ACCEPTED"}).status_code == 400
    assert api.put("Quotes", {"LineItems": LINES}).status_code == 400


def test_quote_list_filters(api: Api) -> None:
    a = create_contact(api, "QA Ltd")["ContactID"]
    b = create_contact(api, "QB Ltd")["ContactID"]
    api.put(
        "Quotes",
        {
            "Quotes": [
                {"Contact": {"ContactID": a}, "LineItems": LINES},
                {"Contact": {"ContactID": b}, "LineItems": LINES, "Status": "SENT"},
            ]
        },
    )
    got = api.get("Quotes", params={"ContactID": b}).json()["Quotes"]
    assert [q["Contact"]["Name"] for q in got] == ["QB Ltd"]
    assert [q["Status"] for q in api.get("Quotes", params={"Status": "SENT"}).json()["Quotes"]] == [
        "SENT"
    ]
    assert api.get("Quotes", params={"page": 5}).json()["Quotes"] == []
    one = api.get(f"Quotes/{got[0]['QuoteID']}").json()["Quotes"][0]
    assert one["LineItems"][0]["Description"] == "Design"
    assert api.get("Quotes/00000000-0000-0000-0000-000000000000").status_code == 404


def test_accounts_default_chart_and_where(api: Api) -> None:
    r = api.get("Accounts", params={"where": 'Class=="REVENUE" AND Status=="ACTIVE"'})
    assert r.status_code == 200
    codes = {a["Code"]: a["Name"] for a in r.json()["Accounts"]}
    assert codes == {"200": "Sales", "260": "Other Revenue", "270": "Interest Income"}
    every = api.get("Accounts").json()["Accounts"]
    assert any(a["Status"] == "ARCHIVED" for a in every)
    assert any(a["Type"] == "BANK" for a in every)
    assert any(a["Class"] == "EXPENSE" for a in every)
    assert {
        a["Code"] for a in api.get("Accounts", params={"where": 'Type=="BANK"'}).json()["Accounts"]
    } == {"090", "091"}
    one = every[0]
    assert api.get(f"Accounts/{one['AccountID']}").json()["Accounts"][0]["Code"] == one["Code"]
    assert api.get("Accounts", params={"where": "Bogus==1"}).status_code == 400


def _line_errors(api: Api, key: str, body: dict, code: str) -> list[str]:
    line = {"Description": "x", "Quantity": 1, "UnitAmount": 1, "AccountCode": code}
    r = api.put(key, {**body, "LineItems": [line]})
    if r.status_code == 200:
        return []
    assert r.status_code == 400 and r.json()["Type"] == "ValidationException", r.text
    return [e["Message"] for e in r.json()["Elements"][0]["ValidationErrors"]]


def test_account_codes_refused_with_xeros_messages(api: Api) -> None:
    """Xero's words: "Account code 'X' is not a valid code for this document." (unknown, bank
    or system accounts, and on sales documents anything but revenue) and "Account code 'X'
    has been archived, or has been deleted. Each line item must reference a valid account."."""
    c = {"Contact": {"ContactID": create_contact(api, "Acc Ltd")["ContactID"]}}
    sales = (("Invoices", {"Type": "ACCREC", **c}), ("CreditNotes", {"Type": "ACCRECCREDIT", **c}),
             ("Quotes", c))  # fmt: skip
    bill = ("Invoices", {"Type": "ACCPAY", **c})

    def archived(code: str) -> list[str]:
        return [
            f"Account code '{code}' has been archived, or has been deleted. Each line item must "
            "reference a valid account."
        ]

    def not_valid(code: str) -> list[str]:
        return [f"Account code '{code}' is not a valid code for this document."]

    for key, body in sales:
        assert _line_errors(api, key, body, "200") == []  # Sales
        assert _line_errors(api, key, body, "260") == []  # Other Revenue
        assert _line_errors(api, key, body, "250") == archived("250")  # archived revenue
        for code in ("999", "400", "090", "610"):  # unknown, expense, bank, system
            assert _line_errors(api, key, body, code) == not_valid(code), (key, code)
    assert _line_errors(api, *bill, "400") == []
    assert _line_errors(api, *bill, "475") == archived("475")
    assert _line_errors(api, *bill, "090") == not_valid("090")
    # an account archived in the chart, as a user does it, is refused from then on
    api.sandbox.set_account_status("260", "ARCHIVED")
    assert _line_errors(api, *sales[0], "260") == archived("260")


def test_quotes_page_like_xero_100_a_page_no_page_size_no_pagination(
    api: Api, sandbox: SandboxClient
) -> None:
    """Xero's getQuotes takes only `page` (100 a page) and its `Quotes` has no `pagination`.

    A client that sends `pageSize` or reads `pageCount` for quotes must fail here as it would
    against Xero; contacts and invoices keep both.
    """
    sandbox.seed(contacts=5, quotes=150, seed=3)
    first = api.get("Quotes", params={"page": 1, "pageSize": 10}).json()
    assert "pagination" not in first
    assert len(first["Quotes"]) == 100
    second = api.get("Quotes", params={"page": 2, "pageSize": 1000}).json()
    assert "pagination" not in second and len(second["Quotes"]) == 50
    ids = {q["QuoteID"] for q in first["Quotes"]} | {q["QuoteID"] for q in second["Quotes"]}
    assert len(ids) == 150
    assert api.get("Quotes", params={"page": 3}).json()["Quotes"] == []
    every = api.get("Quotes").json()
    assert "pagination" not in every and len(every["Quotes"]) == 150
    contacts = api.get("Contacts", params={"page": 1, "pageSize": 2}).json()
    assert len(contacts["Contacts"]) == 2 and contacts["pagination"]["pageSize"] == 2
