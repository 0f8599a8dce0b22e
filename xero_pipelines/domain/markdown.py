"""Small Markdown tables for Dagster metadata (`MetadataValue.md`), the one place that
escapes cells, so a Xero error text with a pipe or a newline cannot break a table."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any


def cell(value: Any) -> str:
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    links: Collection[str] = (),
    link_text: str = "open in Xero",
    empty: str = "_none_",
) -> str:
    """Rows as a Markdown table; a column named in `links` holds URLs, shown as
    clickable `link_text`."""
    if not rows:
        return empty
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for row in rows:
        cells = [
            f"[{link_text}]({row[c]})" if c in links and row.get(c) else cell(row.get(c))
            for c in columns
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
