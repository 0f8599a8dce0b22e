"""`crm_accounts`: the CRM's accounts, and Xero customers imported into them when asked.

With the `import_customers` setting on, every active Xero customer that matches no CRM
account by the link rules (`domain.matching.unmatched_contacts`) becomes a CRM account
with its main contact and contact persons (`domain.customers`), linked with
`matched_by='import'`; accounts, contacts and links are written in one transaction that
holds the link table's lock. A second run finds those customers linked and creates
nothing. Reads the mirror and the CRM only: no Xero call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from sqlalchemy import Connection, MetaData, String, Table, func, insert, select

from xero_pipelines.assets.catalog import OWNER_LIST, crm_kinds, schema_metadata, url_entries
from xero_pipelines.assets.links import (
    ACCOUNTS,
    CONTACTS,
    LINKS,
    METADATA_ROWS,
    connected_tenant,
    insert_links,
    lock_links,
    read_account_keys,
)
from xero_pipelines.db.engine import locked_transaction
from xero_pipelines.db.mirrors import XeroOrganisationRow
from xero_pipelines.db.models import CrmContact
from xero_pipelines.db.types import utcnow
from xero_pipelines.domain.catalog import CRM_GROUP
from xero_pipelines.domain.customers import NewAccount, SkippedCustomer, plan_import
from xero_pipelines.domain.markdown import markdown_table
from xero_pipelines.domain.matching import XeroContactKeys, unmatched_contacts
from xero_pipelines.domain.summaries import contact_deep_link
from xero_pipelines.resources.crm import CrmDatabase
from xero_pipelines.resources.xero import XeroResource

CRM_CONTACTS = CrmContact.__table__
_CHUNK = 500  # ids per IN (...) when reading the records of the customers to import

SKIPPED_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("xero_contact_id", "string"),
        dg.TableColumn("name", "string"),
        dg.TableColumn("reason", "string"),
    ]
)


def _count(conn: Connection, table: Table) -> int:
    return conn.execute(select(func.count()).select_from(table)).scalar_one()


def read_customer_keys(conn: Connection, tenant_id: str) -> list[XeroContactKeys]:
    """The organisation's mirrored customers (`IsCustomer`), with the matching columns."""
    c = CONTACTS.c
    stmt = select(
        c.contact_id,
        c.name,
        c.account_number,
        c.contact_number,
        c.email_address,
        c.contact_status,
        c.merged_to_contact_id,
    ).where(c.tenant_id == tenant_id, c.is_customer.is_(True))
    return [XeroContactKeys(*row) for row in conn.execute(stmt).all()]


def read_records(conn: Connection, tenant_id: str, ids: Sequence[str]) -> list[dict[str, Any]]:
    """The stored Xero JSON of the given contacts, in the order of `ids`."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        stmt = select(CONTACTS.c.contact_id, CONTACTS.c.raw).where(
            CONTACTS.c.tenant_id == tenant_id, CONTACTS.c.contact_id.in_(chunk)
        )
        found.update({contact_id: raw for contact_id, raw in conn.execute(stmt)})
    return [found[i] for i in ids if i in found]


def fit(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """Cut text to the column's length: Xero allows longer address lines and phones than
    the CRM's columns hold, and PostgreSQL refuses what does not fit."""
    out = dict(row)
    for name, value in row.items():
        column_type = table.c[name].type
        if isinstance(value, str) and isinstance(column_type, String) and column_type.length:
            out[name] = value[: column_type.length]
    return out


def _contacts_table(conn: Connection, phone_field: str) -> Table:
    """`crm_contacts` as the model knows it, or as the live schema has it when the phone
    setting names a column the CRM added (the setting is validated against the schema)."""
    if phone_field in CRM_CONTACTS.c:
        return CRM_CONTACTS
    return Table("crm_contacts", MetaData(), autoload_with=conn)


def create_accounts(
    conn: Connection, accounts: Sequence[NewAccount], phone_field: str
) -> tuple[list[int], int]:
    """Insert the accounts, their contacts and their 'import' links; (the new accounts'
    ids, in the order of `accounts`; how many contacts).

    The main contact's phone goes to the `phone_field` column, the one the export sends
    to Xero, so a round trip keeps it where it was.
    """
    if not accounts:
        return [], 0
    now = utcnow()
    rows = [
        fit(ACCOUNTS, {**a.account_row(), "created_at": now, "updated_at": now}) for a in accounts
    ]
    stmt = insert(ACCOUNTS).returning(ACCOUNTS.c.id, sort_by_parameter_order=True)
    ids = list(conn.execute(stmt, rows).scalars().all())
    table = _contacts_table(conn, phone_field)
    contacts = [
        fit(
            table,
            {
                "account_id": account_id,
                "first_name": c.first_name,
                "last_name": c.last_name,
                "email": c.email,
                phone_field: c.phone,
                "is_primary": c.is_primary,
            },
        )
        for account_id, account in zip(ids, accounts, strict=True)
        for c in account.contacts
    ]
    # executemany wants every row to name the same columns
    columns = {key for row in contacts for key in row}
    contacts = [{key: row.get(key) for key in columns} for row in contacts]
    if contacts:
        conn.execute(insert(table), contacts)
    triples = ((i, a.xero_contact_id, "import") for i, a in zip(ids, accounts, strict=True))
    insert_links(conn, triples, now)
    return ids, len(contacts)


@dataclass
class Imported:
    """What an import of customers created, for the materialisation's metadata."""

    accounts: list[dict[str, Any]] = field(default_factory=list)  # id, name, Xero link
    contacts: int = 0
    skipped: list[SkippedCustomer] = field(default_factory=list)


def import_customers(conn: Connection, phone_field: str) -> Imported:
    """Create CRM accounts for the unmatched active customers."""
    tenant = connected_tenant(conn)
    linked = set(conn.execute(select(LINKS.c.xero_contact_id)).scalars())
    unmatched = unmatched_contacts(
        read_customer_keys(conn, tenant), read_account_keys(conn), linked
    )
    ids = sorted(c.contact_id for c in unmatched)
    new, skipped = plan_import(read_records(conn, tenant, ids))
    created, contacts = create_accounts(conn, new, phone_field)
    short_code = conn.execute(
        select(XeroOrganisationRow.short_code).where(XeroOrganisationRow.tenant_id == tenant)
    ).scalar()
    accounts = [
        {
            "crm_account_id": account_id,
            "name": account.name,
            "xero_url": contact_deep_link(short_code, account.xero_contact_id)
            if short_code
            else None,
        }
        for account_id, account in zip(created, new, strict=True)
    ]
    return Imported(accounts, contacts, skipped)


def skipped_table(skipped: Sequence[SkippedCustomer]) -> dg.TableMetadataValue:
    records = [
        dg.TableRecord({"xero_contact_id": s.contact_id, "name": s.name or "", "reason": s.reason})
        for s in skipped[:METADATA_ROWS]
    ]
    return dg.MetadataValue.table(records, SKIPPED_SCHEMA)


@dg.asset(
    group_name=CRM_GROUP,
    deps=[dg.AssetKey("xero_contacts")],
    kinds=crm_kinds(),
    owners=OWNER_LIST,
    metadata=schema_metadata(ACCOUNTS),
)
def crm_accounts(crm: CrmDatabase, xero: XeroResource) -> dg.MaterializeResult:
    """The CRM's accounts and contacts. With `import_customers` on, each active Xero
    customer matching no CRM account (account number, email or normalised name, or an
    existing link) becomes a CRM account with its contacts, linked `matched_by='import'`;
    a customer with no name is reported, not imported. Running again creates nothing new.
    Reads the contact mirror and the CRM: no Xero call.
    """
    settings = xero.settings()
    imported = Imported()
    if not settings.import_customers:
        with crm.engine().connect() as conn:
            accounts_read, contacts_read = _count(conn, ACCOUNTS), _count(conn, CRM_CONTACTS)
    else:
        with locked_transaction(crm.engine()) as conn:
            lock_links(conn)
            accounts_read, contacts_read = _count(conn, ACCOUNTS), _count(conn, CRM_CONTACTS)
            imported = import_customers(conn, settings.phone_field)
    created = imported.accounts
    return dg.MaterializeResult(
        metadata={
            "import_customers": settings.import_customers,
            "accounts_read": accounts_read,
            "contacts_read": contacts_read,
            "dagster/row_count": accounts_read + len(created),
            "accounts_created": len(created),
            "contacts_created": imported.contacts,
            "customers_skipped": len(imported.skipped),
            "created_accounts": dg.MetadataValue.md(
                markdown_table(
                    created[:METADATA_ROWS],
                    ("crm_account_id", "name", "xero_url"),
                    links=("xero_url",),
                    empty="_no account created_",
                )
            ),
            **url_entries(
                "xero_link_account", ((a["crm_account_id"], a["xero_url"]) for a in created)
            ),
            "skipped_customers": skipped_table(imported.skipped),
        }
    )
