"""Xero JSON → mirror rows: both date forms, exact amounts, and bad records set aside."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from xero_pipelines.xero.parsing import loads
from xero_pipelines.xero.records import (
    CONTACTS,
    CREDIT_NOTES,
    INVOICES,
    KINDS,
    ORGANISATION,
    REVENUE_ACCOUNTS,
    BadRecord,
    map_page,
    map_record,
)

TENANT = "7d1b8d8e-0000-4000-8000-000000000001"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CONTACT_ID = "5A228C37-DCD2-4655-AACF-090EF70E6B67"


def contact(**overrides) -> dict:
    record = {
        "ContactID": CONTACT_ID,
        "ContactStatus": "ACTIVE",
        "Name": "O'Brien Plumbing & Sons",
        "FirstName": "Zoë",
        "LastName": 'Smith "Smithy"',
        "EmailAddress": "",
        "AccountNumber": "AC-100018",
        "UpdatedDateUTC": "/Date(1573755038314+0000)/",
        "IsSupplier": False,
        "IsCustomer": True,
        "Balances": {"AccountsReceivable": {"Outstanding": Decimal("10.00")}},
    }
    record.update(overrides)
    return record


def invoice_json(total: str = "201.10000000000002") -> dict:
    """An invoice as a foreign emulator writes it: float noise, ISO dates, a rate."""
    text = """{"Type": "ACCREC", "InvoiceID": "509a0a83-0153-42dc-b713-9632d81cc708",
        "InvoiceNumber": "INV-0001", "Reference": "PO-1",
        "Contact": {"ContactID": "a335fc4e-a002-4c7e-a209-4c839b1484d7", "Name": "M"},
        "Date": "/Date(1748908800000+1200)/", "DueDate": "2025-06-10T00:00:00",
        "Status": "AUTHORISED", "CurrencyCode": "USD", "CurrencyRate": 0.612345,
        "AmountDue": TOTAL, "AmountPaid": 0.00, "AmountCredited": 0,
        "Total": TOTAL, "UpdatedDateUTC": "2025-06-21T06:48:00.9160000"}"""
    return loads(text.replace("TOTAL", total))


def test_a_contact_becomes_a_typed_row_with_its_whole_record():
    record = contact()
    row = map_record(CONTACTS, record, tenant_id=TENANT, synced_at=NOW)
    assert row == {
        "tenant_id": TENANT,
        "raw": record,
        "synced_at": NOW,
        "contact_id": CONTACT_ID.lower(),  # one spelling of an id, whatever Xero sent
        "name": "O'Brien Plumbing & Sons",
        "account_number": "AC-100018",
        "contact_number": None,
        "email_address": None,  # "" and absent are the same to Xero
        "first_name": "Zoë",
        "last_name": 'Smith "Smithy"',
        "contact_status": "ACTIVE",
        "is_customer": True,
        "is_supplier": False,
        "merged_to_contact_id": None,
        "updated_date_utc": datetime(2019, 11, 14, 18, 10, 38, 314000, tzinfo=UTC),
    }


@pytest.mark.parametrize(
    "stamp",
    ["/Date(1573755038314+0000)/", "/Date(1573755038314+1300)/", "2019-11-14T18:10:38.314"],
)
def test_both_date_forms_give_the_same_utc_instant(stamp):
    row = map_record(CONTACTS, contact(UpdatedDateUTC=stamp), tenant_id=TENANT, synced_at=NOW)
    assert row["updated_date_utc"] == datetime(2019, 11, 14, 18, 10, 38, 314000, tzinfo=UTC)
    assert row["updated_date_utc"].tzinfo is UTC


def test_an_invoice_keeps_exact_amounts_its_dates_rate_and_contact():
    row = map_record(INVOICES, invoice_json(), tenant_id=TENANT, synced_at=NOW)
    # Exact here: the Money column rounds to cents once, when the row is written.
    assert row["total"] == Decimal("201.10000000000002")
    assert row["amount_due"] == Decimal("201.10000000000002")
    assert row["amount_credited"] == Decimal(0)
    assert row["currency_rate"] == Decimal("0.612345")
    assert row["contact_id"] == "a335fc4e-a002-4c7e-a209-4c839b1484d7"
    # 2025-06-03T00:00Z at +12:00 is the organisation's 3rd of June (midday)
    assert row["date"] == date(2025, 6, 3)
    assert row["due_date"] == date(2025, 6, 10)
    assert row["updated_date_utc"] == datetime(2025, 6, 21, 6, 48, 0, 916000, tzinfo=UTC)
    assert all(not isinstance(v, float) for v in row.values())


def test_a_credit_note_keeps_its_remaining_credit_and_allocations_in_raw():
    record = {
        "CreditNoteID": "162a38ad-2ebd-4b6b-98ce-9488d8e55627",
        "CreditNoteNumber": "CN-0001",
        "Type": "ACCRECCREDIT",
        "Status": "AUTHORISED",
        "Contact": {"ContactID": "149b899e-3184-4ce8-af09-80d5551085da"},
        "Total": Decimal("115.00"),
        "RemainingCredit": Decimal("15.00"),
        "Allocations": [{"Amount": Decimal("100.00"), "Invoice": {"InvoiceID": "x"}}],
        "UpdatedDateUTC": "/Date(1738701204076+0000)/",
    }
    row = map_record(CREDIT_NOTES, record, tenant_id=TENANT, synced_at=NOW)
    assert row["remaining_credit"] == Decimal("15.00")
    assert row["type"] == "ACCRECCREDIT"
    assert row["raw"]["Allocations"][0]["Amount"] == Decimal("100.00")


def test_accounts_and_the_organisation_map_their_columns():
    account = {
        "AccountID": "10afa12c-b744-4df3-af2c-49865a98594d",
        "Code": "200",
        "Name": "Sales",
        "Type": "REVENUE",
        "Class": "REVENUE",
        "TaxType": "OUTPUT2",
        "Status": "ARCHIVED",
        "UpdatedDateUTC": "/Date(1796160986613+0000)/",
    }
    row = map_record(REVENUE_ACCOUNTS, account, tenant_id=TENANT, synced_at=NOW)
    assert (row["code"], row["account_type"], row["status"]) == ("200", "REVENUE", "ARCHIVED")
    org = {
        "OrganisationID": "b2c3d4e5-0000-4000-8000-000000000002",
        "Name": "Demo Company (NZ)",
        "ShortCode": "!2kLq9",
        "BaseCurrency": "NZD",
        "Timezone": "NEWZEALANDSTANDARDTIME",
        "CountryCode": "NZ",
    }
    row = map_record(ORGANISATION, org, tenant_id=TENANT, synced_at=NOW)
    assert row["short_code"] == "!2kLq9"
    assert row["timezone"] == "NEWZEALANDSTANDARDTIME"
    assert row["updated_date_utc"] is None  # Organisation has no UpdatedDateUTC


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"Name": ""}, "Name is missing"),
        ({"Name": "   "}, "Name is missing"),
        ({"Name": None}, "Name is missing"),
        ({"ContactID": None}, "ContactID is missing"),
        ({"ContactID": "not-a-guid"}, "ContactID: not a GUID"),
        ({"UpdatedDateUTC": "/Date(abc)/"}, "UpdatedDateUTC: not a Xero date"),
        ({"UpdatedDateUTC": "2019-13-45"}, "UpdatedDateUTC: not a Xero date"),
        ({"UpdatedDateUTC": 1573755038}, "UpdatedDateUTC: not a Xero date"),
        ({"IsCustomer": "yes"}, "IsCustomer: expected true or false"),
        ({"Name": "x" * 256}, "Name: longer than 255 characters"),
        ({"AccountNumber": {"a": 1}}, "AccountNumber: expected text"),
    ],
)
def test_a_bad_contact_raises_with_the_field_and_the_reason(overrides, reason):
    with pytest.raises(BadRecord) as caught:
        map_record(CONTACTS, contact(**overrides), tenant_id=TENANT, synced_at=NOW)
    assert str(caught.value).startswith(reason)


@pytest.mark.parametrize(
    ("total", "reason"),
    [
        ("201.1", None),
        ('"201.10"', None),  # a numeric string is still an exact amount
        ("1e16", "Total: 1E+16 does not fit 16 digits"),
        ('"lots"', "Total: not an amount"),
    ],
)
def test_amounts_are_exact_and_bounded(total, reason):
    record = invoice_json(total)
    if reason is None:
        row = map_record(INVOICES, record, tenant_id=TENANT, synced_at=NOW)
        assert row["total"] == Decimal("201.10")
        return
    with pytest.raises(BadRecord, match=re.escape(reason)):
        map_record(INVOICES, record, tenant_id=TENANT, synced_at=NOW)


def test_a_float_amount_is_refused_not_rounded_through_binary():
    record = invoice_json()
    record["Total"] = 201.10000000000002  # a body parsed without Decimal
    with pytest.raises(BadRecord, match="Total: refusing float"):
        map_record(INVOICES, record, tenant_id=TENANT, synced_at=NOW)


def test_a_page_keeps_its_good_rows_and_reports_the_bad_ones():
    good_ids = [f"00000000-0000-4000-8000-00000000000{i}" for i in range(3)]
    records = [
        contact(ContactID=good_ids[0]),
        contact(ContactID="11111111-0000-4000-8000-000000000001", Name=""),
        contact(ContactID=good_ids[1], Name="Zoë's Café Ltd"),
        contact(ContactID="22222222-0000-4000-8000-000000000002", UpdatedDateUTC="/Date(x)/"),
        "not a record",
        contact(ContactID=None),
        contact(ContactID=good_ids[2]),
    ]
    page = map_page(CONTACTS, records, tenant_id=TENANT, synced_at=NOW)
    assert [r["contact_id"] for r in page.rows] == good_ids
    assert [(s.record_id, s.reason.split(":")[0]) for s in page.skipped] == [
        ("11111111-0000-4000-8000-000000000001", "Name is missing"),
        ("22222222-0000-4000-8000-000000000002", "UpdatedDateUTC"),
        (None, "not a record"),
        (None, "ContactID is missing"),
    ]


def test_every_mapped_column_exists_in_its_table():
    for kind in KINDS:
        columns = set(kind.table.columns.keys())
        mapped = {f.column for f in kind.fields} | {"tenant_id", "raw", "synced_at"}
        assert mapped <= columns, kind.collection
        assert set(kind.required) <= mapped
        # every typed column of the table is filled by the mapping
        assert columns - mapped <= {"updated_date_utc"}, kind.collection
