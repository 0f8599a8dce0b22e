"""Xero-style JSON: `/Date(ms+0000)/` dates and money emitted as numbers with fixed decimals.

The standard `json` module cannot print `Decimal('760.00')` as the bare number `760.00`, and a
float would print `760.0`. Numbers are therefore carried as marked strings through `json.dumps`
and unquoted afterwards, which keeps the fast C encoder.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

MARK = "\x00N"
_MARK_RE = re.compile(r'"\\u0000N([^"]*)"')
_MSDATE_RE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
CENT = Decimal("0.01")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def num(value: Decimal | int | float, places: int = 2) -> str:
    """A JSON number with exactly `places` decimals (Xero prints money as 760.00)."""
    q = Decimal(1).scaleb(-places)
    return MARK + str(Decimal(value).quantize(q, rounding=ROUND_HALF_UP))


def cents(value: int) -> str:
    """A money number from integer cents, without Decimal arithmetic (hot path for big pages)."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    return f"{MARK}{sign}{value // 100}.{value % 100:02d}"


def dumps(obj: Any) -> bytes:
    """Serialise a response body, turning marked strings back into bare numbers."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return _MARK_RE.sub(r"\1", text).encode("utf-8")


def now_ms() -> int:
    return int(time.time() * 1000)


def msdate(ms: int) -> str:
    """Xero's date-time form, e.g. `/Date(1573755038314+0000)/`."""
    return f"/Date({ms}+0000)/"


def day_ms(d: date) -> int:
    return int((datetime(d.year, d.month, d.day, tzinfo=UTC) - EPOCH).total_seconds()) * 1000


@lru_cache(maxsize=8192)
def ms_to_iso(ms: int) -> str:
    """`DateString`-style local form Xero also returns (`2026-11-25T00:00:00`)."""
    return (EPOCH + timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S")


# Xero keeps dates in SQL Server `datetime`: 1753-01-01 to 9999-12-31.
MIN_DATE_MS = -6_847_804_800_000
MAX_DATE_MS = 253_402_214_400_000


def parse_date(value: Any) -> int | None:
    """Parse a date sent by a client (ISO 8601 or `/Date(ms)/`) into ms since epoch, day-aligned.

    Raises ValueError for anything else so callers can answer with a validation error.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"invalid date {value!r}")
    m = _MSDATE_RE.match(value.strip())
    if m:
        ms = int(m.group(1))
        ms -= ms % 86_400_000
    else:
        text = value.strip().replace("Z", "+00:00")
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"invalid date {value!r}") from None
        ms = day_ms(dt.date())
    if not MIN_DATE_MS <= ms <= MAX_DATE_MS:
        raise ValueError(f"date {value!r} is out of range")
    return ms


def parse_http_datetime(value: str) -> int | None:
    """Parse `If-Modified-Since` (ISO 8601 as Xero documents it, or an RFC 7231 HTTP date)."""
    from email.utils import parsedate_to_datetime

    value = value.strip()
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            dt = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int((dt - EPOCH).total_seconds() * 1000)


def to_decimal(value: Any) -> Decimal:
    """Coerce a JSON number or numeric string to Decimal; ValueError when it is not a number."""
    if isinstance(value, bool) or value is None:
        raise ValueError("not a number")
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not d.is_finite():
        raise ValueError("not a number")
    return d
