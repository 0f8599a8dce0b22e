"""Summary maths with figures worked out by hand: base currency, rounding once, today there."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from xero_pipelines.domain.summaries import (
    NO_DOCUMENTS,
    ContactFigures,
    RateGroup,
    UnknownTimezoneError,
    contact_deep_link,
    contact_figures,
    organisation_zone,
    to_base,
    to_cents,
    today_in,
)

D = Decimal


def test_base_and_foreign_groups_add_up_in_base_currency():
    figures = contact_figures(
        [
            # NZD: invoice AmountDue 200.00 (overdue 120.00) less an unallocated credit
            # note's RemainingCredit 50.00; sales 300.00 invoiced less 0 credited.
            RateGroup("c1", None, 15000, 12000, 30000, date(2026, 3, 1)),
            # USD at 0.60 USD per NZD: 60.00 USD due is 100.00 NZD; sales 90.00 USD = 150.00.
            RateGroup("c1", D("0.600000"), 6000, 6000, 9000, date(2026, 4, 2)),
        ]
    )
    assert figures == {
        "c1": ContactFigures(D("250.00"), D("220.00"), D("450.00"), date(2026, 4, 2)),
    }


def test_rounding_happens_once_per_figure_not_per_group():
    # 0.50 at rate 3 is 0.1666..., 1.00 at rate 6 is 0.1666...: together 0.3333... -> 0.33.
    # Rounding each group first would give 0.17 + 0.17 = 0.34.
    figures = contact_figures([RateGroup("c", D(3), 50), RateGroup("c", D(6), 100)])
    assert figures["c"].balance == D("0.33")


def test_an_allocated_credit_note_no_longer_reduces_the_balance():
    # Invoice 115.00 with a credit note of 15.00 allocated to it: Xero's AmountDue is
    # already 100.00 and the note's RemainingCredit is 0, so the balance is 100.00 (not
    # 85.00); unallocated, AmountDue stays 115.00 and RemainingCredit 15.00: 100.00 too.
    # Sales: 115.00 invoiced less 15.00 credited = 100.00 either way.
    allocated = contact_figures([RateGroup("c", None, 10000, 0, 11500 - 1500)])
    unallocated = contact_figures([RateGroup("c", None, 11500 - 1500, 0, 11500 - 1500)])
    assert allocated["c"].balance == unallocated["c"].balance == D("100.00")
    assert allocated["c"].total_sales == D("100.00")


def test_a_credit_balance_is_negative_and_rounds_half_away_from_zero():
    # -0.01 at rate 2 is -0.005 -> -0.01 (half away from zero, as PostgreSQL rounds).
    assert contact_figures([RateGroup("c", D(2), -1)])["c"].balance == D("-0.01")
    assert contact_figures([RateGroup("c", D(2), 1)])["c"].balance == D("0.01")


def test_zero_is_never_negative_zero():
    figures = contact_figures([RateGroup("c", D(4), 1, 0, 0), RateGroup("c", D(4), -1)])
    assert str(figures["c"].balance) == "0.00"


def test_a_missing_or_impossible_rate_counts_as_base_currency():
    assert to_base(D("12.34"), None) == D("12.34")
    assert to_base(D("12.34"), D(0)) == D("12.34")
    assert to_base(D("10"), D("0.8")) == D("12.5")


def test_the_latest_invoice_date_wins_across_groups():
    figures = contact_figures(
        [
            RateGroup("c", None, last_invoice_date=date(2026, 5, 1)),
            RateGroup("c", D(2), last_invoice_date=None),
            RateGroup("c", D(3), last_invoice_date=date(2026, 4, 30)),
        ]
    )
    assert figures["c"].last_invoice_date == date(2026, 5, 1)


def test_no_documents_is_zeros():
    assert ContactFigures(D("0.00"), D("0.00"), D("0.00"), None) == NO_DOCUMENTS
    assert contact_figures([]) == {}


def test_to_cents():
    assert to_cents(D("1.005")) == D("1.01")
    assert to_cents(D("-1.005")) == D("-1.01")
    assert to_cents(D("2.004999")) == D("2.00")


# ---- the organisation's today ---------------------------------------------------------------


def test_xero_windows_zone_names_map_through_cldr():
    assert organisation_zone("NEWZEALANDSTANDARDTIME").key == "Pacific/Auckland"
    assert organisation_zone("AUSEASTERNSTANDARDTIME").key == "Australia/Sydney"
    assert organisation_zone("GMTSTANDARDTIME").key == "Europe/London"
    assert organisation_zone("Pacific Standard Time").key == "America/Los_Angeles"
    assert organisation_zone("Europe/Amsterdam").key == "Europe/Amsterdam"  # IANA as is


@pytest.mark.parametrize("name", [None, "", "NOWHERESTANDARDTIME"])
def test_an_unknown_zone_is_an_error_not_a_guess(name):
    with pytest.raises(UnknownTimezoneError):
        organisation_zone(name)


def test_today_is_the_organisations_date_ahead_of_utc():
    # 12:00 UTC on 1 March is 01:00 on 2 March in Auckland (NZDT, UTC+13).
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert today_in("NEWZEALANDSTANDARDTIME", now) == date(2026, 3, 2)


def test_today_is_the_organisations_date_when_utc_is_already_tomorrow():
    # 03:00 UTC on 2 June is 20:00 on 1 June in Los Angeles (PDT, UTC-7): an invoice due
    # 1 June is due today there, not overdue; one due 31 May is overdue.
    now = datetime(2026, 6, 2, 3, 0, tzinfo=UTC)
    today = today_in("PACIFICSTANDARDTIME", now)
    assert today == date(2026, 6, 1)
    assert not date(2026, 6, 1) < today
    assert date(2026, 5, 31) < today


def test_today_needs_an_aware_now():
    with pytest.raises(ValueError):
        today_in("UTC", datetime(2026, 1, 1))


# ---- deep links -------------------------------------------------------------------------------


def test_contact_deep_link_is_xeros_documented_form():
    link = contact_deep_link("!NLglS", "8275f116-6419-4b82-889a-f41dcc1d6186")
    assert link == (
        "https://go.xero.com/organisationlogin/default.aspx?shortcode=!NLglS"
        "&redirecturl=/Contacts/View/8275f116-6419-4b82-889a-f41dcc1d6186"
    )


def test_a_short_code_cannot_add_query_parameters():
    link = contact_deep_link("!ab&redirecturl=https://evil.example", "c")
    assert link.count("&") == 1 and "%26" in link


@pytest.mark.parametrize(("short_code", "contact_id"), [("", "c"), ("!x", "")])
def test_a_deep_link_needs_both_parts(short_code, contact_id):
    with pytest.raises(ValueError):
        contact_deep_link(short_code, contact_id)
