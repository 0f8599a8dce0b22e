"""CRM accounts for the import benchmark, made from the sandbox's own contacts.

Each account is built to be linked by one rule of `domain.matching` (account number,
email in another case, a name variant), to match nothing, or to be ambiguous (two CRM
accounts claiming one contact by email), so the link step does the work it does for a
real CRM. The expected count per outcome is returned beside the rows, so the benchmark
can check the run linked what it should.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from xero_pipelines.domain.matching import normalise_name

# Share of the accounts per intended outcome (the rest match nothing).
MIX = {"account_number": 0.35, "email": 0.28, "name": 0.20, "ambiguous": 0.03}


@dataclass(frozen=True, slots=True)
class Contact:
    """What the plan needs from a Xero contact, as the API returned it."""

    contact_id: str
    name: str
    account_number: str | None
    contact_number: str | None
    email: str | None
    active: bool

    @classmethod
    def from_json(cls, c: dict) -> Contact:
        return cls(
            c["ContactID"],
            c.get("Name") or "",
            c.get("AccountNumber") or None,
            c.get("ContactNumber") or None,
            c.get("EmailAddress") or None,
            c.get("ContactStatus") == "ACTIVE",
        )


def _mixed_case(text: str, rng: random.Random) -> str:
    return "".join(ch.upper() if rng.random() < 0.5 else ch.lower() for ch in text)


_SUFFIX_SWAPS = ((" Limited", " Ltd"), (" Ltd", " Limited"), (" & ", " and "), (" and ", " & "))


def name_variant(name: str, rng: random.Random) -> str:
    """Another spelling of `name` that normalises the same: a swapped suffix or `&`, an
    added company suffix, or just another case."""
    variants = [name.upper(), f"{name} Pty Ltd", name.lower()]
    variants += [name.replace(a, b) for a, b in _SUFFIX_SWAPS if a in name]
    key = normalise_name(name)
    good = [v for v in variants if v != name and normalise_name(v) == key]
    return rng.choice(good) if good else name.upper()


def _unique_names(contacts: Sequence[Contact]) -> set[str]:
    """Contact ids whose normalised name no other active contact shares."""
    counts = Counter(normalise_name(c.name) for c in contacts)
    return {c.contact_id for c in contacts if counts[normalise_name(c.name)] == 1}


def plan_accounts(
    contacts: Sequence[Contact], n: int, seed: int = 1
) -> tuple[list[dict], Counter[str]]:
    """`n` crm_accounts rows and the expected count per outcome (`account_number`,
    `email`, `name`, `ambiguous`, `none`)."""
    rng = random.Random(seed)
    active = [c for c in contacts if c.active]
    unique_name = _unique_names(active)
    pool = list(active)
    rng.shuffle(pool)
    wanted = {rule: round(n * share) for rule, share in MIX.items()}
    wanted["ambiguous"] -= wanted["ambiguous"] % 2  # pairs
    rows: list[dict] = []
    expected: Counter[str] = Counter()
    fits = {
        "account_number": lambda c: c.account_number or c.contact_number,
        "email": lambda c: c.email,
        "name": lambda c: c.contact_id in unique_name,
        "ambiguous": lambda c: c.email,
    }
    for rule in ("account_number", "email", "name", "ambiguous"):
        take = wanted[rule] // 2 if rule == "ambiguous" else wanted[rule]
        chosen = [c for c in pool if fits[rule](c)][:take]
        taken = {c.contact_id for c in chosen}
        pool = [c for c in pool if c.contact_id not in taken]
        for c in chosen:
            rows.extend(_rows_for(rule, c, rng))
        expected[rule] += len(chosen) * (2 if rule == "ambiguous" else 1)
    for i in range(n - len(rows)):
        rows.append({"name": f"Zz Prospect {i:06d} Holdings", "email": f"p{i}@crm-only.example"})
        expected["none"] += 1
    return rows, expected


def _rows_for(rule: str, c: Contact, rng: random.Random) -> list[dict]:
    if rule == "account_number":
        number = c.account_number if c.account_number and rng.random() < 0.6 else None
        number = number or c.contact_number or c.account_number
        return [{"name": c.name, "account_number": number}]
    if rule == "email":
        return [{"name": f"{c.name} (CRM)", "email": _mixed_case(c.email or "", rng)}]
    if rule == "name":
        return [{"name": name_variant(c.name, rng)}]
    # ambiguous: two CRM accounts give the same contact's email
    return [
        {"name": f"{c.name} North", "email": c.email},
        {"name": f"{c.name} South", "email": (c.email or "").upper()},
    ]
