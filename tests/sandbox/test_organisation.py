"""`/Organisation`, `/Currencies` and what the organisation's settings change, over HTTP."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import requests

from tests.sandbox.conftest import Api, create_contact, create_invoice


def _organisation(api: Api, tenant_id: str | None = None) -> dict:
    r = api.get("Organisation", tenant_id=tenant_id)
    assert r.status_code == 200, r.text
    (org,) = r.json()["Organisations"]
    return org


def _day(msdate: str) -> date:
    return datetime.fromtimestamp(int(msdate[6:-7]) / 1000, UTC).date()


def test_each_organisation_has_its_own(api: Api) -> None:
    org = _organisation(api)
    assert org["Name"] == "Demo Company (Sandbox)" and org["LegalName"] == org["Name"]
    assert org["OrganisationID"] == api.tenant_id  # Xero's tenantId is the OrganisationID
    assert (org["BaseCurrency"], org["CountryCode"], org["Version"]) == ("NZD", "NZ", "NZ")
    assert org["Timezone"] == "NEWZEALANDSTANDARDTIME"
    assert re.fullmatch(r"![A-Za-z0-9]{5}", org["ShortCode"]), org["ShortCode"]
    assert org["CreatedDateUTC"].startswith("/Date(")
    other_id = api.sandbox.add_tenant("Other Org Ltd")
    api.conn = api.sandbox.connect()  # consent again to reach the new organisation
    other = _organisation(api, other_id)
    assert other["Name"] == "Other Org Ltd" and other["OrganisationID"] == other_id
    assert other["ShortCode"] != org["ShortCode"]


def test_admin_changes_the_organisation(api: Api) -> None:
    changed = api.sandbox.organisation(
        timezone="AUSEASTERNSTANDARDTIME",
        base_currency="AUD",
        short_code="!aBc12",
        country_code="AU",
        name="Aussie Pty Ltd",
    )
    assert changed == _organisation(api)
    assert (changed["Timezone"], changed["BaseCurrency"], changed["ShortCode"]) == (
        "AUSEASTERNSTANDARDTIME",
        "AUD",
        "!aBc12",
    )
    assert changed["Version"] == "AU" and changed["Name"] == "Aussie Pty Ltd"
    names = [c["tenantName"] for c in requests.get(
        f"{api.url}/connections", headers=api.headers(), timeout=10
    ).json()]  # fmt: skip
    assert names == ["Aussie Pty Ltd"]
    # the base currency is enabled (first), the old one stays enabled
    codes = [c["Code"] for c in api.get("Currencies").json()["Currencies"]]
    assert codes == ["AUD", "NZD"]
    for bad in (
        {"timezone": "Mars/Olympus"},
        {"base_currency": "XXX"},
        {"short_code": "nobang"},
        {"country_code": "NZL"},
        {"colour": "blue"},
        {"tenant_id": "00000000-0000-0000-0000-000000000000", "name": "x"},
        {"name": ""},
    ):
        r = requests.post(f"{api.url}/_sandbox/organisation", json=bad, timeout=10)
        assert r.status_code == 400 and "error" in r.json(), (bad, r.text)
    assert _organisation(api)["Timezone"] == "AUSEASTERNSTANDARDTIME"  # nothing changed


def test_currencies_are_the_enabled_ones(api: Api) -> None:
    body = api.get("Currencies").json()
    assert body["Currencies"] == [{"Code": "NZD", "Description": "New Zealand Dollar"}]
    assert api.sandbox.enable_currency("USD") == ["NZD", "USD"]
    assert api.sandbox.enable_currency("usd") == ["NZD", "USD"]  # once only
    api.sandbox.enable_currency("EUR")
    codes = [c["Code"] for c in api.get("Currencies", params={"order": "Code DESC"}).json()[
        "Currencies"
    ]]  # fmt: skip
    assert codes == ["USD", "NZD", "EUR"]
    found = api.get("Currencies", params={"where": 'Code=="EUR"'}).json()["Currencies"]
    assert found == [{"Code": "EUR", "Description": "Euro"}]
    assert api.get("Currencies", params={"order": "Rate"}).status_code == 400
    r = requests.post(f"{api.url}/_sandbox/currencies", json={"code": "ZZZ"}, timeout=10)
    assert r.status_code == 400
    # seeding enables the currencies the generated documents use
    api.sandbox.seed(contacts=5, invoices=20, seed=1)
    codes = {c["Code"] for c in api.get("Currencies").json()["Currencies"]}
    assert codes >= {"NZD", "AUD", "USD", "GBP"}


def _local_today(zone: str) -> date:
    return datetime.now(ZoneInfo(zone)).date()


def test_the_timezone_decides_today(api: Api) -> None:
    """A new document without a Date is dated today where the organisation is, as in Xero;
    UTC+14 and UTC-12 are a day or two apart whatever the time now."""
    c = create_contact(api, "Zone Ltd")["ContactID"]
    dated = {}
    for xero_name, zone in (
        ("LINEISLANDSSTANDARDTIME", "Pacific/Kiritimati"),
        ("DATELINESTANDARDTIME", "Etc/GMT+12"),
    ):
        api.sandbox.organisation(timezone=xero_name)
        before = _local_today(zone)
        r = create_invoice(api, c)
        after = _local_today(zone)
        assert r.status_code == 200, r.text
        dated[xero_name] = _day(r.json()["Invoices"][0]["Date"])
        assert dated[xero_name] in (before, after)
    gap = dated["LINEISLANDSSTANDARDTIME"] - dated["DATELINESTANDARDTIME"]
    assert gap.days in (1, 2)


def test_overdue_is_counted_from_the_organisations_today(api: Api) -> None:
    """An invoice due on the date it is now at UTC-12 is overdue at UTC+14 and not at UTC-12."""
    c = create_contact(api, "Due Today Ltd")
    due = _local_today("Etc/GMT+12")  # always at least a day before today at UTC+14
    create_invoice(api, c["ContactID"], Status="AUTHORISED", DueDate=due.isoformat())

    def overdue() -> float:
        contact = api.get(f"Contacts/{c['ContactID']}").json()["Contacts"][0]
        assert contact["UpdatedDateUTC"] == c["UpdatedDateUTC"]  # balances never bump it
        return contact["Balances"]["AccountsReceivable"]["Overdue"]

    api.sandbox.organisation(timezone="LINEISLANDSSTANDARDTIME")
    assert overdue() == 230.0
    api.sandbox.organisation(timezone="DATELINESTANDARDTIME")
    if _local_today("Etc/GMT+12") == due:
        assert overdue() == 0.0
