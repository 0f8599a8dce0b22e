"""`xero_account_links`: one CRM account ↔ one Xero contact, and the checks that say so.

The rules are `domain.matching.plan_links`; this module reads what they need (only the
key columns, indexed in dicts), and writes the plan by difference (delete what is gone,
move what followed a merge, insert what is new) in one transaction that holds the link
table's write lock, so an export job linking an account meanwhile waits instead of
colliding. Unchanged links are not rewritten.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import dagster as dg
from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from xero_pipelines.assets.catalog import OWNER_LIST, schema_metadata, url_entries, xero_kinds
from xero_pipelines.db.engine import locked_transaction
from xero_pipelines.db.locks import lock_link_table
from xero_pipelines.db.mirrors import XeroContactRow, XeroOrganisationRow
from xero_pipelines.db.models import CrmAccount, XeroAccountLink
from xero_pipelines.db.types import utcnow
from xero_pipelines.domain.catalog import INTEGRATION_GROUP
from xero_pipelines.domain.markdown import markdown_table
from xero_pipelines.domain.matching import (
    ACTIVE,
    CrmAccountKeys,
    LinkPlan,
    XeroContactKeys,
    plan_links,
)
from xero_pipelines.domain.summaries import contact_deep_link
from xero_pipelines.resources.crm import CrmDatabase
from xero_pipelines.xero.errors import XeroNotConnectedError
from xero_pipelines.xero.tokens import current_connection

ACCOUNTS = CrmAccount.__table__
CONTACTS = XeroContactRow.__table__
LINKS = XeroAccountLink.__table__
METADATA_ROWS = 500  # the ambiguous and removed tables show at most this many rows


# ---- reading -------------------------------------------------------------------------------


def connected_tenant(conn: Connection) -> str:
    """The connected organisation's tenant id: the mirrors hold rows per tenant."""
    row = current_connection(conn)
    if row is None:
        raise XeroNotConnectedError("Xero is not connected: run `xero-pipelines connect`")
    return row.tenant_id


def read_account_keys(conn: Connection) -> list[CrmAccountKeys]:
    """Every CRM account's id, name, account number and email (nothing else)."""
    stmt = select(ACCOUNTS.c.id, ACCOUNTS.c.name, ACCOUNTS.c.account_number, ACCOUNTS.c.email)
    return [CrmAccountKeys(*row) for row in conn.execute(stmt).all()]


def read_contact_keys(conn: Connection, tenant_id: str) -> list[XeroContactKeys]:
    """Every mirrored contact of the organisation, with only the columns matching uses."""
    c = CONTACTS.c
    stmt = select(
        c.contact_id,
        c.name,
        c.account_number,
        c.contact_number,
        c.email_address,
        c.contact_status,
        c.merged_to_contact_id,
    ).where(c.tenant_id == tenant_id)
    return [XeroContactKeys(*row) for row in conn.execute(stmt).all()]


def read_links(conn: Connection) -> dict[int, tuple[str, str]]:
    """crm_account_id -> (xero_contact_id, matched_by), as stored now."""
    stmt = select(LINKS.c.crm_account_id, LINKS.c.xero_contact_id, LINKS.c.matched_by)
    return {account_id: (contact_id, by) for account_id, contact_id, by in conn.execute(stmt).all()}


# ---- writing -------------------------------------------------------------------------------


def lock_links(conn: Connection) -> None:
    """The link table's write lock for this transaction (`db.locks.lock_link_table`)."""
    lock_link_table(conn)


def insert_links(conn: Connection, links: Iterable[tuple[int, str, str]], now: datetime) -> int:
    """Insert (crm_account_id, xero_contact_id, matched_by) rows in one executemany."""
    rows = [
        {"crm_account_id": a, "xero_contact_id": c, "matched_by": by, "linked_at": now}
        for a, c, by in links
    ]
    if rows:
        conn.execute(insert(LINKS), rows)
    return len(rows)


def write_plan(conn: Connection, plan: LinkPlan, now: datetime) -> None:
    """Apply the plan by difference: deletes, then merge moves, then inserts.

    In that order a unique constraint never sees two rows on one contact: a merge moves
    a link onto a contact no other kept link holds, and new links take free contacts.
    """
    if plan.removed:
        conn.execute(
            delete(LINKS).where(LINKS.c.crm_account_id == bindparam("b_account")),
            [{"b_account": r.crm_account_id} for r in plan.removed],
        )
    if plan.followed:
        conn.execute(
            update(LINKS)
            .where(LINKS.c.crm_account_id == bindparam("b_account"))
            .values(xero_contact_id=bindparam("b_contact")),
            [{"b_account": f.crm_account_id, "b_contact": f.to_contact_id} for f in plan.followed],
        )
    insert_links(
        conn, ((a.crm_account_id, a.xero_contact_id, a.matched_by) for a in plan.added), now
    )


# ---- metadata ------------------------------------------------------------------------------

AMBIGUOUS_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("crm_account_id", "int"),
        dg.TableColumn("name", "string"),
        dg.TableColumn("rule", "string", description="the rule that found the candidates"),
        dg.TableColumn("candidate_xero_contact_ids", "string"),
    ]
)
REMOVED_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("crm_account_id", "int"),
        dg.TableColumn("xero_contact_id", "string"),
        dg.TableColumn("matched_by", "string"),
        dg.TableColumn("reason", "string"),
    ]
)


def plan_metadata(plan: LinkPlan) -> dict[str, Any]:
    ambiguous = [
        dg.TableRecord(
            {
                "crm_account_id": a.crm_account_id,
                "name": a.name or "",
                "rule": a.rule,
                "candidate_xero_contact_ids": ", ".join(a.contact_ids),
            }
        )
        for a in plan.ambiguous[:METADATA_ROWS]
    ]
    removed = [
        dg.TableRecord(
            {
                "crm_account_id": r.crm_account_id,
                "xero_contact_id": r.xero_contact_id,
                "matched_by": r.matched_by,
                "reason": r.reason,
            }
        )
        for r in plan.removed[:METADATA_ROWS]
    ]
    return {
        "links": len(plan.links()),
        "links_by_matched_by": dg.MetadataValue.json(plan.counts_by_matched_by()),
        "added": len(plan.added),
        "kept": len(plan.kept),
        "followed_merge": len(plan.followed),
        "removed": len(plan.removed),
        "ambiguous": len(plan.ambiguous),
        "ambiguous_accounts": dg.MetadataValue.table(ambiguous, AMBIGUOUS_SCHEMA),
        "removed_links": dg.MetadataValue.table(removed, REMOVED_SCHEMA),
    }


ADDED_SHOWN = 50


def read_short_code(conn: Connection, tenant_id: str) -> str | None:
    """The organisation's ShortCode (deep links), once the import has mirrored it."""
    org = XeroOrganisationRow
    return conn.execute(select(org.short_code).where(org.tenant_id == tenant_id)).scalar()


def added_links_metadata(plan: LinkPlan, short_code: str | None) -> dict[str, Any]:
    """The links this run made, each opening its Xero contact (a few also as url entries)."""
    rows = [
        {
            "crm_account_id": a.crm_account_id,
            "xero_contact_id": a.xero_contact_id,
            "matched_by": a.matched_by,
            "xero_url": contact_deep_link(short_code, a.xero_contact_id) if short_code else None,
        }
        for a in plan.added[:ADDED_SHOWN]
    ]
    columns = ("crm_account_id", "xero_contact_id", "matched_by", "xero_url")
    table = markdown_table(rows, columns, links=("xero_url",), empty="_no link added_")
    return {
        "added_links": dg.MetadataValue.md(table),
        **url_entries("xero_link_account", ((r["crm_account_id"], r["xero_url"]) for r in rows)),
    }


# ---- the asset -----------------------------------------------------------------------------


@dg.asset(
    group_name=INTEGRATION_GROUP,
    deps=[dg.AssetKey("xero_contacts"), dg.AssetKey("crm_accounts")],
    kinds=xero_kinds(),
    owners=OWNER_LIST,
    metadata=schema_metadata(
        LINKS,
        {
            "matched_by": "export, import, account_number, email, name, or manual (never "
            "overwritten by the pipeline)",
        },
    ),
)
def xero_account_links(crm: CrmDatabase) -> dg.MaterializeResult:
    """One CRM account ↔ one Xero contact. Existing links are kept (following Xero's
    merges), archived contacts lose theirs, and unlinked accounts are matched by account
    number, email, then normalised name when that is unambiguous on both sides. Ambiguous
    candidates are listed for someone to link by hand (`matched_by='manual'`), which the
    pipeline never overwrites. Reads the mirror and the CRM only: no Xero call.
    """
    with locked_transaction(crm.engine()) as conn:
        lock_links(conn)
        tenant = connected_tenant(conn)
        accounts = read_account_keys(conn)
        contacts = read_contact_keys(conn, tenant)
        plan = plan_links(accounts, contacts, read_links(conn))
        write_plan(conn, plan, utcnow())
        short_code = read_short_code(conn, tenant)
    return dg.MaterializeResult(
        metadata={
            "crm_accounts": len(accounts),
            "xero_contacts": len(contacts),
            "dagster/row_count": len(plan.links()),
            **plan_metadata(plan),
            **added_links_metadata(plan, short_code),
        }
    )


# ---- checks --------------------------------------------------------------------------------


def _duplicates(conn: Connection, column) -> Sequence[Any]:
    stmt = select(column).group_by(column).having(func.count() > 1).limit(20)
    return conn.execute(stmt).scalars().all()


@dg.asset_check(
    asset=xero_account_links,
    description=(
        "No CRM account has two links and no Xero contact is linked to two accounts. "
        "Reads the link table only: costs no Xero call."
    ),
)
def links_are_one_to_one(crm: CrmDatabase) -> dg.AssetCheckResult:
    with crm.engine().connect() as conn:
        accounts = _duplicates(conn, LINKS.c.crm_account_id)
        contacts = _duplicates(conn, LINKS.c.xero_contact_id)
    return dg.AssetCheckResult(
        passed=not accounts and not contacts,
        metadata={
            "accounts_linked_twice": dg.MetadataValue.json(list(accounts)),
            "contacts_linked_twice": dg.MetadataValue.json(list(contacts)),
        },
    )


@dg.asset_check(
    asset=xero_account_links,
    description=(
        "No link points at a mirrored contact that is not ACTIVE (archived, merged away, "
        "or a GDPR request). Reads the link table and the contact mirror: costs no Xero call."
    ),
)
def no_link_to_an_archived_contact(crm: CrmDatabase) -> dg.AssetCheckResult:
    with crm.engine().connect() as conn:
        tenant = connected_tenant(conn)
        stmt = (
            select(LINKS.c.crm_account_id, LINKS.c.xero_contact_id, CONTACTS.c.contact_status)
            .join(CONTACTS, CONTACTS.c.contact_id == LINKS.c.xero_contact_id)
            .where(
                CONTACTS.c.tenant_id == tenant,
                func.coalesce(func.upper(CONTACTS.c.contact_status), "") != ACTIVE,
            )
            .order_by(LINKS.c.crm_account_id)
        )
        bad = conn.execute(stmt).all()
    return dg.AssetCheckResult(
        passed=not bad,
        metadata={
            "links_to_inactive_contacts": len(bad),
            "examples": dg.MetadataValue.json(
                [{"crm_account_id": a, "xero_contact_id": c, "status": s} for a, c, s in bad[:20]]
            ),
        },
    )
