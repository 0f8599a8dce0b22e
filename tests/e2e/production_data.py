"""The CRM rows, request outcomes, Xero records and run events that
tests/e2e/test_production.py writes and checks.

Xero is read back over raw HTTP (`XeroReader`), never through the production client, so
the client cannot vouch for itself; the event log is read from the instance in
PostgreSQL, as the webserver reads it.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import dagster as dg
from dagster._core.events import DagsterEventType
from sqlalchemy import Engine, insert

from tests.e2e.helpers import XeroReader, insert_crm, read_rows
from tests.e2e.test_celery_import import run_steps
from xero_pipelines.db.models import (
    XeroDraftRequest,
    XeroExportRequest,
)

NEW_ACCOUNTS = range(10, 160)  # the batch's 150 exports (accounts 1-9: load_crm's)
NEW_OPPORTUNITIES = range(10, 60)  # the batch's 50 drafts, on accounts 1-9
OURS = ("E2E-", "P-", "OPP-")  # account numbers and references this test writes
REQUESTS = (XeroExportRequest, XeroDraftRequest)


def more_crm(engine: Engine) -> None:
    """The batch's accounts (150 with a primary contact) and 50 more opportunities on the
    accounts exported already (one line each)."""
    accounts = [
        {"id": i, "name": f"Pier Cargo {i} Ltd", "account_number": f"P-{i:03d}", "country": "NZ"}
        for i in NEW_ACCOUNTS
    ]
    contacts = [
        {
            "id": 1000 + i,
            "account_id": i,
            "first_name": "Mere",
            "last_name": f"Pier{i}",
            "email": f"mere@pier{i}.example",
            "is_primary": True,
        }
        for i in NEW_ACCOUNTS
    ]
    opportunities = [
        {
            "id": i,
            "account_id": 1 + i % 9,
            "name": f"Cargo lane {i}",
            "opportunity_number": f"OPP-P-{i:03d}",
            "currency_code": "NZD",
            "amount": Decimal(500),
        }
        for i in NEW_OPPORTUNITIES
    ]
    lines = [
        {
            "id": 100 + i,
            "opportunity_id": i,
            "description": "Lane fee",
            "quantity": Decimal(1),
            "unit_price": Decimal(500),
            "discount_rate": Decimal(0),
            "tax_type": "OUTPUT2",
        }
        for i in NEW_OPPORTUNITIES
    ]
    insert_crm(engine, accounts, contacts, opportunities, lines)


def finished(engine: Engine) -> Counter[str]:
    """Statuses of both request tables together."""
    return Counter(row.status for model in REQUESTS for row in read_rows(engine, model).values())


def all_records(reader: XeroReader, path: str, **params: str) -> list[dict]:
    """Every record of `path`, page by page (1,000 a page)."""
    found, page = [], 1
    while True:
        batch = reader.get(path, page=page, pageSize=1000, **params)[path]
        found += batch
        if len(batch) < 1000:
            return found
        page += 1


def duplicates(reader: XeroReader) -> dict[str, dict[str, int]]:
    """Our contacts per AccountNumber and our documents per Reference seen more than once."""
    numbers = Counter(
        c.get("AccountNumber") for c in all_records(reader, "Contacts", includeArchived="true")
    )
    references = Counter(
        d.get("Reference") for kind in ("Invoices", "Quotes") for d in all_records(reader, kind)
    )
    return {
        "contacts": {k: v for k, v in numbers.items() if k and k.startswith(OURS) and v > 1},
        "documents": {k: v for k, v in references.items() if k and k.startswith(OURS) and v > 1},
    }


def insert_rows(engine: Engine, model, rows: list[dict]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(model), rows)


def step_worker(instance: dg.DagsterInstance, run_id: str, step: str) -> str | None:
    """The Celery worker's name (before the `@`) once `step` started on it."""
    found = run_steps(instance, run_id)[0].get(step)
    if found is None or found.worker is None or found.pid is None:
        return None
    return found.worker.split("@")[0]


def step_succeeded(instance: dg.DagsterInstance, run_id: str, step: str) -> bool:
    records = instance.all_logs(run_id, of_type=DagsterEventType.STEP_SUCCESS)
    return any(r.dagster_event.step_key == step for r in records)


def check_in_xero(engine: Engine, reader: XeroReader) -> None:
    """Every done export's contact and every done draft's document is in Xero."""
    contacts = {c["ContactID"] for c in all_records(reader, "Contacts", includeArchived="true")}
    documents = {d["InvoiceID"] for d in all_records(reader, "Invoices")}
    documents |= {q["QuoteID"] for q in all_records(reader, "Quotes")}
    for row in read_rows(engine, XeroExportRequest).values():
        assert row.status != "done" or row.xero_contact_id in contacts, row
    for row in read_rows(engine, XeroDraftRequest).values():
        assert row.status != "done" or row.xero_document_id in documents, row
