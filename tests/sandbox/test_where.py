"""The `where` language on its own (pure), and its date forms over HTTP."""

from __future__ import annotations

import time

import pytest

from tests.sandbox.conftest import Api, create_contact, create_invoice
from xero_sandbox import where

FIELDS = {
    "Name": "name",
    "Status": "status",
    "IsCustomer": "is_customer",
    "Date": "date_ms",
    "Contact.ContactID": "c.contact_id",
}
BOOLEANS = frozenset({"IsCustomer"})


@pytest.mark.parametrize(
    ("text", "sql", "args"),
    [
        ('Name=="A"', "name = ? COLLATE NOCASE", ["A"]),
        ('Name != "A"', "name != ? COLLATE NOCASE", ["A"]),
        ("Name==null", "(name IS NULL OR name = '')", []),
        ("Name!=null", "(name IS NOT NULL AND name != '')", []),
        ("IsCustomer==true", "is_customer = ?", [1]),
        (
            'Status=="A" AND Name=="B"',
            "(status = ? COLLATE NOCASE) AND (name = ? COLLATE NOCASE)",
            ["A", "B"],
        ),
        (
            'Status=="A" && (Name=="B" || Name=="C")',
            "(status = ? COLLATE NOCASE) AND "
            "((name = ? COLLATE NOCASE) OR (name = ? COLLATE NOCASE))",
            ["A", "B", "C"],
        ),
        ('Name.Contains("50%")', "name LIKE ? ESCAPE '\\'", ["%50\\%%"]),
        ('Contact.ContactID==guid("ABC")', "c.contact_id = ? COLLATE NOCASE", ["abc"]),
        ("Date>=DateTime(2026,3,1)", "date_ms >= ?", [1772323200000]),
        ('Name.ToLower()=="a"', "LOWER(name) = ? COLLATE NOCASE", ["a"]),
        ('NOT Name=="A"', "NOT (name = ? COLLATE NOCASE)", ["A"]),
    ],
)
def test_to_sql(text: str, sql: str, args: list) -> None:
    assert where.to_sql(where.parse(text), FIELDS, BOOLEANS) == (sql, args)


@pytest.mark.parametrize(
    "text",
    [
        'Name=="A',
        "Name==",
        "==“x”",
        'Name=="A" AND',
        "(Name==1",
        'Name.Explode("x")',
        'Name=="x";',
        "Bogus==1",
        "Name <> 1",
    ],
)
def test_errors(text: str) -> None:
    with pytest.raises(where.WhereError):
        where.to_sql(where.parse(text), FIELDS)


def test_python_evaluation() -> None:
    acc = {"Class": "REVENUE", "Status": "ACTIVE", "Code": "200", "Name": "Sales"}
    assert where.matches(where.parse('Class=="revenue" AND Status=="ACTIVE"'), acc)
    assert not where.matches(where.parse('Class=="EXPENSE" OR Code=="999"'), acc)
    assert where.matches(where.parse('Name.StartsWith("sa")'), acc)
    with pytest.raises(where.WhereError):
        where.matches(where.parse("Nope==1"), acc)


def test_invoice_dates_and_if_modified_since(api: Api) -> None:
    c = create_contact(api, "Dates Ltd")["ContactID"]
    create_invoice(api, c, Date="2026-01-15")
    time.sleep(1.1)
    cutoff = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    time.sleep(0.01)
    create_invoice(api, c, Date="2026-06-15")

    def numbers(**kw) -> list[str]:
        r = api.get("Invoices", params={"page": 1, **kw.pop("params", {})}, **kw)
        assert r.status_code == 200, r.text
        return [i["InvoiceNumber"] for i in r.json()["Invoices"]]

    assert numbers(params={"where": "Date>=DateTime(2026,03,01)"}) == ["INV-0002"]
    assert numbers(params={"where": "Date<DateTime(2026,03,01)"}) == ["INV-0001"]
    assert numbers(headers={"If-Modified-Since": cutoff}) == ["INV-0002"]
    api.post("Invoices/INV-0001", {"Reference": "touched"})
    assert numbers(headers={"If-Modified-Since": cutoff}) == ["INV-0001", "INV-0002"]
