"""`/Contacts` over HTTP: filters, paging, lookups, create/update rules, balances."""

from __future__ import annotations

import time
from email.utils import formatdate

from tests.sandbox.conftest import Api, create_contact, create_invoice


def names(resp) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [c["Name"] for c in resp.json()["Contacts"]]


def test_envelope_and_xero_conventions(api: Api) -> None:
    create_contact(api, "Ōtaki Café & Co", EmailAddress="hi@otaki.example.com")
    r = api.get("Contacts", params={"page": 1})
    body = r.json()
    assert set(body) >= {"Id", "Status", "ProviderName", "DateTimeUTC", "pagination", "Contacts"}
    assert body["Status"] == "OK"
    assert body["pagination"] == {"page": 1, "pageSize": 100, "pageCount": 1, "itemCount": 1}
    c = body["Contacts"][0]
    assert c["Name"] == "Ōtaki Café & Co"
    assert c["UpdatedDateUTC"].startswith("/Date(") and c["UpdatedDateUTC"].endswith("+0000)/")
    assert '"Outstanding":0.00' in r.text  # money printed with two decimals like Xero
    assert r.headers["content-type"].startswith("application/json")


def test_paging_page_size_and_beyond_the_end(api: Api) -> None:
    api.sandbox.seed(contacts=250, seed=1)
    r = api.get("Contacts", params={"page": 1, "includeArchived": "true"})
    assert len(r.json()["Contacts"]) == 100
    assert r.json()["pagination"]["itemCount"] == 250
    assert r.json()["pagination"]["pageCount"] == 3
    r = api.get("Contacts", params={"page": 2, "pageSize": 200, "includeArchived": "true"})
    assert len(r.json()["Contacts"]) == 50
    r = api.get("Contacts", params={"page": 1, "pageSize": 5000, "includeArchived": "true"})
    assert r.json()["pagination"]["pageSize"] == 1000 and len(r.json()["Contacts"]) == 250
    r = api.get("Contacts", params={"page": 99})
    assert r.status_code == 200 and r.json()["Contacts"] == []
    # pages do not overlap and cover everything
    seen = []
    for page in (1, 2, 3):
        seen += [
            c["ContactID"]
            for c in api.get("Contacts", params={"page": page, "includeArchived": "true"}).json()[
                "Contacts"
            ]
        ]
    assert len(seen) == len(set(seen)) == 250


def test_where_filters(api: Api) -> None:
    a = create_contact(
        api,
        "Alpha Ltd",
        EmailAddress="a@alpha.example.com",
        ContactNumber="A-1",
        AccountNumber="ACC-1",
    )
    create_contact(api, "Beta Ltd")
    create_contact(api, "O'Brien & Sons", EmailAddress="ob@example.com")
    assert names(api.get("Contacts", params={"where": 'Name=="Alpha Ltd"'})) == ["Alpha Ltd"]
    assert names(api.get("Contacts", params={"where": 'Name == "alpha ltd"'})) == ["Alpha Ltd"]
    assert names(api.get("Contacts", params={"where": 'Name=="O\'Brien & Sons"'})) == [
        "O'Brien & Sons"
    ]
    assert sorted(names(api.get("Contacts", params={"where": "EmailAddress!=null"}))) == [
        "Alpha Ltd",
        "O'Brien & Sons",
    ]
    assert names(api.get("Contacts", params={"where": "EmailAddress==null"})) == ["Beta Ltd"]
    assert names(
        api.get("Contacts", params={"where": 'ContactNumber=="A-1" && AccountNumber=="ACC-1"'})
    ) == ["Alpha Ltd"]
    assert names(api.get("Contacts", params={"where": f'ContactID==guid("{a["ContactID"]}")'})) == [
        "Alpha Ltd"
    ]
    assert names(
        api.get("Contacts", params={"where": 'ContactStatus=="ACTIVE" AND Name.StartsWith("Be")'})
    ) == ["Beta Ltd"]
    assert names(api.get("Contacts", params={"where": "IsCustomer==true"})) == []
    bad = api.get("Contacts", params={"where": 'Nonsense=="x"'})
    assert bad.status_code == 400 and bad.json()["Type"] == "QueryParseException"
    bad = api.get("Contacts", params={"where": 'Name=="unterminated'})
    assert bad.status_code == 400


def test_is_customer_follows_invoices(api: Api) -> None:
    c = create_contact(api, "Buyer Ltd")
    create_contact(api, "Idle Ltd")
    assert create_invoice(api, c["ContactID"]).status_code == 200
    assert names(api.get("Contacts", params={"where": "IsCustomer==true"})) == ["Buyer Ltd"]


def test_order_ids_search_and_archived(api: Api) -> None:
    ids = [create_contact(api, n)["ContactID"] for n in ("Charlie", "alpha", "Bravo")]
    assert names(api.get("Contacts")) == ["alpha", "Bravo", "Charlie"]
    assert names(api.get("Contacts", params={"order": "Name DESC"})) == [
        "Charlie",
        "Bravo",
        "alpha",
    ]
    assert sorted(names(api.get("Contacts", params={"IDs": f"{ids[0]},{ids[2]}"}))) == [
        "Bravo",
        "Charlie",
    ]
    assert names(api.get("Contacts", params={"searchTerm": "RAV"})) == ["Bravo"]
    r = api.post(f"Contacts/{ids[0]}", {"ContactStatus": "ARCHIVED"})
    assert r.status_code == 200 and r.json()["Contacts"][0]["ContactStatus"] == "ARCHIVED"
    assert names(api.get("Contacts")) == ["alpha", "Bravo"]
    assert names(api.get("Contacts", params={"includeArchived": "true"})) == [
        "alpha",
        "Bravo",
        "Charlie",
    ]
    assert api.get("Contacts", params={"order": "Bogus"}).status_code == 400


def test_summary_only_is_light(api: Api) -> None:
    create_contact(api, "Light Ltd")
    c = api.get("Contacts", params={"summaryOnly": "true"}).json()["Contacts"][0]
    assert "Addresses" not in c and "Balances" not in c and c["Name"] == "Light Ltd"


def test_if_modified_since(api: Api) -> None:
    create_contact(api, "Old Ltd")
    time.sleep(1.1)
    cutoff = time.time()
    time.sleep(0.01)
    create_contact(api, "New Ltd")
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(cutoff))
    assert names(api.get("Contacts", headers={"If-Modified-Since": iso})) == ["New Ltd"]
    http_date = formatdate(cutoff, usegmt=True)
    assert names(api.get("Contacts", headers={"If-Modified-Since": http_date})) == ["New Ltd"]


def test_get_by_id_and_by_number_and_404(api: Api) -> None:
    c = create_contact(api, "Numbered Ltd", ContactNumber="CRM-42")
    assert names(api.get(f"Contacts/{c['ContactID']}")) == ["Numbered Ltd"]
    assert names(api.get("Contacts/CRM-42")) == ["Numbered Ltd"]
    assert api.get("Contacts/00000000-0000-0000-0000-000000000000").status_code == 404
    assert api.get("Contacts/NOPE-1").status_code == 404


def test_put_duplicate_active_name_is_validation_error(api: Api) -> None:
    create_contact(api, "Twice Ltd")
    r = api.put("Contacts", {"Contacts": [{"Name": "twice ltd"}]})
    assert r.status_code == 400
    body = r.json()
    assert body["Type"] == "ValidationException" and body["ErrorNumber"] == 10
    msg = body["Elements"][0]["ValidationErrors"][0]["Message"]
    assert "already assigned to another contact" in msg


def test_archived_name_can_be_reused(api: Api) -> None:
    c = create_contact(api, "Phoenix Ltd")
    api.post(f"Contacts/{c['ContactID']}", {"ContactStatus": "ARCHIVED"})
    assert create_contact(api, "Phoenix Ltd")["ContactID"] != c["ContactID"]


def test_post_updates_and_bumps_updated_date(api: Api) -> None:
    c = create_contact(api, "Edit Me Ltd", EmailAddress="old@example.com")
    r = api.post(
        "Contacts",
        {
            "Contacts": [
                {
                    "ContactID": c["ContactID"],
                    "EmailAddress": "new@example.com",
                    "Phones": [{"PhoneType": "MOBILE", "PhoneNumber": "021 555"}],
                }
            ]
        },
    )
    assert r.status_code == 200
    updated = r.json()["Contacts"][0]
    assert updated["EmailAddress"] == "new@example.com" and updated["Name"] == "Edit Me Ltd"
    assert {"PhoneType": "MOBILE", "PhoneNumber": "021 555"} in updated["Phones"]
    assert updated["UpdatedDateUTC"] > c["UpdatedDateUTC"] or int(
        updated["UpdatedDateUTC"][6:-7]
    ) > int(c["UpdatedDateUTC"][6:-7])
    # POST without an id creates
    r = api.post("Contacts", {"Contacts": [{"Name": "Posted New Ltd"}]})
    assert r.status_code == 200
    assert len(api.get("Contacts").json()["Contacts"]) == 2
    # POST to an unknown id in the path → 404
    r = api.post("Contacts/00000000-0000-0000-0000-000000000000", {"Name": "X"})
    assert r.status_code == 404


def test_batch_with_summarize_errors_false(api: Api) -> None:
    create_contact(api, "Taken Ltd")
    batch = {"Contacts": [{"Name": "Fine Ltd"}, {"Name": "Taken Ltd"}, {"Name": "Also Fine"}]}
    r = api.put("Contacts", batch)
    assert r.status_code == 400
    assert len(api.get("Contacts").json()["Contacts"]) == 1  # nothing written
    r = api.put("Contacts", batch, params={"summarizeErrors": "false"})
    assert r.status_code == 200
    items = r.json()["Contacts"]
    assert [i["StatusAttributeString"] for i in items] == ["OK", "ERROR", "OK"]
    assert items[1]["ValidationErrors"][0]["Message"]
    assert len(api.get("Contacts").json()["Contacts"]) == 3


def test_balances_from_invoices(api: Api) -> None:
    c = create_contact(api, "Owes Ltd")
    create_invoice(api, c["ContactID"], Status="AUTHORISED", DueDate="2020-01-01")
    create_invoice(api, c["ContactID"], Status="AUTHORISED", DueDate="2999-01-01")
    create_invoice(api, c["ContactID"], Status="DRAFT")
    got = api.get(f"Contacts/{c['ContactID']}").json()["Contacts"][0]["Balances"]
    # 2 x 100 + 15% GST = 230 per invoice; only AUTHORISED counts; one is overdue
    assert got["AccountsReceivable"] == {"Outstanding": 460.0, "Overdue": 230.0}
    assert got["AccountsPayable"] == {"Outstanding": 0.0, "Overdue": 0.0}


def test_where_string_escapes_keep_non_ascii(api: Api) -> None:
    for name in ('Zoë "Q" Søn', "Ünïcode \\ back", "Plain Māori"):
        create_contact(api, name)
        literal = name.replace("\\", "\\\\").replace('"', '\\"')
        assert names(api.get("Contacts", params={"where": f'Name=="{literal}"'})) == [name]
