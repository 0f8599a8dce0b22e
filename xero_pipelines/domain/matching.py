"""Which CRM account is which Xero contact: one to one, never more on either side.

The rules, in order, each applied only when it is unambiguous on both sides and the Xero
contact is active:

1. an existing link is kept (when Xero merged its contact, the link follows
   `MergedToContactID`, through chains, to the surviving contact);
2. Xero's `AccountNumber` or `ContactNumber` equals the CRM `account_number`;
3. the same email, case-insensitive;
4. the same normalised name (`normalise_name`).

"Unambiguous on both sides": the account's first rule with any candidate has exactly one
active candidate, and no other unlinked CRM account claims that contact by the same rule.
A contact already linked to another account is no candidate. What is ambiguous is not
linked but reported, so a person can link it by hand (`matched_by='manual'`); the plan
never replaces an existing link, manual or not. A link whose contact was archived (and not
merged into a live one) is removed, whoever made it.

Everything here is pure (plain records in, a plan out), so the asset that writes links,
the import of customers and the export jobs all decide with the same rules.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

RULES = ("account_number", "email", "name")
_RANK = {rule: rank for rank, rule in enumerate(RULES)}
ACTIVE = "ACTIVE"

# Company suffixes dropped from the end of a name ("Acme Pty Ltd" is "Acme").
COMPANY_SUFFIXES = frozenset(
    """ltd limited inc incorporated llc llp lp plc pty pte pvt co corp corporation company
    bv nv gmbh ag kg sa sas sarl srl spa ab as aps oy""".split()  # noqa: SIM905
)
_DELETED_CHARS = ".'\u2019`\u00b4"  # "B.V." is "BV", "O'Brien" is "OBrien"
_DELETED = str.maketrans("", "", _DELETED_CHARS)
_SEPARATORS = re.compile(r"[\W_]+")
# The same two steps in one `translate` for ASCII names (nearly all of them, and 10x faster):
# deleted characters go, every other character that is not a letter or digit is a space.
_ASCII = str.maketrans(
    {
        chr(i): (None if chr(i) in _DELETED_CHARS else " ")
        for i in range(128)
        if not chr(i).isalnum()
    }
)


@dataclass(frozen=True, slots=True)
class CrmAccountKeys:
    """What matching needs from a CRM account."""

    id: int
    name: str | None
    account_number: str | None
    email: str | None


@dataclass(frozen=True, slots=True)
class XeroContactKeys:
    """What matching needs from a mirrored Xero contact."""

    contact_id: str
    name: str | None
    account_number: str | None
    contact_number: str | None
    email: str | None
    status: str | None
    merged_to_contact_id: str | None

    @property
    def is_active(self) -> bool:
        """Only `ContactStatus == ACTIVE` counts: ARCHIVED and GDPRREQUEST do not."""
        return (self.status or "").upper() == ACTIVE


@dataclass(frozen=True, slots=True)
class Match:
    """The first rule that found any candidate, and its candidates (sorted)."""

    rule: str  # 'account_number' | 'email' | 'name'
    contact_ids: tuple[str, ...]  # one: a match; several: ambiguous


@dataclass(frozen=True, slots=True)
class Link:
    crm_account_id: int
    xero_contact_id: str
    matched_by: str


@dataclass(frozen=True, slots=True)
class FollowedMerge:
    """A link moved from a merged (archived) contact to the contact it was merged into."""

    crm_account_id: int
    from_contact_id: str
    to_contact_id: str
    matched_by: str


@dataclass(frozen=True, slots=True)
class RemovedLink:
    crm_account_id: int
    xero_contact_id: str
    matched_by: str
    reason: str  # 'archived' | 'account_missing' | 'merge_conflict'


@dataclass(frozen=True, slots=True)
class Ambiguity:
    """An account left unlinked because its candidates were not unique on both sides.

    `rule` is the rule that found them, or 'merge' when two links followed merges into
    one contact (or into a contact linked elsewhere) and so could not both stay.
    """

    crm_account_id: int
    name: str | None
    rule: str
    contact_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LinkPlan:
    """What to do with the link table: keep, add, move (merge), remove; and what to report."""

    kept: tuple[Link, ...]
    added: tuple[Link, ...]
    followed: tuple[FollowedMerge, ...]
    removed: tuple[RemovedLink, ...]
    ambiguous: tuple[Ambiguity, ...]

    def links(self) -> dict[int, Link]:
        """The link table after the plan: crm_account_id -> link."""
        moved = (Link(f.crm_account_id, f.to_contact_id, f.matched_by) for f in self.followed)
        return {link.crm_account_id: link for link in (*self.kept, *self.added, *moved)}

    def counts_by_matched_by(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for link in self.links().values():
            counts[link.matched_by] = counts.get(link.matched_by, 0) + 1
        return dict(sorted(counts.items()))


# ---- keys ---------------------------------------------------------------------------------


def normalise_name(name: str | None) -> str:
    """A name reduced to what identifies the company: '' for None or blank.

    Case, accents, punctuation, `&`/`and`, whitespace and trailing company suffixes (Ltd,
    Limited, Inc, LLC, Pty, BV, GmbH ...) are ignored, so "Café & Co. Pty Ltd" and
    "CAFE and CO" are the same company. A name that is nothing but a suffix keeps it.
    """
    if not name:
        return ""
    text = name.casefold()
    if text.isascii():
        tokens = text.translate(_ASCII).split()
    else:
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in decomposed if not unicodedata.combining(c))
        tokens = _SEPARATORS.sub(" ", text.translate(_DELETED)).split()
    if "and" in tokens:
        tokens = [t for t in tokens if t != "and"]
    if 1 in map(len, tokens):
        tokens = _join_initials(tokens)
    while len(tokens) > 1 and tokens[-1] in COMPANY_SUFFIXES:
        tokens.pop()
    return "".join(tokens)


def _join_initials(tokens: list[str]) -> list[str]:
    """Runs of single letters become one token, so "B V" (from "B. V.") is the suffix BV."""
    out: list[str] = []
    run = ""
    for token in tokens:
        if len(token) == 1:
            run += token
            continue
        if run:
            out.append(run)
            run = ""
        out.append(token)
    if run:
        out.append(run)
    return out


def _plain_key(value: str | None) -> str:
    """Account numbers and emails compare trimmed and case-insensitively."""
    return value.strip().casefold() if value else ""


def account_keys(account: CrmAccountKeys) -> tuple[str, str, str]:
    """The account's key for each rule, in `RULES` order ('' where it has none)."""
    return (
        _plain_key(account.account_number),
        _plain_key(account.email),
        normalise_name(account.name),
    )


def contact_keys(contact: XeroContactKeys) -> tuple[set[str], str, str]:
    """The contact's keys in `RULES` order: both of its numbers, its email, its name."""
    numbers = {_plain_key(contact.account_number), _plain_key(contact.contact_number)} - {""}
    return numbers, _plain_key(contact.email), normalise_name(contact.name)


# ---- the contact index --------------------------------------------------------------------


class ContactIndex:
    """The active Xero contacts by each rule's key, for O(1) candidate look-ups."""

    __slots__ = ("_by_rule",)

    def __init__(self, contacts: Iterable[XeroContactKeys]) -> None:
        by_number: dict[str, list[str]] = {}
        by_email: dict[str, list[str]] = {}
        by_name: dict[str, list[str]] = {}
        for contact in contacts:
            if (contact.status or "").upper() != ACTIVE:
                continue
            contact_id = contact.contact_id
            number = _plain_key(contact.account_number)
            other = _plain_key(contact.contact_number)
            if number:
                by_number.setdefault(number, []).append(contact_id)
            if other and other != number:
                by_number.setdefault(other, []).append(contact_id)
            email = _plain_key(contact.email)
            if email:
                by_email.setdefault(email, []).append(contact_id)
            name = normalise_name(contact.name)
            if name:
                by_name.setdefault(name, []).append(contact_id)
        for index in (by_number, by_email, by_name):
            for key, ids in index.items():
                if len(ids) > 1:  # sorted, so ambiguity reports are stable
                    index[key] = sorted(set(ids))
        self._by_rule: tuple[dict[str, list[str]], ...] = (by_number, by_email, by_name)

    def match(
        self, account: CrmAccountKeys, *, exclude: Collection[str] = frozenset()
    ) -> Match | None:
        """The first rule, in order, with any candidate not in `exclude` (contacts linked
        to other accounts); None when no rule finds one."""
        return self.match_keys(account_keys(account), exclude)

    def match_keys(
        self, keys: tuple[str, str, str], exclude: Collection[str] = frozenset()
    ) -> Match | None:
        """`match` for keys already computed with `account_keys` (cheaper in a loop)."""
        for rule, index, key in zip(RULES, self._by_rule, keys, strict=True):
            if not key:
                continue
            found = index.get(key)
            if not found:
                continue
            if exclude:
                found = [c for c in found if c not in exclude]
            if found:
                return Match(rule, tuple(found))
        return None


# ---- the plan -----------------------------------------------------------------------------


def plan_links(
    accounts: Iterable[CrmAccountKeys],
    contacts: Iterable[XeroContactKeys],
    existing: Mapping[int, tuple[str, str]],
) -> LinkPlan:
    """Decide the link table from the CRM accounts, the mirrored contacts and the links
    stored now (`existing`: crm_account_id -> (xero_contact_id, matched_by)).

    Existing links are settled first (kept, merge followed, or removed), then unlinked
    accounts are matched against the contacts nobody holds, until nothing changes: a
    contact taken in one round can make another account's candidates unique, and doing
    that now (not on the next run) means a second run over the same data changes nothing.
    """
    by_id = {account.id: account for account in accounts}
    contact_list = list(contacts)
    by_contact = {contact.contact_id: contact for contact in contact_list}
    kept, followed, removed, conflicts = _settle_existing(by_id, by_contact, existing)
    taken = {link.xero_contact_id for link in kept} | {f.to_contact_id for f in followed}
    linked = {link.crm_account_id for link in kept} | {f.crm_account_id for f in followed}
    unlinked = {aid: account_keys(a) for aid, a in by_id.items() if aid not in linked}
    added: list[Link] = []
    ambiguous: dict[int, Match] = {}
    if unlinked:
        # Only contacts nobody holds can be matched: indexing the others (most of them,
        # once an organisation is linked) would normalise their names for nothing.
        free = ContactIndex(c for c in contact_list if c.contact_id not in taken)
        added, ambiguous = _match_unlinked(unlinked, free, taken)
    reported = [
        Ambiguity(aid, by_id[aid].name, match.rule, match.contact_ids)
        for aid, match in ambiguous.items()
    ]
    return LinkPlan(
        kept=tuple(sorted(kept, key=_account_of)),
        added=tuple(sorted(added, key=_account_of)),
        followed=tuple(sorted(followed, key=_account_of)),
        removed=tuple(sorted(removed, key=_account_of)),
        ambiguous=tuple(sorted([*conflicts, *reported], key=_account_of)),
    )


def _account_of(item: Link | FollowedMerge | RemovedLink | Ambiguity) -> int:
    return item.crm_account_id


def follow_merges(contact_id: str, contacts: Mapping[str, XeroContactKeys]) -> str:
    """Where `contact_id` lives now: along `MergedToContactID` while the contact is not
    active (a→b→c gives c). A contact not mirrored (yet) ends the walk; so does a cycle."""
    seen = {contact_id}
    current = contact_id
    while True:
        contact = contacts.get(current)
        if contact is None or contact.is_active or not contact.merged_to_contact_id:
            return current
        target = contact.merged_to_contact_id
        if target in seen:
            return current
        seen.add(target)
        current = target


def _settle_existing(
    accounts: Mapping[int, CrmAccountKeys],
    contacts: Mapping[str, XeroContactKeys],
    existing: Mapping[int, tuple[str, str]],
) -> tuple[list[Link], list[FollowedMerge], list[RemovedLink], list[Ambiguity]]:
    """Keep, follow or remove each stored link.

    A contact the mirror does not hold (a contact an export created a moment ago) keeps
    its link. When merges bring two links onto one contact, the link that already held
    it stays; the others are removed and reported ('merge').
    """
    removed: list[RemovedLink] = []
    target_of: dict[int, str] = {}
    for account_id, (contact_id, matched_by) in existing.items():
        if account_id not in accounts:
            removed.append(RemovedLink(account_id, contact_id, matched_by, "account_missing"))
            continue
        contact = contacts.get(contact_id)
        end = (
            contact_id
            if contact is None or contact.is_active
            else follow_merges(contact_id, contacts)
        )
        if end != contact_id:
            contact = contacts.get(end)
        if contact is not None and not contact.is_active:
            removed.append(RemovedLink(account_id, contact_id, matched_by, "archived"))
            continue
        target_of[account_id] = end

    holders: dict[str, list[int]] = {}
    for account_id, end in target_of.items():
        holders.setdefault(end, []).append(account_id)
    kept: list[Link] = []
    followed: list[FollowedMerge] = []
    conflicts: list[Ambiguity] = []
    for end, account_ids in holders.items():
        winner = (
            account_ids[0] if len(account_ids) == 1 else _merge_winner(end, account_ids, existing)
        )
        for account_id in account_ids:
            contact_id, matched_by = existing[account_id]
            if account_id != winner:
                removed.append(RemovedLink(account_id, contact_id, matched_by, "merge_conflict"))
                conflicts.append(Ambiguity(account_id, accounts[account_id].name, "merge", (end,)))
            elif contact_id == end:
                kept.append(Link(account_id, end, matched_by))
            else:
                followed.append(FollowedMerge(account_id, contact_id, end, matched_by))
    return kept, followed, removed, conflicts


def _merge_winner(
    end: str, account_ids: list[int], existing: Mapping[int, tuple[str, str]]
) -> int | None:
    """Of several links that end on one contact, the one that held it already (if one
    did, and only one); None: none of them stays."""
    direct = [a for a in account_ids if existing[a][0] == end]
    return direct[0] if len(direct) == 1 else None


def _match_unlinked(
    unlinked: Mapping[int, tuple[str, str, str]],
    index: ContactIndex,
    taken: set[str],
) -> tuple[list[Link], dict[int, Match]]:
    """Match unlinked accounts in rounds until no new link is made.

    Each round links every contact that exactly one account claims by its strongest
    claiming rule; the next round re-matches only the accounts whose candidates were
    just taken.
    """
    matches = {}
    for account_id, keys in unlinked.items():
        match = index.match_keys(keys, taken)
        if match is not None:
            matches[account_id] = match
    added: list[Link] = []
    while True:
        new_links, ambiguous = _resolve(matches)
        if not new_links:
            return added, ambiguous
        added.extend(new_links)
        newly_taken = {link.xero_contact_id for link in new_links}
        taken |= newly_taken
        for link in new_links:
            del matches[link.crm_account_id]
        for account_id, match in list(matches.items()):
            if not newly_taken.isdisjoint(match.contact_ids):
                rematch = index.match_keys(unlinked[account_id], taken)
                if rematch is None:
                    del matches[account_id]
                else:
                    matches[account_id] = rematch


def _resolve(matches: Mapping[int, Match]) -> tuple[list[Link], dict[int, Match]]:
    """One round: the links that are unique on both sides, and what is ambiguous."""
    ambiguous: dict[int, Match] = {}
    claims: dict[str, list[tuple[int, int]]] = {}
    for account_id, match in matches.items():
        if len(match.contact_ids) > 1:
            ambiguous[account_id] = match
        else:
            claims.setdefault(match.contact_ids[0], []).append((_RANK[match.rule], account_id))
    links: list[Link] = []
    for contact_id, claimants in claims.items():
        best = min(rank for rank, _ in claimants)
        winners = [account_id for rank, account_id in claimants if rank == best]
        if len(winners) == 1:
            links.append(Link(winners[0], contact_id, RULES[best]))
            continue  # weaker claimants lose it and are re-matched without it
        for rank, account_id in claimants:
            ambiguous[account_id] = Match(RULES[rank], (contact_id,))
    return links, ambiguous


# ---- importing customers ------------------------------------------------------------------


def unmatched_contacts(
    contacts: Iterable[XeroContactKeys],
    accounts: Iterable[CrmAccountKeys],
    linked_contact_ids: Collection[str],
) -> list[XeroContactKeys]:
    """Active contacts that no link holds and no CRM account matches by any rule.

    This is the import's test of "matches no CRM account": looser than linking on
    purpose (an ambiguous or weaker match still counts as a match), so an import never
    creates a second CRM account for a company the CRM already has.
    """
    numbers: set[str] = set()
    emails: set[str] = set()
    names: set[str] = set()
    for account in accounts:
        number, email, name = account_keys(account)
        numbers.add(number)
        emails.add(email)
        names.add(name)
    numbers.discard("")
    emails.discard("")
    names.discard("")
    out = []
    for contact in contacts:
        if not contact.is_active or contact.contact_id in linked_contact_ids:
            continue
        contact_numbers, email, name = contact_keys(contact)
        if contact_numbers & numbers or email in emails or name in names:
            continue
        out.append(contact)
    return out
