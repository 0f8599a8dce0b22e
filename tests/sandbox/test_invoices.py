"""`/Invoices` over HTTP: totals, numbering, status rules, filters."""

from __future__ import annotations

from tests.sandbox.conftest import Api, create_contact, create_invoice


def _inv(resp) -> dict:
    assert resp.status_code == 200, resp.text
    return resp.json()["Invoices"][0]


def test_totals_exclusive_inclusive_notax(api: Api) -> None:
    c = create_contact(api, "Totals Ltd")["ContactID"]
    lines = [
        {"Description": "A", "Quantity": 3, "UnitAmount": 33.33, "AccountCode": "200"},
        {
            "Description": "B",
            "Quantity": 1,
            "UnitAmount": 10,
            "AccountCode": "200",
            "DiscountRate": 10,
        },
    ]
    ex = _inv(create_invoice(api, c, lines, LineAmountTypes="Exclusive"))
    assert (ex["SubTotal"], ex["TotalTax"], ex["Total"]) == (108.99, 16.35, 125.34)
    assert ex["LineItems"][0]["LineAmount"] == 99.99 and ex["LineItems"][0]["TaxAmount"] == 15.0
    assert ex["AmountDue"] == 125.34 and ex["AmountPaid"] == 0
    inc = _inv(create_invoice(api, c, lines, LineAmountTypes="Inclusive"))
    # tax per line: 99.99*15/115 = 13.04, 9.00*15/115 = 1.17
    assert (inc["Total"], inc["TotalTax"], inc["SubTotal"]) == (108.99, 14.21, 94.78)
    no = _inv(create_invoice(api, c, lines, LineAmountTypes="NoTax"))
    assert (no["Total"], no["TotalTax"]) == (108.99, 0.0)
    assert no["LineItems"][0]["TaxType"] == "NONE"


def test_numbering_and_dates(api: Api) -> None:
    c = create_contact(api, "Num Ltd")["ContactID"]
    a = _inv(create_invoice(api, c, Date="2026-03-01", DueDate="2026-03-31"))
    b = _inv(create_invoice(api, c))
    assert a["InvoiceNumber"] == "INV-0001" and b["InvoiceNumber"] == "INV-0002"
    assert a["Date"] == "/Date(1772323200000+0000)/"
    assert a["DueDate"] == "/Date(1774915200000+0000)/"
    assert a["Status"] == "DRAFT"
    dup = create_invoice(api, c, InvoiceNumber="INV-0001")
    assert dup.status_code == 400
    assert "must be unique" in dup.json()["Elements"][0]["ValidationErrors"][0]["Message"]
    bill = _inv(
        api.put(
            "Invoices",
            {
                "Type": "ACCPAY",
                "Contact": {"ContactID": c},
                "LineItems": [
                    {"Description": "x", "Quantity": 1, "UnitAmount": 5, "AccountCode": "429"}
                ],
            },
        )
    )
    assert "InvoiceNumber" not in bill


def test_contact_by_name_is_found_or_created(api: Api) -> None:
    create_contact(api, "Known Ltd")
    inv = _inv(
        api.put(
            "Invoices",
            {
                "Type": "ACCREC",
                "Contact": {"Name": "Known Ltd"},
                "LineItems": [{"Description": "x", "UnitAmount": 1}],
            },
        )
    )
    assert inv["Contact"]["Name"] == "Known Ltd"
    api.put(
        "Invoices",
        {
            "Type": "ACCREC",
            "Contact": {"Name": "Brand New Ltd"},
            "LineItems": [{"Description": "x", "UnitAmount": 1}],
        },
    )
    assert len(api.get("Contacts").json()["Contacts"]) == 2


def test_status_rules(api: Api) -> None:
    c = create_contact(api, "Rules Ltd")["ContactID"]
    assert create_invoice(api, c, Status="PAID").status_code == 400
    inv = _inv(create_invoice(api, c, Status="DRAFT"))
    iid = inv["InvoiceID"]
    sub = _inv(api.post(f"Invoices/{iid}", {"Status": "SUBMITTED"}))
    assert sub["Status"] == "SUBMITTED"
    auth = _inv(api.post("Invoices", {"InvoiceID": iid, "Status": "AUTHORISED"}))
    assert auth["Status"] == "AUTHORISED"
    r = api.post(f"Invoices/{iid}", {"Status": "DELETED"})
    assert r.status_code == 400
    assert (
        r.json()["Elements"][0]["ValidationErrors"][0]["Message"]
        == "Invoice not of valid status for modification"
    )
    assert _inv(api.post(f"Invoices/{iid}", {"Status": "VOIDED"}))["Status"] == "VOIDED"
    assert api.post(f"Invoices/{iid}", {"Status": "AUTHORISED"}).status_code == 400
    d = _inv(create_invoice(api, c))
    assert (
        _inv(api.post(f"Invoices/{d['InvoiceID']}", {"Status": "DELETED"}))["Status"] == "DELETED"
    )
    # approving needs lines with account codes
    r = create_invoice(api, c, [{"Description": "no code", "UnitAmount": 5}], Status="AUTHORISED")
    assert r.status_code == 400
    assert create_invoice(api, c, [], Status="AUTHORISED").status_code == 400
    assert api.put("Invoices", {"Type": "ACCREC", "LineItems": []}).status_code == 400


def test_paid_seeded_invoice_cannot_be_edited(api: Api) -> None:
    api.sandbox.seed(contacts=20, invoices=200, seed=7)
    paid = api.get("Invoices", params={"Statuses": "PAID", "page": 1}).json()["Invoices"][0]
    assert paid["AmountDue"] == 0 and paid["AmountPaid"] == paid["Total"]
    assert paid["Payments"] and paid["FullyPaidOnDate"]
    r = api.post(f"Invoices/{paid['InvoiceID']}", {"Reference": "changed"})
    assert r.status_code == 400


def test_update_recomputes_totals_and_keeps_lines(api: Api) -> None:
    c = create_contact(api, "Upd Ltd")["ContactID"]
    inv = _inv(create_invoice(api, c))
    iid = inv["InvoiceID"]
    r = _inv(api.post(f"Invoices/{iid}", {"Reference": "REF-9"}))
    assert r["Total"] == inv["Total"] and r["Reference"] == "REF-9"
    r = _inv(
        api.post(
            f"Invoices/{iid}",
            {
                "LineItems": [
                    {"Description": "new", "Quantity": 1, "UnitAmount": 50, "AccountCode": "260"}
                ]
            },
        )
    )
    assert r["Total"] == 57.5 and r["LineItems"][0]["AccountCode"] == "260"
    r = _inv(api.post(f"Invoices/{iid}", {"LineAmountTypes": "Inclusive"}))
    assert r["Total"] == 50.0 and r["TotalTax"] == 6.52
    assert (
        api.post("Invoices/00000000-0000-0000-0000-000000000000", {"Reference": "x"}).status_code
        == 404
    )


def test_list_filters(api: Api) -> None:
    a = create_contact(api, "A Ltd")["ContactID"]
    b = create_contact(api, "B Ltd")["ContactID"]
    i1 = _inv(create_invoice(api, a, Status="AUTHORISED"))
    _inv(create_invoice(api, b))
    _inv(create_invoice(api, b, Status="SUBMITTED"))

    def numbers(**params) -> list[str]:
        r = api.get("Invoices", params={"page": 1, **params})
        assert r.status_code == 200, r.text
        return [i["InvoiceNumber"] for i in r.json()["Invoices"]]

    assert numbers(Statuses="AUTHORISED,SUBMITTED") == ["INV-0001", "INV-0003"]
    assert numbers(ContactIDs=b) == ["INV-0002", "INV-0003"]
    assert numbers(IDs=i1["InvoiceID"]) == ["INV-0001"]
    assert numbers(InvoiceNumbers="INV-0002") == ["INV-0002"]
    assert numbers(where=f'Contact.ContactID==guid("{a}")') == ["INV-0001"]
    assert numbers(where='Type=="ACCREC" AND Status=="DRAFT"') == ["INV-0002"]
    assert numbers(where='Status!="DRAFT"', order="InvoiceNumber DESC") == ["INV-0003", "INV-0001"]
    assert numbers(createdByMyApp="true") == ["INV-0001", "INV-0002", "INV-0003"]
    assert numbers(page=2) == []
    unpaged = api.get("Invoices").json()
    assert "pagination" not in unpaged and "LineItems" not in unpaged["Invoices"][0]
    assert api.get(f"Invoices/{i1['InvoiceID']}").json()["Invoices"][0]["LineItems"]
    assert api.get("Invoices/INV-0001").json()["Invoices"][0]["InvoiceID"] == i1["InvoiceID"]
    assert api.get("Invoices/00000000-0000-0000-0000-000000000000").status_code == 404


def test_generated_data_is_realistic_and_deterministic(api: Api) -> None:
    first = api.sandbox.seed(contacts=300, invoices=2000, seed=42, quotes=50)
    assert first["contacts"] == 300
    ids1 = [i["InvoiceID"] for i in api.get("Invoices", params={"page": 3}).json()["Invoices"]]
    api.sandbox.seed(contacts=300, invoices=2000, seed=42, quotes=50)
    ids2 = [i["InvoiceID"] for i in api.get("Invoices", params={"page": 3}).json()["Invoices"]]
    assert ids1 == ids2
    invoices = []
    for page in range(1, 3):
        invoices += api.get("Invoices", params={"page": page, "pageSize": 1000}).json()["Invoices"]
    statuses = {i["Status"] for i in invoices}
    assert statuses == {"DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED"}
    assert {i["CurrencyCode"] for i in invoices} >= {"NZD", "AUD", "USD"}
    assert {i["Type"] for i in invoices} == {"ACCREC", "ACCPAY"}
    part_paid = [i for i in invoices if i["Status"] == "AUTHORISED" and i["AmountPaid"] > 0]
    assert part_paid and all(i["AmountDue"] > 0 for i in part_paid)
    contacts = api.get("Contacts", params={"includeArchived": "true"}).json()["Contacts"]
    assert any("'" in c["Name"] for c in contacts)
    assert any("&" in c["Name"] for c in contacts)
    assert any(any(ch in c["Name"] for ch in "éöüëāō") for c in contacts)
    assert any(c["ContactStatus"] == "ARCHIVED" for c in contacts)
    assert any("EmailAddress" not in c for c in contacts)
    assert any(c["IsSupplier"] and not c["IsCustomer"] for c in contacts)
    assert any(c["IsCustomer"] and not c["IsSupplier"] for c in contacts)
    assert any(c["Balances"]["AccountsReceivable"]["Overdue"] > 0 for c in contacts)
    assert len({c["Name"].lower() for c in contacts if c["ContactStatus"] == "ACTIVE"}) == len(
        [c for c in contacts if c["ContactStatus"] == "ACTIVE"]
    )
    for inv in invoices[:200]:
        assert round(sum(li["LineAmount"] for li in inv["LineItems"]), 2) == round(
            inv["SubTotal"] + (inv["TotalTax"] if inv["LineAmountTypes"] == "Inclusive" else 0), 2
        )


def test_sequential_paging_is_complete_and_sees_new_writes(api: Api) -> None:
    api.sandbox.seed(contacts=50, invoices=2500, seed=9)

    def sweep(**params) -> list[str]:
        ids, page = [], 1
        while True:
            r = api.get("Invoices", params={"page": page, "pageSize": 1000, **params})
            batch = r.json()["Invoices"]
            if not batch:
                return ids
            assert r.json()["pagination"]["itemCount"] >= len(ids) + len(batch)
            ids += [i["InvoiceID"] for i in batch]
            page += 1

    first = sweep()
    assert len(first) == len(set(first)) == 2500
    authorised = sweep(Statuses="AUTHORISED")
    assert 0 < len(authorised) < 2500 and len(set(authorised)) == len(authorised)
    c = api.get("Contacts").json()["Contacts"][0]["ContactID"]
    assert create_invoice(api, c, Status="AUTHORISED").status_code == 200
    assert len(sweep()) == 2501
    assert len(sweep(Statuses="AUTHORISED")) == len(authorised) + 1
    # a random page equals the same slice of the full sweep
    again = sweep()
    page2 = [
        i["InvoiceID"]
        for i in api.get("Invoices", params={"page": 2, "pageSize": 1000}).json()["Invoices"]
    ]
    assert page2 == again[1000:2000]


def test_post_updates_by_invoice_number_put_refuses_duplicates(api: Api) -> None:
    c = create_contact(api, "ByNumber Ltd")["ContactID"]
    inv = _inv(create_invoice(api, c))
    r = _inv(api.post("Invoices", {"InvoiceNumber": inv["InvoiceNumber"], "Reference": "via no."}))
    assert r["InvoiceID"] == inv["InvoiceID"] and r["Reference"] == "via no."
    assert len(api.get("Invoices").json()["Invoices"]) == 1
    assert create_invoice(api, c, InvoiceNumber=inv["InvoiceNumber"]).status_code == 400
