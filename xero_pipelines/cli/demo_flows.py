"""The two flows users came for, as the demo shows them: the scheduled import and the
CRM's buttons. Both run through `defs` exactly as the daemon would run them: the import
job, then the request sensors' ticks and the runs they ask for, on one Dagster instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import click
import dagster as dg
from sqlalchemy import Engine, func, insert, select, update

from xero_pipelines.db.mirrors import XeroContactRow, XeroInvoiceRow
from xero_pipelines.db.models import (
    CrmAccount,
    CrmOpportunity,
    XeroAccountLink,
    XeroAccountSummary,
    XeroDraftRequest,
    XeroExportRequest,
)

# The demo prints its own lines; Dagster's console logs say only what went wrong.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
MIRRORS = ("xero_contacts", "xero_invoices", "xero_credit_notes", "xero_revenue_accounts")


@dataclass(frozen=True)
class ImportRun:
    calls: int
    rows: dict[str, int]


def run_import(instance: dg.DagsterInstance) -> ImportRun:
    """`xero_import_job` in this process; what it cost in Xero calls and rows stored."""
    from xero_pipelines import defs

    job = defs.resolve_job_def("xero_import_job")
    result = job.execute_in_process(instance=instance, run_config=QUIET)
    calls, rows = 0, {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        meta = {k: v.value for k, v in materialization.metadata.items()}
        calls += int(meta.get("xero_calls", 0) or 0)
        key = materialization.asset_key.to_user_string()
        if key in MIRRORS:
            rows[key] = int(meta.get("rows_total", meta.get("rows_read", 0)) or 0)
    return ImportRun(calls, rows)


def known_customers(engine: Engine) -> list[str]:
    """Make three sample CRM accounts the CRM's records of Xero customers that owe money,
    each recognisable by another rule: account number, email (in other case), name (with
    another company suffix). Returns the rules, in the order the accounts were changed."""
    with engine.begin() as conn:
        owing = (
            select(XeroInvoiceRow.contact_id)
            .where(XeroInvoiceRow.status == "AUTHORISED")
            .group_by(XeroInvoiceRow.contact_id)
            .subquery()
        )
        contacts = conn.execute(
            select(XeroContactRow)
            .where(
                XeroContactRow.contact_status == "ACTIVE",
                XeroContactRow.contact_id.in_(select(owing.c.contact_id)),
                XeroContactRow.account_number.is_not(None),
                XeroContactRow.email_address.is_not(None),
            )
            .order_by(XeroContactRow.name)
            .limit(3)
        ).all()
        accounts = conn.scalars(select(CrmAccount.id).order_by(CrmAccount.id).limit(3)).all()
        changes = [
            ("account_number", lambda c: {"account_number": c.account_number}),
            ("email", lambda c: {"email": c.email_address.upper(), "account_number": None}),
            ("name", lambda c: {"name": _other_suffix(c.name), "account_number": None}),
        ]
        for account_id, contact, (_rule, values) in zip(accounts, contacts, changes, strict=False):
            conn.execute(
                update(CrmAccount).where(CrmAccount.id == account_id).values(values(contact))
            )
    return [rule for rule, _ in changes[: len(contacts)]]


def _other_suffix(name: str) -> str:
    for short, long in (("Ltd", "Limited"), ("Limited", "Ltd"), ("Inc", "Incorporated")):
        if name.endswith(f" {short}"):
            return name.upper().removesuffix(short.upper()) + long
    return f"{name.upper()} LTD"


def print_summaries(engine: Engine, limit: int = 3) -> None:
    """The Xero panel of the CRM's account page, for the first linked accounts."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(CrmAccount.name, XeroAccountLink.matched_by, XeroAccountSummary)
            .join(XeroAccountLink, XeroAccountLink.crm_account_id == CrmAccount.id)
            .join(XeroAccountSummary, XeroAccountSummary.crm_account_id == CrmAccount.id)
            .order_by(CrmAccount.id)
            .limit(limit)
        ).all()
    for row in rows:
        money = row.currency_code or ""
        last = row.last_invoice_date.isoformat() if row.last_invoice_date else "-"
        click.echo(f"   ┌ {row.name}  (linked by {row.matched_by})")
        click.echo(
            f"   │ Balance {_amount(row.balance)} {money} · Overdue {_amount(row.overdue_amount)} "
            f"{money} · Total sales {_amount(row.total_sales)} {money} · Last invoice {last}"
        )
        click.echo(f"   └ View in Xero: {row.xero_url}")


def _amount(value: Decimal) -> str:
    return f"{value:,.2f}"


def link_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(XeroAccountLink.matched_by, func.count()).group_by(XeroAccountLink.matched_by)
        ).all()
    return dict(rows)


def insert_requests(engine: Engine, base_currency: str) -> tuple[int, int]:
    """What the CRM inserts when a user clicks "Export to Xero" on an unlinked account and
    "Create Draft Invoice on Xero" on an opportunity of a linked one."""
    with engine.begin() as conn:
        linked = select(XeroAccountLink.crm_account_id)
        account_id = conn.scalar(
            select(CrmAccount.id).where(CrmAccount.id.not_in(linked)).order_by(CrmAccount.id)
        )
        linked_id = conn.scalar(linked.order_by(XeroAccountLink.crm_account_id))
        opportunity_id = conn.scalar(
            insert(CrmOpportunity)
            .values(
                account_id=linked_id,
                name="Annual support renewal",
                opportunity_number="OPP-DEMO-1",
                currency_code=base_currency,
                amount=Decimal("4800.00"),
            )
            .returning(CrmOpportunity.id)
        )
        export_id = conn.scalar(
            insert(XeroExportRequest)
            .values(crm_account_id=account_id)
            .returning(XeroExportRequest.id)
        )
        draft_id = conn.scalar(
            insert(XeroDraftRequest)
            .values(opportunity_id=opportunity_id, revenue_account_code="200")
            .returning(XeroDraftRequest.id)
        )
    return export_id, draft_id


def process_requests(instance: dg.DagsterInstance, crm: dg.ConfigurableResource) -> int:
    """One tick of each request sensor, then the runs it asked for, as the daemon would."""
    from xero_pipelines import defs

    runs = 0
    for name in ("xero_export_request_sensor", "xero_draft_request_sensor"):
        sensor = defs.resolve_sensor_def(name)
        result = sensor(dg.build_sensor_context(instance=instance, resources={"crm": crm}))
        for request in result.run_requests or []:
            job = defs.resolve_job_def(sensor.job_name)
            tags = {**request.tags, "dagster/run_key": request.run_key}
            config = {**request.run_config, **QUIET}
            job.execute_in_process(run_config=config, instance=instance, tags=tags)
            runs += 1
    return runs


def print_request_outcomes(engine: Engine, export_id: int, draft_id: int) -> None:
    with engine.connect() as conn:
        export = conn.execute(
            select(XeroExportRequest).where(XeroExportRequest.id == export_id)
        ).one()
        draft = conn.execute(select(XeroDraftRequest).where(XeroDraftRequest.id == draft_id)).one()
        name = conn.scalar(select(CrmAccount.name).where(CrmAccount.id == export.crm_account_id))
    click.echo(f"   Export of {name}: {export.status}, Xero contact {export.xero_contact_id}")
    click.echo(f"     {export.xero_url or export.error}")
    click.echo(
        f"   Draft invoice: {draft.status}, {draft.xero_document_number or '-'} "
        f"({draft.xero_document_id or draft.error})"
    )
    click.echo(f"     {draft.xero_url or '-'}")
