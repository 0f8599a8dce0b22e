"""The per-account figures the CRM shows, from sums the database already grouped.

The database sums each contact's documents to integer cents per currency rate (exact on
SQLite and PostgreSQL); here each group is converted to the organisation's base currency
with `Decimal` and the contact's figures are rounded to cents once, at the end, so a
contact with a hundred foreign invoices is not off by a hundred roundings.

Xero's `CurrencyRate` is taken as the number of units of the document's currency per one
unit of the organisation's base currency, so base = amount / rate (an NZD organisation's
USD invoice of 60.00 at rate 0.60 is 100.00 NZD). Xero documents the field on Invoices and
Credit Notes as "The currency rate for a multicurrency invoice. If no rate is specified,
the XE.com day rate is used" (https://developer.xero.com/documentation/api/accounting/invoices
and .../credit-notes, `CurrencyRate`; the same text in Xero's OpenAPI file
xero_accounting.yaml), without spelling out the direction in that sentence; the direction
used here is the one the sandbox (our oracle) uses for `Balances`, and the asset check
compares it with Xero's own `Balances` on live data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from functools import cache
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import win_tz

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
_ONE = Decimal(1)
_ZERO = Decimal(0)
_HUNDRED = Decimal(100)

# Xero's deep link to a contact (new UI view), from "Deep link to Xero":
# https://developer.xero.com/documentation/api-guides/deep-link-xero
DEEP_LINK = "https://go.xero.com/organisationlogin/default.aspx?shortcode={short_code}&redirecturl=/Contacts/View/{contact_id}"


class UnknownTimezoneError(ValueError):
    """Xero named an organisation timezone that neither CLDR's table nor IANA knows."""


@dataclass(frozen=True, slots=True)
class RateGroup:
    """One contact's documents at one currency rate, summed to integer cents.

    `balance_cents`: AmountDue of AUTHORISED sales invoices less RemainingCredit of
    AUTHORISED sales credit notes. `overdue_cents`: AmountDue of AUTHORISED sales invoices
    due before today. `sales_cents`: Total of AUTHORISED and PAID sales invoices less the
    Total of AUTHORISED and PAID sales credit notes. `currency_rate` None means base
    currency (rate 1).
    """

    contact_id: str
    currency_rate: Decimal | None
    balance_cents: int = 0
    overdue_cents: int = 0
    sales_cents: int = 0
    last_invoice_date: date | None = None


@dataclass(frozen=True, slots=True)
class ContactFigures:
    """A contact's figures in the base currency, rounded to cents."""

    balance: Decimal = ZERO
    overdue_amount: Decimal = ZERO
    total_sales: Decimal = ZERO
    last_invoice_date: date | None = None


NO_DOCUMENTS = ContactFigures()


def contact_figures(groups: Iterable[RateGroup]) -> dict[str, ContactFigures]:
    """Convert each group to base currency and add them up per contact; round once.

    Base-currency groups (rate 1, or none) add up as integer cents, exactly and cheaply;
    only foreign groups are divided, in `Decimal` at 34 digits.
    """
    base: dict[str, list[int]] = {}
    foreign: dict[str, list[Decimal]] = {}
    latest: dict[str, date | None] = {}
    with localcontext() as ctx:
        ctx.prec = 34  # enough that the only rounding that matters is the last one
        for g in groups:
            rate = g.currency_rate
            if rate is None or rate == _ONE or rate <= 0:
                acc = base.setdefault(g.contact_id, [0, 0, 0])
                acc[0] += g.balance_cents
                acc[1] += g.overdue_cents
                acc[2] += g.sales_cents
            else:
                converted = foreign.setdefault(g.contact_id, [_ZERO, _ZERO, _ZERO])
                for i, cents in enumerate((g.balance_cents, g.overdue_cents, g.sales_cents)):
                    if cents:
                        converted[i] += Decimal(cents) / rate
            latest[g.contact_id] = _later(latest.get(g.contact_id), g.last_invoice_date)
        return {contact_id: _figures(contact_id, base, foreign, latest) for contact_id in latest}


def _figures(
    contact_id: str,
    base: dict[str, list[int]],
    foreign: dict[str, list[Decimal]],
    latest: dict[str, date | None],
) -> ContactFigures:
    """One contact's cents (exact ints plus converted Decimals) to money, rounded once."""
    exact = base.get(contact_id, (0, 0, 0))
    converted = foreign.get(contact_id, (_ZERO, _ZERO, _ZERO))
    balance, overdue, sales = (
        to_cents((Decimal(e) + c) / _HUNDRED) for e, c in zip(exact, converted, strict=True)
    )
    return ContactFigures(balance, overdue, sales, latest[contact_id])


def to_base(amount: Decimal, currency_rate: Decimal | None) -> Decimal:
    """One amount in the base currency (unrounded): amount / CurrencyRate."""
    with localcontext() as ctx:
        ctx.prec = 34
        return amount / _usable_rate(currency_rate)


def to_cents(amount: Decimal) -> Decimal:
    """Round half away from zero to cents, as PostgreSQL does and Xero shows money."""
    return amount.quantize(CENT, ROUND_HALF_UP) + ZERO  # + ZERO turns -0.00 into 0.00


def _usable_rate(rate: Decimal | None) -> Decimal:
    """None (or a nonsensical non-positive rate) is the base currency's rate, 1."""
    if rate is None or rate <= 0:
        return _ONE
    return rate


def _later(a: date | None, b: date | None) -> date | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


# ---- the organisation's today -----------------------------------------------------------


def _normalise_zone_name(name: str) -> str:
    """Xero's spelling of a Windows zone name: upper case, no spaces."""
    return "".join(name.split()).upper()


@cache
def _windows_zones() -> dict[str, str]:
    """CLDR's Windows→IANA table (maintained in tzlocal), keyed the way Xero writes it."""
    return {_normalise_zone_name(windows): iana for windows, iana in win_tz.items()}


def organisation_zone(xero_timezone_name: str | None) -> ZoneInfo:
    """The IANA zone for Xero's `Organisation.Timezone` (e.g. NEWZEALANDSTANDARDTIME).

    An IANA name is accepted as it is; anything else unknown raises
    `UnknownTimezoneError` rather than guess, so a caller decides what to fall back to.
    """
    if not xero_timezone_name or not xero_timezone_name.strip():
        raise UnknownTimezoneError("the organisation has no timezone")
    iana = _windows_zones().get(_normalise_zone_name(xero_timezone_name))
    try:
        return ZoneInfo(iana or xero_timezone_name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimezoneError(
            f"unknown Xero timezone {xero_timezone_name!r}: not in CLDR's Windows zone table"
        ) from None


def today_in(xero_timezone_name: str | None, now_utc: datetime) -> date:
    """The date it is now in the organisation's timezone: an invoice is overdue from the
    day after its DueDate there, whatever the date in UTC."""
    if now_utc.tzinfo is None:
        raise ValueError("now_utc must be timezone-aware")
    return now_utc.astimezone(organisation_zone(xero_timezone_name)).date()


def utc_now() -> datetime:
    return datetime.now(UTC)


# ---- deep links ---------------------------------------------------------------------------


def contact_deep_link(short_code: str, contact_id: str) -> str:
    """The URL that opens the contact in Xero, in the right organisation (Xero's
    documented deep link, built from `Organisation.ShortCode`)."""
    if not short_code or not contact_id:
        raise ValueError("a deep link needs the organisation's ShortCode and a ContactID")
    return DEEP_LINK.format(
        short_code=quote(short_code.strip(), safe="!"),
        contact_id=quote(contact_id.strip(), safe=""),
    )
