"""Tables that mirror Xero (contract section 6): one per mirror asset, of the same name.

Each row has `tenant_id` (so a second organisation can be added without a rewrite), typed
columns for what the pipeline reads, and the whole Xero record as JSON (`raw`, JSONB on
PostgreSQL) for what data teams want beyond them. Rows are upserted by Xero's id and never
deleted: an archived contact or a voided invoice keeps its row with its status.

`xero_sync_state` holds each mirror's watermark per organisation (the greatest
`UpdatedDateUTC` stored), written in the same transaction as the last page it covers.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Index, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from xero_pipelines.db.models import Base
from xero_pipelines.db.types import ExactNumeric, Money, UTCDateTime, utcnow

RawJson = JSON().with_variant(JSONB(), "postgresql")
Rate = ExactNumeric(18, 6)  # Xero's CurrencyRate has up to 6 decimal places


class _Mirrored:
    """Columns every mirror row has."""

    tenant_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    updated_date_utc: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    raw: Mapped[dict[str, Any]] = mapped_column(RawJson)
    synced_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class XeroContactRow(_Mirrored, Base):
    __tablename__ = "xero_contacts"
    __table_args__ = (Index("ix_xero_contacts_account_number", "tenant_id", "account_number"),)

    contact_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255))
    account_number: Mapped[str | None] = mapped_column(String(50))
    contact_number: Mapped[str | None] = mapped_column(String(50))
    email_address: Mapped[str | None] = mapped_column(String(255))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    contact_status: Mapped[str | None] = mapped_column(String(20))
    is_customer: Mapped[bool | None] = mapped_column(Boolean)
    is_supplier: Mapped[bool | None] = mapped_column(Boolean)
    merged_to_contact_id: Mapped[str | None] = mapped_column(String(36))


class _Document(_Mirrored):
    """What invoices and credit notes share: the money the summaries are made of."""

    type: Mapped[str | None] = mapped_column(String(20))
    contact_id: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str | None] = mapped_column(String(20))
    date: Mapped[dt.date | None] = mapped_column(Date)
    currency_code: Mapped[str | None] = mapped_column(String(3))
    currency_rate: Mapped[Decimal | None] = mapped_column(Rate)
    total: Mapped[Decimal | None] = mapped_column(Money)
    reference: Mapped[str | None] = mapped_column(String(255))


class XeroInvoiceRow(_Document, Base):
    __tablename__ = "xero_invoices"
    __table_args__ = (Index("ix_xero_invoices_contact", "tenant_id", "contact_id"),)

    invoice_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    invoice_number: Mapped[str | None] = mapped_column(String(255))
    due_date: Mapped[dt.date | None] = mapped_column(Date)
    amount_due: Mapped[Decimal | None] = mapped_column(Money)
    amount_paid: Mapped[Decimal | None] = mapped_column(Money)
    amount_credited: Mapped[Decimal | None] = mapped_column(Money)


class XeroCreditNoteRow(_Document, Base):
    __tablename__ = "xero_credit_notes"
    __table_args__ = (Index("ix_xero_credit_notes_contact", "tenant_id", "contact_id"),)

    credit_note_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    credit_note_number: Mapped[str | None] = mapped_column(String(255))
    remaining_credit: Mapped[Decimal | None] = mapped_column(Money)


class XeroRevenueAccountRow(_Mirrored, Base):
    __tablename__ = "xero_revenue_accounts"

    account_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    code: Mapped[str | None] = mapped_column(String(10))
    name: Mapped[str | None] = mapped_column(String(150))
    status: Mapped[str | None] = mapped_column(String(20))
    account_type: Mapped[str | None] = mapped_column(String(30))
    tax_type: Mapped[str | None] = mapped_column(String(50))


class XeroOrganisationRow(_Mirrored, Base):
    __tablename__ = "xero_organisation"

    organisation_id: Mapped[str | None] = mapped_column(String(36))
    name: Mapped[str | None] = mapped_column(String(255))
    short_code: Mapped[str | None] = mapped_column(String(20))
    base_currency: Mapped[str | None] = mapped_column(String(3))
    timezone: Mapped[str | None] = mapped_column(String(100))
    country_code: Mapped[str | None] = mapped_column(String(3))


class XeroSyncState(Base):
    """Per organisation and mirror: the watermark and when the mirror last synced."""

    __tablename__ = "xero_sync_state"

    tenant_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    asset: Mapped[str] = mapped_column(String(64), primary_key=True)
    watermark: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_synced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    rows_total: Mapped[int] = mapped_column(Integer, default=0)


MIRROR_MODELS = (
    XeroContactRow,
    XeroInvoiceRow,
    XeroCreditNoteRow,
    XeroRevenueAccountRow,
    XeroOrganisationRow,
)
