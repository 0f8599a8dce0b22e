"""Xero's dates and money, read exactly.

Xero writes dates as `/Date(1573755038314+0000)/` (milliseconds since the epoch, UTC, with the
offset of the organisation's wall clock) and sometimes as ISO 8601 without a zone (which Xero
means as UTC). Money must never pass through a float, so JSON is parsed with
`parse_float=Decimal` (see `loads`) and `to_decimal` refuses floats outright.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS_DATE = re.compile(r"^/Date\((-?\d+)(?:([+-])(\d{2})(\d{2}))?\)/$")
# Python's fromisoformat takes at most 6 fractional digits; .NET writes 7.
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")


def loads(text: str | bytes) -> Any:
    """Parse a Xero JSON body with every non-integer number as `Decimal`."""
    return json.loads(text, parse_float=Decimal)


def dumps(body: Any) -> str:
    """Encode a request body; `Decimal` is written as an exact JSON number, never via float.

    Dates become ISO strings and UUIDs their text, as Xero reads them. Lone surrogates
    and non-finite numbers raise ValueError here, not halfway through a request.
    """
    nonce = uuid.uuid4().hex
    numbers: dict[str, str] = {}

    def default(value: Any) -> Any:
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise ValueError(f"not an amount: {value}")
            mark = f"{nonce}:{len(numbers)}"
            numbers[f'"{mark}"'] = format(value, "f")
            return mark
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, uuid.UUID):
            return str(value)
        raise TypeError(f"cannot send {type(value).__name__} to Xero")

    # allow_nan=False: a float NaN or infinity would be written as `NaN`, which is not JSON.
    text = json.dumps(
        body, default=default, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate: not text, cannot be sent
        raise ValueError(
            f"cannot send a lone surrogate ({exc.object[exc.start : exc.end]!r}) to Xero"
        ) from None
    if numbers:
        text = re.sub(f'"{nonce}:\\d+"', lambda m: numbers[m.group(0)], text)
    return text


def _ms_date(value: str) -> tuple[datetime, timedelta] | None:
    m = _MS_DATE.match(value)
    if not m:
        return None
    instant = _EPOCH + timedelta(milliseconds=int(m.group(1)))
    offset = timedelta(0)
    if m.group(2):
        offset = timedelta(hours=int(m.group(3)), minutes=int(m.group(4)))
        if m.group(2) == "-":
            offset = -offset
    return instant, offset


def _iso(value: str) -> datetime:
    try:
        return datetime.fromisoformat(_LONG_FRACTION.sub(r"\1", value))
    except ValueError:
        raise ValueError(f"not a Xero date: {value!r}") from None


def parse_xero_datetime(value: Any) -> datetime | None:
    """`/Date(ms±hhmm)/` or ISO 8601 → aware UTC datetime; None/"" → None.

    The milliseconds in `/Date(...)/` are already UTC; the offset only names the wall
    clock, so it does not move the instant. ISO values without a zone are UTC.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif isinstance(value, str):
        text = value.strip()
        ms = _ms_date(text)
        if ms:
            return ms[0]
        dt = _iso(text)
    else:
        raise TypeError(f"not a Xero date: {type(value).__name__}")
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def parse_xero_date(value: Any) -> date | None:
    """A Xero date field → `date` as the organisation wrote it; None/"" → None.

    `/Date(...)/` is shifted by its own offset (the organisation's calendar day), and an
    ISO value keeps the day it names, whatever its zone.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise TypeError(f"not a Xero date: {type(value).__name__}")
    text = value.strip()
    ms = _ms_date(text)
    if ms:
        return (ms[0] + ms[1]).date()
    return _iso(text).date()


def to_decimal(value: Any) -> Decimal | None:
    """A JSON money value (Decimal, int or string) → `Decimal`; None/"" → None.

    Floats are refused: parse with `loads` so that no float ever holds money.
    """
    if value is None:
        return None
    if isinstance(value, (bool, float)):
        raise TypeError(f"refusing {type(value).__name__} as money; parse JSON with loads()")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        return Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"not an amount: {value!r}") from None
    else:
        raise TypeError(f"not an amount: {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    return result


def format_if_modified_since(dt: datetime) -> str:
    """An aware datetime → Xero's `If-Modified-Since` value (`YYYY-MM-DDTHH:MM:SS`, UTC).

    Seconds are truncated, so the filter can only return more, never fewer, records.
    Naive datetimes are refused: a local time mistaken for UTC would skip changes.
    """
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("If-Modified-Since needs an aware datetime")
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
