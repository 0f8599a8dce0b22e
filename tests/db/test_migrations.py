"""Migrations up and down on SQLite and PostgreSQL, against real servers."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from xero_pipelines.db import SchemaConflictError, create_db_engine, downgrade, upgrade
from xero_pipelines.db.migrate import current_revision
from xero_pipelines.db.models import (
    Base,
    CrmAccount,
    XeroAccountLink,
    XeroAccountSummary,
    XeroExportRequest,
)

CONTRACT_TABLES = {
    "crm_accounts",
    "crm_contacts",
    "crm_opportunities",
    "crm_opportunity_lines",
    "xero_export_requests",
    "xero_draft_requests",
    "xero_account_links",
    "xero_account_summaries",
    "xero_connections",
    "xero_settings",
    # the mirrors of contract section 6 and their watermarks
    "xero_contacts",
    "xero_invoices",
    "xero_credit_notes",
    "xero_revenue_accounts",
    "xero_organisation",
    "xero_sync_state",
}


@pytest.fixture
def engine(empty_db_url):
    engine = create_db_engine(empty_db_url)
    yield engine
    engine.dispose()


def test_upgrade_creates_every_contract_table_and_is_idempotent(engine):
    assert upgrade(engine) == "0002"
    assert set(inspect(engine).get_table_names()) >= CONTRACT_TABLES
    assert upgrade(engine) == "0002"  # a second run is a no-op


def test_models_match_the_migrated_schema(engine):
    """Autogenerate finds nothing to do: models and migrations describe one schema."""
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_downgrade_drops_pipeline_tables_but_keeps_crm_rows(engine):
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO crm_accounts (name) VALUES ('Kept Ltd')"))
    assert downgrade(engine) is None
    tables = set(inspect(engine).get_table_names())
    assert "xero_account_links" not in tables
    assert "crm_accounts" in tables
    assert upgrade(engine) == "0002"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM crm_accounts")).scalar_one() == "Kept Ltd"


def test_existing_crm_tables_and_rows_are_left_alone(engine):
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE crm_accounts (id INTEGER PRIMARY KEY, name VARCHAR(300) NOT NULL,"
                " account_number VARCHAR(50), email VARCHAR(255), phone VARCHAR(50),"
                " website VARCHAR(255), address_line1 VARCHAR(255), address_line2 VARCHAR(255),"
                " city VARCHAR(255), region VARCHAR(255), postal_code VARCHAR(50),"
                " country VARCHAR(50), created_at TIMESTAMP, updated_at TIMESTAMP,"
                " crm_only_column VARCHAR(10))"
            )
        )
        conn.execute(text("INSERT INTO crm_accounts (id, name) VALUES (7, 'Existing plc')"))
    upgrade(engine)
    columns = {c["name"] for c in inspect(engine).get_columns("crm_accounts")}
    assert "crm_only_column" in columns
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM crm_accounts WHERE id = 7")).scalar_one() == (
            "Existing plc"
        )


def test_conflicting_crm_table_is_reported_not_clobbered(engine):
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE crm_accounts (id INTEGER PRIMARY KEY, title VARCHAR(9))"))
        conn.execute(text("INSERT INTO crm_accounts (id, title) VALUES (1, 'old')"))
    with pytest.raises(SchemaConflictError, match=r"crm_accounts .* name"):
        upgrade(engine)
    assert current_revision(engine) is None
    with engine.connect() as conn:
        assert conn.execute(text("SELECT title FROM crm_accounts")).scalar_one() == "old"
    assert "xero_account_links" not in inspect(engine).get_table_names()


def test_unmanaged_pipeline_table_is_reported(engine):
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE xero_account_links (id INTEGER PRIMARY KEY)"))
    with pytest.raises(SchemaConflictError, match="xero_account_links"):
        upgrade(engine)


def test_crm_can_insert_requests_with_plain_sql(db_engine):
    """Server defaults fill status, attempts and timestamps for the CRM's own INSERTs."""
    with db_engine.begin() as conn:
        conn.execute(text("INSERT INTO xero_export_requests (crm_account_id) VALUES (42)"))
        row = conn.execute(
            text("SELECT status, attempts, action, requested_at FROM xero_export_requests")
        ).one()
    assert (row.status, row.attempts, row.action) == ("pending", 0, "export")
    assert row.requested_at is not None


def test_status_is_constrained(db_engine):
    with pytest.raises(IntegrityError), db_engine.begin() as conn:
        conn.execute(
            text("INSERT INTO xero_draft_requests (opportunity_id, status) VALUES (1, 'lost')")
        )


def test_links_are_unique_on_both_sides(db_engine):
    from sqlalchemy.orm import Session

    with Session(db_engine) as session:
        session.add(XeroAccountLink(crm_account_id=1, xero_contact_id="a", matched_by="email"))
        session.commit()
        session.add(XeroAccountLink(crm_account_id=2, xero_contact_id="a", matched_by="name"))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        session.add(XeroAccountLink(crm_account_id=1, xero_contact_id="b", matched_by="name"))
        with pytest.raises(IntegrityError):
            session.commit()


def test_account_number_unique_when_set(db_engine):
    from sqlalchemy.orm import Session

    with Session(db_engine) as session:
        session.add_all([CrmAccount(name="A"), CrmAccount(name="B")])  # NULLs do not clash
        session.add(CrmAccount(name="C", account_number="ACC-1"))
        session.commit()
        session.add(CrmAccount(name="D", account_number="ACC-1"))
        with pytest.raises(IntegrityError):
            session.commit()


def test_money_round_trips_exactly_and_timestamps_are_utc(db_engine):
    from sqlalchemy.orm import Session

    amount = Decimal("12345678901.23")
    with Session(db_engine) as session:
        session.add(
            XeroAccountSummary(
                crm_account_id=1,
                xero_contact_id="c",
                balance=amount,
                overdue_amount=Decimal("0.10"),
                total_sales=Decimal("0.01") * 3,
            )
        )
        session.add(XeroExportRequest(crm_account_id=1))
        session.commit()
    with Session(db_engine) as session:
        summary = session.get(XeroAccountSummary, 1)
        assert summary.balance == amount
        assert isinstance(summary.balance, Decimal)
        assert summary.total_sales == Decimal("0.03")
        assert summary.computed_at.tzinfo is not None
        assert summary.computed_at.utcoffset().total_seconds() == 0
        request = session.query(XeroExportRequest).one()
        assert abs(request.requested_at - datetime.now(UTC)).total_seconds() < 120


@pytest.mark.parametrize("value", ["9999999999999.99", "-0.01", "0.005", "12.345"])
def test_money_is_exact_and_rounds_like_postgresql(db_engine, value):
    from sqlalchemy.orm import Session

    with Session(db_engine) as session:
        session.add(
            XeroAccountSummary(
                crm_account_id=1,
                xero_contact_id="c",
                balance=Decimal(value),
                overdue_amount=Decimal(0),
                total_sales=Decimal(0),
            )
        )
        session.commit()
    with db_engine.connect() as conn:
        stored = conn.execute(text("SELECT balance FROM xero_account_summaries")).scalar_one()
    expected = Decimal(value).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
    with Session(db_engine) as session:
        assert session.get(XeroAccountSummary, 1).balance == expected
    assert Decimal(str(stored)).quantize(Decimal("0.01")) == expected


def test_money_beyond_sqlites_exact_range_is_refused_not_rounded(db_engine):
    from sqlalchemy.exc import StatementError
    from sqlalchemy.orm import Session

    huge = Decimal("1234567890123456.78")
    with Session(db_engine) as session:
        session.add(
            XeroAccountSummary(
                crm_account_id=1,
                xero_contact_id="c",
                balance=huge,
                overdue_amount=Decimal(0),
                total_sales=Decimal(0),
            )
        )
        if db_engine.dialect.name == "sqlite":
            with pytest.raises(StatementError, match="cannot store exactly: use PostgreSQL"):
                session.commit()
            return
        session.commit()
    with Session(db_engine) as session:
        assert session.get(XeroAccountSummary, 1).balance == huge


def test_floats_are_refused_for_money(db_engine):
    from sqlalchemy.exc import StatementError
    from sqlalchemy.orm import Session

    with Session(db_engine) as session:
        session.add(
            XeroAccountSummary(
                crm_account_id=1,
                xero_contact_id="c",
                balance=0.1,
                overdue_amount=Decimal(0),
                total_sales=Decimal(0),
            )
        )
        with pytest.raises(StatementError, match="must be Decimal, not float"):
            session.commit()


def test_crm_table_with_the_wrong_kinds_of_columns_is_reported(engine):
    columns = (
        "id VARCHAR(20) PRIMARY KEY, account_id INTEGER, first_name VARCHAR(50),"
        " last_name VARCHAR(50), email VARCHAR(50), phone INTEGER, mobile VARCHAR(20),"
        " work_phone VARCHAR(20), is_primary BOOLEAN"
    )
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE crm_contacts ({columns})"))
    with pytest.raises(SchemaConflictError) as caught:
        upgrade(engine)
    message = str(caught.value)
    assert "crm_contacts" in message and "left untouched" in message
    assert "id is VARCHAR(20) where integer values are expected" in message
    assert "phone is INTEGER where text values are expected" in message
    assert "crm_opportunities" not in inspect(engine).get_table_names()


def test_mirror_raw_json_keeps_exact_decimals(engine):
    """The whole Xero record is kept as JSON with amounts exact (JSONB on PostgreSQL)."""
    from xero_pipelines.db.mirrors import XeroInvoiceRow

    upgrade(engine)
    raw = {"InvoiceID": "i-1", "Total": Decimal("201.10000000000002"), "Nested": [{"a": 1}]}
    with engine.begin() as conn:
        conn.execute(
            XeroInvoiceRow.__table__.insert(),
            {"tenant_id": "t", "invoice_id": "i-1", "raw": raw, "synced_at": datetime.now(UTC)},
        )
    with engine.connect() as conn:
        stored = conn.execute(XeroInvoiceRow.__table__.select()).one()
    assert stored.raw == raw
    assert isinstance(stored.raw["Total"], Decimal)


def test_open_request_index_is_partial(engine):
    upgrade(engine)
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("xero_export_requests")}
    assert "ix_xero_export_requests_open" in indexes
