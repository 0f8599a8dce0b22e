"""SQLAlchemy models of the contract's tables (../shared/contract.md, section 3).

Three owners share this schema:
- the CRM owns `crm_*` (we create them only where they do not exist yet);
- the CRM inserts request rows, the pipeline moves their `status` on;
- the pipeline owns links, summaries, the Xero connection and the integration settings.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    false,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from xero_pipelines.db.types import Money, Quantity, UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

NOW = func.current_timestamp()
REQUEST_STATUSES = ("pending", "queued", "done", "failed")
MATCHED_BY = ("export", "import", "account_number", "email", "name", "manual")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _status_check() -> CheckConstraint:
    allowed = ", ".join(f"'{s}'" for s in REQUEST_STATUSES)
    return CheckConstraint(f"status IN ({allowed})", name="status")


OPEN_REQUESTS = "status IN ('pending', 'queued')"


def _open_requests_index(table: str) -> Index:
    """A partial index over the rows a sensor tick reads: a table with millions of `done`
    rows keeps it as small as the queue, so a tick stays cheap."""
    where = text(OPEN_REQUESTS)
    return Index(f"ix_{table}_open", "id", sqlite_where=where, postgresql_where=where)


# --- CRM-owned ---------------------------------------------------------------------------


class CrmAccount(Base):
    __tablename__ = "crm_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    account_number: Mapped[str | None] = mapped_column(String(50), unique=True)
    email: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(50))
    website: Mapped[str | None] = mapped_column(String(255))
    address_line1: Mapped[str | None] = mapped_column(String(255))
    address_line2: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(255))
    region: Mapped[str | None] = mapped_column(String(255))
    postal_code: Mapped[str | None] = mapped_column(String(50))
    country: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=NOW)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, server_default=NOW
    )


class CrmContact(Base):
    __tablename__ = "crm_contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("crm_accounts.id"), index=True)
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(50))
    mobile: Mapped[str | None] = mapped_column(String(50))
    work_phone: Mapped[str | None] = mapped_column(String(50))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class CrmOpportunity(Base):
    __tablename__ = "crm_opportunities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("crm_accounts.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    opportunity_number: Mapped[str | None] = mapped_column(String(50))
    po_number: Mapped[str | None] = mapped_column(String(50))
    description: Mapped[str | None] = mapped_column(Text)
    currency_code: Mapped[str | None] = mapped_column(String(3))
    close_date: Mapped[date | None] = mapped_column(Date)
    amount: Mapped[Decimal | None] = mapped_column(Money)


class CrmOpportunityLine(Base):
    __tablename__ = "crm_opportunity_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("crm_opportunities.id"), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    quantity: Mapped[Decimal | None] = mapped_column(Quantity)
    unit_price: Mapped[Decimal | None] = mapped_column(Quantity)
    discount_rate: Mapped[Decimal | None] = mapped_column(Quantity)
    tax_type: Mapped[str | None] = mapped_column(String(50))


# --- Requests: the CRM inserts `pending` rows, the pipeline moves them on ---------------
# No foreign keys here on purpose: a request naming a missing account must still be
# stored, so the pipeline can fail it with a sentence the CRM user can act on.


class XeroExportRequest(Base):
    __tablename__ = "xero_export_requests"
    __table_args__ = (_status_check(), _open_requests_index("xero_export_requests"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    crm_account_id: Mapped[int | None] = mapped_column(Integer)
    main_contact_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20), default="export", server_default="export")
    status: Mapped[str] = mapped_column(
        String(20), default="pending", server_default="pending", index=True
    )
    error: Mapped[str | None] = mapped_column(Text)
    xero_contact_id: Mapped[str | None] = mapped_column(String(36))
    xero_url: Mapped[str | None] = mapped_column(String(500))
    run_id: Mapped[str | None] = mapped_column(String(64))
    # The sensor's run key for the run it asked for (the run id is not known until Dagster
    # launches it); see db/request_queue.py.
    run_key: Mapped[str | None] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=NOW)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class XeroDraftRequest(Base):
    __tablename__ = "xero_draft_requests"
    __table_args__ = (_status_check(), _open_requests_index("xero_draft_requests"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    opportunity_id: Mapped[int | None] = mapped_column(Integer)
    revenue_account_code: Mapped[str | None] = mapped_column(String(10))
    export_type: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(
        String(20), default="pending", server_default="pending", index=True
    )
    error: Mapped[str | None] = mapped_column(Text)
    xero_document_id: Mapped[str | None] = mapped_column(String(36))
    xero_document_number: Mapped[str | None] = mapped_column(String(255))
    xero_url: Mapped[str | None] = mapped_column(String(500))
    run_id: Mapped[str | None] = mapped_column(String(64))
    # The sensor's run key for the run it asked for (the run id is not known until Dagster
    # launches it); see db/request_queue.py.
    run_key: Mapped[str | None] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=NOW)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# --- Pipeline-owned, read by the CRM's account page --------------------------------------


class XeroAccountLink(Base):
    __tablename__ = "xero_account_links"
    __table_args__ = (
        CheckConstraint(
            "matched_by IN (" + ", ".join(f"'{m}'" for m in MATCHED_BY) + ")", name="matched_by"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    crm_account_id: Mapped[int] = mapped_column(Integer, unique=True)
    xero_contact_id: Mapped[str] = mapped_column(String(36), unique=True)
    matched_by: Mapped[str] = mapped_column(String(20))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=NOW)


class XeroAccountSummary(Base):
    __tablename__ = "xero_account_summaries"

    crm_account_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    xero_contact_id: Mapped[str] = mapped_column(String(36))
    currency_code: Mapped[str | None] = mapped_column(String(3))
    balance: Mapped[Decimal] = mapped_column(Money)
    overdue_amount: Mapped[Decimal] = mapped_column(Money)
    total_sales: Mapped[Decimal] = mapped_column(Money)
    last_invoice_date: Mapped[date | None] = mapped_column(Date)
    xero_url: Mapped[str | None] = mapped_column(String(500))
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=NOW)


# --- Integration state: the Xero connection and the setup page ---------------------------


class XeroConnection(Base):
    """The one connected Xero organisation and its (encrypted) OAuth2 token set.

    `token_ciphertext` is a Fernet token over the JSON token set; nothing else here is
    secret, so `status` can show every other column.
    """

    __tablename__ = "xero_connections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(36), unique=True)
    tenant_name: Mapped[str] = mapped_column(String(255))
    connection_id: Mapped[str | None] = mapped_column(String(36))
    token_ciphertext: Mapped[str | None] = mapped_column(Text)
    access_token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    scopes: Mapped[str | None] = mapped_column(Text)
    connected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=NOW)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, server_default=NOW
    )
    needs_reconnect: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    reconnect_reason: Mapped[str | None] = mapped_column(Text)
    last_call_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    min_limit_remaining: Mapped[int | None] = mapped_column(Integer)
    day_limit_remaining: Mapped[int | None] = mapped_column(Integer)


class XeroSetting(Base):
    """One integration setting (contract section 4); absent rows mean the default."""

    __tablename__ = "xero_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, server_default=NOW
    )


CRM_TABLES = ("crm_accounts", "crm_contacts", "crm_opportunities", "crm_opportunity_lines")
