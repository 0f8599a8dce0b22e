"""The contract's tables: CRM (only where missing), requests, links, summaries, connection.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from xero_pipelines.db.errors import SchemaConflictError
from xero_pipelines.db.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

MONEY = sa.Numeric(18, 2)
QUANTITY = sa.Numeric(18, 4)
STATUS_CHECK = "status IN ('pending', 'queued', 'done', 'failed')"
MATCHED_BY_CHECK = "matched_by IN ('export', 'import', 'account_number', 'email', 'name', 'manual')"

# Columns the pipeline reads from the CRM's tables, with the kind of value it expects:
# a pre-existing table that lacks one, or holds another kind, is reported, never altered.
INTEGER, TEXT, NUMBER, ANY = "integer", "text", "number", "any"
_TEXT = {"name", "email", "phone", "mobile", "work_phone", "website", "account_number",
         "address_line1", "address_line2", "city", "region", "postal_code", "country",
         "first_name", "last_name", "opportunity_number", "po_number", "description",
         "currency_code", "tax_type"}  # fmt: skip
_INTEGER = {"id", "account_id", "opportunity_id"}
_NUMBER = {"amount", "quantity", "unit_price", "discount_rate"}
CRM_REQUIRED_COLUMNS = {
    "crm_accounts": ["id", "name", "account_number", "email", "phone", "website",
                     "address_line1", "address_line2", "city", "region", "postal_code",
                     "country", "created_at", "updated_at"],
    "crm_contacts": ["id", "account_id", "first_name", "last_name", "email", "phone", "mobile",
                     "work_phone", "is_primary"],
    "crm_opportunities": ["id", "account_id", "name", "opportunity_number", "po_number",
                          "description", "currency_code", "close_date", "amount"],
    "crm_opportunity_lines": ["id", "opportunity_id", "description", "quantity", "unit_price",
                              "discount_rate", "tax_type"],
}  # fmt: skip


def _kind(column: str) -> str:
    if column in _INTEGER:
        return INTEGER
    if column in _NUMBER:
        return NUMBER
    return TEXT if column in _TEXT else ANY


def _fits(kind: str, reflected: sa.types.TypeEngine) -> bool:
    if kind == ANY or isinstance(reflected, sa.types.NullType):  # untyped SQLite column
        return True
    if kind == INTEGER:
        return isinstance(reflected, sa.Integer)
    if kind == NUMBER:
        return isinstance(reflected, sa.Numeric | sa.Integer)
    return isinstance(reflected, sa.String)


def _existing_columns() -> dict[str, dict[str, sa.types.TypeEngine]]:
    inspector = sa.inspect(op.get_bind())
    return {
        table: {c["name"]: c["type"] for c in inspector.get_columns(table)}
        for table in inspector.get_table_names()
    }


def _check_existing(existing: dict, table: str, required: list[str]) -> bool:
    """True when `table` already exists in a usable layout; raises when it conflicts."""
    if table not in existing:
        return False
    columns = existing[table]
    problems = [f"no column {c}" for c in required if c not in columns]
    problems += [
        f"{c} is {columns[c]} where {_kind(c)} values are expected"
        for c in required
        if c in columns and not _fits(_kind(c), columns[c])
    ]
    if problems:
        raise SchemaConflictError(
            f"table {table} already exists with a layout the pipeline cannot use "
            f"({'; '.join(problems)}); it was left untouched: migrate it to the contract's "
            "layout or use another database"
        )
    return True


def _crm_tables(existing: dict[str, set[str]]) -> None:
    if not _check_existing(existing, "crm_accounts", CRM_REQUIRED_COLUMNS["crm_accounts"]):
        op.create_table(
            "crm_accounts",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(255), nullable=False),
            sa.Column("account_number", sa.String(50)),
            sa.Column("email", sa.String(255)),
            sa.Column("phone", sa.String(50)),
            sa.Column("website", sa.String(255)),
            sa.Column("address_line1", sa.String(255)),
            sa.Column("address_line2", sa.String(255)),
            sa.Column("city", sa.String(255)),
            sa.Column("region", sa.String(255)),
            sa.Column("postal_code", sa.String(50)),
            sa.Column("country", sa.String(50)),
            sa.Column(
                "created_at",
                UTCDateTime,
                nullable=False,
                server_default=sa.func.current_timestamp(),
            ),
            sa.Column(
                "updated_at",
                UTCDateTime,
                nullable=False,
                server_default=sa.func.current_timestamp(),
            ),
            sa.UniqueConstraint("account_number", name="uq_crm_accounts_account_number"),
        )
    if not _check_existing(existing, "crm_contacts", CRM_REQUIRED_COLUMNS["crm_contacts"]):
        op.create_table(
            "crm_contacts",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column(
                "account_id",
                sa.Integer,
                sa.ForeignKey("crm_accounts.id", name="fk_crm_contacts_account_id_crm_accounts"),
                nullable=False,
            ),
            sa.Column("first_name", sa.String(255)),
            sa.Column("last_name", sa.String(255)),
            sa.Column("email", sa.String(255)),
            sa.Column("phone", sa.String(50)),
            sa.Column("mobile", sa.String(50)),
            sa.Column("work_phone", sa.String(50)),
            sa.Column("is_primary", sa.Boolean, nullable=False, server_default=sa.false()),
        )
        op.create_index("ix_crm_contacts_account_id", "crm_contacts", ["account_id"])
    if not _check_existing(
        existing, "crm_opportunities", CRM_REQUIRED_COLUMNS["crm_opportunities"]
    ):
        op.create_table(
            "crm_opportunities",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column(
                "account_id",
                sa.Integer,
                sa.ForeignKey(
                    "crm_accounts.id", name="fk_crm_opportunities_account_id_crm_accounts"
                ),
                nullable=False,
            ),
            sa.Column("name", sa.String(255)),
            sa.Column("opportunity_number", sa.String(50)),
            sa.Column("po_number", sa.String(50)),
            sa.Column("description", sa.Text),
            sa.Column("currency_code", sa.String(3)),
            sa.Column("close_date", sa.Date),
            sa.Column("amount", MONEY),
        )
        op.create_index("ix_crm_opportunities_account_id", "crm_opportunities", ["account_id"])
    if not _check_existing(
        existing, "crm_opportunity_lines", CRM_REQUIRED_COLUMNS["crm_opportunity_lines"]
    ):
        op.create_table(
            "crm_opportunity_lines",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column(
                "opportunity_id",
                sa.Integer,
                sa.ForeignKey(
                    "crm_opportunities.id",
                    name="fk_crm_opportunity_lines_opportunity_id_crm_opportunities",
                ),
                nullable=False,
            ),
            sa.Column("description", sa.Text),
            sa.Column("quantity", QUANTITY),
            sa.Column("unit_price", QUANTITY),
            sa.Column("discount_rate", QUANTITY),
            sa.Column("tax_type", sa.String(50)),
        )
        op.create_index(
            "ix_crm_opportunity_lines_opportunity_id", "crm_opportunity_lines", ["opportunity_id"]
        )


def _request_columns() -> list[sa.Column]:
    return [
        sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("error", sa.Text),
        sa.Column("run_id", sa.String(64)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column(
            "requested_at", UTCDateTime, nullable=False, server_default=sa.func.current_timestamp()
        ),
        sa.Column("processed_at", UTCDateTime),
    ]


OWNED_TABLES = (
    "xero_export_requests",
    "xero_draft_requests",
    "xero_account_links",
    "xero_account_summaries",
    "xero_connections",
    "xero_settings",
)


def upgrade() -> None:
    existing = _existing_columns()
    _crm_tables(existing)
    for table in OWNED_TABLES:
        if table in existing:
            raise SchemaConflictError(
                f"table {table} already exists but this database has no migration record; "
                "it was left untouched: drop or rename it, or use another database"
            )

    op.create_table(
        "xero_export_requests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("crm_account_id", sa.Integer),
        sa.Column("main_contact_id", sa.Integer),
        sa.Column("action", sa.String(20), nullable=False, server_default="export"),
        sa.Column("xero_contact_id", sa.String(36)),
        *_request_columns(),
        sa.CheckConstraint(STATUS_CHECK, name="ck_xero_export_requests_status"),
    )
    op.create_index("ix_xero_export_requests_status", "xero_export_requests", ["status"])

    op.create_table(
        "xero_draft_requests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("opportunity_id", sa.Integer),
        sa.Column("revenue_account_code", sa.String(10)),
        sa.Column("export_type", sa.String(20)),
        sa.Column("xero_document_id", sa.String(36)),
        sa.Column("xero_document_number", sa.String(255)),
        *_request_columns(),
        sa.CheckConstraint(STATUS_CHECK, name="ck_xero_draft_requests_status"),
    )
    op.create_index("ix_xero_draft_requests_status", "xero_draft_requests", ["status"])

    op.create_table(
        "xero_account_links",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("crm_account_id", sa.Integer, nullable=False),
        sa.Column("xero_contact_id", sa.String(36), nullable=False),
        sa.Column("matched_by", sa.String(20), nullable=False),
        sa.Column(
            "linked_at", UTCDateTime, nullable=False, server_default=sa.func.current_timestamp()
        ),
        sa.UniqueConstraint("crm_account_id", name="uq_xero_account_links_crm_account_id"),
        sa.UniqueConstraint("xero_contact_id", name="uq_xero_account_links_xero_contact_id"),
        sa.CheckConstraint(MATCHED_BY_CHECK, name="ck_xero_account_links_matched_by"),
    )

    op.create_table(
        "xero_account_summaries",
        sa.Column("crm_account_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("xero_contact_id", sa.String(36), nullable=False),
        sa.Column("currency_code", sa.String(3)),
        sa.Column("balance", MONEY, nullable=False),
        sa.Column("overdue_amount", MONEY, nullable=False),
        sa.Column("total_sales", MONEY, nullable=False),
        sa.Column("last_invoice_date", sa.Date),
        sa.Column("xero_url", sa.String(500)),
        sa.Column(
            "computed_at", UTCDateTime, nullable=False, server_default=sa.func.current_timestamp()
        ),
    )

    op.create_table(
        "xero_connections",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("tenant_name", sa.String(255), nullable=False),
        sa.Column("connection_id", sa.String(36)),
        sa.Column("token_ciphertext", sa.Text),
        sa.Column("access_token_expires_at", UTCDateTime),
        sa.Column("scopes", sa.Text),
        sa.Column(
            "connected_at", UTCDateTime, nullable=False, server_default=sa.func.current_timestamp()
        ),
        sa.Column(
            "updated_at", UTCDateTime, nullable=False, server_default=sa.func.current_timestamp()
        ),
        sa.Column("needs_reconnect", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("reconnect_reason", sa.Text),
        sa.Column("last_call_at", UTCDateTime),
        sa.Column("min_limit_remaining", sa.Integer),
        sa.Column("day_limit_remaining", sa.Integer),
        sa.UniqueConstraint("tenant_id", name="uq_xero_connections_tenant_id"),
    )

    op.create_table(
        "xero_settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column(
            "updated_at", UTCDateTime, nullable=False, server_default=sa.func.current_timestamp()
        ),
    )


def downgrade() -> None:
    # CRM-owned tables stay: their rows are the CRM's, whoever created the tables.
    for table in reversed(OWNED_TABLES):
        op.drop_table(table)
