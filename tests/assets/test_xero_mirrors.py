"""The Xero mirror assets in real Dagster runs, against the sandbox over HTTP, on SQLite
and PostgreSQL. Expected figures come from what each test put into the sandbox."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import dagster as dg
from sqlalchemy import func, select

from tests.assets.gateway import sandbox_gateway
from xero_pipelines.assets.xero import (
    ITEM_COUNT_CHECK,
    ORGANISATION_CHECK,
    xero_contacts,
    xero_credit_notes,
    xero_invoices,
    xero_organisation,
    xero_revenue_accounts,
)
from xero_pipelines.db import create_db_engine
from xero_pipelines.db.mirrors import (
    XeroContactRow,
    XeroCreditNoteRow,
    XeroInvoiceRow,
    XeroOrganisationRow,
    XeroRevenueAccountRow,
)
from xero_pipelines.db.sync_state import read_sync_state

API = "GET /api.xro/2.0/"


# ---- helpers ---------------------------------------------------------------------------


def materialize(
    assets: Sequence[Any],
    resources: dict[str, Any],
    *,
    full_refresh: bool = False,
    raise_on_error: bool = True,
    **config: Any,
) -> dg.ExecuteInProcessResult:
    run_config = None
    if full_refresh or config:
        settings = {"full_refresh": full_refresh, **config}
        run_config = {"ops": {a.key.to_user_string(): {"config": settings} for a in assets}}
    return dg.materialize(
        list(assets),
        resources=resources,
        run_config=run_config,
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=raise_on_error,
    )


def meta(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    (event,) = result.asset_materializations_for_node(asset)
    return {key: value.value for key, value in event.metadata.items()}


def check(result: dg.ExecuteInProcessResult, asset: str, name: str = ITEM_COUNT_CHECK):
    (evaluation,) = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key.to_user_string() == asset and e.check_name == name
    ]
    return evaluation


def api_calls(sandbox) -> dict[str, int]:
    return {k: v for k, v in sandbox.stats().items() if k.startswith(API)}


def calls_since(sandbox, before: dict[str, int]) -> dict[str, int]:
    after = api_calls(sandbox)
    return {
        k.removeprefix(API): v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)
    }


def item_count(xero_user, path: str, **params: Any) -> int:
    """Xero's own count of a filtered collection (one page of one record)."""
    return xero_user.get(path, page=1, pageSize=1, **params)["pagination"]["itemCount"]


def rows(db_url: str, model, *columns, **where) -> list:
    engine = create_db_engine(db_url)
    try:
        query = select(*(getattr(model, c) for c in columns))
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        with engine.connect() as conn:
            return conn.execute(query).all()
    finally:
        engine.dispose()


def count(db_url: str, model) -> int:
    return rows(db_url, model, "tenant_id").__len__()


def sync_state(db_url: str, tenant: str, asset: str):
    engine = create_db_engine(db_url)
    try:
        with engine.connect() as conn:
            return read_sync_state(conn, tenant, asset)
    finally:
        engine.dispose()


def max_updated(db_url: str, model) -> datetime:
    engine = create_db_engine(db_url)
    try:
        with engine.connect() as conn:
            value = conn.execute(select(func.max(model.updated_date_utc))).scalar_one()
    finally:
        engine.dispose()
    return value if value.tzinfo else value.replace(tzinfo=UTC)


ACCREC = {"where": 'Type=="ACCREC"'}


# ---- full reads, calls, and the run where nothing changed ------------------------------


def test_a_full_import_costs_one_call_per_page_and_a_quiet_run_one_call(
    sandbox, xero_resources, xero_user, db_url, connected_tenant
):
    sandbox.seed(contacts=2500, invoices=1300, credit_notes=1100, seed=7)
    sales = item_count(xero_user, "Invoices", **ACCREC)
    credits = item_count(xero_user, "CreditNotes", where='Type=="ACCRECCREDIT"')
    contacts = item_count(xero_user, "Contacts", includeArchived="true")
    assert contacts == 2500 and sales > 1000  # the seed makes multi-page reads
    assets = [
        xero_contacts,
        xero_invoices,
        xero_credit_notes,
        xero_revenue_accounts,
        xero_organisation,
    ]

    before = api_calls(sandbox)
    first = materialize(assets, xero_resources)
    assert calls_since(sandbox, before) == {
        "Contacts": 3,
        "Invoices": math.ceil(sales / 1000),
        "CreditNotes": math.ceil(credits / 1000),
        "Accounts": 1,
        "Organisation": 1,
    }
    assert count(db_url, XeroContactRow) == 2500
    assert count(db_url, XeroInvoiceRow) == sales
    assert count(db_url, XeroCreditNoteRow) == credits
    contacts_meta = meta(first, "xero_contacts")
    assert contacts_meta["rows_inserted"] == 2500
    assert contacts_meta["rows_read"] == contacts_meta["item_count"] == 2500
    assert contacts_meta["pages"] == 3
    assert contacts_meta["xero_calls"] == 3
    assert contacts_meta["xero_calls_by_endpoint"] == {"GET Contacts": 3}
    assert contacts_meta["xero_day_remaining"] >= 0
    assert contacts_meta["if_modified_since"] == "none"
    archived = rows(db_url, XeroContactRow, "contact_id", contact_status="ARCHIVED")
    assert contacts_meta["rows_archived"] == len(archived) > 0  # archived ones are kept
    invoice_meta = meta(first, "xero_invoices")
    assert invoice_meta["rows_inserted"] == sales
    kinds = rows(db_url, XeroInvoiceRow, "type")
    assert {k for (k,) in kinds} == {"ACCREC"}
    assert check(first, "xero_contacts").passed and check(first, "xero_invoices").passed
    watermark = sync_state(db_url, connected_tenant, "xero_contacts").watermark
    assert watermark == max_updated(db_url, XeroContactRow)
    assert contacts_meta["watermark"] == watermark.isoformat()

    before = api_calls(sandbox)
    quiet = materialize(assets, xero_resources)
    assert calls_since(sandbox, before) == {
        "Contacts": 1,
        "Invoices": 1,
        "CreditNotes": 1,
        "Accounts": 1,
        "Organisation": 1,
    }
    for asset in ("xero_contacts", "xero_invoices", "xero_credit_notes"):
        m = meta(quiet, asset)
        assert (m["rows_inserted"], m["rows_updated"], m["rows_skipped"]) == (0, 0, 0)
        assert m["rows_unchanged"] == m["rows_read"] == m["item_count"]
        assert check(quiet, asset).passed
    assert meta(quiet, "xero_contacts")["watermark"] == watermark.isoformat()
    assert sync_state(db_url, connected_tenant, "xero_contacts").rows_total == 2500


# ---- incremental runs ------------------------------------------------------------------


def test_an_incremental_run_picks_up_what_changed_and_keeps_what_was_archived(
    sandbox, xero_resources, xero_user, db_url, connected_tenant
):
    sandbox.seed(contacts=0, invoices=0)  # an empty organisation with its currencies enabled
    alice = xero_user.create_contact("Alice Ltd", EmailAddress="alice@example.com")
    bob = xero_user.create_contact("Bob & Sons")
    carol = xero_user.create_contact("Carol Café")
    to_void = xero_user.create_invoice(alice, "100.00")["InvoiceID"]
    kept = xero_user.create_invoice(bob, "250.50")["InvoiceID"]
    assets = [xero_contacts, xero_invoices]
    first = materialize(assets, xero_resources)
    assert meta(first, "xero_contacts")["rows_inserted"] == 3
    assert meta(first, "xero_invoices")["rows_inserted"] == 2

    renamed = "O'Brien \"Best\" Plumbing & Zoë's Café"
    xero_user.update_contact(alice, Name=renamed)
    xero_user.update_contact(bob, ContactStatus="ARCHIVED")
    xero_user.update_invoice(to_void, Status="VOIDED")
    usd = xero_user.create_invoice(carol, "99.99", CurrencyCode="USD", CurrencyRate="0.612345")
    before = api_calls(sandbox)
    second = materialize(assets, xero_resources)

    assert calls_since(sandbox, before) == {"Contacts": 1, "Invoices": 1}
    contacts_meta, invoices_meta = meta(second, "xero_contacts"), meta(second, "xero_invoices")
    assert contacts_meta["if_modified_since"] != "none"
    assert (contacts_meta["rows_inserted"], contacts_meta["rows_updated"]) == (0, 2)
    assert contacts_meta["rows_archived"] == 1
    assert (invoices_meta["rows_inserted"], invoices_meta["rows_updated"]) == (1, 1)
    assert invoices_meta["rows_archived"] == 1
    assert "VOIDED" in invoices_meta["preview"] and "USD" in invoices_meta["preview"]
    by_id = {
        r.contact_id: r
        for r in rows(db_url, XeroContactRow, "contact_id", "name", "contact_status", "raw")
    }
    assert by_id[alice].name == by_id[alice].raw["Name"] == renamed
    assert (by_id[bob].name, by_id[bob].contact_status) == ("Bob & Sons", "ARCHIVED")
    assert by_id[carol].contact_status == "ACTIVE"
    invoices = {
        r.invoice_id: r
        for r in rows(
            db_url,
            XeroInvoiceRow,
            "invoice_id",
            "status",
            "total",
            "amount_due",
            "currency_code",
            "currency_rate",
        )
    }
    assert invoices[to_void].status == "VOIDED"  # kept, with its status
    assert invoices[kept].status == "AUTHORISED"
    assert invoices[kept].amount_due == Decimal("250.50")
    foreign = invoices[usd["InvoiceID"]]
    assert (foreign.currency_code, foreign.currency_rate) == ("USD", Decimal("0.612345"))
    assert foreign.total == Decimal("99.99")
    state = sync_state(db_url, connected_tenant, "xero_invoices")
    assert state.watermark == max_updated(db_url, XeroInvoiceRow)
    assert state.rows_total == 3


def test_a_full_refresh_reads_and_rewrites_everything(sandbox, xero_resources, xero_user, db_url):
    ids = [xero_user.create_contact(f"Customer {n}") for n in range(3)]
    materialize([xero_contacts], xero_resources)
    before = api_calls(sandbox)
    refreshed = materialize([xero_contacts], xero_resources, full_refresh=True)
    m = meta(refreshed, "xero_contacts")
    assert m["full_refresh"] is True and m["if_modified_since"] == "none"
    assert (m["rows_read"], m["rows_unchanged"], m["rows_inserted"]) == (3, 3, 0)
    assert calls_since(sandbox, before) == {"Contacts": 1}
    assert sorted(r.contact_id for r in rows(db_url, XeroContactRow, "contact_id")) == sorted(ids)


# ---- bad data and failures -------------------------------------------------------------

NOISE = Decimal("201.10000000000002")


def foreign_emulator(path: str, page: int | None, body: dict[str, Any]) -> dict[str, Any]:
    """What a careless Xero emulator sends: a contact without a name, a malformed date,
    and amounts with binary float noise."""
    for record in body.get("Contacts", []):
        if record["Name"] == "Nameless":
            record["Name"] = ""
        if record["Name"] == "Bad Date":
            record["UpdatedDateUTC"] = "/Date(not-a-date)/"
    for record in body.get("Invoices", []):
        record["Total"] = record["AmountDue"] = NOISE
    return body


def test_bad_records_are_reported_and_skipped_and_noise_is_rounded_once(
    sandbox, make_xero_resource, xero_user, db_url, connected_tenant
):
    good = xero_user.create_contact("Good & Proper Ltd")
    nameless = xero_user.create_contact("Nameless")
    bad_date = xero_user.create_contact("Bad Date")
    invoice = xero_user.create_invoice(good, "201.10")["InvoiceID"]
    instance = dg.DagsterInstance.ephemeral()
    with sandbox_gateway(sandbox.url) as gateway:
        gateway.edit = foreign_emulator
        xero = make_xero_resource(api_url=gateway.url)
        result = dg.materialize(
            [xero_contacts, xero_invoices],
            resources={"crm": xero.crm, "xero": xero},
            instance=instance,
        )
    assert result.success  # the run goes on
    m = meta(result, "xero_contacts")
    assert (m["rows_inserted"], m["rows_skipped"], m["rows_read"]) == (1, 2, 3)
    assert check(result, "xero_contacts").passed  # every record Xero counted was read
    reported = {s["id"]: s["reason"] for s in m["skipped_records"]}
    assert reported == {
        nameless: "Name is missing",
        bad_date: "UpdatedDateUTC: not a Xero date: '/Date(not-a-date)/'",
    }
    warnings = [
        e.user_message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING
    ]
    assert any(nameless in w and bad_date in w for w in warnings), warnings
    assert [r.contact_id for r in rows(db_url, XeroContactRow, "contact_id")] == [good]
    (stored,) = rows(db_url, XeroInvoiceRow, "invoice_id", "total", "amount_due", "raw")
    assert stored.invoice_id == invoice
    assert stored.total == stored.amount_due == Decimal("201.10")  # rounded once, on write
    assert stored.raw["Total"] == NOISE  # the record as it was sent


def test_a_503_storm_is_retried_and_the_read_is_whole(
    sandbox, xero_resources, db_url, connected_tenant
):
    sandbox.seed(contacts=2500, seed=3)
    sandbox.faults(status=503, count=3, path="/api.xro/2.0/Contacts")
    before = api_calls(sandbox)
    result = materialize([xero_contacts], xero_resources)
    m = meta(result, "xero_contacts")
    assert m["xero_retries"] == 3
    assert calls_since(sandbox, before) == {"Contacts": 3 + 3}
    assert m["rows_inserted"] == count(db_url, XeroContactRow) == 2500
    assert check(result, "xero_contacts").passed


def test_a_page_that_keeps_failing_fails_the_step_and_the_watermark_stays(
    sandbox, make_xero_resource, xero_user, db_url, connected_tenant, fast_retries
):
    sandbox.seed(contacts=2500, seed=5)
    with sandbox_gateway(sandbox.url) as gateway:
        xero = make_xero_resource(api_url=gateway.url)
        resources = {"crm": xero.crm, "xero": xero}
        gateway.fail_page = {3: 503}
        failed = materialize([xero_contacts], resources, raise_on_error=False)
        assert not failed.success
        assert gateway.failed == 6  # the client tried page 3 six times
        # page 2 was stored; page 1 waits to go last, with the watermark, which no run wrote
        assert count(db_url, XeroContactRow) == 1000
        assert sync_state(db_url, connected_tenant, "xero_contacts") is None

        gateway.fail_page = {}
        rerun = materialize([xero_contacts], resources)
        m = meta(rerun, "xero_contacts")
        assert (m["rows_inserted"], m["rows_unchanged"]) == (1500, 1000)
        watermark = sync_state(db_url, connected_tenant, "xero_contacts").watermark
        assert watermark == max_updated(db_url, XeroContactRow)

        # A newer change, then a full refresh that dies on page 3: the watermark stays.
        (first,) = xero_user.get("Contacts", page=1, pageSize=1, includeArchived="true")["Contacts"]
        xero_user.update_contact(first["ContactID"], EmailAddress="new@example.com")
        gateway.fail_page = {3: 503}
        assert not materialize(
            [xero_contacts], resources, full_refresh=True, raise_on_error=False
        ).success
        assert sync_state(db_url, connected_tenant, "xero_contacts").watermark == watermark

        gateway.fail_page = {}
        caught_up = materialize([xero_contacts], resources)
    assert meta(caught_up, "xero_contacts")["if_modified_since"] != "none"
    (email,) = rows(db_url, XeroContactRow, "email_address", contact_id=first["ContactID"])
    assert email == ("new@example.com",)
    after = sync_state(db_url, connected_tenant, "xero_contacts").watermark
    assert after > watermark and after == max_updated(db_url, XeroContactRow)


# ---- credit notes, payments, merges ----------------------------------------------------


def create_credit_note(xero_user, contact_id: str, amount: str) -> str:
    note = {
        "Type": "ACCRECCREDIT",
        "Contact": {"ContactID": contact_id},
        "Date": "2026-01-06",
        "LineAmountTypes": "NoTax",
        "LineItems": [
            {"Description": "Refund", "Quantity": 1, "UnitAmount": amount, "AccountCode": "200"}
        ],
        "Status": "AUTHORISED",
    }
    return xero_user.put("CreditNotes", {"CreditNotes": [note]})["CreditNotes"][0]["CreditNoteID"]


def test_credit_notes_payments_and_merges_reach_the_mirrors(
    sandbox, xero_resources, xero_user, db_url, connected_tenant
):
    dana = xero_user.create_contact("Dana Ltd")
    eve = xero_user.create_contact("Eve Ltd")
    credited = xero_user.create_invoice(dana, "300.00")["InvoiceID"]
    to_pay = xero_user.create_invoice(dana, "80.00")["InvoiceID"]
    eves = xero_user.create_invoice(eve, "45.00")["InvoiceID"]
    allocated = create_credit_note(xero_user, dana, "100.00")
    unallocated = create_credit_note(xero_user, dana, "50.00")
    allocation = {"Amount": "60.00", "Invoice": {"InvoiceID": credited}, "Date": "2026-01-07"}
    xero_user.put(f"CreditNotes/{allocated}/Allocations", {"Allocations": [allocation]})
    assets = [xero_contacts, xero_invoices, xero_credit_notes]
    first = materialize(assets, xero_resources)
    assert meta(first, "xero_credit_notes")["rows_inserted"] == 2
    assert check(first, "xero_credit_notes").passed

    notes = {
        r.credit_note_id: r
        for r in rows(
            db_url, XeroCreditNoteRow, "credit_note_id", "total", "remaining_credit", "type", "raw"
        )
    }
    assert (notes[allocated].total, notes[allocated].remaining_credit) == (
        Decimal("100.00"),
        Decimal("40.00"),
    )
    assert (notes[unallocated].total, notes[unallocated].remaining_credit) == (
        Decimal("50.00"),
        Decimal("50.00"),
    )
    (kept,) = notes[allocated].raw["Allocations"]
    assert (kept["Amount"], kept["Invoice"]["InvoiceID"]) == (Decimal("60.00"), credited)
    (invoice,) = rows(db_url, XeroInvoiceRow, "amount_due", "amount_credited", invoice_id=credited)
    assert invoice == (Decimal("240.00"), Decimal("60.00"))

    sandbox.pay_invoice(to_pay, "80.00")
    sandbox.merge_contacts(eve, dana)
    before = api_calls(sandbox)
    second = materialize(assets, xero_resources)
    assert calls_since(sandbox, before) == {"Contacts": 1, "Invoices": 1, "CreditNotes": 1}
    assert meta(second, "xero_invoices")["rows_updated"] == 1  # the payment; the merge
    assert meta(second, "xero_contacts")["rows_updated"] == 1  # moved documents silently
    (paid,) = rows(db_url, XeroInvoiceRow, "status", "amount_due", "amount_paid", invoice_id=to_pay)
    assert paid == ("PAID", Decimal("0.00"), Decimal("80.00"))
    in_xero = xero_user.get(f"Contacts/{eve}")["Contacts"][0]
    (merged,) = rows(
        db_url, XeroContactRow, "merged_to_contact_id", "contact_status", contact_id=eve
    )
    assert merged == (dana, in_xero["ContactStatus"])
    assert meta(second, "xero_contacts")["rows_archived"] == int(
        in_xero["ContactStatus"] == "ARCHIVED"
    )
    # Xero moves a merged contact's documents without touching their UpdatedDateUTC, so an
    # incremental read cannot see it (follow MergedToContactID); a full refresh rewrites it.
    assert rows(db_url, XeroInvoiceRow, "contact_id", invoice_id=eves) == [(eve,)]
    materialize([xero_invoices], xero_resources, full_refresh=True)
    assert rows(db_url, XeroInvoiceRow, "contact_id", invoice_id=eves) == [(dana,)]


# ---- the small mirrors: revenue accounts and the organisation --------------------------


def test_revenue_accounts_and_the_organisation_are_read_whole_in_one_call_each(
    sandbox, xero_resources, xero_user, db_url, connected_tenant
):
    in_xero = xero_user.get("Accounts", where='Class=="REVENUE"')["Accounts"]
    assert any(a["Status"] == "ARCHIVED" for a in in_xero)
    org = xero_user.get("Organisation")["Organisations"][0]
    assets = [xero_revenue_accounts, xero_organisation]
    before = api_calls(sandbox)
    first = materialize(assets, xero_resources)
    assert calls_since(sandbox, before) == {"Accounts": 1, "Organisation": 1}
    stored = rows(db_url, XeroRevenueAccountRow, "account_id", "code", "status", "account_type")
    assert sorted(stored) == sorted(
        (a["AccountID"], a["Code"], a["Status"], a["Type"]) for a in in_xero
    )
    assert meta(first, "xero_revenue_accounts")["rows_inserted"] == len(in_xero)
    (row,) = rows(
        db_url,
        XeroOrganisationRow,
        "tenant_id",
        "organisation_id",
        "name",
        "short_code",
        "base_currency",
        "timezone",
    )
    assert row == (
        connected_tenant,
        org["OrganisationID"],
        org["Name"],
        org["ShortCode"],
        org["BaseCurrency"],
        org["Timezone"],
    )
    assert check(first, "xero_organisation", ORGANISATION_CHECK).passed

    sandbox.set_account_status("260", "ARCHIVED")
    sandbox.organisation(name="Renamed & Sons (NZ)")
    second = materialize(assets, xero_resources)
    accounts_meta = meta(second, "xero_revenue_accounts")
    assert (accounts_meta["rows_updated"], accounts_meta["rows_archived"]) == (1, 1)
    assert accounts_meta["rows_unchanged"] == len(in_xero) - 1
    assert rows(db_url, XeroRevenueAccountRow, "status", code="260") == [("ARCHIVED",)]
    assert meta(second, "xero_organisation")["rows_updated"] == 1
    assert rows(db_url, XeroOrganisationRow, "name") == [("Renamed & Sons (NZ)",)]

    quiet = materialize(assets, xero_resources)
    assert meta(quiet, "xero_organisation")["rows_unchanged"] == 1
    assert meta(quiet, "xero_revenue_accounts")["rows_unchanged"] == len(in_xero)


def test_the_organisation_check_fails_without_a_short_code(sandbox, make_xero_resource, db_url):
    def no_short_code(path: str, page: int | None, body: dict[str, Any]) -> dict[str, Any]:
        for org in body.get("Organisations", []):
            org["ShortCode"] = ""
        return body

    with sandbox_gateway(sandbox.url) as gateway:
        gateway.edit = no_short_code
        xero = make_xero_resource(api_url=gateway.url)
        result = materialize([xero_organisation], {"crm": xero.crm, "xero": xero})
    evaluation = check(result, "xero_organisation", ORGANISATION_CHECK)
    assert not evaluation.passed
    assert evaluation.metadata["missing"].value == "short_code"


# ---- what a read that is not quite Xero's looks like -----------------------------------


def test_a_count_that_moves_during_the_read_keeps_the_watermark(
    sandbox, make_xero_resource, xero_user, db_url, connected_tenant
):
    sandbox.seed(contacts=1500, seed=11)

    def count_grows_on_page_2(path: str, page: int | None, body: dict[str, Any]) -> dict:
        if page == 2:
            body["pagination"]["itemCount"] += 1  # a record was added under the read
        return body

    with sandbox_gateway(sandbox.url) as gateway:
        xero = make_xero_resource(api_url=gateway.url)
        resources = {"crm": xero.crm, "xero": xero}
        materialize([xero_contacts], resources)
        watermark = sync_state(db_url, connected_tenant, "xero_contacts").watermark
        (first,) = xero_user.get("Contacts", page=1, pageSize=1, includeArchived="true")["Contacts"]
        xero_user.update_contact(first["ContactID"], EmailAddress="moved@example.com")
        gateway.edit = count_grows_on_page_2
        result = materialize([xero_contacts], resources, full_refresh=True)
    evaluation = check(result, "xero_contacts")
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["item_count_moved_during_read"].value is True
    assert meta(result, "xero_contacts")["rows_updated"] == 1  # stored, but ...
    assert sync_state(db_url, connected_tenant, "xero_contacts").watermark == watermark


def test_without_pagination_pages_are_read_until_an_empty_one(
    sandbox, make_xero_resource, db_url, connected_tenant
):
    sandbox.seed(contacts=2500, seed=13)

    def no_pagination(path: str, page: int | None, body: dict[str, Any]) -> dict[str, Any]:
        body.pop("pagination", None)
        return body

    with sandbox_gateway(sandbox.url) as gateway:
        gateway.edit = no_pagination
        xero = make_xero_resource(api_url=gateway.url)
        before = api_calls(sandbox)
        result = materialize([xero_contacts], {"crm": xero.crm, "xero": xero})
    assert calls_since(sandbox, before) == {"Contacts": 4}  # three pages and an empty one
    assert count(db_url, XeroContactRow) == 2500
    evaluation = check(result, "xero_contacts")
    assert not evaluation.passed  # nothing to compare with: said, not hidden
    assert "no pagination.itemCount" in evaluation.description
