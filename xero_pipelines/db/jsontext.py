"""JSON for JSON/JSONB columns, with amounts kept exact.

Xero's records reach us with money as `Decimal`; the standard library would refuse them,
and a float would round them. simplejson writes and reads a `Decimal` as an exact JSON
number, so the mirrored `raw` record is Xero's own figures to the last digit.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import simplejson


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> str:
    return simplejson.dumps(value, use_decimal=True, default=_default, ensure_ascii=False)


def loads(text: str | bytes) -> Any:
    return simplejson.loads(text, use_decimal=True)
