"""Settings in the `xero_settings` table: read with defaults, validated against the live
CRM schema on write (the text columns of `crm_opportunities`, the phone columns of
`crm_contacts`)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, String, delete, inspect, select

from xero_pipelines.db.models import XeroSetting
from xero_pipelines.xero.settings import IntegrationSettings, validate_setting

_PHONE_WORDS = ("phone", "mobile")


def opportunity_text_columns(engine: Engine) -> list[str]:
    """Text columns of `crm_opportunities` (a reference field must hold text)."""
    return [
        c["name"]
        for c in inspect(engine).get_columns("crm_opportunities")
        if isinstance(c["type"], String)
    ]


def contact_phone_columns(engine: Engine) -> list[str]:
    """Text columns of `crm_contacts` whose name says they hold a phone number."""
    return [
        c["name"]
        for c in inspect(engine).get_columns("crm_contacts")
        if isinstance(c["type"], String) and any(w in c["name"].lower() for w in _PHONE_WORDS)
    ]


def load_settings(engine: Engine) -> IntegrationSettings:
    with engine.connect() as conn:
        rows = conn.execute(select(XeroSetting.__table__.c.key, XeroSetting.__table__.c.value))
        return IntegrationSettings.from_stored({key: value for key, value in rows})


def set_setting(engine: Engine, key: str, value: str) -> IntegrationSettings:
    """Validate and store one setting; returns the settings now in force."""
    normalised = validate_setting(
        key,
        value,
        opportunity_text_columns=opportunity_text_columns(engine),
        contact_phone_columns=contact_phone_columns(engine),
    )
    table = XeroSetting.__table__
    with engine.begin() as conn:
        conn.execute(delete(table).where(table.c.key == key))
        conn.execute(table.insert().values(key=key, value=normalised, updated_at=datetime.now(UTC)))
    return load_settings(engine)
