"""CRM request rows → typed commands, or one sentence the CRM user can act on.

The CRM inserts a request naming an account (export, update) or an opportunity (draft);
everything it names may be missing, malformed or not ready for Xero. Each check here
turns one such case into a `Rejection` whose `sentence` is shown on the CRM page as it
is, so it says what to fix, not what went wrong inside. Nothing here reads a database or
calls Xero: the job reads the rows into the `*Row` records below and passes them in.

Numbers arrive as the database's text (`"2.5000"`, `"NaN"`, `"abc"` from a loose SQLite
column) so that "not a number" is a decision made here, exactly, never via a float.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

EXPORT_ACTIONS = ("export", "update")
EXPORT_TYPES = ("invoice", "quote")
MAX_NAME = 255
MAX_EMAIL = 255
MAX_CONTACT_PERSONS = 5  # Xero keeps at most five contact persons besides the main one
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


# ---- what the job reads -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: int
    name: str | None
    account_number: str | None = None
    email: str | None = None
    phone: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


@dataclass(frozen=True, slots=True)
class ContactRow:
    """A CRM contact; `phones` holds its phone columns by name (phone, mobile, work_phone)."""

    id: int
    account_id: int
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    is_primary: bool = False
    phones: Mapping[str, str | None] | None = None


@dataclass(frozen=True, slots=True)
class ExportRequestRow:
    id: int
    crm_account_id: int | None
    main_contact_id: int | None
    action: str | None


@dataclass(frozen=True, slots=True)
class OpportunityRow:
    """An opportunity; `amount` is the database's text; `references` holds the value of
    the configured reference field per export type (`invoice`, `quote`)."""

    id: int
    account_id: int | None
    name: str | None
    currency_code: str | None = None
    amount: str | None = None
    references: Mapping[str, str | None] | None = None


@dataclass(frozen=True, slots=True)
class LineRow:
    """An opportunity line; the three numbers are the database's text."""

    id: int
    description: str | None
    quantity: str | None
    unit_price: str | None
    discount_rate: str | None = None
    tax_type: str | None = None


@dataclass(frozen=True, slots=True)
class DraftRequestRow:
    id: int
    opportunity_id: int | None
    revenue_account_code: str | None
    export_type: str | None


# ---- what the job acts on -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rejection:
    """A request that cannot go to Xero, and the sentence that tells the CRM user why."""

    request_id: int
    sentence: str


@dataclass(frozen=True, slots=True)
class Address:
    line1: str | None
    line2: str | None
    city: str | None
    region: str | None
    postal_code: str | None
    country: str | None


@dataclass(frozen=True, slots=True)
class Person:
    first_name: str | None
    last_name: str | None
    email: str


@dataclass(frozen=True, slots=True)
class ContactDetails:
    """What the CRM knows of an account, ready to become a Xero contact."""

    account_id: int
    name: str
    account_number: str | None
    email: str | None
    first_name: str | None
    last_name: str | None
    phone: str | None
    address: Address | None
    persons: tuple[Person, ...]
    account_email: str | None = None  # what the import's matching compares


@dataclass(frozen=True, slots=True)
class ExportCommand:
    request_id: int
    action: str  # 'export' | 'update'
    details: ContactDetails


@dataclass(frozen=True, slots=True)
class Line:
    description: str
    quantity: Decimal
    unit_amount: Decimal
    discount_rate: Decimal | None
    tax_type: str | None


@dataclass(frozen=True, slots=True)
class DraftCommand:
    request_id: int
    kind: str  # 'invoice' | 'quote'
    opportunity_id: int
    account_id: int
    xero_contact_id: str
    account_code: str
    currency_code: str | None  # None: the organisation's base currency
    reference: str
    lines: tuple[Line, ...]


class _Rejected(Exception):
    def __init__(self, sentence: str):
        super().__init__(sentence)
        self.sentence = sentence


# ---- export and update --------------------------------------------------------------------


def validate_export(
    request: ExportRequestRow,
    account: AccountRow | None,
    contacts: Sequence[ContactRow],
    *,
    phone_field: str,
    linked_contact_id: str | None,
) -> ExportCommand | Rejection:
    """An export or update request → the contact details to send, or why not.

    `contacts` are the account's contacts (and the chosen main contact, when the CRM named
    one of another account); `linked_contact_id` is the account's Xero link, if any.
    """
    try:
        action = _action(request.action)
        if account is None:
            raise _Rejected(
                f"CRM account {request.crm_account_id} was not found: it may have been "
                "deleted, so open the account again and retry."
            )
        if action == "update" and linked_contact_id is None:
            raise _Rejected("This account is not linked to Xero yet: export it first.")
        main = _main_contact(request, account, contacts)
        details = _details(account, main, contacts, phone_field)
    except _Rejected as rejected:
        return Rejection(request.id, rejected.sentence)
    return ExportCommand(request.id, action, details)


def _action(action: str | None) -> str:
    normalised = (action or "export").strip().lower()
    if normalised not in EXPORT_ACTIONS:
        raise _Rejected(f"Unknown action '{action}': the CRM can ask to export or to update.")
    return normalised


def _main_contact(
    request: ExportRequestRow, account: AccountRow, contacts: Sequence[ContactRow]
) -> ContactRow | None:
    """The chosen main contact, else the account's primary contact, else none."""
    if request.main_contact_id is not None:
        chosen = next((c for c in contacts if c.id == request.main_contact_id), None)
        if chosen is None:
            raise _Rejected(
                f"The chosen main contact ({request.main_contact_id}) was not found: choose "
                "one of this account's contacts."
            )
        if chosen.account_id != account.id:
            raise _Rejected(
                "The chosen main contact belongs to another account: choose one of this "
                "account's own contacts."
            )
        return chosen
    own = [c for c in contacts if c.account_id == account.id]
    return next((c for c in sorted(own, key=lambda c: c.id) if c.is_primary), None)


def _details(
    account: AccountRow, main: ContactRow | None, contacts: Sequence[ContactRow], phone_field: str
) -> ContactDetails:
    name = (account.name or "").strip()
    if not name:
        raise _Rejected("The account has no name: give it a name, then export it again.")
    if len(name) > MAX_NAME:
        raise _Rejected(
            f"The account name has {len(name)} characters and Xero allows {MAX_NAME}: "
            "shorten it, then try again."
        )
    account_email = _email(account.email, "the account")
    main_email = _email(main.email, _who(main)) if main else None
    others = [
        c for c in contacts if c.account_id == account.id and (main is None or c.id != main.id)
    ]
    persons = []
    for contact in sorted(others, key=lambda c: (not c.is_primary, c.id)):
        email = _email(contact.email, _who(contact))
        if email and len(persons) < MAX_CONTACT_PERSONS:
            persons.append(Person(_text(contact.first_name), _text(contact.last_name), email))
    phone = _text((main.phones or {}).get(phone_field)) if main else None
    return ContactDetails(
        account_id=account.id,
        name=name,
        account_number=_text(account.account_number),
        email=main_email or account_email,
        first_name=_text(main.first_name) if main else None,
        last_name=_text(main.last_name) if main else None,
        phone=phone or _text(account.phone),
        address=_address(account),
        persons=tuple(persons),
        account_email=account_email,
    )


def _who(contact: ContactRow) -> str:
    name = " ".join(p for p in (_text(contact.first_name), _text(contact.last_name)) if p)
    return f"contact {name}" if name else f"contact {contact.id}"


def _email(value: str | None, whose: str) -> str | None:
    email = _text(value)
    if email is None:
        return None
    if len(email) > MAX_EMAIL or not _EMAIL.match(email):
        raise _Rejected(
            f"The email address '{email}' of {whose} is not valid: correct it, then try again."
        )
    return email


def _address(account: AccountRow) -> Address | None:
    address = Address(
        _text(account.address_line1),
        _text(account.address_line2),
        _text(account.city),
        _text(account.region),
        _text(account.postal_code),
        _text(account.country),
    )
    return None if address == Address(None, None, None, None, None, None) else address


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = str(value).strip()
    return stripped or None


# ---- drafts -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DraftContext:
    """What a draft is checked against: settings, links, the mirrored chart, currencies.

    `revenue_accounts` maps each mirrored revenue account code to its status;
    `currencies` are the organisation's currencies (its base currency included).
    """

    default_export_type: str
    links: Mapping[int, str]
    revenue_accounts: Mapping[str, str]
    currencies: Collection[str]


def validate_draft(
    request: DraftRequestRow,
    opportunity: OpportunityRow | None,
    lines: Sequence[LineRow],
    context: DraftContext,
) -> DraftCommand | Rejection:
    """A draft request → the invoice or quote to create, or why not."""
    try:
        if opportunity is None:
            raise _Rejected(
                f"Opportunity {request.opportunity_id} was not found: it may have been "
                "deleted, so open the opportunity again and retry."
            )
        kind = _export_type(request.export_type, context.default_export_type)
        contact_id = context.links.get(opportunity.account_id or -1)
        if contact_id is None:
            raise _Rejected(
                "This opportunity's account is not linked to Xero yet: export the account first."
            )
        code = _revenue_account(request.revenue_account_code, context.revenue_accounts)
        currency = _currency(opportunity.currency_code, context.currencies)
        draft_lines = _lines(opportunity, lines)
    except _Rejected as rejected:
        return Rejection(request.id, rejected.sentence)
    return DraftCommand(
        request_id=request.id,
        kind=kind,
        opportunity_id=opportunity.id,
        account_id=opportunity.account_id,  # type: ignore[arg-type]  # linked, so set
        xero_contact_id=contact_id,
        account_code=code,
        currency_code=currency,
        reference=_text((opportunity.references or {}).get(kind))
        or default_reference(opportunity.id),
        lines=draft_lines,
    )


def default_reference(opportunity_id: int) -> str:
    """The Reference when the configured field is empty: a retry must find the document
    again by its Reference, so it is never blank."""
    return f"CRM-OPP-{opportunity_id}"


def _export_type(requested: str | None, default: str) -> str:
    chosen = _text(requested)
    kind = (chosen or default).strip().lower()
    if kind not in EXPORT_TYPES:
        raise _Rejected(
            f"Export type '{chosen or default}' is neither invoice nor quote: choose one of "
            "the two."
        )
    return kind


def _revenue_account(code: str | None, accounts: Mapping[str, str]) -> str:
    chosen = _text(code)
    if chosen is None:
        raise _Rejected("No revenue type was chosen: choose one of Xero's revenue accounts.")
    status = accounts.get(chosen)
    if status is None:
        raise _Rejected(
            f"Revenue account '{chosen}' is not one of Xero's revenue accounts: choose "
            "another revenue type."
        )
    if status.upper() != "ACTIVE":
        raise _Rejected(
            f"Revenue account '{chosen}' is {status.lower()} in Xero: choose another revenue type."
        )
    return chosen


def _currency(code: str | None, currencies: Collection[str]) -> str | None:
    chosen = _text(code)
    if chosen is None:
        return None
    upper = chosen.upper()
    if not _CURRENCY.match(upper) or upper not in currencies:
        used = ", ".join(sorted(currencies)) or "none known yet"
        raise _Rejected(
            f"The opportunity's currency {chosen} is not used by the Xero organisation "
            f"({used}): change the currency, or add it in Xero first."
        )
    return upper


def _lines(opportunity: OpportunityRow, lines: Sequence[LineRow]) -> tuple[Line, ...]:
    if not lines:
        amount = _number(opportunity.amount, "The opportunity's amount")
        if amount is None or amount <= 0:
            raise _Rejected(
                "The opportunity has no lines and no positive amount: add a line or an "
                "amount, then try again."
            )
        description = _text(opportunity.name) or f"Opportunity {opportunity.id}"
        return (Line(description, Decimal(1), amount, None, None),)
    return tuple(
        _line(n, line, opportunity)
        for n, line in enumerate(sorted(lines, key=lambda x: x.id), start=1)
    )


def _line(n: int, line: LineRow, opportunity: OpportunityRow) -> Line:
    quantity = _number(line.quantity, f"Line {n}'s quantity")
    price = _number(line.unit_price, f"Line {n}'s price")
    discount = _number(line.discount_rate, f"Line {n}'s discount")
    if price is None:
        raise _Rejected(f"Line {n} has no price: enter a price of 0 or more, then try again.")
    for value, what in ((quantity, "quantity"), (price, "price")):
        if value is not None and value < 0:
            raise _Rejected(
                f"Line {n}'s {what} is negative ({value}): enter 0 or more, then try again."
            )
    if discount is not None and not 0 <= discount <= 100:
        raise _Rejected(
            f"Line {n}'s discount is {discount}%: enter a discount from 0 to 100, then try again."
        )
    description = _text(line.description) or _text(opportunity.name) or f"Line {n}"
    return Line(
        description=description,
        quantity=Decimal(1) if quantity is None else quantity,
        unit_amount=price,
        discount_rate=discount,
        tax_type=_text(line.tax_type),
    )


def _number(raw: str | None, what: str) -> Decimal | None:
    """The database's text as an exact Decimal; None when empty; rejects anything else."""
    text = _text(raw)
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        raise _Rejected(f"{what} is not a number ('{text}'): enter a number, then try again.")
    return value
