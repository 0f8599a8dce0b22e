"""The linking rules, pure: each rule, their order, both-sides ambiguity, merges, archives."""

from __future__ import annotations

import pytest

from xero_pipelines.domain.matching import (
    Ambiguity,
    ContactIndex,
    CrmAccountKeys,
    FollowedMerge,
    Link,
    Match,
    RemovedLink,
    XeroContactKeys,
    follow_merges,
    normalise_name,
    plan_links,
    unmatched_contacts,
)


def account(
    id: int, name: str | None = None, number: str | None = None, email: str | None = None
) -> CrmAccountKeys:
    return CrmAccountKeys(id=id, name=name, account_number=number, email=email)


def contact(
    contact_id: str,
    name: str | None = None,
    *,
    number: str | None = None,
    contact_number: str | None = None,
    email: str | None = None,
    status: str | None = "ACTIVE",
    merged_to: str | None = None,
) -> XeroContactKeys:
    return XeroContactKeys(
        contact_id=contact_id,
        name=name,
        account_number=number,
        contact_number=contact_number,
        email=email,
        status=status,
        merged_to_contact_id=merged_to,
    )


# ---- normalise_name -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Smith & Jones", "smith and jones"),
        ("Smith & Jones", "Smith Jones"),
        ("Café Müller", "CAFE MULLER"),
        ("Zürich Öl AG", "zurich ol"),
        ("Acme Ltd", "Acme"),
        ("Acme Limited", "ACME"),
        ("Acme Pty Ltd", "Acme"),
        ("Acme, Inc.", "acme"),
        ("Acme LLC", "Acme"),
        ("Acme B.V.", "Acme BV"),
        ("Acme GmbH", "Acme"),
        ("  Acme   Widgets  ", "Acme Widgets"),
        ("Acme-Widgets", "Acme Widgets"),
        ("O'Brien Plumbing", "OBrien Plumbing"),
        ("A.B.C. Ltd", "ABC"),
    ],
)
def test_names_that_are_the_same_company(left, right):
    assert normalise_name(left) == normalise_name(right) != ""


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Acme", "Acme Widgets"),
        ("Limited Editions", "Editions"),  # a suffix word only counts at the end
        ("Smith", "Smyth"),
        ("Coco", "Co"),
    ],
)
def test_names_that_differ(left, right):
    assert normalise_name(left) != normalise_name(right)


@pytest.mark.parametrize("blank", [None, "", "   ", "&", "..."])
def test_blank_names_normalise_to_nothing(blank):
    assert normalise_name(blank) == ""


def test_a_name_that_is_only_a_suffix_keeps_it():
    assert normalise_name("Limited") == "limited"
    assert normalise_name("Pty Ltd") == "pty"


# ---- ContactIndex.match -----------------------------------------------------------------------


def test_account_number_matches_xero_account_number_or_contact_number():
    index = ContactIndex([contact("a", number="ACC-1"), contact("b", contact_number="ACC-2")])
    assert index.match(account(1, number="ACC-1")) == Match("account_number", ("a",))
    assert index.match(account(2, number=" acc-2 ")) == Match("account_number", ("b",))
    assert index.match(account(3, number="ACC-3")) is None


def test_email_matches_case_insensitively():
    index = ContactIndex([contact("a", email="Billing@Acme.example")])
    assert index.match(account(1, email="billing@ACME.example")) == Match("email", ("a",))


def test_name_matches_normalised():
    index = ContactIndex([contact("a", "Smith & Jones Pty Ltd")])
    assert index.match(account(1, "smith and jones")) == Match("name", ("a",))


def test_rules_apply_in_order_the_first_with_a_candidate_wins():
    index = ContactIndex(
        [
            contact("by-name", "Acme"),
            contact("by-email", "Other", email="a@acme.example"),
            contact("by-number", "Third", number="42"),
        ]
    )
    full = account(1, "Acme", "42", "a@acme.example")
    assert index.match(full) == Match("account_number", ("by-number",))
    assert index.match(account(1, "Acme", None, "a@acme.example")) == Match("email", ("by-email",))
    assert index.match(account(1, "Acme")) == Match("name", ("by-name",))


def test_an_ambiguous_first_rule_does_not_fall_through_to_the_next():
    index = ContactIndex(
        [contact("a", "Acme", email="x@acme.example"), contact("b", "Acme", email="x@acme.example")]
    )
    assert index.match(account(1, "Acme", email="x@acme.example")) == Match("email", ("a", "b"))


def test_only_active_contacts_are_candidates():
    index = ContactIndex(
        [
            contact("archived", "Acme", status="ARCHIVED"),
            contact("gdpr", "Acme", status="GDPRREQUEST"),
            contact("live", "Acme"),
        ]
    )
    assert index.match(account(1, "Acme")) == Match("name", ("live",))


def test_excluded_contacts_are_not_candidates_and_the_next_rule_applies():
    index = ContactIndex([contact("a", "Acme", number="7"), contact("b", "Acme Ltd")])
    assert index.match(account(1, "Acme", "7"), exclude={"a"}) == Match("name", ("b",))


def test_blank_keys_never_match_blank_keys():
    index = ContactIndex([contact("a", None, number="", email="  ")])
    assert index.match(account(1, "", "", "")) is None


# ---- plan_links: adding ---------------------------------------------------------------------


def test_unique_matches_are_added_with_their_rule():
    plan = plan_links(
        [account(1, "Acme", "A1"), account(2, "Beta", email="b@beta.example"), account(3, "Gamma")],
        [
            contact("a", "Acme Holdings", number="A1"),
            contact("b", "B", email="B@beta.example"),
            contact("g", "GAMMA LIMITED"),
        ],
        {},
    )
    assert plan.added == (
        Link(1, "a", "account_number"),
        Link(2, "b", "email"),
        Link(3, "g", "name"),
    )
    assert plan.ambiguous == () and plan.removed == () and plan.kept == ()
    assert plan.counts_by_matched_by() == {"account_number": 1, "email": 1, "name": 1}


def test_ambiguous_on_the_contact_side_is_reported_not_linked():
    plan = plan_links([account(1, "Acme")], [contact("a", "Acme"), contact("b", "ACME Ltd")], {})
    assert plan.added == ()
    assert plan.ambiguous == (Ambiguity(1, "Acme", "name", ("a", "b")),)


def test_ambiguous_on_the_crm_side_is_reported_not_linked():
    plan = plan_links([account(1, "Acme"), account(2, "Acme Ltd")], [contact("a", "Acme")], {})
    assert plan.added == ()
    assert plan.ambiguous == (
        Ambiguity(1, "Acme", "name", ("a",)),
        Ambiguity(2, "Acme Ltd", "name", ("a",)),
    )


def test_a_stronger_rule_wins_a_contact_claimed_by_a_weaker_one():
    plan = plan_links(
        [account(1, "Acme", "A1"), account(2, "Acme")], [contact("a", "Acme", number="A1")], {}
    )
    assert plan.added == (Link(1, "a", "account_number"),)
    assert plan.ambiguous == ()


def test_a_contact_taken_in_one_round_makes_another_match_unique():
    # Account 1 takes "a" by number; then account 2's name candidates {a, b} leave only b.
    plan = plan_links(
        [account(1, "Acme", "A1"), account(2, "Acme")],
        [contact("a", "Acme", number="A1"), contact("b", "Acme Ltd")],
        {},
    )
    assert plan.added == (Link(1, "a", "account_number"), Link(2, "b", "name"))
    # and a second run over the result changes nothing
    again = plan_links(
        [account(1, "Acme", "A1"), account(2, "Acme")],
        [contact("a", "Acme", number="A1"), contact("b", "Acme Ltd")],
        {1: ("a", "account_number"), 2: ("b", "name")},
    )
    assert again.added == () and again.ambiguous == () and len(again.kept) == 2


def test_a_contact_linked_elsewhere_is_not_a_candidate():
    plan = plan_links(
        [account(1, "Acme"), account(2, "Acme")], [contact("a", "Acme")], {1: ("a", "manual")}
    )
    assert plan.kept == (Link(1, "a", "manual"),)
    assert plan.added == () and plan.ambiguous == ()


# ---- plan_links: existing links ---------------------------------------------------------------


def test_manual_links_are_never_overwritten_by_a_better_match():
    plan = plan_links(
        [account(1, "Acme", "A1")],
        [contact("manual-pick", "Something Else"), contact("a", "Acme", number="A1")],
        {1: ("manual-pick", "manual")},
    )
    assert plan.kept == (Link(1, "manual-pick", "manual"),)
    assert plan.added == () and plan.removed == ()


def test_existing_links_are_kept_even_when_the_rules_would_now_pick_another():
    plan = plan_links(
        [account(1, "Acme")],
        [contact("old", "Renamed Co"), contact("new", "Acme")],
        {1: ("old", "name")},
    )
    assert plan.kept == (Link(1, "old", "name"),) and plan.added == ()


def test_a_link_to_a_contact_the_mirror_does_not_hold_yet_is_kept():
    plan = plan_links([account(1, "Acme")], [], {1: ("just-exported", "export")})
    assert plan.kept == (Link(1, "just-exported", "export"),)


def test_a_link_to_an_archived_contact_is_removed_and_the_account_matched_again():
    plan = plan_links(
        [account(1, "Acme")],
        [contact("old", "Acme", status="ARCHIVED"), contact("new", "Acme")],
        {1: ("old", "name")},
    )
    assert plan.removed == (RemovedLink(1, "old", "name", "archived"),)
    assert plan.added == (Link(1, "new", "name"),)


def test_archived_removal_applies_to_manual_links_too():
    plan = plan_links(
        [account(1, "Acme")], [contact("c", "X", status="ARCHIVED")], {1: ("c", "manual")}
    )
    assert plan.removed == (RemovedLink(1, "c", "manual", "archived"),)
    assert plan.links() == {}


def test_a_link_whose_crm_account_is_gone_is_removed():
    plan = plan_links([], [contact("a", "Acme")], {9: ("a", "name")})
    assert plan.removed == (RemovedLink(9, "a", "name", "account_missing"),)


def test_a_merged_contact_is_followed_keeping_matched_by():
    plan = plan_links(
        [account(1, "Acme")],
        [contact("a", "Acme", status="ARCHIVED", merged_to="b"), contact("b", "Acme Two")],
        {1: ("a", "manual")},
    )
    assert plan.followed == (FollowedMerge(1, "a", "b", "manual"),)
    assert plan.links() == {1: Link(1, "b", "manual")}
    assert plan.removed == ()


def test_merge_chains_are_followed_to_the_end():
    contacts = [
        contact("a", "Acme", status="ARCHIVED", merged_to="b"),
        contact("b", "Acme", status="ARCHIVED", merged_to="c"),
        contact("c", "Acme"),
    ]
    assert follow_merges("a", {c.contact_id: c for c in contacts}) == "c"
    plan = plan_links([account(1, "Acme")], contacts, {1: ("a", "name")})
    assert plan.followed == (FollowedMerge(1, "a", "c", "name"),)


def test_a_chain_ending_archived_is_removed():
    contacts = [
        contact("a", "Acme", status="ARCHIVED", merged_to="b"),
        contact("b", "Acme", status="ARCHIVED"),
    ]
    plan = plan_links([account(1, "Acme")], contacts, {1: ("a", "name")})
    assert plan.removed == (RemovedLink(1, "a", "name", "archived"),)
    assert plan.links() == {}


def test_a_merge_cycle_does_not_loop_forever():
    contacts = [
        contact("a", "X", status="ARCHIVED", merged_to="b"),
        contact("b", "X", status="ARCHIVED", merged_to="a"),
    ]
    plan = plan_links([account(1, "Acme")], contacts, {1: ("a", "name")})
    assert plan.removed == (RemovedLink(1, "a", "name", "archived"),)


def test_a_merge_into_a_contact_linked_elsewhere_keeps_that_link_and_reports():
    contacts = [contact("a", "Acme", status="ARCHIVED", merged_to="b"), contact("b", "Acme")]
    plan = plan_links(
        [account(1, "Acme"), account(2, "Acme Ltd")],
        contacts,
        {1: ("a", "name"), 2: ("b", "manual")},
    )
    assert plan.kept == (Link(2, "b", "manual"),)
    assert plan.removed == (RemovedLink(1, "a", "name", "merge_conflict"),)
    assert plan.ambiguous == (Ambiguity(1, "Acme", "merge", ("b",)),)
    assert plan.links() == {2: Link(2, "b", "manual")}


def test_two_merges_into_one_contact_keep_neither():
    contacts = [
        contact("a", "Acme", status="ARCHIVED", merged_to="c"),
        contact("b", "Acme", status="ARCHIVED", merged_to="c"),
        contact("c", "Acme"),
    ]
    plan = plan_links(
        [account(1, "Acme"), account(2, "Acme")], contacts, {1: ("a", "name"), 2: ("b", "email")}
    )
    assert plan.links() == {}
    assert {r.reason for r in plan.removed} == {"merge_conflict"}
    # Both are reported; neither is matched again this run, since both claim c by name.
    assert [(a.crm_account_id, a.rule) for a in plan.ambiguous] == [
        (1, "merge"),
        (1, "name"),
        (2, "merge"),
        (2, "name"),
    ]


def test_the_plan_is_one_to_one_on_both_sides_on_a_busy_input():
    accounts = [account(i, f"Company {i % 7}", f"N{i % 5}" if i % 3 else None) for i in range(60)]
    contacts = [
        contact(f"c{i}", f"Company {i % 9}", number=f"N{i % 4}" if i % 2 else None)
        for i in range(40)
    ]
    plan = plan_links(accounts, contacts, {})
    links = plan.links()
    assert len({link.xero_contact_id for link in links.values()}) == len(links)
    assert not {a.crm_account_id for a in plan.ambiguous} & set(links)


# ---- the import's test of "matches no CRM account" ------------------------------------------


def test_unmatched_contacts_are_active_unlinked_and_match_no_account_by_any_rule():
    contacts = [
        contact("by-number", "N", contact_number="A1"),
        contact("by-email", "E", email="E@x.example"),
        contact("by-name", "Acme Pty"),
        contact("linked", "Linked Co"),
        contact("archived", "Gone", status="ARCHIVED"),
        contact("new", "Brand New"),
    ]
    accounts = [account(1, "Acme", "A1", "e@x.example")]
    found = unmatched_contacts(contacts, accounts, {"linked"})
    assert [c.contact_id for c in found] == ["new"]


@pytest.mark.parametrize(
    "name",
    ["O'Brien-Smith & Co., Ltd.", "A.B.C. (NZ) Pty_Ltd", "Smith/Jones + Partners; Inc", "x\t\ty"],
)
def test_the_ascii_shortcut_agrees_with_the_unicode_path(name):
    # One accented letter sends the name down the Unicode path; dropping its accent
    # must give exactly what the ASCII path gives for the plain spelling.
    accented = name.replace("i", "\u00ed", 1) if "i" in name else name + " \u00e9"
    plain = name if "i" in name else name + " e"
    assert not accented.isascii() and plain.isascii()
    assert normalise_name(accented) == normalise_name(plain) != ""
