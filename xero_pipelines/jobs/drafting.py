"""The draft job's work: CRM opportunities → Xero sales invoices or quotes.

Everything a draft is checked against comes from the import's mirrors (links, revenue
accounts, the organisation's base currency, short code and timezone); Xero is asked for
its currencies only when an opportunity is in a currency other than the base one, once
per run. A request an earlier run may have written is first looked up in Xero by its
`Reference` and contact; documents are then created 50 to a call, invoices and quotes
apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine, select

from xero_pipelines.db.request_outcomes import (
    DRAFT_REQUESTS,
    linked_contacts,
    request_table,
)
from xero_pipelines.domain.payloads import document_deep_link, document_payload
from xero_pipelines.domain.requests import (
    DraftCommand,
    DraftContext,
    Rejection,
    validate_draft,
)
from xero_pipelines.domain.summaries import UnknownTimezoneError, today_in, utc_now
from xero_pipelines.jobs import reads
from xero_pipelines.jobs.common import Outcomes, batches
from xero_pipelines.jobs.xero_writes import (
    invoices_by_reference,
    quotes_by_reference,
    write_batch,
)
from xero_pipelines.xero.client import XeroClient
from xero_pipelines.xero.settings import IntegrationSettings

COLLECTION = {"invoice": "Invoices", "quote": "Quotes"}
ID_FIELD = {"invoice": "InvoiceID", "quote": "QuoteID"}
NUMBER_FIELD = {"invoice": "InvoiceNumber", "quote": "QuoteNumber"}


@dataclass
class DraftRun:
    engine: Engine
    xero: XeroClient
    outcomes: Outcomes
    settings: IntegrationSettings
    organisation: reads.Organisation

    def finish(self, command: DraftCommand, document_id: str, number: str | None, conn) -> None:
        self.outcomes.done(
            command.request_id,
            conn,
            xero_document_id=document_id,
            xero_document_number=number,
            xero_url=document_deep_link(self.organisation.short_code, command.kind, document_id),
        )


def draft_requests(
    engine: Engine,
    client_factory: Callable[[], XeroClient],
    tenant_id: str,
    settings: IntegrationSettings,
    ids: Sequence[int],
    retried: set[int],
    outcomes: Outcomes,
) -> None:
    """Answer every claimed draft request (see the module docstring)."""
    commands, organisation = _prepare(engine, client_factory, tenant_id, settings, ids, outcomes)
    if not commands:
        return
    run = DraftRun(engine, client_factory(), outcomes, settings, organisation)
    today = _today(organisation)
    payloads = {
        c.request_id: document_payload(
            c,
            invoice_status=settings.invoice_status,
            quote_status=settings.quote_status,
            today=today,
        )
        for c in commands
    }
    pending = _look_up(run, [c for c in commands if c.request_id in retried], commands)
    for kind in ("invoice", "quote"):
        _create(run, kind, [c for c in pending if c.kind == kind], payloads)


def _prepare(
    engine: Engine,
    client_factory: Callable[[], XeroClient],
    tenant_id: str,
    settings: IntegrationSettings,
    ids: Sequence[int],
    outcomes: Outcomes,
) -> tuple[list[DraftCommand], reads.Organisation]:
    references = {
        "invoice": settings.invoice_reference_field,
        "quote": settings.quote_reference_field,
    }
    with engine.connect() as conn:
        requests = reads.draft_requests(conn, ids)
        opportunity_ids = {r.opportunity_id for r in requests if r.opportunity_id is not None}
        opportunities = reads.opportunities(conn, opportunity_ids, references)
        lines = reads.opportunity_lines(conn, opportunity_ids)
        account_ids = {o.account_id for o in opportunities.values() if o.account_id is not None}
        links = linked_contacts(conn, account_ids)
        revenue = reads.revenue_accounts(conn, tenant_id)
        organisation = reads.organisation(conn, tenant_id)
    wanted = {(o.currency_code or "").strip().upper() for o in opportunities.values()} - {""}
    context = DraftContext(
        default_export_type=settings.opportunity_export_type,
        links={k: v.lower() for k, v in links.items()},
        revenue_accounts=revenue,
        currencies=_currencies(client_factory, organisation.base_currency, wanted),
    )
    commands = []
    for request in sorted(requests, key=lambda r: r.id):
        opportunity = opportunities.get(request.opportunity_id or -1)
        opportunity_lines = lines.get(opportunity.id, []) if opportunity else []
        result = validate_draft(request, opportunity, opportunity_lines, context)
        if isinstance(result, Rejection):
            outcomes.failed(result.request_id, result.sentence)
        else:
            commands.append(result)
    return commands, organisation


def _currencies(
    client_factory: Callable[[], XeroClient], base: str | None, wanted: set[str]
) -> set[str]:
    """The organisation's currencies: its base one from the mirror, and Xero's list only
    when an opportunity wants another."""
    known = {base.upper()} if base else set()
    if wanted <= known:
        return known
    answer = client_factory().get("Currencies")
    return known | {str(c.get("Code", "")).upper() for c in answer.get("Currencies") or []}


def _today(organisation: reads.Organisation) -> date:
    """Today in the organisation's timezone (Xero dates documents in it); UTC's date when
    the organisation or its timezone is not known."""
    now = utc_now()
    try:
        return today_in(organisation.timezone, now)
    except UnknownTimezoneError:
        return now.date()


def _look_up(
    run: DraftRun, retried: list[DraftCommand], commands: list[DraftCommand]
) -> list[DraftCommand]:
    """Adopt what an earlier run created for a retried request: a document of the same
    contact and Reference that no other request has recorded. Returns the rest."""
    if not retried:
        return commands
    found = {}
    for kind, look in (("invoice", invoices_by_reference), ("quote", quotes_by_reference)):
        pairs = [(c.xero_contact_id, c.reference) for c in retried if c.kind == kind]
        if pairs:
            found[kind] = look(run.xero, pairs)
    recorded = _recorded_documents(run.engine, found)
    retried_ids = {c.request_id for c in retried}
    left = []
    with run.engine.begin() as conn:
        for command in commands:
            candidates = found.get(command.kind, {}).get(
                (command.xero_contact_id, command.reference), []
            )
            document = next(
                (d for d in candidates if str(d[ID_FIELD[command.kind]]) not in recorded), None
            )
            if command.request_id not in retried_ids or document is None:
                left.append(command)
                continue
            document_id = str(document[ID_FIELD[command.kind]])
            recorded.add(document_id)
            run.finish(command, document_id, document.get(NUMBER_FIELD[command.kind]), conn)
    return left


def _recorded_documents(engine: Engine, found: dict) -> set[str]:
    """The found documents that a request has already recorded as its own."""
    ids = {
        str(d[ID_FIELD[kind]])
        for kind, by_pair in found.items()
        for documents in by_pair.values()
        for d in documents
    }
    if not ids:
        return set()
    t = request_table(DRAFT_REQUESTS)
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.xero_document_id).where(t.c.xero_document_id.in_(ids)))
        return {row[0] for row in rows}


def _create(run: DraftRun, kind: str, commands: list[DraftCommand], payloads: dict) -> None:
    for batch in batches(commands):
        items = [(c.request_id, payloads[c.request_id]) for c in batch]
        answers = write_batch(run.xero, "PUT", COLLECTION[kind], items)
        with run.engine.begin() as conn:
            for command, answer in zip(batch, answers, strict=True):
                if answer.ok and answer.xero_id:
                    run.finish(command, answer.xero_id, answer.number, conn)
                else:
                    sentence = f"Xero refused the {kind}: {answer.error}"
                    run.outcomes.failed(command.request_id, sentence, conn, answer.error)
