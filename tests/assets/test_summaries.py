"""`xero_account_summaries` in a real Dagster run on both databases, from mirror rows whose
figures are worked out by hand: several currencies, the overdue boundary in the
organisation's timezone, credit notes allocated and not, PAID and VOIDED invoices."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import dagster as dg
import pytest
from sqlalchemy import select, update

from tests.assets.mirror_rows import (
    contact,
    credit_note,
    guid,
    invoice,
    link,
    organisation,
    put,
)
from xero_pipelines.assets.summaries import (
    INVOICES,
    SUMMARIES,
    summaries_cover_the_links,
    xero_account_summaries,
)
from xero_pipelines.resources.crm import CrmDatabase

D = Decimal
# 05:00 UTC on 2 March is 19:00 on 1 March in Honolulu (UTC-10, no daylight saving):
# the organisation's today is 1 March while UTC is already on the 2nd.
AS_OF = "2026-03-02T05:00:00+00:00"
TODAY = date(2026, 3, 1)


@pytest.fixture
def tenant(connected_tenant: str) -> str:
    """The sandbox organisation, connected through the real flow (tests/assets/conftest.py)."""
    return connected_tenant


def run(db_url: str, as_of: str = AS_OF) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        [xero_account_summaries, summaries_cover_the_links],
        resources={"crm": CrmDatabase(url=db_url)},
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {"xero_account_summaries": {"config": {"as_of_utc": as_of}}}},
    )
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    return result


def metadata(result: dg.ExecuteInProcessResult) -> dict:
    mat = result.asset_materializations_for_node("xero_account_summaries")[0]
    return {key: value.value for key, value in mat.metadata.items()}


def stored(engine) -> dict[int, tuple]:
    s = SUMMARIES.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                s.crm_account_id,
                s.xero_contact_id,
                s.currency_code,
                s.balance,
                s.overdue_amount,
                s.total_sales,
                s.last_invoice_date,
                s.xero_url,
            )
        )
        return {row[0]: tuple(row[1:]) for row in rows}


def url(contact_id: str) -> str:
    return (
        "https://go.xero.com/organisationlogin/default.aspx?shortcode=!Ab3dE"
        f"&redirecturl=/Contacts/View/{contact_id}"
    )


@pytest.fixture
def scene(db_engine, tenant) -> dict[str, str]:
    a, b, c = guid(), guid(), guid()
    t = tenant
    invoices = [
        # contact a -- NZD, due yesterday (28 Feb) in Honolulu: overdue.
        invoice(
            t, a, total="200.00", due="200.00", day=date(2026, 2, 1), due_date=date(2026, 2, 28)
        ),
        # part paid, due today (1 Mar) there: owed, not overdue (UTC's date would say it is).
        invoice(t, a, total="115.00", due="100.00", day=date(2026, 2, 15), due_date=TODAY),
        # USD at 0.60 USD per NZD: 60.00 USD is 100.00 NZD, long overdue.
        invoice(
            t,
            a,
            total="60.00",
            due="60.00",
            rate="0.6",
            currency="USD",
            day=date(2026, 1, 5),
            due_date=date(2026, 2, 1),
        ),
        # PAID: a sale, nothing owed; the latest counted date.
        invoice(t, a, status="PAID", total="50.00", due="0", day=date(2026, 2, 20)),
        # VOIDED, DRAFT and a bill (ACCPAY): none of them count, whatever their dates.
        invoice(t, a, status="VOIDED", total="999.00", due="999.00", day=TODAY),
        invoice(t, a, status="DRAFT", total="888.00", due="888.00", day=TODAY),
        invoice(t, a, type="ACCPAY", total="777.00", due="777.00", day=TODAY),
        # contact c -- 0.50 at rate 3 and 1.00 at rate 6: 0.1666... each, 0.33 together.
        invoice(
            t, c, total="0.50", due="0.50", rate="3", currency="JPY", due_date=date(2026, 4, 1)
        ),
        invoice(
            t, c, total="1.00", due="1.00", rate="6", currency="CNY", due_date=date(2026, 4, 1)
        ),
    ]
    notes = [
        credit_note(t, a, total="30.00", remaining="30.00"),  # unallocated
        credit_note(t, a, status="PAID", total="20.00", remaining="0"),  # fully allocated
        # EUR at 0.50: total 10.00 EUR = 20.00 NZD, 5.00 EUR left = 10.00 NZD.
        credit_note(t, a, total="10.00", remaining="5.00", rate="0.5", currency="EUR"),
        credit_note(t, a, status="VOIDED", total="40.00", remaining="40.00"),
        credit_note(t, a, type="ACCPAYCREDIT", total="70.00", remaining="70.00"),
    ]
    with db_engine.begin() as conn:
        put(conn, "organisation", [organisation(t, timezone="HAWAIIANSTANDARDTIME")])
        put(conn, "contacts", [contact(t, "A", contact_id=a), contact(t, "B", contact_id=b)])
        put(conn, "invoices", invoices)
        put(conn, "credit_notes", notes)
        put(conn, "links", [link(1, a, "name"), link(2, b, "email"), link(4, c, "manual")])
        # account 3 is no longer linked: its old row must go
        conn.execute(
            SUMMARIES.insert().values(
                crm_account_id=3,
                xero_contact_id=guid(),
                balance=D(1),
                overdue_amount=D(0),
                total_sales=D(1),
            )
        )
    return {"a": a, "b": b, "c": c}


def test_figures_worked_out_by_hand(db_url, db_engine, scene):
    a, b, c = scene["a"], scene["b"], scene["c"]
    meta = metadata(run(db_url))
    assert stored(db_engine) == {
        # balance 200 + 100 + 100 - 30 - 10 = 360; overdue 200 + 100 = 300;
        # sales 200 + 115 + 100 + 50 - 30 - 20 - 20 = 395; last counted date 20 Feb.
        1: (a, "NZD", D("360.00"), D("300.00"), D("395.00"), date(2026, 2, 20), url(a)),
        2: (b, "NZD", D("0.00"), D("0.00"), D("0.00"), None, url(b)),  # linked, no documents
        4: (c, "NZD", D("0.33"), D("0.00"), D("0.33"), date(2026, 1, 10), url(c)),
    }
    assert meta["today"] == "2026-03-01"
    assert (meta["rows_inserted"], meta["rows_deleted"], meta["rows_updated"]) == (3, 1, 0)
    assert (meta["linked_accounts"], meta["accounts_with_documents"]) == (3, 2)
    assert (meta["total_balance"], meta["total_overdue"]) == ("360.33", "300.00")


def test_a_second_run_rewrites_nothing_and_a_change_updates_one_row(db_url, db_engine, scene):
    run(db_url)
    meta = metadata(run(db_url))
    assert (meta["rows_unchanged"], meta["rows_inserted"], meta["rows_updated"]) == (3, 0, 0)
    with db_engine.begin() as conn:  # Xero voided the 200.00 invoice; the mirror says so
        conn.execute(
            update(INVOICES).where(INVOICES.c.total == D("200.00")).values(status="VOIDED")
        )
    meta = metadata(run(db_url))
    assert (meta["rows_unchanged"], meta["rows_updated"]) == (2, 1)
    assert stored(db_engine)[1][2:5] == (D("160.00"), D("100.00"), D("195.00"))


def test_a_day_later_the_invoice_due_today_is_overdue(db_url, db_engine, scene):
    run(db_url, as_of="2026-03-02T10:00:00+00:00")  # 00:00 on 2 March in Honolulu
    assert stored(db_engine)[1][3] == D("400.00")


def test_an_unknown_timezone_falls_back_to_utc_and_says_so(db_url, db_engine, scene):
    with db_engine.begin() as conn:
        conn.execute(update(organisation_table()).values(timezone="MARSSTANDARDTIME"))
    meta = metadata(run(db_url))
    assert meta["today"] == "2026-03-02" and "MARSSTANDARDTIME" in meta["warning"]
    assert stored(db_engine)[1][3] == D("400.00")


def organisation_table():
    from xero_pipelines.db.mirrors import XeroOrganisationRow

    return XeroOrganisationRow.__table__


# ---- against the sandbox: the mirrors, the import, the links, the summaries, the check ------


def test_the_pipeline_agrees_with_xeros_own_balances(sandbox, db_engine, xero_resources, xero_user):
    from xero_pipelines.assets.crm import crm_accounts
    from xero_pipelines.assets.links import xero_account_links
    from xero_pipelines.assets.summaries import _sample, balances_match_xero
    from xero_pipelines.assets.xero import (
        xero_contacts,
        xero_credit_notes,
        xero_invoices,
        xero_organisation,
    )
    from xero_pipelines.xero.settings_store import set_setting

    sandbox.seed(contacts=300, invoices=3000, credit_notes=300, seed=8)
    set_setting(db_engine, "import_customers", "true")  # every customer gets an account
    mirrors = [xero_contacts, xero_invoices, xero_credit_notes, xero_organisation]
    ours = [crm_accounts, xero_account_links, xero_account_summaries]
    result = dg.materialize(
        [*mirrors, *ours, balances_match_xero, summaries_cover_the_links],
        resources=xero_resources,
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    (check,) = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "balances_match_xero"
    ]
    data = {k: v.value for k, v in check.metadata.items()}
    assert check.passed, data["mismatched_contacts"]
    assert (data["sampled"], data["mismatches"], data["xero_calls"]) == (50, 0, 1)
    summaries = metadata(result)
    assert summaries["linked_accounts"] >= 50 and summaries["currency_code"] == "NZD"

    # Xero moves on after the import (a whole unpaid invoice is voided): the check sees it.
    with db_engine.connect() as conn:
        sampled = [contact for _, contact, _, _ in _sample(conn, 50)]
        i = INVOICES.c
        invoice_id, contact_id = conn.execute(
            select(i.invoice_id, i.contact_id)
            .where(
                i.contact_id.in_(sampled),
                i.status == "AUTHORISED",
                i.amount_due == i.total,
                i.amount_credited == 0,
            )
            .order_by(i.invoice_id)
            .limit(1)
        ).one()
    xero_user.update_invoice(invoice_id, Status="VOIDED")
    later = balances_match_xero(crm=xero_resources["crm"], xero=xero_resources["xero"])
    assert later.passed is False
    problems = {
        r.data["xero_contact_id"]: r.data["problem"]
        for r in later.metadata["mismatched_contacts"].value.records
    }
    assert list(problems) == [contact_id] and "Outstanding" in problems[contact_id]
