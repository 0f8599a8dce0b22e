"""Seeded random bodies against every write: always a Xero-style 4xx or 200, never a 500."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from tests.sandbox.conftest import Api, create_contact

KEYS = {
    "Contacts": [
        "Name",
        "FirstName",
        "LastName",
        "EmailAddress",
        "ContactNumber",
        "AccountNumber",
        "ContactStatus",
        "Addresses",
        "Phones",
        "ContactPersons",
        "DefaultCurrency",
        "TaxNumber",
        "ContactID",
        "BankAccountDetails",
    ],
    "Invoices": [
        "Type",
        "Contact",
        "LineItems",
        "Date",
        "DueDate",
        "LineAmountTypes",
        "Status",
        "Reference",
        "InvoiceNumber",
        "CurrencyCode",
        "CurrencyRate",
        "InvoiceID",
        "SentToContact",
    ],
    "Quotes": [
        "Contact",
        "LineItems",
        "Date",
        "ExpiryDate",
        "Status",
        "Title",
        "Summary",
        "Terms",
        "Reference",
        "QuoteNumber",
        "CurrencyCode",
        "LineAmountTypes",
        "QuoteID",
    ],
}
LINE_KEYS = [
    "Description",
    "Quantity",
    "UnitAmount",
    "AccountCode",
    "TaxType",
    "DiscountRate",
    "LineItemID",
    "ItemCode",
]


def _value(rng: random.Random, depth: int = 0) -> Any:
    """One random JSON value; containers only near the top so bodies stay small."""
    kind = rng.randrange(12 if depth < 2 else 8)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.randint(-(10**6), 10**6)
    if kind == 3:
        return rng.uniform(-1e9, 1e9)
    if kind == 4:
        return ""
    if kind == 5:
        return "x" * rng.choice((1, 50, 256, 5000))
    if kind == 6:
        return rng.choice(
            [
                "ACCREC",
                "AUTHORISED",
                "DRAFT",
                "200",
                "OUTPUT2",
                "2026-02-30",
                "/Date(0+0000)/",
                "NaN",
                "1e400",
                "Inclusive",
                "STREET",
            ]
        )
    if kind == 7:
        return "00000000-0000-0000-0000-000000000000"
    if kind == 8:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    if kind == 9:
        return {k: _value(rng, depth + 1) for k in rng.sample(LINE_KEYS, 3)}
    if kind == 10:
        return [{k: _value(rng, depth + 1) for k in rng.sample(LINE_KEYS, 4)}]
    return {"ContactID": _value(rng, depth + 1), "Name": _value(rng, depth + 1)}


@pytest.mark.parametrize("seed", [1234, 7, 99])
def test_random_bodies_never_500(api: Api, seed: int) -> None:
    rng = random.Random(seed)
    contact = create_contact(api, "Fuzz Target")["ContactID"]
    for i in range(240):
        key = ("Contacts", "Invoices", "Quotes")[i % 3]
        el = {k: _value(rng) for k in rng.sample(KEYS[key], rng.randrange(1, 6))}
        if rng.random() < 0.5 and key != "Contacts":
            el["Contact"] = {"ContactID": contact}
        method = rng.choice(["PUT", "POST"])
        path = key
        if rng.random() < 0.15:
            path = f"{key}/{contact if key == 'Contacts' else rng.choice(['x', contact])}"
            method = "POST"
        params = {"summarizeErrors": "false"} if rng.random() < 0.3 else None
        r = api.call(
            method,
            path,
            data=json.dumps({key: [el]}),
            params=params,
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code in (200, 400, 404), (method, path, el, r.status_code, r.text[:300])
        r.json() if r.status_code != 404 else None
    assert api.get("Contacts").status_code == 200


def test_random_query_strings_never_500(api: Api) -> None:
    rng = random.Random(42)
    api.sandbox.seed(contacts=20, invoices=60, quotes=10, seed=1)
    atoms = [
        "Name",
        "==",
        '"x"',
        "AND",
        "OR",
        "(",
        ")",
        "null",
        "true",
        'guid("1")',
        "!=",
        "Status",
        "Contact.ContactID",
        ".Contains(",
        "DateTime(2026,1,1)",
        ">=",
        "1.5",
        "\\",
        '"',
        "&&",
        "||",
        "NOT",
        ",",
        "Type",
        "Date",
        "ToLower()",
        ".",
        "💥",
    ]
    params_pool = [
        "where",
        "order",
        "page",
        "pageSize",
        "IDs",
        "Statuses",
        "ContactIDs",
        "InvoiceNumbers",
        "searchTerm",
        "summaryOnly",
        "includeArchived",
        "unitdp",
        "ContactID",
        "Status",
        "DateFrom",
        "DateTo",
        "createdByMyApp",
    ]
    for i in range(150):
        resource = ("Contacts", "Invoices", "Quotes", "Accounts")[i % 4]
        params = {}
        for name in rng.sample(params_pool, rng.randrange(1, 4)):
            params[name] = " ".join(rng.choice(atoms) for _ in range(rng.randrange(0, 6)))
        headers = {
            "If-Modified-Since": rng.choice(
                ["", "yesterday", "2026-01-01", "Tue, 01 Dec 2026 00:00:00 GMT"]
            )
        }
        r = api.get(resource, params=params, headers=headers)
        assert r.status_code in (200, 400), (resource, params, r.status_code, r.text[:300])
