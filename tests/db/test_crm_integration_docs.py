"""Every SQL example of docs/crm-integration.md runs, as written, on SQLite and PostgreSQL,
and the request rows it inserts are what the sensors pick up."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import insert, select, text

from xero_pipelines.db.models import CrmAccount, CrmContact, CrmOpportunity
from xero_pipelines.db.request_queue import DRAFT_REQUESTS, EXPORT_REQUESTS, claim_pending

DOC = Path(__file__).resolve().parents[2] / "docs" / "crm-integration.md"
BLOCK = re.compile(r"```sql\n(.*?)```", re.DOTALL)


def statements(backend: str) -> list[str]:
    """The doc's SQL statements for one backend: a block split into `-- PostgreSQL` and
    `-- SQLite` parts gives only its own part."""
    found = []
    for block in BLOCK.findall(DOC.read_text()):
        parts = re.split(r"^-- (PostgreSQL|SQLite)\n", block, flags=re.MULTILINE)
        if len(parts) > 1:
            chosen = dict(zip(parts[1::2], parts[2::2], strict=True))
            block = chosen["PostgreSQL" if backend == "postgresql" else "SQLite"]
        found += [s.strip() for s in block.split(";\n") if s.strip().rstrip(";")]
    return [s.rstrip(";") for s in found]


def test_the_doc_has_an_example_for_each_button():
    sql = " ".join(statements("sqlite"))
    for needed in (
        "FROM xero_connections",
        "INSERT INTO xero_settings",
        "FROM xero_account_links",
        "INSERT INTO xero_export_requests (crm_account_id, main_contact_id) VALUES",
        "'update'",
        "FROM xero_revenue_accounts",
        "INSERT INTO xero_draft_requests",
        "FROM xero_draft_requests WHERE id",
    ):
        assert needed in sql, needed


def test_every_example_runs_and_its_requests_reach_the_queue(db_engine):
    with db_engine.begin() as conn:
        conn.execute(insert(CrmAccount).values(id=42, name="Harbour Ltd"))
        conn.execute(insert(CrmContact).values(id=7, account_id=42, first_name="Aroha"))
        conn.execute(insert(CrmOpportunity).values(id=314, account_id=42, name="Platform"))

    inserted = []
    for sql in statements(db_engine.dialect.name):
        with db_engine.begin() as conn:
            result = conn.execute(text(sql))
            if sql.startswith("INSERT INTO xero_") and "RETURNING id" in sql:
                inserted.append(result.scalar_one())

    assert len(inserted) == 4  # two exports, an update, a draft
    exports = claim_pending(db_engine, EXPORT_REQUESTS, batch_size=50, max_batches=1)
    drafts = claim_pending(db_engine, DRAFT_REQUESTS, batch_size=50, max_batches=1)
    claimed = [i for batch in exports + drafts for i in batch.request_ids]
    assert sorted(claimed) == sorted(inserted)
    t = EXPORT_REQUESTS.table
    with db_engine.connect() as conn:
        actions = conn.execute(select(t.c.action).order_by(t.c.id)).scalars().all()
        quote_status = conn.execute(
            text("SELECT value FROM xero_settings WHERE key = 'quote_status'")
        ).scalar_one()
    assert actions == ["export", "export", "update"]
    assert quote_status == "SENT"
