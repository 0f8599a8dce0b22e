"""Integration settings: pure validation, and storage validated against the live schema."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from xero_pipelines.xero.settings import (
    DEFAULTS,
    IntegrationSettings,
    SettingError,
    validate_setting,
)
from xero_pipelines.xero.settings_store import (
    contact_phone_columns,
    load_settings,
    opportunity_text_columns,
    set_setting,
)

COLUMNS = {
    "opportunity_text_columns": ["name", "opportunity_number", "po_number"],
    "contact_phone_columns": ["phone", "mobile", "work_phone"],
}


def test_defaults_are_the_contracts():
    assert DEFAULTS == {
        "import_customers": "false",
        "phone_field": "phone",
        "invoice_status": "DRAFT",
        "quote_status": "DRAFT",
        "opportunity_export_type": "invoice",
        "invoice_reference_field": "opportunity_number",
        "quote_reference_field": "opportunity_number",
    }


@pytest.mark.parametrize(
    ("key", "value", "stored"),
    [
        ("import_customers", "Yes", "true"),
        ("import_customers", "false", "false"),
        ("phone_field", "mobile", "mobile"),
        ("invoice_status", "authorised", "AUTHORISED"),
        ("quote_status", "SENT", "SENT"),
        ("opportunity_export_type", "Quote", "quote"),
        ("invoice_reference_field", "po_number", "po_number"),
        ("quote_reference_field", "name", "name"),
    ],
)
def test_valid_values_are_normalised(key, value, stored):
    assert validate_setting(key, value, **COLUMNS) == stored


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("import_customers", "maybe", "true, false"),
        ("phone_field", "fax", "mobile, phone, work_phone"),
        ("invoice_status", "PAID", "DRAFT, SUBMITTED, AUTHORISED"),
        ("quote_status", "ACCEPTED", "DRAFT, SENT"),
        ("opportunity_export_type", "order", "invoice, quote"),
        ("invoice_reference_field", "amount", "name, opportunity_number, po_number"),
        ("quote_reference_field", "close_date", "name, opportunity_number, po_number"),
    ],
)
def test_refused_values_list_the_allowed_ones(key, value, allowed):
    with pytest.raises(SettingError, match=f"allowed values are {allowed}$"):
        validate_setting(key, value, **COLUMNS)


def test_unknown_key_lists_the_settings():
    with pytest.raises(SettingError, match="the settings are import_customers, phone_field"):
        validate_setting("colour", "blue", **COLUMNS)


def test_from_stored_ignores_unknown_keys():
    s = IntegrationSettings.from_stored({"import_customers": "true", "legacy": "x"})
    assert s.import_customers is True
    assert s.phone_field == "phone"


def test_schema_decides_the_allowed_columns(db_engine):
    assert set(opportunity_text_columns(db_engine)) == {
        "name",
        "opportunity_number",
        "po_number",
        "description",
        "currency_code",
    }
    assert set(contact_phone_columns(db_engine)) == {"phone", "mobile", "work_phone"}


def test_set_and_load_round_trip(db_engine):
    assert load_settings(db_engine) == IntegrationSettings()
    set_setting(db_engine, "invoice_status", "submitted")
    set_setting(db_engine, "invoice_status", "AUTHORISED")
    now = set_setting(db_engine, "import_customers", "true")
    assert now.invoice_status == "AUTHORISED"
    assert now.import_customers is True
    assert load_settings(db_engine) == now


def test_a_column_the_crm_added_becomes_allowed(db_engine):
    with db_engine.begin() as conn:
        conn.execute(text("ALTER TABLE crm_contacts ADD COLUMN home_phone VARCHAR(50)"))
        conn.execute(text("ALTER TABLE crm_opportunities ADD COLUMN quote_ref VARCHAR(40)"))
    assert set_setting(db_engine, "phone_field", "home_phone").phone_field == "home_phone"
    assert set_setting(db_engine, "quote_reference_field", "quote_ref").quote_reference_field == (
        "quote_ref"
    )
    with pytest.raises(SettingError, match="allowed values are home_phone, mobile, phone"):
        set_setting(db_engine, "phone_field", "email")
    with pytest.raises(SettingError):
        set_setting(db_engine, "invoice_reference_field", "amount")  # numeric, not text
