"""Xero customer records mapped to CRM accounts: phone, address choice, persons, skips."""

from __future__ import annotations

from xero_pipelines.domain.customers import (
    NewContact,
    SkippedCustomer,
    account_from_contact,
    default_phone,
    plan_import,
    preferred_address,
)

EMPTY_ADDRESSES = [{"AddressType": "POBOX"}, {"AddressType": "STREET"}]


def record(contact_id: str = "c1", **fields) -> dict:
    return {"ContactID": contact_id, "Name": "Kiwi Kayaks Ltd", **fields}


def test_the_default_phone_joins_country_area_and_number():
    phones = [
        {
            "PhoneType": "MOBILE",
            "PhoneNumber": "021 555",
            "PhoneAreaCode": "",
            "PhoneCountryCode": "",
        },
        {
            "PhoneType": "DEFAULT",
            "PhoneNumber": "555 1234",
            "PhoneAreaCode": "9",
            "PhoneCountryCode": "64",
        },
    ]
    assert default_phone(phones) == "64 9 555 1234"
    assert (
        default_phone([{"PhoneType": "DEFAULT", "PhoneNumber": "", "PhoneAreaCode": " "}]) is None
    )
    assert default_phone([{"PhoneType": "MOBILE", "PhoneNumber": "1"}]) is None
    assert default_phone(None) is None


def test_the_street_address_wins_unless_it_is_empty():
    street = {"AddressType": "STREET", "AddressLine1": "1 Queen St", "City": "Auckland"}
    postal = {"AddressType": "POBOX", "AddressLine1": "PO Box 9", "City": "Wellington"}
    assert preferred_address([postal, street]) == street
    assert preferred_address([postal, {"AddressType": "STREET", "City": "  "}]) == postal
    assert preferred_address(EMPTY_ADDRESSES) == {}


def test_a_full_record_becomes_an_account_with_its_main_contact_and_persons():
    account = account_from_contact(
        record(
            AccountNumber="KK-1",
            EmailAddress="office@kiwikayaks.example",
            FirstName="Aroha",
            LastName="Ngata",
            Website="https://kiwikayaks.example",
            Phones=[{"PhoneType": "DEFAULT", "PhoneNumber": "555 1234", "PhoneAreaCode": "9"}],
            Addresses=[
                {"AddressType": "STREET"},
                {
                    "AddressType": "POBOX",
                    "AddressLine1": "PO Box 77",
                    "AddressLine2": "Ponsonby",
                    "AddressLine3": "",
                    "AddressLine4": "Level 2",
                    "City": "Auckland",
                    "Region": "Auckland",
                    "PostalCode": "1011",
                    "Country": "New Zealand",
                },
            ],
            ContactPersons=[
                {
                    "FirstName": "Tama",
                    "LastName": "Ruru",
                    "EmailAddress": "tama@kiwikayaks.example",
                },
                {"FirstName": "", "LastName": "", "EmailAddress": ""},  # nothing: not created
            ],
        )
    )
    assert account.account_row() == {
        "name": "Kiwi Kayaks Ltd",
        "account_number": "KK-1",
        "email": "office@kiwikayaks.example",
        "phone": "9 555 1234",
        "website": "https://kiwikayaks.example",
        "address_line1": "PO Box 77",
        "address_line2": "Ponsonby, Level 2",
        "city": "Auckland",
        "region": "Auckland",
        "postal_code": "1011",
        "country": "New Zealand",
    }
    assert account.contacts == (
        NewContact("Aroha", "Ngata", "office@kiwikayaks.example", "9 555 1234", True),
        NewContact("Tama", "Ruru", "tama@kiwikayaks.example", None, False),
    )


def test_a_company_with_no_person_gets_no_empty_main_contact():
    account = account_from_contact(record(Addresses=EMPTY_ADDRESSES))
    assert account.contacts == ()
    assert account.address_line1 is None and account.phone is None


def test_nameless_customers_and_a_second_holder_of_an_account_number_are_skipped():
    new, skipped = plan_import(
        [
            record("a", AccountNumber="N-1"),
            record("b", Name="  "),
            record("c", Name="Other Co", AccountNumber="n-1"),
            record("d", Name="Third Co"),
        ]
    )
    assert [a.xero_contact_id for a in new] == ["a", "d"]
    assert skipped == [
        SkippedCustomer("b", None, "the contact has no name"),
        SkippedCustomer("c", "Other Co", "account number 'n-1' is also on Xero contact a"),
    ]
