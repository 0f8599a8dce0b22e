"""Xero mirrors, their watermarks, deep links and run keys on requests, open-requests indexes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from xero_pipelines.db.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(18, 2)
RATE = sa.Numeric(18, 6)
RAW = sa.JSON().with_variant(JSONB(), "postgresql")
OPEN_REQUESTS = "status IN ('pending', 'queued')"
REQUEST_TABLES = ("xero_export_requests", "xero_draft_requests")


def _mirrored(*columns: sa.Column) -> list[sa.Column]:
    return [
        sa.Column("tenant_id", sa.String(36), primary_key=True),
        *columns,
        sa.Column("updated_date_utc", UTCDateTime),
        sa.Column("raw", RAW, nullable=False),
        sa.Column("synced_at", UTCDateTime, nullable=False),
    ]


def _document(id_column: str, number_column: str, *extra: sa.Column) -> list[sa.Column]:
    return _mirrored(
        sa.Column(id_column, sa.String(36), primary_key=True),
        sa.Column(number_column, sa.String(255)),
        sa.Column("type", sa.String(20)),
        sa.Column("contact_id", sa.String(36)),
        sa.Column("status", sa.String(20)),
        sa.Column("date", sa.Date),
        sa.Column("currency_code", sa.String(3)),
        sa.Column("currency_rate", RATE),
        sa.Column("total", MONEY),
        sa.Column("reference", sa.String(255)),
        *extra,
    )


def upgrade() -> None:
    op.create_table(
        "xero_contacts",
        *_mirrored(
            sa.Column("contact_id", sa.String(36), primary_key=True),
            sa.Column("name", sa.String(255)),
            sa.Column("account_number", sa.String(50)),
            sa.Column("contact_number", sa.String(50)),
            sa.Column("email_address", sa.String(255)),
            sa.Column("first_name", sa.String(255)),
            sa.Column("last_name", sa.String(255)),
            sa.Column("contact_status", sa.String(20)),
            sa.Column("is_customer", sa.Boolean),
            sa.Column("is_supplier", sa.Boolean),
            sa.Column("merged_to_contact_id", sa.String(36)),
        ),
    )
    op.create_index(
        "ix_xero_contacts_account_number", "xero_contacts", ["tenant_id", "account_number"]
    )
    op.create_table(
        "xero_invoices",
        *_document(
            "invoice_id",
            "invoice_number",
            sa.Column("due_date", sa.Date),
            sa.Column("amount_due", MONEY),
            sa.Column("amount_paid", MONEY),
            sa.Column("amount_credited", MONEY),
        ),
    )
    op.create_index("ix_xero_invoices_contact", "xero_invoices", ["tenant_id", "contact_id"])
    op.create_table(
        "xero_credit_notes",
        *_document("credit_note_id", "credit_note_number", sa.Column("remaining_credit", MONEY)),
    )
    op.create_index(
        "ix_xero_credit_notes_contact", "xero_credit_notes", ["tenant_id", "contact_id"]
    )
    op.create_table(
        "xero_revenue_accounts",
        *_mirrored(
            sa.Column("account_id", sa.String(36), primary_key=True),
            sa.Column("code", sa.String(10)),
            sa.Column("name", sa.String(150)),
            sa.Column("status", sa.String(20)),
            sa.Column("account_type", sa.String(30)),
            sa.Column("tax_type", sa.String(50)),
        ),
    )
    op.create_table(
        "xero_organisation",
        *_mirrored(
            sa.Column("organisation_id", sa.String(36)),
            sa.Column("name", sa.String(255)),
            sa.Column("short_code", sa.String(20)),
            sa.Column("base_currency", sa.String(3)),
            sa.Column("timezone", sa.String(100)),
            sa.Column("country_code", sa.String(3)),
        ),
    )
    op.create_table(
        "xero_sync_state",
        sa.Column("tenant_id", sa.String(36), primary_key=True),
        sa.Column("asset", sa.String(64), primary_key=True),
        sa.Column("watermark", UTCDateTime),
        sa.Column("last_synced_at", UTCDateTime),
        sa.Column("rows_total", sa.Integer, nullable=False),
    )
    for table in REQUEST_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("xero_url", sa.String(500)))
            batch.add_column(sa.Column("run_key", sa.String(128)))
        op.create_index(
            f"ix_{table}_open",
            table,
            ["id"],
            sqlite_where=sa.text(OPEN_REQUESTS),
            postgresql_where=sa.text(OPEN_REQUESTS),
        )


def downgrade() -> None:
    for table in REQUEST_TABLES:
        op.drop_index(f"ix_{table}_open", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("run_key")
            batch.drop_column("xero_url")
    for table in (
        "xero_sync_state",
        "xero_organisation",
        "xero_revenue_accounts",
        "xero_credit_notes",
        "xero_invoices",
        "xero_contacts",
    ):
        op.drop_table(table)
