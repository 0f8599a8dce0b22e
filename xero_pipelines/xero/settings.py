"""The seven integration settings of the Xero setup page (contract, section 4).

Pure: no database, no Xero. Which CRM columns exist is passed in by the caller
(`settings_store` reads them from the live schema), so a CRM that adds a column can
use it without a code change, and a column that is gone is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields

INVOICE_STATUSES = ("DRAFT", "SUBMITTED", "AUTHORISED")  # what Xero accepts on create
QUOTE_STATUSES = ("DRAFT", "SENT")
EXPORT_TYPES = ("invoice", "quote")
DEFAULT_PHONE_COLUMNS = ("phone", "mobile", "work_phone")
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


class SettingError(ValueError):
    """A setting key or value was refused; the message lists what is allowed."""


@dataclass(frozen=True)
class IntegrationSettings:
    """The settings as the pipeline reads them (defaults where nothing was stored)."""

    import_customers: bool = False
    phone_field: str = "phone"
    invoice_status: str = "DRAFT"
    quote_status: str = "DRAFT"
    opportunity_export_type: str = "invoice"
    invoice_reference_field: str = "opportunity_number"
    quote_reference_field: str = "opportunity_number"

    @classmethod
    def from_stored(cls, stored: Mapping[str, str]) -> IntegrationSettings:
        """Build from stored text values; unknown keys are ignored, absent ones default."""
        values: dict[str, object] = {}
        for f in fields(cls):
            if f.name in stored:
                raw = stored[f.name]
                values[f.name] = raw == "true" if f.name == "import_customers" else raw
        return cls(**values)  # type: ignore[arg-type]

    def as_text(self) -> dict[str, str]:
        """Every setting as the text `settings show` prints and the database stores."""
        return {
            k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in asdict(self).items()
        }


SETTING_KEYS: tuple[str, ...] = tuple(f.name for f in fields(IntegrationSettings))
DEFAULTS: dict[str, str] = IntegrationSettings().as_text()


def _one_of(key: str, value: str, allowed: Iterable[str], *, upper: bool = False) -> str:
    allowed = tuple(allowed)
    candidate = value.strip().upper() if upper else value.strip()
    if candidate in allowed:
        return candidate
    raise SettingError(
        f"{key} cannot be {value!r}: allowed values are {', '.join(allowed) or '(none)'}"
    )


def validate_setting(
    key: str,
    value: str,
    *,
    opportunity_text_columns: Iterable[str],
    contact_phone_columns: Iterable[str],
) -> str:
    """The normalised text to store for `key`, or `SettingError` naming the allowed values."""
    if key not in SETTING_KEYS:
        raise SettingError(f"unknown setting {key!r}: the settings are {', '.join(SETTING_KEYS)}")
    if key == "import_customers":
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return "true"
        if lowered in _FALSE:
            return "false"
        raise SettingError(f"import_customers cannot be {value!r}: allowed values are true, false")
    if key == "phone_field":
        return _one_of(key, value, sorted(contact_phone_columns))
    if key == "invoice_status":
        return _one_of(key, value, INVOICE_STATUSES, upper=True)
    if key == "quote_status":
        return _one_of(key, value, QUOTE_STATUSES, upper=True)
    if key == "opportunity_export_type":
        return _one_of(key, value.lower(), EXPORT_TYPES)
    return _one_of(key, value, sorted(opportunity_text_columns))  # the reference fields
