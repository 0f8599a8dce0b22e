"""The Xero mirrors: contacts, sales invoices, sales credit notes, revenue accounts and the
organisation, each a table of the CRM database of the same name.

Each asset is thin: `mirroring.mirror` reads through the run's `XeroClient`, maps with
`xero.records` and upserts with `db.upsert`; the asset turns its report into metadata and
check results. Incremental rule (contacts, invoices, credit notes): `If-Modified-Since` a
few seconds before the stored watermark, pages of 1,000, rows upserted by Xero id, the
watermark written with the last page. Accounts and Organisation are small and read whole.
Nothing is deleted: archived contacts and voided or deleted documents keep their row.
"""

import dagster as dg
from pydantic import Field
from sqlalchemy import select

from xero_pipelines.assets.catalog import OWNER_LIST, schema_metadata, xero_kinds
from xero_pipelines.assets.mirroring import (
    PAGE_WRITERS,
    PAGES_FOR_WRITERS,
    MirrorReport,
    MirrorSpec,
    call_delta,
    mirror,
    report_metadata,
)
from xero_pipelines.assets.progress import mirror_progress
from xero_pipelines.db.mirrors import XeroOrganisationRow
from xero_pipelines.resources.crm import CrmDatabase
from xero_pipelines.resources.xero import XeroResource
from xero_pipelines.xero.filters import where_equals
from xero_pipelines.xero.records import (
    CONTACTS,
    CREDIT_NOTES,
    INVOICES,
    ORGANISATION,
    REVENUE_ACCOUNTS,
)

GROUP = "xero"
KINDS = xero_kinds()  # xero, and the CRM database's backend
ITEM_COUNT_CHECK = "rows_read_match_item_count"
ORGANISATION_CHECK = "organisation_has_what_summaries_need"

CONTACTS_SPEC = MirrorSpec(
    asset="xero_contacts",
    kind=CONTACTS,
    path="Contacts",
    params={"includeArchived": "true"},
    archived=frozenset({"ARCHIVED"}),
    preview=("contact_id", "name", "account_number", "contact_status", "updated_date_utc"),
)
INVOICES_SPEC = MirrorSpec(
    asset="xero_invoices",
    kind=INVOICES,
    path="Invoices",
    params={"where": where_equals("Type", "ACCREC")},
    archived=frozenset({"VOIDED", "DELETED"}),
    preview=("invoice_number", "contact_id", "status", "currency_code", "total", "amount_due"),
)
CREDIT_NOTES_SPEC = MirrorSpec(
    asset="xero_credit_notes",
    kind=CREDIT_NOTES,
    path="CreditNotes",
    params={"where": where_equals("Type", "ACCRECCREDIT")},
    archived=frozenset({"VOIDED", "DELETED"}),
    preview=("credit_note_number", "contact_id", "status", "total", "remaining_credit"),
)
REVENUE_ACCOUNTS_SPEC = MirrorSpec(
    asset="xero_revenue_accounts",
    kind=REVENUE_ACCOUNTS,
    path="Accounts",
    params={"where": where_equals("Class", "REVENUE")},
    paged=False,
    incremental=False,
    archived=frozenset({"ARCHIVED"}),
    preview=("code", "name", "account_type", "status"),
)
ORGANISATION_SPEC = MirrorSpec(
    asset="xero_organisation",
    kind=ORGANISATION,
    path="Organisation",
    paged=False,
    incremental=False,
    compare="raw",  # Organisation has no UpdatedDateUTC: compare the whole record
    preview=("name", "short_code", "base_currency", "timezone", "country_code"),
)
SPECS = (CONTACTS_SPEC, INVOICES_SPEC, CREDIT_NOTES_SPEC, REVENUE_ACCOUNTS_SPEC, ORGANISATION_SPEC)


class MirrorConfig(dg.Config):
    """Run config of every mirror asset."""

    full_refresh: bool = Field(
        default=False,
        description="Read every record (no If-Modified-Since) and rewrite every row.",
    )
    pages_in_flight: int = Field(
        default=4,
        ge=1,
        le=5,
        description="Pages fetched at once after page 1 (Xero allows 5 calls in flight).",
    )
    page_writers: int = Field(
        default=PAGE_WRITERS,
        ge=0,
        le=16,
        description=(
            "Child processes that decode and store the pages of a long read, so a large "
            "import uses more than one core; 0 stores every page in the run's process."
        ),
    )
    page_writers_from: int = Field(
        default=PAGES_FOR_WRITERS,
        ge=1,
        description="Pages after page 1 from which a read is long enough for page writers.",
    )


def _run(
    context: dg.AssetExecutionContext,
    config: MirrorConfig,
    crm: CrmDatabase,
    xero: XeroResource,
    spec: MirrorSpec,
) -> tuple[MirrorReport, dict]:
    client = xero.get_client()
    before = client.metadata()
    report = mirror(
        client,
        crm.engine(),
        spec,
        tenant_id=xero.tenant_id,
        full_refresh=config.full_refresh,
        in_flight=config.pages_in_flight,
        page_writers=config.page_writers,
        page_writers_from=config.page_writers_from,
        logger=context.log,
        progress=mirror_progress(),  # the `import` command's bars when it runs in-process
    )
    metadata = {**report_metadata(report, spec), **call_delta(before, client.metadata())}
    return report, metadata


def _item_count_check(report: MirrorReport) -> dg.AssetCheckResult:
    """Every record Xero counted for this read was received (stored or reported skipped)."""
    if report.item_count_moved:
        why = (
            f"Xero's itemCount moved during the read ({report.item_count} -> "
            f"{report.last_item_count}); the watermark was kept, so the next run reads "
            "those records again"
        )
    elif report.item_count is None:
        why = "Xero sent no pagination.itemCount; pages were read until an empty one"
    else:
        why = f"read {report.rows_read} records, Xero counted {report.item_count}"
    return dg.AssetCheckResult(
        check_name=ITEM_COUNT_CHECK,
        passed=report.item_count == report.rows_read and not report.item_count_moved,
        severity=dg.AssetCheckSeverity.WARN,
        description=why,
        metadata={
            "rows_read": report.rows_read,
            "item_count": report.item_count if report.item_count is not None else -1,
            "item_count_moved_during_read": report.item_count_moved,
        },
    )


def _paged_mirror(spec: MirrorSpec, description: str):
    """A paged, incremental mirror asset with its item-count check (contacts, invoices,
    credit notes differ only in their spec)."""

    @dg.asset(
        name=spec.asset,
        group_name=GROUP,
        kinds=KINDS,
        owners=OWNER_LIST,
        description=description,
        metadata=schema_metadata(spec.kind.table),
        check_specs=[
            dg.AssetCheckSpec(
                ITEM_COUNT_CHECK,
                asset=spec.asset,
                description="Rows read equal Xero's pagination.itemCount for this read "
                "(counted during the mirror's own read: no extra Xero call).",
            )
        ],
    )
    def _asset(
        context: dg.AssetExecutionContext,
        config: MirrorConfig,
        crm: CrmDatabase,
        xero: XeroResource,
    ) -> dg.MaterializeResult:
        report, metadata = _run(context, config, crm, xero, spec)
        return dg.MaterializeResult(
            metadata={**metadata, "dagster/row_count": report.rows_total},
            check_results=[_item_count_check(report)],
        )

    return _asset


_PAGED_COST = (
    "Costs one Xero call per 1,000 records changed since the last run (one call when "
    "nothing changed); a full refresh costs one call per 1,000 records."
)

xero_contacts = _paged_mirror(
    CONTACTS_SPEC,
    "Every Xero contact, archived ones included (`includeArchived=true`), with "
    f"`MergedToContactID`. {_PAGED_COST}",
)
xero_invoices = _paged_mirror(
    INVOICES_SPEC,
    'Sales invoices (`Type=="ACCREC"`) in every status, so voids and deletions are '
    f"seen; amounts, dates, currency and rate. {_PAGED_COST}",
)
xero_credit_notes = _paged_mirror(
    CREDIT_NOTES_SPEC,
    'Sales credit notes (`Type=="ACCRECCREDIT"`) in every status, with `RemainingCredit` '
    f"and their allocations (in `raw`). {_PAGED_COST}",
)


@dg.asset(
    group_name=GROUP,
    kinds=KINDS,
    owners=OWNER_LIST,
    metadata=schema_metadata(REVENUE_ACCOUNTS_SPEC.kind.table),
    description=(
        'Revenue accounts (`Class=="REVENUE"`) with their status: the revenue types a '
        "user picks for a draft. Costs one Xero call per run (Accounts is not paged)."
    ),
)
def xero_revenue_accounts(
    context: dg.AssetExecutionContext,
    config: MirrorConfig,
    crm: CrmDatabase,
    xero: XeroResource,
) -> dg.MaterializeResult:
    report, metadata = _run(context, config, crm, xero, REVENUE_ACCOUNTS_SPEC)
    return dg.MaterializeResult(metadata={**metadata, "dagster/row_count": report.rows_total})


@dg.asset(
    group_name=GROUP,
    kinds=KINDS,
    owners=OWNER_LIST,
    metadata=schema_metadata(ORGANISATION_SPEC.kind.table),
    description=(
        "The connected organisation: name, ShortCode (for deep links), base currency and "
        "timezone. Costs one Xero call per run."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            ORGANISATION_CHECK,
            asset="xero_organisation",
            description="The organisation row has the ShortCode, base currency and timezone "
            "that summaries and deep links are built from. Reads the mirror: no Xero call.",
        )
    ],
)
def xero_organisation(
    context: dg.AssetExecutionContext,
    config: MirrorConfig,
    crm: CrmDatabase,
    xero: XeroResource,
) -> dg.MaterializeResult:
    report, metadata = _run(context, config, crm, xero, ORGANISATION_SPEC)
    return dg.MaterializeResult(
        metadata={**metadata, "dagster/row_count": report.rows_total},
        check_results=[_organisation_check(crm, xero.tenant_id)],
    )


def _organisation_check(crm: CrmDatabase, tenant_id: str) -> dg.AssetCheckResult:
    org = XeroOrganisationRow
    with crm.engine().connect() as conn:
        row = conn.execute(
            select(org.short_code, org.base_currency, org.timezone).where(
                org.tenant_id == tenant_id
            )
        ).first()
    missing = (
        ["organisation row"]
        if row is None
        else [name for name, value in zip(row._fields, row, strict=True) if not value]
    )
    return dg.AssetCheckResult(
        check_name=ORGANISATION_CHECK,
        passed=not missing,
        metadata={"missing": ", ".join(missing) or "nothing"},
    )


XERO_MIRROR_ASSETS = [
    xero_contacts,
    xero_invoices,
    xero_credit_notes,
    xero_revenue_accounts,
    xero_organisation,
]
