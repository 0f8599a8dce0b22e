"""Request validation: every bad input the CRM can send becomes one sentence the CRM user
can act on; good input becomes exactly the command the job sends."""

from __future__ import annotations

from decimal import Decimal

import pytest

from xero_pipelines.domain.requests import (
    AccountRow,
    ContactRow,
    DraftContext,
    DraftRequestRow,
    ExportCommand,
    ExportRequestRow,
    Line,
    LineRow,
    OpportunityRow,
    Rejection,
    validate_draft,
    validate_export,
)

ACCOUNT = AccountRow(
    id=7,
    name="  Zoë's Café Ltd ",
    account_number="A-7",
    email="accounts@zoe.example",
    phone="09 111 111",
    address_line1="1 Queen St",
    city="Auckland",
    country="New Zealand",
)
PRIMARY = ContactRow(
    7_1,
    7,
    "Zoë",
    "Smith",
    "zoe@zoe.example",
    True,
    {"phone": "09 222", "mobile": "021 333", "work_phone": None},
)
OTHER = ContactRow(7_2, 7, "Tom", "Jones", "tom@zoe.example", False, {"phone": "09 444"})
NO_EMAIL = ContactRow(7_3, 7, "No", "Mail", None, False, {})
STRANGER = ContactRow(9_1, 9, "Sam", "Else", "sam@else.example", True, {})


def export(
    account=ACCOUNT,
    contacts=(PRIMARY, OTHER, NO_EMAIL),
    main=None,
    action="export",
    phone_field="phone",
    link=None,
):
    request = ExportRequestRow(1, account.id if account else 404, main, action)
    return validate_export(
        request, account, list(contacts), phone_field=phone_field, linked_contact_id=link
    )


def test_an_export_takes_the_account_and_its_primary_contact():
    command = export()
    assert isinstance(command, ExportCommand)
    d = command.details
    assert (d.account_id, d.name, d.account_number) == (7, "Zoë's Café Ltd", "A-7")
    assert (d.first_name, d.last_name, d.email, d.phone) == (
        "Zoë",
        "Smith",
        "zoe@zoe.example",
        "09 222",
    )
    assert d.address is not None and d.address.line1 == "1 Queen St"
    assert [p.email for p in d.persons] == ["tom@zoe.example"]  # others with an email
    assert d.account_email == "accounts@zoe.example"


def test_the_chosen_main_contact_and_phone_field_win():
    command = export(main=OTHER.id, phone_field="mobile")
    assert isinstance(command, ExportCommand)
    assert (command.details.first_name, command.details.email) == ("Tom", "tom@zoe.example")
    assert command.details.phone == "09 111 111"  # Tom has no mobile: the account's phone
    assert [p.email for p in command.details.persons] == ["zoe@zoe.example"]
    mobile = export(phone_field="mobile")
    assert mobile.details.phone == "021 333"


def test_without_contacts_the_account_email_and_phone_are_used():
    command = export(contacts=())
    assert command.details.email == "accounts@zoe.example"
    assert command.details.phone == "09 111 111"
    assert command.details.first_name is None and command.details.persons == ()


def test_at_most_five_contact_persons():
    many = [ContactRow(100 + i, 7, f"P{i}", "X", f"p{i}@zoe.example") for i in range(8)]
    command = export(contacts=[PRIMARY, *many])
    assert [p.first_name for p in command.details.persons] == ["P0", "P1", "P2", "P3", "P4"]


@pytest.mark.parametrize(
    ("kwargs", "sentence"),
    [
        (
            {"account": None},
            "CRM account 404 was not found: it may have been deleted, so open the account "
            "again and retry.",
        ),
        (
            {"main": STRANGER.id, "contacts": (PRIMARY, STRANGER)},
            "The chosen main contact belongs to another account: choose one of this "
            "account's own contacts.",
        ),
        (
            {"main": 12345},
            "The chosen main contact (12345) was not found: choose one of this account's contacts.",
        ),
        (
            {"account": AccountRow(7, "   ")},
            "The account has no name: give it a name, then export it again.",
        ),
        (
            {"account": AccountRow(7, "x" * 256)},
            "The account name has 256 characters and Xero allows 255: shorten it, then try again.",
        ),
        (
            {"account": AccountRow(7, "Acme", email="not an email")},
            "The email address 'not an email' of the account is not valid: correct it, then "
            "try again.",
        ),
        (
            {"contacts": (ContactRow(5, 7, "Ann", "Lee", "ann@", True),)},
            "The email address 'ann@' of contact Ann Lee is not valid: correct it, then try again.",
        ),
        (
            {"action": "delete"},
            "Unknown action 'delete': the CRM can ask to export or to update.",
        ),
        (
            {"action": "update"},
            "This account is not linked to Xero yet: export it first.",
        ),
    ],
)
def test_bad_export_requests_get_a_sentence(kwargs, sentence):
    assert export(**kwargs) == Rejection(1, sentence)


def test_a_name_of_exactly_255_characters_is_fine():
    assert isinstance(export(account=AccountRow(7, "x" * 255)), ExportCommand)


def test_update_of_a_linked_account_and_default_action():
    assert export(action="update", link="abc").action == "update"
    assert export(action=None).action == "export"
    assert export(action=" UPDATE ", link="abc").action == "update"


# ---- drafts -------------------------------------------------------------------------------

CONTACT_ID = "0b5c7f3e-0000-4000-8000-000000000007"
OPPORTUNITY = OpportunityRow(
    30,
    7,
    "Website rebuild",
    currency_code="nzd",
    amount="1200.00",
    references={"invoice": "OPP-30", "quote": "PO-9"},
)
LINES = [
    LineRow(2, "Hosting", "12.0000", "19.9900", None, "OUTPUT2"),
    LineRow(1, "Design", "1.5000", "800.0000", "10.0000", None),
]
CONTEXT = DraftContext(
    default_export_type="invoice",
    links={7: CONTACT_ID},
    revenue_accounts={"200": "ACTIVE", "250": "ARCHIVED"},
    currencies={"NZD", "AUD"},
)


def draft(opportunity=OPPORTUNITY, lines=LINES, code="200", export_type=None, context=CONTEXT):
    request = DraftRequestRow(5, opportunity.id if opportunity else 404, code, export_type)
    return validate_draft(request, opportunity, lines, context)


def test_a_draft_invoice_from_an_opportunitys_lines():
    command = draft()
    assert command.kind == "invoice"
    assert command.xero_contact_id == CONTACT_ID
    assert (command.account_code, command.currency_code, command.reference) == (
        "200",
        "NZD",
        "OPP-30",
    )
    assert command.lines == (
        Line("Design", Decimal("1.5"), Decimal("800"), Decimal("10"), None),
        Line("Hosting", Decimal("12"), Decimal("19.99"), None, "OUTPUT2"),
    )
    assert all(
        isinstance(x.quantity, Decimal) and isinstance(x.unit_amount, Decimal)
        for x in command.lines
    )


def test_the_request_or_the_setting_chooses_quote_and_its_reference():
    assert draft(export_type="Quote").kind == "quote"
    assert draft(export_type="quote").reference == "PO-9"
    context = DraftContext("quote", CONTEXT.links, CONTEXT.revenue_accounts, CONTEXT.currencies)
    assert draft(context=context).kind == "quote"


def test_an_empty_reference_falls_back_to_the_crm_key():
    opp = OpportunityRow(30, 7, "X", amount="5", references={"invoice": "  "})
    assert draft(opportunity=opp, lines=[]).reference == "CRM-OPP-30"


def test_no_currency_means_the_base_currency():
    opp = OpportunityRow(30, 7, "X", amount="5")
    assert draft(opportunity=opp, lines=[]).currency_code is None


def test_an_opportunity_without_lines_becomes_one_line():
    command = draft(lines=[])
    assert command.lines == (Line("Website rebuild", Decimal(1), Decimal("1200.00"), None, None),)


def test_a_line_without_description_or_quantity():
    command = draft(lines=[LineRow(1, None, None, "10", "0", None)])
    assert command.lines == (Line("Website rebuild", Decimal(1), Decimal(10), Decimal(0), None),)


@pytest.mark.parametrize(
    ("kwargs", "sentence"),
    [
        (
            {"opportunity": None},
            "Opportunity 404 was not found: it may have been deleted, so open the "
            "opportunity again and retry.",
        ),
        (
            {"opportunity": OpportunityRow(30, 8, "Unlinked", amount="5")},
            "This opportunity's account is not linked to Xero yet: export the account first.",
        ),
        (
            {"lines": [], "opportunity": OpportunityRow(30, 7, "X", amount="0")},
            "The opportunity has no lines and no positive amount: add a line or an amount, "
            "then try again.",
        ),
        (
            {"lines": [], "opportunity": OpportunityRow(30, 7, "X", amount=None)},
            "The opportunity has no lines and no positive amount: add a line or an amount, "
            "then try again.",
        ),
        (
            {"lines": [LineRow(1, "A", "-1", "5")]},
            "Line 1's quantity is negative (-1): enter 0 or more, then try again.",
        ),
        (
            {"lines": [LineRow(1, "A", "1", "5"), LineRow(2, "B", "1", "-0.01")]},
            "Line 2's price is negative (-0.01): enter 0 or more, then try again.",
        ),
        (
            {"lines": [LineRow(1, "A", "abc", "5")]},
            "Line 1's quantity is not a number ('abc'): enter a number, then try again.",
        ),
        (
            {"lines": [LineRow(1, "A", "1", "NaN")]},
            "Line 1's price is not a number ('NaN'): enter a number, then try again.",
        ),
        (
            {"lines": [LineRow(1, "A", "1", "Infinity")]},
            "Line 1's price is not a number ('Infinity'): enter a number, then try again.",
        ),
        (
            {"lines": [LineRow(1, "A", "1", None)]},
            "Line 1 has no price: enter a price of 0 or more, then try again.",
        ),
        (
            {"lines": [LineRow(1, "A", "1", "5", "100.5")]},
            "Line 1's discount is 100.5%: enter a discount from 0 to 100, then try again.",
        ),
        (
            {"lines": [LineRow(1, "A", "1", "5", "-1")]},
            "Line 1's discount is -1%: enter a discount from 0 to 100, then try again.",
        ),
        (
            {"code": "999"},
            "Revenue account '999' is not one of Xero's revenue accounts: choose another "
            "revenue type.",
        ),
        (
            {"code": "250"},
            "Revenue account '250' is archived in Xero: choose another revenue type.",
        ),
        (
            {"code": None},
            "No revenue type was chosen: choose one of Xero's revenue accounts.",
        ),
        (
            {"export_type": "order"},
            "Export type 'order' is neither invoice nor quote: choose one of the two.",
        ),
        (
            {"opportunity": OpportunityRow(30, 7, "X", currency_code="USD", amount="5")},
            "The opportunity's currency USD is not used by the Xero organisation (AUD, NZD): "
            "change the currency, or add it in Xero first.",
        ),
        (
            {"opportunity": OpportunityRow(30, 7, "X", currency_code="dollars", amount="5")},
            "The opportunity's currency dollars is not used by the Xero organisation (AUD, "
            "NZD): change the currency, or add it in Xero first.",
        ),
    ],
)
def test_bad_draft_requests_get_a_sentence(kwargs, sentence):
    assert draft(**kwargs) == Rejection(5, sentence)


def test_discount_bounds_are_inclusive():
    command = draft(lines=[LineRow(1, "A", "1", "5", "0"), LineRow(2, "B", "1", "5", "100")])
    assert [line.discount_rate for line in command.lines] == [Decimal(0), Decimal(100)]
