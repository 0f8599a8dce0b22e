"""`crm_accounts` in a real Dagster run on both databases: counts when the import is off;
with `import_customers` on, unmatched active customers become linked CRM accounts with
their contacts, nameless ones are reported, and a second run creates nothing."""

from __future__ import annotations

import dagster as dg
import pytest
from sqlalchemy import select

from tests.assets.mirror_rows import contact, put
from xero_pipelines.assets.crm import crm_accounts
from xero_pipelines.assets.links import xero_account_links
from xero_pipelines.db.models import CrmAccount, CrmContact, XeroAccountLink
from xero_pipelines.xero.settings_store import set_setting

ACCOUNTS = CrmAccount.__table__
CONTACTS = CrmContact.__table__
LINKS = XeroAccountLink.__table__


@pytest.fixture
def tenant(connected_tenant: str) -> str:
    """The sandbox organisation, connected through the real flow (tests/assets/conftest.py)."""
    return connected_tenant


@pytest.fixture
def resources(xero_resources: dict) -> dict:
    return xero_resources


def run(assets: list, resources: dict) -> dg.ExecuteInProcessResult:
    result = dg.materialize(assets, resources=resources, instance=dg.DagsterInstance.ephemeral())
    assert result.success
    return result


def metadata(result: dg.ExecuteInProcessResult, node: str = "crm_accounts") -> dict:
    mat = result.asset_materializations_for_node(node)[0]
    return {key: value.value for key, value in mat.metadata.items()}


NEW_CUSTOMER = {
    "FirstName": "Aroha",
    "LastName": "Ngata",
    "EmailAddress": "aroha@kiwikayaks.example",
    "Phones": [
        {
            "PhoneType": "DEFAULT",
            "PhoneNumber": "555 1234",
            "PhoneAreaCode": "9",
            "PhoneCountryCode": "64",
        }
    ],
    "Addresses": [
        {"AddressType": "STREET", "AddressLine1": "", "City": ""},
        {
            "AddressType": "POBOX",
            "AddressLine1": "PO Box 77",
            "City": "Auckland",
            "PostalCode": "1011",
        },
    ],
    "ContactPersons": [
        {"FirstName": "Tama", "LastName": "Ruru", "EmailAddress": "tama@kk.example"}
    ],
}


@pytest.fixture
def scene(db_engine, tenant) -> dict[str, str]:
    rows = {
        "new": contact(
            tenant,
            "Kiwi Kayaks Ltd",
            number="KK-1",
            email="aroha@kiwikayaks.example",
            raw={
                **NEW_CUSTOMER,
                "AccountNumber": "KK-1",
                "EmailAddress": "aroha@kiwikayaks.example",
            },
        ),
        "street": contact(
            tenant,
            "Harbour Cafe",
            raw={
                "Addresses": [
                    {"AddressType": "STREET", "AddressLine1": "1 Quay St", "City": "Nelson"}
                ]
            },
        ),
        "same_name": contact(tenant, "ACME Limited"),  # the CRM has "Acme Ltd"
        "same_email": contact(tenant, "Acme Two", email="BILLING@acme.example"),
        "nameless": contact(tenant, ""),
        "archived": contact(tenant, "Old Customer", status="ARCHIVED"),
        "supplier": contact(tenant, "Paper Supplies", is_customer=False),
        "other_org": contact("another-tenant", "Elsewhere Ltd"),
    }
    with db_engine.begin() as conn:
        put(conn, "contacts", list(rows.values()))
        put(conn, "accounts", [{"name": "Acme Ltd", "email": "billing@acme.example"}])
        put(conn, "crm_contacts", [])
    return {role: row["contact_id"] for role, row in rows.items()}


def test_with_the_import_off_it_reads_and_creates_nothing(resources, db_engine, scene):
    meta = metadata(run([crm_accounts], resources))
    assert meta["import_customers"] is False
    assert (meta["accounts_read"], meta["contacts_read"], meta["accounts_created"]) == (1, 0, 0)
    with db_engine.connect() as conn:
        assert conn.execute(select(LINKS)).all() == []


def test_unmatched_customers_become_linked_accounts_once(resources, db_engine, scene):
    set_setting(db_engine, "import_customers", "true")
    meta = metadata(run([crm_accounts], resources))
    assert (meta["accounts_read"], meta["accounts_created"], meta["contacts_created"]) == (1, 2, 2)
    skipped = [
        (r.data["xero_contact_id"], r.data["reason"]) for r in meta["skipped_customers"].records
    ]
    assert skipped == [(scene["nameless"], "the contact has no name")]

    with db_engine.connect() as conn:
        links = {
            c: (a, by)
            for a, c, by in conn.execute(
                select(LINKS.c.crm_account_id, LINKS.c.xero_contact_id, LINKS.c.matched_by)
            )
        }
        accounts = {r.id: r for r in conn.execute(select(ACCOUNTS))}
        contacts = conn.execute(select(CONTACTS).order_by(CONTACTS.c.id)).all()
    assert set(links) == {scene["new"], scene["street"]}
    assert {by for _, by in links.values()} == {"import"}
    kayaks = accounts[links[scene["new"]][0]]
    assert (kayaks.name, kayaks.account_number, kayaks.email, kayaks.phone) == (
        "Kiwi Kayaks Ltd",
        "KK-1",
        "aroha@kiwikayaks.example",
        "64 9 555 1234",
    )
    # The street address is empty, so the postal one is used.
    assert (kayaks.address_line1, kayaks.city, kayaks.postal_code) == (
        "PO Box 77",
        "Auckland",
        "1011",
    )
    cafe = accounts[links[scene["street"]][0]]
    assert (cafe.name, cafe.address_line1, cafe.city, cafe.phone) == (
        "Harbour Cafe",
        "1 Quay St",
        "Nelson",
        None,
    )
    assert [
        (c.account_id, c.first_name, c.last_name, c.email, c.phone, c.is_primary) for c in contacts
    ] == [
        (kayaks.id, "Aroha", "Ngata", "aroha@kiwikayaks.example", "64 9 555 1234", True),
        (kayaks.id, "Tama", "Ruru", "tama@kk.example", None, False),
    ]

    again = metadata(run([crm_accounts], resources))
    assert (again["accounts_read"], again["accounts_created"], again["customers_skipped"]) == (
        3,
        0,
        1,
    )
    # The links asset keeps the import's links as they are.
    links_meta = metadata(run([xero_account_links], resources), "xero_account_links")
    assert links_meta["links_by_matched_by"]["import"] == 2 and links_meta["removed"] == 0


def test_the_main_contacts_phone_goes_to_the_phone_field_setting(resources, db_engine, scene):
    set_setting(db_engine, "import_customers", "true")
    set_setting(db_engine, "phone_field", "mobile")
    run([crm_accounts], resources)
    with db_engine.connect() as conn:
        main = conn.execute(select(CONTACTS).where(CONTACTS.c.is_primary.is_(True))).one()
    assert (main.phone, main.mobile) == (None, "64 9 555 1234")
