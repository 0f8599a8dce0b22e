"""Id lists squeezed into one Dagster tag value (`domain.run_tags`)."""

from __future__ import annotations

import random

import pytest

from xero_pipelines.domain.run_tags import (
    TAG_VALUE_LIMIT,
    compact_ids,
    fit_text,
    id_ranges,
    the_only_id,
)

CASES = [
    # (case, ids, expected)
    ("nothing", [], ""),
    ("one", [7], "7"),
    ("two in a row stay apart", [4, 5], "4,5"),
    ("three in a row are a range", [3, 4, 5], "3-5"),
    ("unsorted, repeated and None", [9, None, 3, 4, 5, 9], "3-5,9"),
    ("a batch of 50 claimed in id order", list(range(101, 151)), "101-150"),
    ("gaps keep their ranges", [1, 2, 3, 10, 12, 13, 14, 40], "1-3,10,12-14,40"),
]


@pytest.mark.parametrize(("ids", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_ids_become_ranges(ids, expected):
    assert compact_ids(ids) == expected


def test_fifty_scattered_account_ids_are_cut_with_a_count():
    accounts = [100_000 + 37 * i for i in range(50)]  # no two consecutive

    value = compact_ids(accounts)

    assert len(value) <= TAG_VALUE_LIMIT
    shown, more = value.split(" +")
    listed = shown.split(",")
    assert listed == [str(a) for a in accounts[: len(listed)]]
    assert more == f"{50 - len(listed)} more"
    # as many as fit: one more would not
    longer = ",".join([*listed, str(accounts[len(listed)])]) + f" +{49 - len(listed)} more"
    assert len(longer) > TAG_VALUE_LIMIT


@pytest.mark.parametrize("seed", range(20))
def test_any_list_fits_and_counts_every_id(seed):
    rng = random.Random(seed)
    ids = rng.sample(range(1, 10**7), rng.randint(1, 200))
    ids += [ids[0] + k for k in range(rng.randint(0, 30))]  # and a run of neighbours

    value = compact_ids(ids)

    assert len(value) <= TAG_VALUE_LIMIT
    shown, _, more = value.partition(" +")
    covered = sum(n for text, n in id_ranges(ids) if text in shown.split(","))
    hidden = int(more.split()[0]) if more else 0
    assert covered + hidden == len(set(ids))


def test_the_only_id_of_a_run():
    assert the_only_id([42, 42, 42]) == 42
    assert the_only_id([42, 43]) is None
    assert the_only_id([]) is None
    assert the_only_id([None]) is None


def test_text_is_cut_to_the_limit():
    assert fit_text("Demo Company (NZ)") == "Demo Company (NZ)"
    cut = fit_text("x" * 100)
    assert len(cut) == TAG_VALUE_LIMIT and cut.endswith("…")
