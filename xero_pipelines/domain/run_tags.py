"""Lists of ids squeezed into one Dagster tag value, for the runs the request sensors launch.

Tags are Dagster's short labels for filtering runs: its strict tag values (definition
tags) hold at most 63 characters, MySQL's run storage indexes only the first 64 of a run
tag's value, and the run page shows tags as single-line chips. A run of the request jobs
answers up to 50 requests, so "101,102,...,150" (199 characters) does not fit. Consecutive
ids become ranges ("101-150": the sensor claims the oldest rows in id order, so a batch's
request ids usually are one range), and what still does not fit is counted: "7,19,23-30
+41 more". The full lists stay in the run's config and in the job's output metadata.
"""

from __future__ import annotations

from collections.abc import Iterable

TAG_VALUE_LIMIT = 63


def id_ranges(ids: Iterable[int | None]) -> list[tuple[str, int]]:
    """Sorted distinct ids as ("a-b" or "a", how many ids it stands for); None is left out.

    Runs of three or more consecutive ids become a range; "4,5" stays as it is, since
    "4-5" is no shorter."""
    ordered = sorted({i for i in ids if i is not None})
    parts: list[tuple[str, int]] = []
    start = 0
    for end in range(1, len(ordered) + 1):
        if end < len(ordered) and ordered[end] == ordered[end - 1] + 1:
            continue
        run = ordered[start:end]
        if len(run) >= 3:
            parts.append((f"{run[0]}-{run[-1]}", len(run)))
        else:
            parts.extend((str(i), 1) for i in run)
        start = end
    return parts


def compact_ids(ids: Iterable[int | None], limit: int = TAG_VALUE_LIMIT) -> str:
    """The ids as ranges, within `limit` characters; those that do not fit are counted
    (" +N more"). '' when there are none."""
    parts = id_ranges(ids)
    whole = ",".join(text for text, _ in parts)
    if len(whole) <= limit:
        return whole
    total = sum(n for _, n in parts)
    shown: list[str] = []
    covered = 0
    for text, n in parts:
        rest = total - covered - n
        candidate = ",".join([*shown, text]) + (f" +{rest} more" if rest else "")
        if len(candidate) > limit:
            break
        shown.append(text)
        covered += n
    return ",".join(shown) + f" +{total - covered} more"


def the_only_id(ids: Iterable[int | None]) -> int | None:
    """The id when every entry names the same one (a run about one account or
    opportunity); None otherwise."""
    distinct = set(ids)
    if len(distinct) == 1:
        (only,) = distinct
        return only
    return None


def fit_text(text: str, limit: int = TAG_VALUE_LIMIT) -> str:
    """Text cut to `limit` characters, with an ellipsis when it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
