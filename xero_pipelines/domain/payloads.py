"""Xero's JSON for what the CRM asked: contacts, sales invoices and quotes; and what Xero
answered for each element of a batch.

Money stays `Decimal` from the CRM's text to the request body (the client writes Decimal
as an exact JSON number); Xero rounds each line to cents once, at the end, and the job
asks for `unitdp=4` so a four-place unit price is not rounded before that.

Every contact created from the CRM carries `ContactNumber` = `CRM-<account id>`: the field
Xero keeps for an external system's key, so a retry after a crash finds what an earlier
attempt created instead of creating it again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote

from xero_pipelines.domain.requests import ContactDetails, DraftCommand

CONTACT_NUMBER_PREFIX = "CRM-"


def contact_number(account_id: int) -> str:
    """The stable key of a CRM account in Xero (`ContactNumber`)."""
    return f"{CONTACT_NUMBER_PREFIX}{account_id}"


# ---- contacts -----------------------------------------------------------------------------


def contact_payload(details: ContactDetails) -> dict[str, Any]:
    """A new Xero contact: everything the CRM knows, its key and its other people."""
    body = _owned_fields(details)
    body["ContactNumber"] = contact_number(details.account_id)
    if details.persons:
        body["ContactPersons"] = [
            _drop_empty(
                {"FirstName": p.first_name, "LastName": p.last_name, "EmailAddress": p.email}
            )
            for p in details.persons
        ]
    return body


def contact_update_payload(details: ContactDetails, contact_id: str) -> dict[str, Any]:
    """An update of a linked contact: only the fields the CRM owns.

    Not `ContactNumber` (a contact linked by the import may carry another system's key)
    and not `ContactPersons` (Xero replaces the whole list, which would drop the people a
    Xero user added). Empty CRM fields are left out, so an update never blanks Xero's value.
    """
    return {"ContactID": contact_id, **_owned_fields(details)}


def _owned_fields(details: ContactDetails) -> dict[str, Any]:
    body: dict[str, Any] = _drop_empty(
        {
            "Name": details.name,
            "AccountNumber": details.account_number,
            "EmailAddress": details.email,
            "FirstName": details.first_name,
            "LastName": details.last_name,
        }
    )
    if details.phone:
        body["Phones"] = [{"PhoneType": "DEFAULT", "PhoneNumber": details.phone}]
    if details.address:
        a = details.address
        street = {
            "AddressType": "STREET",
            "AddressLine1": a.line1,
            "AddressLine2": a.line2,
            "City": a.city,
            "Region": a.region,
            "PostalCode": a.postal_code,
            "Country": a.country,
        }
        body["Addresses"] = [_drop_empty(street)]
    return body


def _drop_empty(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in (None, "")}


# ---- invoices and quotes ------------------------------------------------------------------


def document_payload(
    command: DraftCommand, *, invoice_status: str, quote_status: str, today: date
) -> dict[str, Any]:
    """A sales invoice (`Type=ACCREC`) or a quote for the command's linked contact."""
    body: dict[str, Any] = {
        "Contact": {"ContactID": command.xero_contact_id},
        "Date": today.isoformat(),
        "Reference": command.reference,
        "LineAmountTypes": "Exclusive",
        "LineItems": [_line(line, command.account_code) for line in command.lines],
    }
    if command.currency_code:
        body["CurrencyCode"] = command.currency_code
    if command.kind == "invoice":
        return {"Type": "ACCREC", "Status": invoice_status, **body}
    return {"Status": quote_status, **body}


def _line(line: Any, account_code: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Description": line.description,
        "Quantity": line.quantity,
        "UnitAmount": line.unit_amount,
        "AccountCode": account_code,
    }
    if line.discount_rate is not None:
        out["DiscountRate"] = line.discount_rate
    if line.tax_type:
        out["TaxType"] = line.tax_type
    return out


# ---- deep links ---------------------------------------------------------------------------

# Xero's documented deep link to an invoice ("Deep link to Xero",
# https://developer.xero.com/documentation/api-guides/deep-link-xero); quotes are not on
# that page, so theirs is the one Xero's own MCP server builds (XeroAPI/xero-mcp-server,
# src/consts/deeplinks.ts).
INVOICE_LINK = (
    "https://go.xero.com/organisationlogin/default.aspx?shortcode={short_code}"
    "&redirecturl=/AccountsReceivable/View.aspx?InvoiceID={document_id}"
)
QUOTE_LINK = "https://go.xero.com/app/{short_code}/quotes/view/{document_id}"


def document_deep_link(short_code: str | None, kind: str, document_id: str) -> str | None:
    """Opens the invoice or quote in Xero, in the right organisation (its `ShortCode`);
    None while the organisation has not been mirrored yet."""
    if not short_code or not document_id:
        return None
    template = INVOICE_LINK if kind == "invoice" else QUOTE_LINK
    return template.format(
        short_code=quote(short_code.strip(), safe="!"),
        document_id=quote(document_id.strip(), safe=""),
    )


# ---- idempotency --------------------------------------------------------------------------


def idempotency_parts(kind: str, items: Sequence[tuple[int, Mapping[str, Any]]]) -> tuple[str, ...]:
    """The parts of one batch's `Idempotency-Key`: what is written and to which requests.

    Built from the request ids and their payloads only (never a run id or an attempt), so
    a retry of the same batch sends the same key and Xero replays the first answer; a batch
    with other requests, or a changed payload, is a different write with a different key.
    """
    canonical = json.dumps(
        [[request_id, payload] for request_id, payload in sorted(items, key=lambda i: i[0])],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
        ensure_ascii=False,
    )
    return (kind, hashlib.sha256(canonical.encode("utf-8")).hexdigest())


# ---- Xero's answer, element by element ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """What Xero did with one element of a `summarizeErrors=false` batch."""

    ok: bool
    xero_id: str | None
    number: str | None
    messages: tuple[str, ...]

    @property
    def error(self) -> str:
        return " ".join(m if m.endswith(".") else m + "." for m in self.messages)


def item_outcomes(
    sent: int, answered: Sequence[Mapping[str, Any]], id_field: str, number_field: str | None
) -> list[ItemOutcome]:
    """Xero answers a batch with one element per element sent, in order, each marked
    `StatusAttributeString` OK (or WARNING) or ERROR with its `ValidationErrors`."""
    if len(answered) != sent:
        raise ValueError(f"Xero answered {len(answered)} elements for {sent} sent")
    return [_outcome(item, id_field, number_field) for item in answered]


def _outcome(item: Mapping[str, Any], id_field: str, number_field: str | None) -> ItemOutcome:
    errors = tuple(
        str(e.get("Message"))
        for e in item.get("ValidationErrors") or []
        if isinstance(e, Mapping) and e.get("Message")
    )
    failed = str(item.get("StatusAttributeString") or "").upper() == "ERROR" or bool(errors)
    xero_id = item.get(id_field)
    if failed or not xero_id:
        return ItemOutcome(False, None, None, errors or ("Xero did not say why.",))
    number = item.get(number_field) if number_field else None
    return ItemOutcome(True, str(xero_id), str(number) if number else None, ())
