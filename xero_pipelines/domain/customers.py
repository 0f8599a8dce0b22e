"""Xero customers that become CRM accounts (the `import_customers` setting).

Pure: a Xero contact record (its JSON, as Xero sent it) in, the CRM account and contacts
to create out. Which customers are imported at all (active, `IsCustomer`, matching no CRM
account by the link rules) is `matching.unmatched_contacts`; this module maps and vets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_ADDRESS_FIELDS = (
    "AddressLine1",
    "AddressLine2",
    "AddressLine3",
    "AddressLine4",
    "City",
    "Region",
    "PostalCode",
    "Country",
)


@dataclass(frozen=True, slots=True)
class NewContact:
    """A `crm_contacts` row to create: the main contact or one of `ContactPersons`."""

    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    is_primary: bool


@dataclass(frozen=True, slots=True)
class NewAccount:
    """A `crm_accounts` row to create for one Xero customer, with its contacts."""

    xero_contact_id: str
    name: str
    account_number: str | None
    email: str | None
    phone: str | None
    website: str | None
    address_line1: str | None
    address_line2: str | None
    city: str | None
    region: str | None
    postal_code: str | None
    country: str | None
    contacts: tuple[NewContact, ...]

    def account_row(self) -> dict[str, Any]:
        """The `crm_accounts` columns (without `id`)."""
        return {
            "name": self.name,
            "account_number": self.account_number,
            "email": self.email,
            "phone": self.phone,
            "website": self.website,
            "address_line1": self.address_line1,
            "address_line2": self.address_line2,
            "city": self.city,
            "region": self.region,
            "postal_code": self.postal_code,
            "country": self.country,
        }


@dataclass(frozen=True, slots=True)
class SkippedCustomer:
    contact_id: str
    name: str | None
    reason: str


def _text(value: Any) -> str | None:
    """Trimmed text, or None for missing/blank (Xero sends "" for fields left empty)."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def default_phone(phones: Iterable[Mapping[str, Any]] | None) -> str | None:
    """The DEFAULT phone as one string: country code, area code, number."""
    for phone in phones or ():
        if phone.get("PhoneType") == "DEFAULT":
            parts = [
                _text(phone.get(k)) for k in ("PhoneCountryCode", "PhoneAreaCode", "PhoneNumber")
            ]
            return " ".join(p for p in parts if p) or None
    return None


def preferred_address(addresses: Iterable[Mapping[str, Any]] | None) -> Mapping[str, Any]:
    """The STREET address when it has anything in it, else the postal (POBOX) one.

    Xero lists both types on every contact, often with nothing but `AddressType`.
    """
    by_type = {a.get("AddressType"): a for a in addresses or ()}
    for kind in ("STREET", "POBOX"):
        address = by_type.get(kind)
        if address and any(_text(address.get(f)) for f in _ADDRESS_FIELDS):
            return address
    return {}


def _joined(values: Iterable[Any]) -> str | None:
    return ", ".join(t for t in (_text(v) for v in values) if t) or None


def account_from_contact(record: Mapping[str, Any]) -> NewAccount:
    """The CRM account (and contacts) for one Xero contact record.

    The main contact is the contact's own person (FirstName, LastName, EmailAddress, the
    DEFAULT phone), created when any of those is set; each of `ContactPersons` follows.
    """
    phone = default_phone(record.get("Phones"))
    address = preferred_address(record.get("Addresses"))
    main = NewContact(
        first_name=_text(record.get("FirstName")),
        last_name=_text(record.get("LastName")),
        email=_text(record.get("EmailAddress")),
        phone=phone,
        is_primary=True,
    )
    contacts = [main] if (main.first_name or main.last_name or main.email) else []
    for person in record.get("ContactPersons") or ():
        extra = NewContact(
            first_name=_text(person.get("FirstName")),
            last_name=_text(person.get("LastName")),
            email=_text(person.get("EmailAddress")),
            phone=None,
            is_primary=False,
        )
        if extra.first_name or extra.last_name or extra.email:
            contacts.append(extra)
    return NewAccount(
        xero_contact_id=str(record["ContactID"]),
        name=_text(record.get("Name")) or "",
        account_number=_text(record.get("AccountNumber")),
        email=_text(record.get("EmailAddress")),
        phone=phone,
        website=_text(record.get("Website")),
        address_line1=_text(address.get("AddressLine1")),
        address_line2=_joined(
            address.get(f) for f in ("AddressLine2", "AddressLine3", "AddressLine4")
        ),
        city=_text(address.get("City")),
        region=_text(address.get("Region")),
        postal_code=_text(address.get("PostalCode")),
        country=_text(address.get("Country")),
        contacts=tuple(contacts),
    )


def plan_import(
    records: Sequence[Mapping[str, Any]],
) -> tuple[list[NewAccount], list[SkippedCustomer]]:
    """The accounts to create from unmatched customers' records, and those skipped, why.

    A customer without a name is skipped (a CRM account needs one). Two customers with
    one account number cannot both keep it (it is unique in the CRM): the first, in
    the order given, is imported and the other skipped, named, for someone to sort out.
    """
    new: list[NewAccount] = []
    skipped: list[SkippedCustomer] = []
    numbers: dict[str, str] = {}
    for record in records:
        account = account_from_contact(record)
        if not account.name:
            skipped.append(
                SkippedCustomer(account.xero_contact_id, None, "the contact has no name")
            )
            continue
        number = account.account_number
        if number is not None and number.casefold() in numbers:
            other = numbers[number.casefold()]
            reason = f"account number {number!r} is also on Xero contact {other}"
            skipped.append(SkippedCustomer(account.xero_contact_id, account.name, reason))
            continue
        if number is not None:
            numbers[number.casefold()] = account.xero_contact_id
        new.append(account)
    return new, skipped
