"""`xero_draft_job` against the sandbox over real HTTP, on SQLite and PostgreSQL: invoices
and quotes with the settings' status and reference field, lines with discount and tax type,
an opportunity without lines, every bad input, Xero's own refusal, a lost connection."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from tests.jobs.conftest import JobEnv, calls_between, output_metadata
from xero_pipelines.db.models import XeroDraftRequest, XeroExportRequest
from xero_pipelines.db.request_outcomes import DISCONNECTED
from xero_pipelines.db.request_queue import DRAFT_REQUESTS
from xero_pipelines.jobs.draft import DRAFT_OP, xero_draft_job
from xero_pipelines.jobs.tags import XERO_CONCURRENCY_TAG
from xero_pipelines.xero.settings_store import set_setting

PUT_INVOICES = "PUT /api.xro/2.0/Invoices"
PUT_QUOTES = "PUT /api.xro/2.0/Quotes"

LINES = [
    {
        "description": "Design",
        "quantity": Decimal("1.5"),
        "unit_price": Decimal("800.1250"),
        "discount_rate": Decimal("10"),
    },
    {
        "description": "Hosting",
        "quantity": Decimal("12"),
        "unit_price": Decimal("19.99"),
        "tax_type": "NONE",
    },
]


@pytest.fixture
def customer(env: JobEnv) -> int:
    """A CRM account exported to Xero by the export job, so it is linked."""
    env.sync_mirrors()
    account = env.account("Draft Customer Ltd")
    [request] = env.export_requests({"crm_account_id": account})
    assert env.run_export([request]).success
    assert env.requests(XeroExportRequest)[request].status == "done"
    return account


def days_around_the_run(started: datetime, zone: str) -> set[str]:
    """The organisation's date when the run started and now (one, unless midnight fell
    in between)."""
    return {t.astimezone(ZoneInfo(zone)).date().isoformat() for t in (started, datetime.now(UTC))}


def contact_of(env: JobEnv, account: int) -> str:
    return env.links()[account][0]


def test_the_job_carries_the_xero_concurrency_tag():
    assert XERO_CONCURRENCY_TAG in xero_draft_job.tags


def test_a_draft_invoice_with_the_settings_status_reference_and_lines(env: JobEnv, customer):
    set_setting(env.engine, "invoice_status", "AUTHORISED")
    set_setting(env.engine, "invoice_reference_field", "po_number")
    opportunity = env.opportunity(
        customer, LINES, name="Website", opportunity_number="OPP-1", po_number="PO-77"
    )
    [request] = env.draft_requests({"opportunity_id": opportunity, "revenue_account_code": "200"})
    before, before_run = env.calls(), datetime.now(UTC)

    result = env.run_draft([request])

    assert result.success
    assert calls_between(before, env.calls()) == {PUT_INVOICES: 1}
    row = env.requests(XeroDraftRequest)[request]
    assert (row.status, row.error) == ("done", None)
    assert row.xero_document_number.startswith("INV-")
    assert row.xero_url.endswith(f"InvoiceID={row.xero_document_id}")
    [invoice] = env.xero_get(f"Invoices/{row.xero_document_id}")["Invoices"]
    assert (invoice["Type"], invoice["Status"], invoice["Reference"]) == (
        "ACCREC",
        "AUTHORISED",
        "PO-77",
    )
    assert invoice["Contact"]["ContactID"] == contact_of(env, customer)
    assert invoice["InvoiceNumber"] == row.xero_document_number
    design, hosting = invoice["LineItems"]
    assert (design["Quantity"], design["DiscountRate"], design["AccountCode"]) == (
        Decimal("1.5"),
        Decimal("10"),
        "200",
    )
    assert hosting["TaxType"] == "NONE"
    # 1.5 x 800.125 less 10% = 1080.16875 → 1080.17 (+15% GST 162.03), 12 x 19.99 = 239.88
    # with no tax: rounded once per line, by Xero, from the exact unit price.
    assert invoice["SubTotal"] == Decimal("1320.05")
    assert invoice["Total"] == Decimal("1482.08")
    # dated today where the organisation is (the sandbox's is in New Zealand)
    assert invoice["DateString"][:10] in days_around_the_run(before_run, "Pacific/Auckland")
    meta = output_metadata(result, DRAFT_OP)
    assert (meta["done"], meta["xero_calls"]) == (1, 1)


def test_a_quote_with_the_quote_status_and_reference_field(env: JobEnv, customer):
    set_setting(env.engine, "quote_status", "SENT")
    set_setting(env.engine, "quote_reference_field", "name")
    opportunity = env.opportunity(customer, LINES, name="Annual plan", opportunity_number="O-2")
    [request] = env.draft_requests(
        {"opportunity_id": opportunity, "revenue_account_code": "260", "export_type": "quote"}
    )
    before = env.calls()

    assert env.run_draft([request]).success

    assert calls_between(before, env.calls()) == {PUT_QUOTES: 1}
    row = env.requests(XeroDraftRequest)[request]
    assert row.status == "done" and row.xero_document_number.startswith("QU-")
    assert row.xero_url.endswith(f"/quotes/view/{row.xero_document_id}")
    [quote] = env.xero_get(f"Quotes/{row.xero_document_id}")["Quotes"]
    assert (quote["Status"], quote["Reference"]) == ("SENT", "Annual plan")
    assert [line["AccountCode"] for line in quote["LineItems"]] == ["260", "260"]


def test_the_setting_decides_when_the_request_does_not(env: JobEnv, customer):
    set_setting(env.engine, "opportunity_export_type", "quote")
    opportunity = env.opportunity(customer, LINES, opportunity_number="O-3")
    [request] = env.draft_requests({"opportunity_id": opportunity, "revenue_account_code": "200"})
    before = env.calls()
    assert env.run_draft([request]).success
    assert calls_between(before, env.calls()) == {PUT_QUOTES: 1}
    [quote] = env.xero_get(f"Quotes/{env.requests(XeroDraftRequest)[request].xero_document_id}")[
        "Quotes"
    ]
    assert (quote["Status"], quote["Reference"]) == ("DRAFT", "O-3")


def test_an_opportunity_without_lines_becomes_one_line(env: JobEnv, customer):
    opportunity = env.opportunity(
        customer, name="Retainer", opportunity_number="O-4", amount=Decimal("2500.00")
    )
    [request] = env.draft_requests({"opportunity_id": opportunity, "revenue_account_code": "200"})
    assert env.run_draft([request]).success
    row = env.requests(XeroDraftRequest)[request]
    [invoice] = env.xero_get(f"Invoices/{row.xero_document_id}")["Invoices"]
    [line] = invoice["LineItems"]
    assert (line["Description"], line["Quantity"], line["UnitAmount"]) == (
        "Retainer",
        Decimal("1"),
        Decimal("2500"),
    )
    assert invoice["Status"] == "DRAFT" and invoice["Reference"] == "O-4"


def test_bad_input_fails_only_its_own_request(env: JobEnv, customer):
    unlinked = env.account("Not Exported Ltd")
    good = env.opportunity(customer, LINES, opportunity_number="GOOD")
    bad_number = "NaN" if env.engine.dialect.name == "postgresql" else "abc"

    def opp(lines=(), **values):
        return env.opportunity(customer, lines, opportunity_number="X", **values)

    cases = {
        "unknown opportunity": ({"opportunity_id": 999_999}, "Opportunity 999999 was not found"),
        "unlinked account": (
            {"opportunity_id": env.opportunity(unlinked, LINES)},
            "This opportunity's account is not linked to Xero yet: export the account first.",
        ),
        "no lines, no amount": (
            {"opportunity_id": opp(amount=Decimal(0))},
            "The opportunity has no lines and no positive amount",
        ),
        "negative quantity": (
            {"opportunity_id": opp([{**LINES[0], "quantity": Decimal(-2)}])},
            "Line 1's quantity is negative (-2",
        ),
        "price not a number": (
            {"opportunity_id": opp([{"description": "x", "quantity": 1}])},
            f"Line 1's price is not a number ('{bad_number}')",
        ),
        "discount over 100": (
            {"opportunity_id": opp([{**LINES[0], "discount_rate": Decimal(150)}])},
            "Line 1's discount is 150",
        ),
        "unknown code": (
            {"revenue_account_code": "999"},
            "Revenue account '999' is not one of Xero's revenue accounts",
        ),
        "archived code": ({"revenue_account_code": "250"}, "Revenue account '250' is archived"),
        "expense code": (
            {"revenue_account_code": "400"},
            "Revenue account '400' is not one of Xero's revenue accounts",
        ),
        "export type": (
            {"export_type": "order"},
            "Export type 'order' is neither invoice nor quote",
        ),
        "currency": (
            {"opportunity_id": opp(LINES, currency_code="USD")},
            "The opportunity's currency USD is not used by the Xero organisation (NZD)",
        ),
    }
    rows = [
        {"opportunity_id": good, "revenue_account_code": "200", **row} for row, _ in cases.values()
    ]
    # The CRM's NUMERIC column holds what it was given: NaN on PostgreSQL, text on SQLite.
    with env.engine.begin() as conn:
        price_case = rows[list(cases).index("price not a number")]["opportunity_id"]
        conn.execute(
            text(
                "UPDATE crm_opportunity_lines SET unit_price = "
                + ("'NaN'::numeric" if bad_number == "NaN" else "'abc'")
                + " WHERE opportunity_id = :o"
            ),
            {"o": price_case},
        )
    ids = env.draft_requests({"opportunity_id": good, "revenue_account_code": "200"}, *rows)
    before = env.calls()

    assert env.run_draft(ids).success

    calls = calls_between(before, env.calls())
    assert calls.pop("GET /api.xro/2.0/Currencies") == 1  # USD is not the base currency
    assert calls == {PUT_INVOICES: 1}
    stored = env.requests(XeroDraftRequest)
    assert stored[ids[0]].status == "done"
    for request_id, (name, (_, start)) in zip(ids[1:], cases.items(), strict=True):
        assert stored[request_id].status == "failed", name
        assert stored[request_id].error.startswith(start), (name, stored[request_id].error)
    assert len(env.xero_get("Invoices")["Invoices"]) == 1


def test_xeros_own_refusal_is_kept_and_the_rest_of_the_batch_finishes(env: JobEnv, customer):
    good = env.opportunity(customer, LINES, opportunity_number="OK-1")
    bogus = env.opportunity(
        customer, [{**LINES[1], "tax_type": "BOGUS"}], opportunity_number="BAD-1"
    )
    ids = env.draft_requests(
        *({"opportunity_id": o, "revenue_account_code": "200"} for o in (good, bogus))
    )
    before = env.calls()

    result = env.run_draft(ids)
    assert result.success

    assert calls_between(before, env.calls()) == {PUT_INVOICES: 1}
    stored = env.requests(XeroDraftRequest)
    assert stored[ids[0]].status == "done"
    xero_said = (
        "The TaxType code 'BOGUS' does not exist or cannot be used for this type of transaction."
    )
    sentence = f"Xero refused the invoice: {xero_said}"
    assert (stored[ids[1]].status, stored[ids[1]].error) == ("failed", sentence)
    # What the run shows an operator: the row's sentence and Xero's own words, in the
    # log and in the output's metadata, and a clickable link to what was created.
    logs = [e.user_message for e in env.instance.all_logs(result.run_id)]
    assert f"request {ids[1]} failed: {sentence} Xero said: {xero_said}" in logs
    meta = output_metadata(result, DRAFT_OP)
    assert meta["outcomes"][str(ids[1])]["xero_error"] == xero_said
    assert f"| {ids[1]} | {sentence} | {xero_said} |" in meta["failures"]
    link = meta[f"xero_link_request_{ids[0]}"]
    assert link == stored[ids[0]].xero_url and link.startswith("https://go.xero.com/")
    assert f"[open in Xero]({link})" in meta["xero_records"]


def test_a_lost_connection_leaves_every_draft_waiting(env: JobEnv, customer):
    ids = env.draft_requests(
        *(
            {"opportunity_id": env.opportunity(customer, LINES), "revenue_account_code": "200"}
            for _ in range(2)
        )
    )
    env.sandbox.revoke_app()
    assert not env.run_draft(ids).success
    for request_id in ids:
        row = env.requests(XeroDraftRequest)[request_id]
        assert (row.status, row.error, row.attempts) == ("pending", DISCONNECTED, 0)


@pytest.mark.parametrize("kind", ["invoice", "quote"])
def test_a_run_killed_after_xero_created_the_documents_does_not_create_them_twice(
    env: JobEnv, customer, kind
):
    """Killed after Xero answered but before the commit, then requeued by the sensor and
    retried after Xero forgot the key: the look-up by Reference and contact finds the
    documents the dead run created."""
    opportunities = [
        env.opportunity(customer, LINES, opportunity_number=f"K-{i}") for i in range(3)
    ]
    ids = env.draft_requests(
        *(
            {"opportunity_id": o, "revenue_account_code": "200", "export_type": kind}
            for o in opportunities
        )
    )
    collection = "Invoices" if kind == "invoice" else "Quotes"

    env.crash("draft", ids, "after")

    assert all(env.requests(XeroDraftRequest)[i].status == "queued" for i in ids)
    assert len(env.xero_get(collection)[collection]) == 3
    env.sandbox.limits(idempotency_window=0)
    env.requeue_as_the_sensor_does(DRAFT_REQUESTS)
    before = env.calls()

    assert env.run_draft(ids).success

    # Only look-ups, no write (quotes read until an empty page: Xero sends no pagination)
    assert set(calls_between(before, env.calls())) == {f"GET /api.xro/2.0/{collection}"}
    rows = env.requests(XeroDraftRequest)
    assert [rows[i].status for i in ids] == ["done"] * 3
    documents = env.xero_get(collection)[collection]
    assert sorted(d["Reference"] for d in documents) == ["K-0", "K-1", "K-2"]
    id_field = "InvoiceID" if kind == "invoice" else "QuoteID"
    assert {rows[i].xero_document_id for i in ids} == {d[id_field] for d in documents}


def test_another_currency_the_organisation_uses_and_its_timezones_today(env: JobEnv, customer):
    env.sandbox._post("/_sandbox/currencies", {"code": "AUD"})
    env.sandbox._post("/_sandbox/organisation", {"timezone": "LINEISLANDSSTANDARDTIME"})
    env.sync_mirrors()  # the import sees the organisation's new timezone
    ids = env.draft_requests(
        *(
            {
                "opportunity_id": env.opportunity(customer, LINES, currency_code="aud"),
                "revenue_account_code": "200",
            }
            for _ in range(2)
        )
    )
    before, before_run = env.calls(), datetime.now(UTC)

    assert env.run_draft(ids).success

    calls = calls_between(before, env.calls())
    assert calls == {"GET /api.xro/2.0/Currencies": 1, PUT_INVOICES: 1}  # once per run
    for request_id in ids:
        row = env.requests(XeroDraftRequest)[request_id]
        [invoice] = env.xero_get(f"Invoices/{row.xero_document_id}")["Invoices"]
        assert invoice["CurrencyCode"] == "AUD"
        assert invoice["DateString"][:10] in days_around_the_run(before_run, "Pacific/Kiritimati")
