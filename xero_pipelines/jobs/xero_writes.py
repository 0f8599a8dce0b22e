"""The Xero calls of the request jobs: batched writes with per-element results, and the
look-ups a retry makes before it creates anything again.

A batch is written with `summarizeErrors=false`, so one element Xero refuses fails only
its own request, and with an `Idempotency-Key` derived from the batch's requests and
payloads, so a retried call inside Xero's key window replays the first answer. Xero
forgets keys after minutes, so a request that an earlier run may have written is first
looked up: a contact by its `ContactNumber`, a document by its `Reference` and contact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from xero_pipelines.domain.payloads import ItemOutcome, idempotency_parts, item_outcomes
from xero_pipelines.xero.client import XeroClient
from xero_pipelines.xero.errors import XeroValidationError
from xero_pipelines.xero.filters import guid, where_and, where_equals, where_guid, where_or

LOOKUP_CHUNK = 25  # keeps a where of ORed clauses well inside a URL's length
GONE = ("DELETED", "VOIDED", "ARCHIVED")

_COLLECTIONS = {
    "Contacts": ("ContactID", None),
    "Invoices": ("InvoiceID", "InvoiceNumber"),
    "Quotes": ("QuoteID", "QuoteNumber"),
}


def write_batch(
    client: XeroClient,
    method: str,
    collection: str,
    items: Sequence[tuple[int, dict[str, Any]]],
) -> list[ItemOutcome]:
    """PUT (create) or POST (update) one batch; one outcome per (request id, payload).

    A 400 for the whole call (Xero refused the batch as such) becomes that error for every
    element, with Xero's own words.
    """
    id_field, number_field = _COLLECTIONS[collection]
    key = client.idempotency_key(*idempotency_parts(f"{method} {collection}", items))
    body = {collection: [payload for _, payload in items]}
    params = {"summarizeErrors": "false"}
    if collection != "Contacts":
        params["unitdp"] = "4"  # a four-place unit price reaches Xero unrounded
    write = client.put if method == "PUT" else client.post
    try:
        answer = write(collection, body, idempotency_key=key, params=params)
    except XeroValidationError as exc:
        refused = ItemOutcome(False, None, None, tuple(exc.messages))
        return [refused] * len(items)
    return item_outcomes(len(items), answer.get(collection) or [], id_field, number_field)


def contacts_by_number(client: XeroClient, numbers: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Active Xero contacts whose `ContactNumber` is one of `numbers` (number → contact)."""
    found: dict[str, dict[str, Any]] = {}
    wanted = sorted(set(numbers))
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        where = where_or(*(where_equals("ContactNumber", n) for n in chunk))
        for page in client.iter_pages("Contacts", "Contacts", {"where": where}):
            for contact in page:
                number = contact.get("ContactNumber")
                if number in chunk and contact.get("ContactStatus") not in GONE:
                    found.setdefault(number, contact)
    return found


def invoices_by_reference(
    client: XeroClient, wanted: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Sales invoices by (contact id, reference), oldest first, leaving out voided and
    deleted ones."""
    pairs = sorted(set(wanted))
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for start in range(0, len(pairs), LOOKUP_CHUNK):
        chunk = pairs[start : start + LOOKUP_CHUNK]
        clauses = (
            where_and(where_guid("Contact.ContactID", c), where_equals("Reference", r))
            for c, r in chunk
        )
        where = where_and(where_equals("Type", "ACCREC"), where_or(*clauses))
        params = {"where": where, "order": "UpdatedDateUTC ASC"}
        for page in client.iter_pages("Invoices", "Invoices", params):
            _collect(page, set(chunk), found)
    return found


def quotes_by_reference(
    client: XeroClient, wanted: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Quotes by (contact id, reference): Xero's quotes filter by contact, not by
    reference, so one read per contact."""
    pairs = set(wanted)
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for contact_id in sorted({c for c, _ in pairs}):
        params = {"ContactID": guid(contact_id), "order": "UpdatedDateUTC ASC"}
        for page in client.iter_pages("Quotes", "Quotes", params, page_size=None):
            _collect(page, pairs, found)
    return found


def _collect(
    page: Iterable[Mapping[str, Any]],
    wanted: set[tuple[str, str]],
    found: dict[tuple[str, str], list[dict[str, Any]]],
) -> None:
    for document in page:
        contact_id = str((document.get("Contact") or {}).get("ContactID") or "").lower()
        pair = (contact_id, str(document.get("Reference") or ""))
        if pair in wanted and document.get("Status") not in GONE:
            found.setdefault(pair, []).append(dict(document))
