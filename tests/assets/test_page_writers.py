"""A long read stored by page writer processes (`assets/page_writers.py`), in real Dagster
runs against the sandbox over HTTP, on SQLite and PostgreSQL: the same rows as a read
stored in the run's own process, the watermark written last, and a writer that fails or
dies failing the read without moving the watermark."""

from __future__ import annotations

import math
import os
import signal
from pathlib import Path
from typing import Any

from tests.assets.gateway import sandbox_gateway
from tests.assets.test_xero_mirrors import (
    ACCREC,
    api_calls,
    calls_since,
    check,
    count,
    item_count,
    materialize,
    max_updated,
    meta,
    rows,
    sync_state,
)
from xero_pipelines.assets.mirroring import PAGES_FOR_WRITERS
from xero_pipelines.assets.xero import xero_invoices
from xero_pipelines.db.mirrors import XeroInvoiceRow

WRITERS = {"page_writers": 2, "page_writers_from": 8}  # ~10 pages, not the default's 20
COLUMNS = ("invoice_id", "status", "total", "amount_due", "updated_date_utc", "raw")
BROKEN_PAGE = 6


def seed_a_long_read(sandbox, xero_user) -> int:
    """Enough sales invoices for page writers to start; Xero's count of them."""
    sandbox.seed(contacts=300, invoices=12_000, seed=21)
    sales = item_count(xero_user, "Invoices", **ACCREC)
    assert PAGES_FOR_WRITERS > math.ceil(sales / 1000) - 1 >= WRITERS["page_writers_from"]
    return sales


def stored(db_url: str) -> list[tuple]:
    return sorted(tuple(r) for r in rows(db_url, XeroInvoiceRow, *COLUMNS))


def test_a_long_read_stored_by_writers_equals_one_stored_in_process(
    sandbox, xero_resources, xero_user, db_url, connected_tenant
):
    sales = seed_a_long_read(sandbox, xero_user)
    before = api_calls(sandbox)
    result = materialize([xero_invoices], xero_resources, **WRITERS)
    assert calls_since(sandbox, before) == {"Invoices": math.ceil(sales / 1000)}
    m = meta(result, "xero_invoices")
    assert m["page_writers"] == 2
    assert m["page_writer_peak_rss_mib"] > 0
    assert m["rows_inserted"] == m["rows_read"] == m["rows_total"] == sales
    assert m["pages"] == math.ceil(sales / 1000)
    assert len(m["preview"].splitlines()) == 2 + 10  # header, rule, ten rows
    assert check(result, "xero_invoices").passed
    watermark = sync_state(db_url, connected_tenant, "xero_invoices").watermark
    assert watermark == max_updated(db_url, XeroInvoiceRow)
    by_writers = stored(db_url)
    assert len(by_writers) == sales

    rewritten = materialize([xero_invoices], xero_resources, full_refresh=True)
    m = meta(rewritten, "xero_invoices")
    assert "page_writers" not in m  # too short a read for the default threshold
    assert (m["rows_unchanged"], m["rows_read"]) == (sales, sales)
    assert stored(db_url) == by_writers  # the run's own process wrote the same rows


def failure_text(result) -> str:
    """The step failure's message with its causes' (Dagster wraps the asset's error)."""
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    error, texts = failure.step_failure_data.error, []
    while error is not None:
        texts.append(error.message)
        error = error.cause
    return "\n".join(texts)


def break_page(path: str, page: int | None, body: dict[str, Any]) -> dict[str, Any]:
    if path.endswith("/Invoices") and page == BROKEN_PAGE:
        body["Invoices"] = {"not": "a list"}
    return body


def test_a_page_a_writer_cannot_store_fails_the_read_and_the_watermark_stays(
    sandbox, make_xero_resource, xero_user, db_url, connected_tenant
):
    sales = seed_a_long_read(sandbox, xero_user)
    with sandbox_gateway(sandbox.url) as gateway:
        xero = make_xero_resource(api_url=gateway.url)
        resources = {"crm": xero.crm, "xero": xero}
        gateway.edit = break_page
        failed = materialize([xero_invoices], resources, **WRITERS, raise_on_error=False)
        assert not failed.success
        message = failure_text(failed)
        assert f"page {BROKEN_PAGE}: ValueError" in message
        assert "Invoices answer has no Invoices list" in message
        assert count(db_url, XeroInvoiceRow) < sales  # page 1 waits for the others
        assert sync_state(db_url, connected_tenant, "xero_invoices") is None

        gateway.edit = None
        rerun = materialize([xero_invoices], resources, **WRITERS)
    assert meta(rerun, "xero_invoices")["rows_total"] == count(db_url, XeroInvoiceRow) == sales
    watermark = sync_state(db_url, connected_tenant, "xero_invoices").watermark
    assert watermark == max_updated(db_url, XeroInvoiceRow)


def page_writer_pids() -> list[int]:
    """This process's page writers, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(next(line for line in status.splitlines() if line.startswith("PPid:"))[5:])
        if ppid == os.getpid() and b"xero_pipelines.assets.page_writers" in cmdline:
            found.append(int(entry.name))
    return found


def test_a_writer_killed_mid_read_fails_the_read_and_the_watermark_stays(
    sandbox, make_xero_resource, xero_user, db_url, connected_tenant
):
    seed_a_long_read(sandbox, xero_user)
    killed: list[int] = []

    def kill_the_writers(path: str, page: int | None, body: dict[str, Any]) -> dict[str, Any]:
        if path.endswith("/Invoices") and page == BROKEN_PAGE and not killed:
            killed.extend(page_writer_pids())
            for pid in killed:
                os.kill(pid, signal.SIGKILL)
        return body

    with sandbox_gateway(sandbox.url) as gateway:
        xero = make_xero_resource(api_url=gateway.url)
        gateway.edit = kill_the_writers
        failed = materialize(
            [xero_invoices], {"crm": xero.crm, "xero": xero}, **WRITERS, raise_on_error=False
        )
    assert len(killed) == 2
    assert not failed.success
    assert "page writer process ended unexpectedly" in failure_text(failed)
    assert sync_state(db_url, connected_tenant, "xero_invoices") is None
    assert page_writer_pids() == []  # none left behind
