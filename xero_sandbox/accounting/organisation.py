"""`/Organisation` and `/Currencies`: the organisation's settings, and what follows from them.

Each sandbox organisation has its own name, short code, base currency, timezone and enabled
currencies (changed through the admin API). The timezone decides the organisation's "today":
the default date of a new document and when an invoice becomes overdue, as in Xero.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from .. import where as where_lang
from ..store import Tenant
from ..xero_json import day_ms, msdate
from .common import Ctx, envelope, query_error

# Xero's `Timezone` names (Windows zone ids, upper case, no spaces) the sandbox knows, with the
# IANA zone each stands for (CLDR's Windows zone table, primary zone of each).
TIMEZONES: dict[str, str] = {
    "NEWZEALANDSTANDARDTIME": "Pacific/Auckland",
    "CHATHAMISLANDSSTANDARDTIME": "Pacific/Chatham",
    "AUSEASTERNSTANDARDTIME": "Australia/Sydney",
    "EAUSTRALIASTANDARDTIME": "Australia/Brisbane",
    "CENAUSTRALIASTANDARDTIME": "Australia/Adelaide",
    "AUSCENTRALSTANDARDTIME": "Australia/Darwin",
    "WAUSTRALIASTANDARDTIME": "Australia/Perth",
    "TASMANIASTANDARDTIME": "Australia/Hobart",
    "FIJISTANDARDTIME": "Pacific/Fiji",
    "TONGASTANDARDTIME": "Pacific/Tongatapu",
    "SAMOASTANDARDTIME": "Pacific/Apia",
    "LINEISLANDSSTANDARDTIME": "Pacific/Kiritimati",
    "TOKYOSTANDARDTIME": "Asia/Tokyo",
    "CHINASTANDARDTIME": "Asia/Shanghai",
    "SINGAPORESTANDARDTIME": "Asia/Singapore",
    "INDIASTANDARDTIME": "Asia/Kolkata",
    "SOUTHAFRICASTANDARDTIME": "Africa/Johannesburg",
    "GMTSTANDARDTIME": "Europe/London",
    "GREENWICHSTANDARDTIME": "Atlantic/Reykjavik",
    "WEUROPESTANDARDTIME": "Europe/Berlin",
    "ROMANCESTANDARDTIME": "Europe/Paris",
    "CENTRALEUROPESTANDARDTIME": "Europe/Budapest",
    "EASTERNSTANDARDTIME": "America/New_York",
    "CENTRALSTANDARDTIME": "America/Chicago",
    "MOUNTAINSTANDARDTIME": "America/Denver",
    "USMOUNTAINSTANDARDTIME": "America/Phoenix",
    "PACIFICSTANDARDTIME": "America/Los_Angeles",
    "ALASKANSTANDARDTIME": "America/Anchorage",
    "HAWAIIANSTANDARDTIME": "Pacific/Honolulu",
    "DATELINESTANDARDTIME": "Etc/GMT+12",
    "UTC": "Etc/UTC",
}

# ISO 4217 codes the sandbox knows, with Xero's descriptions (what `/Currencies` shows).
CURRENCY_NAMES: dict[str, str] = {
    "AUD": "Australian Dollar",
    "CAD": "Canadian Dollar",
    "CHF": "Swiss Franc",
    "CNY": "Yuan Renminbi",
    "DKK": "Danish Krone",
    "EUR": "Euro",
    "FJD": "Fiji Dollar",
    "GBP": "Pound Sterling",
    "HKD": "Hong Kong Dollar",
    "INR": "Indian Rupee",
    "JPY": "Yen",
    "NOK": "Norwegian Krone",
    "NZD": "New Zealand Dollar",
    "SEK": "Swedish Krona",
    "SGD": "Singapore Dollar",
    "USD": "US Dollar",
    "ZAR": "Rand",
}

COUNTRY_VERSIONS = {"NZ": "NZ", "AU": "AU", "GB": "UK", "US": "US"}
SHORT_CODE = re.compile(r"^![A-Za-z0-9]{1,10}$")


def not_subscribed(code: str) -> str:
    """Xero's message for a document in a currency the organisation has not enabled."""
    return f"Organisation is not subscribed to currency {code}"


def today_ms(tenant: Tenant) -> int:
    """Midnight (as stored: UTC ms of the calendar date) of today in the organisation's zone."""
    return day_ms(datetime.now(ZoneInfo(TIMEZONES[tenant.timezone])).date())


def render(tenant: Tenant) -> dict[str, Any]:
    """One organisation as Xero's `Organisation` (the fields of Xero's own example)."""
    return {
        "Name": tenant.name,
        "LegalName": tenant.legal_name or tenant.name,
        "PaysTax": True,
        "Version": COUNTRY_VERSIONS.get(tenant.country_code, "GLOBAL"),
        "OrganisationType": "COMPANY",
        "BaseCurrency": tenant.base_currency,
        "CountryCode": tenant.country_code,
        "IsDemoCompany": False,
        "OrganisationStatus": "ACTIVE",
        "FinancialYearEndDay": 31,
        "FinancialYearEndMonth": 3,
        "SalesTaxBasis": "INVOICE",
        "SalesTaxPeriod": "TWOMONTHS",
        "DefaultSalesTax": "Tax Exclusive",
        "DefaultPurchasesTax": "Tax Exclusive",
        "CreatedDateUTC": msdate(tenant.created_ms),
        "OrganisationEntityType": "COMPANY",
        "Timezone": tenant.timezone,
        "ShortCode": tenant.short_code,
        "OrganisationID": tenant.tenant_id,
        "Edition": "BUSINESS",
        "Class": "PREMIUM",
        "Addresses": [],
        "Phones": [],
        "ExternalLinks": [],
        "PaymentTerms": {},
    }


def get_organisations(ctx: Ctx, params: dict[str, str], if_modified_since: str | None) -> dict:
    with ctx.store.lock:
        return envelope("Organisations", [render(ctx.tenant)])


def get_currencies(ctx: Ctx, params: dict[str, str], if_modified_since: str | None) -> dict:
    """The enabled currencies, base first unless `order` says otherwise; `where` as Xero's."""
    with ctx.store.lock:
        items = [{"Code": c, "Description": CURRENCY_NAMES[c]} for c in ctx.tenant.currencies]
    if params.get("where"):
        try:
            node = where_lang.parse(params["where"])
            items = [c for c in items if where_lang.matches(node, c)]
        except where_lang.WhereError as exc:
            raise query_error(str(exc)) from None
    order = (params.get("order") or "").split()
    if order:
        if order[0] not in ("Code", "Description") or len(order) > 2:
            raise query_error(f"Invalid order '{params['order']}'")
        descending = len(order) == 2 and order[1].upper() == "DESC"
        items.sort(key=lambda c: c[order[0]], reverse=descending)
    return envelope("Currencies", items)


# ---- changed by the admin API (as a user would in Xero's settings) -------------------------


class SettingError(ValueError):
    """An organisation setting the admin API was asked for is not valid."""


def update(tenant: Tenant, changes: dict[str, Any]) -> None:
    """Apply admin changes (`name`, `legal_name`, `base_currency`, `timezone`, `short_code`,
    `country_code`), all checked before any is applied."""
    checked: dict[str, str] = {}
    for key, value in changes.items():
        if key == "tenant_id":
            continue
        if not isinstance(value, str) or not value.strip():
            raise SettingError(f"{key} must be a non-empty string")
        checked[key] = _checked(key, value.strip())
    for key, value in checked.items():
        setattr(tenant, key, value)
    if "base_currency" in checked:
        tenant.currencies = [checked["base_currency"]] + [
            c for c in tenant.currencies if c != checked["base_currency"]
        ]


def _checked(key: str, value: str) -> str:
    if key in ("name", "legal_name"):
        if len(value) > 255:
            raise SettingError(f"{key} must be at most 255 characters")
        return value
    if key == "base_currency":
        return currency_code(value)
    if key == "timezone":
        if value.upper() not in TIMEZONES:
            raise SettingError(f"timezone must be one of Xero's names: {', '.join(TIMEZONES)}")
        return value.upper()
    if key == "short_code":
        if not SHORT_CODE.match(value):
            raise SettingError("short_code must be ! and 1 to 10 letters or digits, e.g. !mBdtL")
        return value
    if key == "country_code":
        if not re.fullmatch(r"[A-Za-z]{2}", value):
            raise SettingError("country_code must be two letters, e.g. NZ")
        return value.upper()
    raise SettingError(
        f"unknown setting {key!r}: name, legal_name, base_currency, timezone, short_code, "
        "country_code"
    )


def currency_code(value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in CURRENCY_NAMES:
        raise SettingError(f"currency must be one of {', '.join(sorted(CURRENCY_NAMES))}")
    return value.upper()
