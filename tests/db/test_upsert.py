"""The mirror writer and the watermarks, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from xero_pipelines.db.mirrors import XeroContactRow, XeroInvoiceRow, XeroOrganisationRow
from xero_pipelines.db.sync_state import (
    SyncState,
    all_sync_states,
    count_rows,
    read_sync_state,
    save_sync_state,
)
from xero_pipelines.db.upsert import UpsertCounts, upsert_rows

TENANT = "7d1b8d8e-0000-4000-8000-000000000001"
OTHER_TENANT = "7d1b8d8e-0000-4000-8000-000000000002"
T0 = datetime(2026, 1, 5, 9, 30, 15, 123000, tzinfo=UTC)
CONTACTS = XeroContactRow.__table__
INVOICES = XeroInvoiceRow.__table__


def cid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def contact(n: int, updated: datetime | None = T0, tenant: str = TENANT, **extra) -> dict:
    name = extra.pop("name", f"Contact {n}")
    return {
        "tenant_id": tenant,
        "contact_id": cid(n),
        "name": name,
        "account_number": None,
        "contact_number": None,
        "email_address": None,
        "first_name": None,
        "last_name": None,
        "contact_status": extra.pop("status", "ACTIVE"),
        "is_customer": True,
        "is_supplier": False,
        "merged_to_contact_id": None,
        "updated_date_utc": updated,
        "raw": {"ContactID": cid(n), "Name": name, **extra},
        "synced_at": T0,
    }


def invoice(n: int, total: Decimal, updated: datetime = T0) -> dict:
    return {
        "tenant_id": TENANT,
        "invoice_id": cid(n),
        "invoice_number": f"INV-{n:04d}",
        "type": "ACCREC",
        "contact_id": cid(1),
        "status": "AUTHORISED",
        "date": updated.date(),
        "due_date": updated.date(),
        "currency_code": "USD",
        "currency_rate": Decimal("0.6123456"),
        "total": total,
        "amount_due": total,
        "amount_paid": Decimal(0),
        "amount_credited": Decimal("0.005"),
        "reference": None,
        "updated_date_utc": updated,
        "raw": {"InvoiceID": cid(n), "Total": total},
        "synced_at": T0,
    }


def stored(engine, table, *columns):
    with engine.connect() as conn:
        return conn.execute(
            select(*(table.c[c] for c in columns)).order_by(*table.primary_key)
        ).all()


def test_rows_are_inserted_then_left_alone_then_updated(db_engine):
    with db_engine.begin() as conn:
        first = upsert_rows(conn, CONTACTS, [contact(1), contact(2), contact(3)])
    assert first.counts == UpsertCounts(inserted=3)
    assert [r["contact_id"] for r in first.changed] == [cid(1), cid(2), cid(3)]

    later = T0 + timedelta(seconds=1)
    page = [
        contact(1),  # same version: unchanged, not rewritten
        contact(2, later, name="Renamed & Co", status="ARCHIVED"),
        contact(4),
    ]
    page[0]["name"] = "not written"
    with db_engine.begin() as conn:
        second = upsert_rows(conn, CONTACTS, page)
    assert second.counts == UpsertCounts(inserted=1, updated=1, unchanged=1)
    assert [r["contact_id"] for r in second.changed] == [cid(2), cid(4)]
    assert stored(
        db_engine, CONTACTS, "contact_id", "name", "contact_status", "updated_date_utc"
    ) == [
        (cid(1), "Contact 1", "ACTIVE", T0),
        (cid(2), "Renamed & Co", "ARCHIVED", later),
        (cid(3), "Contact 3", "ACTIVE", T0),
        (cid(4), "Contact 4", "ACTIVE", T0),
    ]


def test_rewrite_unchanged_rewrites_rows_but_still_counts_them_unchanged(db_engine):
    with db_engine.begin() as conn:
        upsert_rows(conn, CONTACTS, [contact(1)])
    again = contact(1)
    again["name"] = "Corrected by a full refresh"
    with db_engine.begin() as conn:
        result = upsert_rows(conn, CONTACTS, [again], rewrite_unchanged=True)
    assert result.counts == UpsertCounts(unchanged=1)
    assert stored(db_engine, CONTACTS, "name") == [("Corrected by a full refresh",)]


def test_a_row_without_a_version_is_always_rewritten(db_engine):
    with db_engine.begin() as conn:
        upsert_rows(conn, CONTACTS, [contact(1, None)])
    with db_engine.begin() as conn:
        result = upsert_rows(conn, CONTACTS, [contact(1, None, name="Second")])
    assert result.counts == UpsertCounts(updated=1)
    assert stored(db_engine, CONTACTS, "name") == [("Second",)]


def test_money_is_rounded_to_cents_once_on_write_and_raw_stays_exact(db_engine):
    noisy = Decimal("201.10000000000002")
    with db_engine.begin() as conn:
        upsert_rows(conn, INVOICES, [invoice(1, noisy), invoice(2, Decimal("10.005"))])
    rows = stored(db_engine, INVOICES, "total", "amount_credited", "currency_rate", "raw")
    assert [r.total for r in rows] == [Decimal("201.10"), Decimal("10.01")]  # half up
    assert rows[0].amount_credited == Decimal("0.01")
    assert rows[0].currency_rate == Decimal("0.612346")
    assert rows[0].raw["Total"] == noisy  # Xero's own figure, to the last digit
    assert isinstance(rows[0].raw["Total"], Decimal)


def test_a_page_that_holds_an_id_twice_keeps_the_last(db_engine):
    later = T0 + timedelta(minutes=1)
    with db_engine.begin() as conn:
        result = upsert_rows(conn, CONTACTS, [contact(1), contact(1, later, name="Last")])
    assert result.counts == UpsertCounts(inserted=1)
    assert stored(db_engine, CONTACTS, "name", "updated_date_utc") == [("Last", later)]


def test_tenants_do_not_share_rows(db_engine):
    with db_engine.begin() as conn:
        upsert_rows(conn, CONTACTS, [contact(1), contact(2)])
        result = upsert_rows(conn, CONTACTS, [contact(1, tenant=OTHER_TENANT)])
        assert result.counts == UpsertCounts(inserted=1)
        assert count_rows(conn, CONTACTS, TENANT) == 2
        assert count_rows(conn, CONTACTS, OTHER_TENANT) == 1


def test_names_with_quotes_accents_and_ampersands_round_trip(db_engine):
    names = ["O'Brien Plumbing & Sons", 'The "Best" Café', "Zoë's Café Ltd", "Ngā Hau e Whā"]
    with db_engine.begin() as conn:
        upsert_rows(conn, CONTACTS, [contact(i, name=n) for i, n in enumerate(names)])
    rows = stored(db_engine, CONTACTS, "name", "raw")
    assert [r.name for r in rows] == names
    assert [r.raw["Name"] for r in rows] == names


def test_one_row_per_tenant_compared_on_the_whole_record(db_engine):
    org = XeroOrganisationRow.__table__

    def row(name: str) -> dict:
        return {
            "tenant_id": TENANT,
            "organisation_id": cid(9),
            "name": name,
            "short_code": "!abc",
            "base_currency": "NZD",
            "timezone": "NEWZEALANDSTANDARDTIME",
            "country_code": "NZ",
            "updated_date_utc": None,
            "raw": {"Name": name, "ShortCode": "!abc", "Rate": Decimal("1.50")},
            "synced_at": T0,
        }

    results = []
    for name in ("Demo", "Demo", "Demo Ltd"):
        with db_engine.begin() as conn:
            results.append(upsert_rows(conn, org, [row(name)], compare="raw").counts)
    assert results == [UpsertCounts(inserted=1), UpsertCounts(unchanged=1), UpsertCounts(updated=1)]
    assert stored(db_engine, org, "name") == [("Demo Ltd",)]


def test_an_empty_page_writes_nothing(db_engine):
    with db_engine.begin() as conn:
        assert upsert_rows(conn, CONTACTS, []).counts == UpsertCounts()
        assert count_rows(conn, CONTACTS, TENANT) == 0


def test_the_watermark_is_written_and_replaced_in_the_callers_transaction(db_engine):
    with db_engine.connect() as conn:
        assert read_sync_state(conn, TENANT, "xero_contacts") is None
    with db_engine.begin() as conn:
        save_sync_state(
            conn, tenant_id=TENANT, asset="xero_contacts", watermark=T0, synced_at=T0, rows_total=3
        )
    later = T0 + timedelta(hours=1)
    with db_engine.begin() as conn:
        save_sync_state(
            conn,
            tenant_id=TENANT,
            asset="xero_contacts",
            watermark=later,
            synced_at=later,
            rows_total=4,
        )
        save_sync_state(
            conn,
            tenant_id=TENANT,
            asset="xero_invoices",
            watermark=None,
            synced_at=later,
            rows_total=0,
        )
    with db_engine.connect() as conn:
        assert read_sync_state(conn, TENANT, "xero_contacts") == SyncState(later, later, 4)
        assert read_sync_state(conn, OTHER_TENANT, "xero_contacts") is None
        assert all_sync_states(conn, TENANT) == {
            "xero_contacts": SyncState(later, later, 4),
            "xero_invoices": SyncState(None, later, 0),
        }


def test_a_failed_transaction_keeps_the_old_watermark_and_the_pages_rows(db_engine):
    """The last page and its watermark commit together, or neither does."""
    with db_engine.begin() as conn:
        save_sync_state(
            conn, tenant_id=TENANT, asset="xero_contacts", watermark=T0, synced_at=T0, rows_total=0
        )
    later = T0 + timedelta(days=1)
    with pytest.raises(RuntimeError), db_engine.begin() as conn:
        upsert_rows(conn, CONTACTS, [contact(1, later)])
        save_sync_state(
            conn,
            tenant_id=TENANT,
            asset="xero_contacts",
            watermark=later,
            synced_at=later,
            rows_total=1,
        )
        raise RuntimeError("the process died before the commit")
    with db_engine.connect() as conn:
        assert read_sync_state(conn, TENANT, "xero_contacts").watermark == T0
        assert count_rows(conn, CONTACTS, TENANT) == 0


def test_raw_records_round_trip_exactly_whatever_they_hold(db_engine):
    """Decimals (fast path) and what the fast path refuses (an integer beyond 64 bits)."""
    nested = {
        "LineItems": [{"UnitAmount": Decimal("1226.59"), "Quantity": Decimal("10.0000")}],
        "Rate": Decimal("0.612345"),
        "Big": 2**70,
        "Name": 'Ngā "Whare" & Co\u2028',
    }
    row = contact(1)
    row["raw"] = nested
    with db_engine.begin() as conn:
        upsert_rows(conn, CONTACTS, [row])
    (raw,) = stored(db_engine, CONTACTS, "raw")[0]
    assert raw == nested
    assert str(raw["LineItems"][0]["Quantity"]) == "10.0000"  # the digits Xero sent
