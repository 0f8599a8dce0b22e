"""`xero_account_summaries`: each linked account's balance, overdue amount, sales and last
invoice date, in the organisation's base currency, for the CRM's account page.

Set-based: two aggregate queries (sales invoices, sales credit notes) sum the mirrored
documents of linked contacts to integer cents per (contact, currency rate); the pure
`domain.summaries.contact_figures` converts and rounds once. Always from the documents,
never from contact reads: Xero does not bump a contact's `UpdatedDateUTC` when its balance
changes, so an incremental contact read would miss it. The table is written by difference
in one transaction; `computed_at` is when a row's figures last changed.
"""

# No `from __future__ import annotations` here: Dagster resolves `SummaryConfig` from the
# asset's signature at definition time, and a string annotation cannot be resolved.
from collections.abc import Collection, Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import dagster as dg
from pydantic import Field
from sqlalchemy import (
    BigInteger,
    Connection,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from xero_pipelines.assets.catalog import OWNER_LIST, schema_metadata, xero_kinds
from xero_pipelines.assets.links import LINKS, connected_tenant
from xero_pipelines.db.engine import locked_transaction
from xero_pipelines.db.mirrors import XeroCreditNoteRow, XeroInvoiceRow, XeroOrganisationRow
from xero_pipelines.db.models import XeroAccountSummary
from xero_pipelines.db.types import utcnow
from xero_pipelines.domain.catalog import INTEGRATION_GROUP
from xero_pipelines.domain.markdown import markdown_table
from xero_pipelines.domain.summaries import (
    NO_DOCUMENTS,
    ZERO,
    ContactFigures,
    RateGroup,
    UnknownTimezoneError,
    contact_deep_link,
    contact_figures,
    today_in,
)
from xero_pipelines.resources.crm import CrmDatabase
from xero_pipelines.resources.xero import XeroResource
from xero_pipelines.xero.filters import ids_param

INVOICES = XeroInvoiceRow.__table__
CREDIT_NOTES = XeroCreditNoteRow.__table__
ORGANISATION = XeroOrganisationRow.__table__
SUMMARIES = XeroAccountSummary.__table__
SALES_INVOICE = "ACCREC"
SALES_CREDIT = "ACCRECCREDIT"
COUNTED = ("AUTHORISED", "PAID")  # what counts as a sale; AUTHORISED alone is still owed
FIGURES = (
    "xero_contact_id",
    "currency_code",
    "balance",
    "overdue_amount",
    "total_sales",
    "last_invoice_date",
    "xero_url",
)
CHECK_SAMPLE = 50
SUMMARY_COLUMNS = {
    "balance": "AmountDue of AUTHORISED sales invoices less unallocated credit, base currency",
    "overdue_amount": "Of the balance, what was due before today in the organisation's timezone",
    "total_sales": "AUTHORISED and PAID sales invoices less credit notes, base currency",
    "computed_at": "When this row's figures last changed",
}


class SummaryConfig(dg.Config):
    as_of_utc: str | None = Field(
        default=None,
        description="ISO 8601 instant that decides 'today' for overdue amounts (default: now)",
    )


# ---- reading -------------------------------------------------------------------------------


def _cents(amount: ColumnElement) -> ColumnElement:
    """An amount as integer cents, exact on both databases: Money holds at most two
    decimals, and SQLite's floats are exact to 15 digits, so ROUND(x * 100) is exact."""
    return cast(func.round(func.coalesce(amount, 0) * 100), BigInteger)


def _sum_if(condition: ColumnElement, amount: ColumnElement) -> ColumnElement:
    return func.sum(case((condition, _cents(amount)), else_=0))


def invoice_groups(
    conn: Connection, tenant: str, today: date, contact_ids: Collection[str] | None = None
) -> list[RateGroup]:
    """Linked contacts' sales invoices, AUTHORISED and PAID, per (contact, currency rate)."""
    i = INVOICES.c
    authorised = i.status == "AUTHORISED"
    stmt = select(
        i.contact_id,
        i.currency_rate,
        _sum_if(authorised, i.amount_due),
        _sum_if(authorised & (i.due_date < today), i.amount_due),
        func.sum(_cents(i.total)),
        func.max(i.date),
    ).where(
        _scan(conn, i.tenant_id, contact_ids) == tenant,
        i.type == SALES_INVOICE,
        i.status.in_(COUNTED),
    )
    stmt = _only(stmt, i.contact_id, contact_ids).group_by(i.contact_id, i.currency_rate)
    return [
        RateGroup(contact, rate, int(due or 0), int(overdue or 0), int(sales or 0), last)
        for contact, rate, due, overdue, sales, last in conn.execute(stmt).all()
    ]


def credit_note_groups(
    conn: Connection, tenant: str, contact_ids: Collection[str] | None = None
) -> list[RateGroup]:
    """Linked contacts' sales credit notes as negative groups: unallocated credit off the
    balance (AUTHORISED), the note's total off the sales (AUTHORISED and PAID)."""
    n = CREDIT_NOTES.c
    stmt = select(
        n.contact_id,
        n.currency_rate,
        _sum_if(n.status == "AUTHORISED", n.remaining_credit),
        func.sum(_cents(n.total)),
    ).where(
        _scan(conn, n.tenant_id, contact_ids) == tenant,
        n.type == SALES_CREDIT,
        n.status.in_(COUNTED),
    )
    stmt = _only(stmt, n.contact_id, contact_ids).group_by(n.contact_id, n.currency_rate)
    return [
        RateGroup(contact, rate, -int(remaining or 0), 0, -int(total or 0))
        for contact, rate, remaining, total in conn.execute(stmt).all()
    ]


def _only(stmt, contact_column, contact_ids: Collection[str] | None):
    """Restrict to the given contacts, or (None) to linked ones: `IN (SELECT ...)`, a hash
    semi-join on PostgreSQL and one probe of the link table's unique index per row on
    SQLite."""
    if contact_ids is not None:
        return stmt.where(contact_column.in_(list(contact_ids)))
    return stmt.where(contact_column.in_(select(LINKS.c.xero_contact_id)))


def _scan(
    conn: Connection, tenant_column: ColumnElement, contact_ids: Collection[str] | None
) -> ColumnElement:
    """The tenant column, wrapped on SQLite when every linked contact is wanted, so that
    its planner reads the table in one sequential scan instead of walking the
    (tenant_id, contact_id) index and fetching every row at random (3x the CPU at a
    million invoices). Same meaning: the column is never null. For a few contacts (the
    check's sample) the index is right; PostgreSQL plans the plain column well."""
    if conn.dialect.name == "sqlite" and contact_ids is None:
        return func.coalesce(tenant_column, "")
    return tenant_column


def _roomy_sorts(conn: Connection) -> None:
    """On PostgreSQL, let this transaction group a million invoices in memory (the 4 MB
    default spills the sort to disk); `SET LOCAL` ends with the transaction."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")


def read_organisation(conn: Connection, tenant: str) -> dict[str, Any]:
    o = ORGANISATION.c
    stmt = select(o.base_currency, o.short_code, o.timezone).where(o.tenant_id == tenant)
    row = conn.execute(stmt).first()
    return (
        dict(row._mapping) if row else {"base_currency": None, "short_code": None, "timezone": None}
    )


def organisation_today(timezone: str | None, now: datetime) -> tuple[date, str | None]:
    """Today in the organisation's timezone, or in UTC with a warning when it is unknown."""
    try:
        return today_in(timezone, now), None
    except UnknownTimezoneError as exc:
        return now.date(), f"{exc}; overdue amounts use the UTC date"


# ---- the rows ------------------------------------------------------------------------------


def summary_rows(
    links: Iterable[tuple[int, str]],
    figures: dict[str, ContactFigures],
    organisation: dict[str, Any],
) -> dict[int, tuple[Any, ...]]:
    """crm_account_id -> the row's figures (in `FIGURES` order); zeros without documents."""
    short_code = organisation["short_code"]
    rows = {}
    for account_id, contact_id in links:
        f = figures.get(contact_id, NO_DOCUMENTS)
        url = contact_deep_link(short_code, contact_id) if short_code else None
        rows[account_id] = (
            contact_id,
            organisation["base_currency"],
            f.balance,
            f.overdue_amount,
            f.total_sales,
            f.last_invoice_date,
            url,
        )
    return rows


def read_summaries(conn: Connection) -> dict[int, tuple[Any, ...]]:
    stmt = select(SUMMARIES.c.crm_account_id, *(SUMMARIES.c[name] for name in FIGURES))
    return {row[0]: tuple(row[1:]) for row in conn.execute(stmt).all()}


def write_by_difference(
    conn: Connection, wanted: dict[int, tuple[Any, ...]], stored: dict[int, tuple[Any, ...]]
) -> dict[str, int]:
    """Insert new rows, update changed ones, delete those of accounts no longer linked."""
    now = utcnow()
    gone = [a for a in stored if a not in wanted]
    new = [a for a in wanted if a not in stored]
    changed = [a for a in wanted if a in stored and stored[a] != wanted[a]]
    if gone:
        conn.execute(
            delete(SUMMARIES).where(SUMMARIES.c.crm_account_id == bindparam("b_account")),
            [{"b_account": a} for a in gone],
        )
    if changed:
        values = {name: bindparam(f"b_{name}") for name in FIGURES}
        conn.execute(
            update(SUMMARIES)
            .where(SUMMARIES.c.crm_account_id == bindparam("b_account"))
            .values(**values, computed_at=now),
            [{"b_account": a, **_bound(wanted[a])} for a in changed],
        )
    if new:
        conn.execute(
            insert(SUMMARIES),
            [
                {
                    "crm_account_id": a,
                    **dict(zip(FIGURES, wanted[a], strict=True)),
                    "computed_at": now,
                }
                for a in new
            ],
        )
    return {
        "inserted": len(new),
        "updated": len(changed),
        "deleted": len(gone),
        "unchanged": len(wanted) - len(new) - len(changed),
    }


def _bound(row: tuple[Any, ...]) -> dict[str, Any]:
    return {f"b_{name}": value for name, value in zip(FIGURES, row, strict=True)}


def _now(config: SummaryConfig) -> datetime:
    if config.as_of_utc is None:
        return utcnow()
    instant = datetime.fromisoformat(config.as_of_utc)
    if instant.tzinfo is None:
        raise ValueError("as_of_utc needs a time zone, e.g. 2026-03-01T12:00:00+00:00")
    return instant


# ---- the asset -----------------------------------------------------------------------------


@dg.asset(
    group_name=INTEGRATION_GROUP,
    deps=[
        dg.AssetKey("xero_account_links"),
        dg.AssetKey("xero_invoices"),
        dg.AssetKey("xero_credit_notes"),
        dg.AssetKey("xero_organisation"),
    ],
    kinds=xero_kinds(),
    owners=OWNER_LIST,
    metadata=schema_metadata(SUMMARIES, SUMMARY_COLUMNS),
)
def xero_account_summaries(config: SummaryConfig, crm: CrmDatabase) -> dg.MaterializeResult:
    """Every linked account's figures in the organisation's base currency: `balance`
    (AmountDue of AUTHORISED sales invoices less unallocated credit), `overdue_amount`
    (of those, due before today in the organisation's timezone), `total_sales` (AUTHORISED
    and PAID invoices less credit notes), `last_invoice_date`, and a deep link into Xero.
    Linked accounts without documents get zeros; unlinked accounts lose their row.
    Reads the mirrors and the link table: no Xero call.
    """
    now = _now(config)
    # The write lock up front: on SQLite a transaction that reads and then writes fails
    # at once ("database is locked") if another connection committed in between, e.g. a
    # request job or the token store recording Xero's limit headers.
    with locked_transaction(crm.engine()) as conn:
        _roomy_sorts(conn)
        tenant = connected_tenant(conn)
        organisation = read_organisation(conn, tenant)
        today, warning = organisation_today(organisation["timezone"], now)
        groups = invoice_groups(conn, tenant, today) + credit_note_groups(conn, tenant)
        links = conn.execute(select(LINKS.c.crm_account_id, LINKS.c.xero_contact_id)).all()
        wanted = summary_rows(links, contact_figures(groups), organisation)
        counts = write_by_difference(conn, wanted, read_summaries(conn))
    with_documents = {g.contact_id for g in groups}
    metadata: dict[str, Any] = {
        "linked_accounts": len(wanted),
        "accounts_with_documents": sum(1 for r in wanted.values() if r[0] in with_documents),
        "rate_groups": len(groups),
        **{f"rows_{k}": v for k, v in counts.items()},
        "currency_code": organisation["base_currency"] or "",
        "today": today.isoformat(),
        # Decimal text, not a float: money stays exact even in metadata.
        "total_balance": str(sum((r[2] for r in wanted.values()), Decimal("0.00"))),
        "total_overdue": str(sum((r[3] for r in wanted.values()), Decimal("0.00"))),
    }
    if warning:
        metadata["warning"] = warning
    metadata["dagster/row_count"] = len(wanted)
    metadata["largest_balances"] = dg.MetadataValue.md(largest_balances(wanted))
    return dg.MaterializeResult(metadata=metadata)


PREVIEW_ROWS = 10


def largest_balances(wanted: dict[int, tuple[Any, ...]]) -> str:
    """The accounts owing most, each with a link that opens its Xero contact."""
    top = sorted(wanted.items(), key=lambda item: (-item[1][2], item[0]))[:PREVIEW_ROWS]
    rows = [
        {"crm_account_id": account, **dict(zip(FIGURES, figures, strict=True))}
        for account, figures in top
    ]
    columns = ("crm_account_id", "balance", "overdue_amount", "currency_code", "xero_url")
    return markdown_table(rows, columns, links=("xero_url",), empty="_no linked account_")


# ---- checks --------------------------------------------------------------------------------


@dg.asset_check(
    asset=xero_account_summaries,
    description=(
        "Every linked account has exactly one summary row, for its linked contact, and no "
        "unlinked account has one. Reads two tables: costs no Xero call."
    ),
)
def summaries_cover_the_links(crm: CrmDatabase) -> dg.AssetCheckResult:
    with crm.engine().connect() as conn:
        links = dict(conn.execute(select(LINKS.c.crm_account_id, LINKS.c.xero_contact_id)).all())
        rows = dict(
            conn.execute(select(SUMMARIES.c.crm_account_id, SUMMARIES.c.xero_contact_id)).all()
        )
    missing = sorted(a for a in links if a not in rows)
    extra = sorted(a for a in rows if a not in links)
    wrong = sorted(a for a in links if a in rows and rows[a] != links[a])
    return dg.AssetCheckResult(
        passed=not (missing or extra or wrong),
        metadata={
            "links": len(links),
            "missing_rows": dg.MetadataValue.json(missing[:50]),
            "rows_without_link": dg.MetadataValue.json(extra[:50]),
            "rows_for_another_contact": dg.MetadataValue.json(wrong[:50]),
        },
    )


def _sample(conn: Connection, size: int) -> list[tuple[int, str, Decimal, Decimal]]:
    """Up to `size` summaries, those with a balance first, in account order."""
    s = SUMMARIES.c
    stmt = (
        select(s.crm_account_id, s.xero_contact_id, s.balance, s.overdue_amount)
        .order_by(case((s.balance != 0, 0), else_=1), s.crm_account_id)
        .limit(size)
    )
    return [tuple(row) for row in conn.execute(stmt)]


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


@dg.asset_check(
    asset=xero_account_summaries,
    description=(
        "For up to 50 linked contacts (those owing first), Xero's own "
        "Balances.AccountsReceivable agree with the mirror and the summaries. Xero sums "
        "Outstanding (AUTHORISED invoices' AmountDue less AUTHORISED credit notes' "
        "RemainingCredit) and Overdue (invoices due before its today) without converting "
        "currencies, so each is compared with the mirror's documents summed the same way; "
        "the stored balance and overdue_amount must equal the same documents converted to "
        "base currency (the same figures when a contact deals in the base currency only). "
        "Costs one Xero call: GET Contacts?IDs=... (none when nothing is linked)."
    ),
)
def balances_match_xero(crm: CrmDatabase, xero: XeroResource) -> dg.AssetCheckResult:
    with crm.engine().connect() as conn:
        tenant = connected_tenant(conn)
        sample = _sample(conn, CHECK_SAMPLE)
        if not sample:
            return dg.AssetCheckResult(passed=True, metadata={"sampled": 0, "xero_calls": 0})
        ids = [contact_id for _, contact_id, _, _ in sample]
        today, _ = organisation_today(read_organisation(conn, tenant)["timezone"], utcnow())
        groups = invoice_groups(conn, tenant, today, ids) + credit_note_groups(conn, tenant, ids)
    client = xero.get_client()
    calls_before = client.metadata()["xero_calls"]
    body = client.get("Contacts", {"IDs": ids_param(ids), "page": 1})
    theirs = {
        str(c.get("ContactID")).lower(): (c.get("Balances") or {}).get("AccountsReceivable")
        for c in body.get("Contacts") or []
    }
    unconverted = _unconverted(groups)
    converted = contact_figures(groups)
    mismatches = []
    for account_id, contact_id, balance, overdue in sample:
        problem = _compare(
            theirs.get(contact_id.lower()),
            (balance, overdue),
            unconverted.get(contact_id, (ZERO, ZERO)),
            converted.get(contact_id, NO_DOCUMENTS),
        )
        if problem:
            record = {"crm_account_id": account_id, "xero_contact_id": contact_id}
            mismatches.append(dg.TableRecord({**record, "problem": problem}))
    return dg.AssetCheckResult(
        passed=not mismatches,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "sampled": len(sample),
            "mismatches": len(mismatches),
            "mismatched_contacts": dg.MetadataValue.table(mismatches, MISMATCH_SCHEMA),
            "xero_calls": client.metadata()["xero_calls"] - calls_before,
        },
    )


MISMATCH_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("crm_account_id", "int"),
        dg.TableColumn("xero_contact_id", "string"),
        dg.TableColumn("problem", "string"),
    ]
)


def _unconverted(groups: Iterable[RateGroup]) -> dict[str, tuple[Decimal, Decimal]]:
    """(outstanding, overdue) per contact summed in each document's own currency, as
    Xero's Balances are."""
    cents: dict[str, list[int]] = {}
    for g in groups:
        acc = cents.setdefault(g.contact_id, [0, 0])
        acc[0] += g.balance_cents
        acc[1] += g.overdue_cents
    return {c: (Decimal(b).scaleb(-2), Decimal(o).scaleb(-2)) for c, (b, o) in cents.items()}


def _compare(
    ar: dict[str, Any] | None,
    stored: tuple[Decimal, Decimal],
    unconverted: tuple[Decimal, Decimal],
    converted: ContactFigures,
) -> str | None:
    """One sentence on what disagrees, or None."""
    if ar is None:
        return "Xero did not return this contact's receivables"
    xero_figures = (_money(ar.get("Outstanding")), _money(ar.get("Overdue")))
    if xero_figures != unconverted:
        return (
            f"Xero's Outstanding/Overdue {xero_figures[0]}/{xero_figures[1]} != the mirror's "
            f"{unconverted[0]}/{unconverted[1]} (unconverted)"
        )
    expected = (converted.balance, converted.overdue_amount)
    if stored != expected:
        return f"stored balance/overdue {stored[0]}/{stored[1]} != {expected[0]}/{expected[1]}"
    return None
