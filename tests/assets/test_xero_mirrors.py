"""The Xero mirror assets in real Dagster runs, against the sandbox over HTTP, on SQLite
and PostgreSQL. Expected figures come from what each test put into the sandbox."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from sqlalchemy import func, select

from xero_pipelines.assets.xero import (
    ITEM_COUNT_CHECK,
    xero_contacts,
    xero_invoices,
    xero_revenue_accounts,
)
from xero_pipelines.db import create_db_engine
from xero_pipelines.db.mirrors import (
    XeroContactRow,
    XeroInvoiceRow,
)
from xero_pipelines.db.sync_state import read_sync_state

API = "GET /api.xro/2.0/"


# ---- helpers ---------------------------------------------------------------------------


def materialize(
    assets: Sequence[Any],
    resources: dict[str, Any],
    *,
    full_refresh: bool = False,
    raise_on_error: bool = True,
    **config: Any,
) -> dg.ExecuteInProcessResult:
    run_config = None
    if full_refresh or config:
        settings = {"full_refresh": full_refresh, **config}
        run_config = {"ops": {a.key.to_user_string(): {"config": settings} for a in assets}}
    return dg.materialize(
        list(assets),
        resources=resources,
        run_config=run_config,
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=raise_on_error,
    )


def meta(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    (event,) = result.asset_materializations_for_node(asset)
    return {key: value.value for key, value in event.metadata.items()}


def check(result: dg.ExecuteInProcessResult, asset: str, name: str = ITEM_COUNT_CHECK):
    (evaluation,) = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key.to_user_string() == asset and e.check_name == name
    ]
    return evaluation


def api_calls(sandbox) -> dict[str, int]:
    return {k: v for k, v in sandbox.stats().items() if k.startswith(API)}


def calls_since(sandbox, before: dict[str, int]) -> dict[str, int]:
    after = api_calls(sandbox)
    return {
        k.removeprefix(API): v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)
    }


def item_count(xero_user, path: str, **params: Any) -> int:
    """Xero's own count of a filtered collection (one page of one record)."""
    return xero_user.get(path, page=1, pageSize=1, **params)["pagination"]["itemCount"]


def rows(db_url: str, model, *columns, **where) -> list:
    engine = create_db_engine(db_url)
    try:
        query = select(*(getattr(model, c) for c in columns))
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        with engine.connect() as conn:
            return conn.execute(query).all()
    finally:
        engine.dispose()


def count(db_url: str, model) -> int:
    return rows(db_url, model, "tenant_id").__len__()


def sync_state(db_url: str, tenant: str, asset: str):
    engine = create_db_engine(db_url)
    try:
        with engine.connect() as conn:
            return read_sync_state(conn, tenant, asset)
    finally:
        engine.dispose()


def max_updated(db_url: str, model) -> datetime:
    engine = create_db_engine(db_url)
    try:
        with engine.connect() as conn:
            value = conn.execute(select(func.max(model.updated_date_utc))).scalar_one()
    finally:
        engine.dispose()
    return value if value.tzinfo else value.replace(tzinfo=UTC)


ACCREC = {"where": 'Type=="ACCREC"'}


# ---- full reads, calls, and the run where nothing changed ------------------------------


def test_a_full_import_costs_one_call_per_page_and_a_quiet_run_one_call(
    sandbox, xero_resources, xero_user, db_url, connected_tenant
):
    sandbox.seed(contacts=2500, invoices=1300, seed=7)
    sales = item_count(xero_user, "Invoices", **ACCREC)
    contacts = item_count(xero_user, "Contacts", includeArchived="true")
    assert contacts == 2500 and sales > 1000  # the seed makes both multi-page reads
    assets = [xero_contacts, xero_invoices, xero_revenue_accounts]

    before = api_calls(sandbox)
    first = materialize(assets, xero_resources)
    assert calls_since(sandbox, before) == {
        "Contacts": 3,
        "Invoices": math.ceil(sales / 1000),
        "Accounts": 1,
    }
    assert count(db_url, XeroContactRow) == 2500
    assert count(db_url, XeroInvoiceRow) == sales
    contacts_meta = meta(first, "xero_contacts")
    assert contacts_meta["rows_inserted"] == 2500
    assert contacts_meta["rows_read"] == contacts_meta["item_count"] == 2500
    assert contacts_meta["pages"] == 3
    assert contacts_meta["xero_calls"] == 3
    assert contacts_meta["xero_calls_by_endpoint"] == {"GET Contacts": 3}
    assert contacts_meta["xero_day_remaining"] >= 0
    assert contacts_meta["if_modified_since"] == "none"
    archived = rows(db_url, XeroContactRow, "contact_id", contact_status="ARCHIVED")
    assert contacts_meta["rows_archived"] == len(archived) > 0  # archived ones are kept
    invoice_meta = meta(first, "xero_invoices")
    assert invoice_meta["rows_inserted"] == sales
    kinds = rows(db_url, XeroInvoiceRow, "type")
    assert {k for (k,) in kinds} == {"ACCREC"}
    assert check(first, "xero_contacts").passed and check(first, "xero_invoices").passed
    watermark = sync_state(db_url, connected_tenant, "xero_contacts").watermark
    assert watermark == max_updated(db_url, XeroContactRow)
    assert contacts_meta["watermark"] == watermark.isoformat()

    before = api_calls(sandbox)
    quiet = materialize(assets, xero_resources)
    assert calls_since(sandbox, before) == {"Contacts": 1, "Invoices": 1, "Accounts": 1}
    for asset in ("xero_contacts", "xero_invoices"):
        m = meta(quiet, asset)
        assert (m["rows_inserted"], m["rows_updated"], m["rows_skipped"]) == (0, 0, 0)
        assert m["rows_unchanged"] == m["rows_read"] == m["item_count"]
        assert check(quiet, asset).passed
    assert meta(quiet, "xero_contacts")["watermark"] == watermark.isoformat()
    assert sync_state(db_url, connected_tenant, "xero_contacts").rows_total == 2500
