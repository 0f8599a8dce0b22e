"""The export job's work: CRM accounts → Xero contacts, linked; linked accounts → updated.

For each export, in order, the first that applies: the account is already linked
(answered with its link); a mirrored contact carries its `ContactNumber` (an earlier
attempt created it); the import's matching rules find exactly one active contact (linked,
`matched_by` says which rule) or several (failed, naming them); a request an earlier run
may have written is looked up in Xero by `ContactNumber`; else it is created, 50 to a
call. Several requests for one account in one run get the first one's answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, select

from xero_pipelines.db.models import XeroAccountLink
from xero_pipelines.db.request_outcomes import (
    LinkConflict,
    link_writer,
    linked_contacts,
    record_link,
)
from xero_pipelines.domain.matching import ContactIndex, CrmAccountKeys, XeroContactKeys
from xero_pipelines.domain.payloads import (
    contact_number,
    contact_payload,
    contact_update_payload,
)
from xero_pipelines.domain.requests import ExportCommand, Rejection, validate_export
from xero_pipelines.domain.summaries import contact_deep_link
from xero_pipelines.jobs import reads
from xero_pipelines.jobs.common import Outcomes, batches
from xero_pipelines.jobs.xero_writes import contacts_by_number, write_batch
from xero_pipelines.xero.client import XeroClient

RULE_WORDS = {"account_number": "account number", "email": "email", "name": "name"}
NAMES_SHOWN = 5


@dataclass
class ExportRun:
    """What one run reads once and shares between its steps."""

    engine: Engine
    client_factory: Callable[[], XeroClient]
    outcomes: Outcomes
    short_code: str | None
    links: dict[int, str]
    taken: set[str]
    mirror: list[XeroContactKeys]
    followers: dict[int, int] = field(default_factory=dict)
    _client: XeroClient | None = None

    @property
    def xero(self) -> XeroClient:
        """The client, asked for only when a step calls Xero (a run of linked accounts
        and bad input never does)."""
        if self._client is None:
            self._client = self.client_factory()
        return self._client

    def url(self, contact_id: str) -> str | None:
        return contact_deep_link(self.short_code, contact_id) if self.short_code else None


def export_requests(
    engine: Engine,
    client_factory: Callable[[], XeroClient],
    tenant_id: str,
    phone_field: str,
    ids: Sequence[int],
    retried: set[int],
    outcomes: Outcomes,
) -> None:
    """Answer every claimed export/update request (see the module docstring)."""
    commands, run = _prepare(engine, client_factory, tenant_id, phone_field, ids, outcomes)
    exports = [c for c in commands if c.action == "export"]
    updates = [c for c in commands if c.action == "update"]
    for command in [c for c in exports if c.details.account_id in run.links]:
        contact_id = run.links[command.details.account_id]
        outcomes.done(command.request_id, xero_contact_id=contact_id, xero_url=run.url(contact_id))
    pending = [c for c in exports if c.details.account_id not in run.links]
    if updates:
        _update(run, updates)
    pending = _link_known(run, pending)
    pending = _look_up(run, [c for c in pending if c.request_id in retried], pending)
    _create(run, pending)
    _answer_followers(run)


def _prepare(
    engine: Engine,
    client_factory: Callable[[], XeroClient],
    tenant_id: str,
    phone_field: str,
    ids: Sequence[int],
    outcomes: Outcomes,
) -> tuple[list[ExportCommand], ExportRun]:
    with engine.connect() as conn:
        requests = reads.export_requests(conn, ids)
        account_ids = {r.crm_account_id for r in requests if r.crm_account_id is not None}
        main_ids = {r.main_contact_id for r in requests if r.main_contact_id is not None}
        accounts = reads.accounts(conn, account_ids)
        contacts = reads.contacts(conn, account_ids, main_ids, phone_field)
        links = linked_contacts(conn, account_ids)
        taken = _all_linked_contacts(conn)
        mirror = reads.contact_keys(conn, tenant_id)
        short_code = reads.organisation(conn, tenant_id).short_code
    run = ExportRun(engine, client_factory, outcomes, short_code, links, taken, mirror)
    commands: list[ExportCommand] = []
    leaders: dict[tuple[int, str], int] = {}
    for request in sorted(requests, key=lambda r: r.id):
        own = [c for c in contacts if c.account_id == request.crm_account_id]
        chosen = [c for c in contacts if c.id == request.main_contact_id and c not in own]
        result = validate_export(
            request,
            accounts.get(request.crm_account_id or -1),
            own + chosen,
            phone_field=phone_field,
            linked_contact_id=links.get(request.crm_account_id or -1),
        )
        if isinstance(result, Rejection):
            outcomes.failed(result.request_id, result.sentence)
            continue
        key = (result.details.account_id, result.action)
        if key in leaders:
            run.followers[result.request_id] = leaders[key]
            continue
        leaders[key] = result.request_id
        commands.append(result)
    return commands, run


def _all_linked_contacts(conn: Connection) -> set[str]:
    t = XeroAccountLink.__table__
    return {row[0] for row in conn.execute(select(t.c.xero_contact_id))}


def _update(run: ExportRun, updates: list[ExportCommand]) -> None:
    """Push the CRM's fields to the linked contacts, 50 to a call."""
    for batch in batches(updates):
        items = [
            (c.request_id, contact_update_payload(c.details, run.links[c.details.account_id]))
            for c in batch
        ]
        answers = write_batch(run.xero, "POST", "Contacts", items)
        with run.engine.begin() as conn:
            for command, answer in zip(batch, answers, strict=True):
                contact_id = run.links[command.details.account_id]
                if answer.ok:
                    run.outcomes.done(
                        command.request_id,
                        conn,
                        xero_contact_id=contact_id,
                        xero_url=run.url(contact_id),
                    )
                else:
                    sentence = f"Xero refused the update: {answer.error}"
                    run.outcomes.failed(command.request_id, sentence, conn, answer.error)


def _link_known(run: ExportRun, pending: list[ExportCommand]) -> list[ExportCommand]:
    """Link what the mirror already knows: our own ContactNumber, else the import's rules.
    Returns the commands still without a contact."""
    ours = {
        c.contact_number: c.contact_id
        for c in run.mirror
        if c.is_active and c.contact_number and c.contact_id not in run.taken
    }
    index = ContactIndex(run.mirror)
    names = {c.contact_id: c.name or c.contact_id for c in run.mirror}
    left = []
    with link_writer(run.engine) as conn:
        for command in pending:
            details = command.details
            own = ours.get(contact_number(details.account_id))
            if own is not None:
                _link(run, conn, command, own, "export")
                continue
            keys = CrmAccountKeys(
                details.account_id, details.name, details.account_number, details.account_email
            )
            match = index.match(keys, exclude=run.taken)
            if match is None:
                left.append(command)
            elif len(match.contact_ids) == 1:
                _link(run, conn, command, match.contact_ids[0], match.rule)
            else:
                run.outcomes.failed(command.request_id, _ambiguous(match, names), conn)
    return left


def _ambiguous(match: Any, names: dict[str, str]) -> str:
    shown = sorted(names.get(c, c) for c in match.contact_ids)[:NAMES_SHOWN]  # A to Z
    more = len(match.contact_ids) - len(shown)
    listed = "; ".join(shown) + (f" and {more} more" if more > 0 else "")
    return (
        f"Several Xero contacts match this account by {RULE_WORDS[match.rule]} ({listed}): "
        "link the right one by hand, or make them differ in Xero, then export again."
    )


def _look_up(
    run: ExportRun, retried: list[ExportCommand], pending: list[ExportCommand]
) -> list[ExportCommand]:
    """Before creating again what an earlier run may have created, ask Xero for it by
    its ContactNumber. Returns the commands that still need a contact."""
    if not retried:
        return pending
    found = contacts_by_number(run.xero, [contact_number(c.details.account_id) for c in retried])
    left = []
    with link_writer(run.engine) as conn:
        for command in pending:
            contact = found.get(contact_number(command.details.account_id))
            if contact is None or str(contact["ContactID"]) in run.taken:
                left.append(command)
            else:
                _link(run, conn, command, str(contact["ContactID"]), "export")
    return left


def _create(run: ExportRun, pending: list[ExportCommand]) -> None:
    for batch in batches(pending):
        items = [(c.request_id, contact_payload(c.details)) for c in batch]
        answers = write_batch(run.xero, "PUT", "Contacts", items)
        with link_writer(run.engine) as conn:
            for command, answer in zip(batch, answers, strict=True):
                if answer.ok and answer.xero_id:
                    _link(run, conn, command, answer.xero_id, "export")
                else:
                    sentence = f"Xero refused this account: {answer.error}"
                    run.outcomes.failed(command.request_id, sentence, conn, answer.error)


def _link(
    run: ExportRun, conn: Connection, command: ExportCommand, contact_id: str, by: str
) -> None:
    """The link and the request's `done`, together (a savepoint each)."""
    try:
        with conn.begin_nested():
            record_link(conn, command.details.account_id, contact_id, by)
            run.outcomes.done(
                command.request_id, conn, xero_contact_id=contact_id, xero_url=run.url(contact_id)
            )
    except LinkConflict as conflict:
        sentence = (
            f"This account could not be linked ({conflict}): check its Xero link, then try again."
        )
        run.outcomes.failed(command.request_id, sentence, conn)
        return
    run.taken.add(contact_id)
    run.links[command.details.account_id] = contact_id


def _answer_followers(run: ExportRun) -> None:
    """A second request for the same account in the same run gets the first one's answer."""
    for request_id, leader in sorted(run.followers.items()):
        result = run.outcomes.results.get(leader)
        if result is None:
            continue  # the leader is still open (Xero unavailable): so is its follower
        if result["status"] == "done":
            values = {k: v for k, v in result.items() if k != "status"}
            run.outcomes.done(request_id, **values)
        elif result["status"] == "failed":
            run.outcomes.failed(request_id, result["error"], xero_error=result.get("xero_error"))
