"""Safe `where`, `IDs` and `ContactIDs` filters for Xero list endpoints.

A value taken from the CRM (a name with a quote, `&&` or `||`) must never change the shape
of the filter: string values become one escaped literal, field names must be identifiers,
GUIDs are validated, and whatever would silently mean "no filter at all" is an error: an
empty id list, an empty `Contains`/`StartsWith`/`EndsWith` value, an AND/OR of no clause.
Values that cannot travel (lone surrogates, NaN or infinite amounts) are refused here,
with a message, rather than deep inside `requests`.

Xero's `where` is a Dynamic LINQ expression: string literals are double-quoted, with
backslash escapes (`\\"` and `\\\\`). Real Xero is known to struggle with `"` inside a name
(XeroAPI/Xero-Java#347); the escape is still the one that can never widen the filter.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_OPERATORS = ("==", "!=", "<", ">", "<=", ">=")
_METHODS = ("Contains", "StartsWith", "EndsWith")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _field(name: str) -> str:
    if not isinstance(name, str) or not _FIELD.match(name):
        raise ValueError(f"not a Xero field name: {name!r}")
    return name


def guid(value: str | uuid.UUID) -> str:
    """Validate a GUID (`8-4-4-4-12` hex) and return it in canonical lower case."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str) or not _GUID.match(value.strip()):
        raise ValueError(f"not a GUID: {value!r}")
    return str(uuid.UUID(value.strip()))


def string_literal(value: str) -> str:
    """`value` as one double-quoted `where` literal, escaped so it cannot end early."""
    if not isinstance(value, str):
        raise TypeError(f"not a string: {type(value).__name__}")
    if any(ord(c) < 32 and c not in _ESCAPES for c in value):
        raise ValueError("control characters cannot be filtered on")
    if any("\ud800" <= c <= "\udfff" for c in value):
        # Not text: it cannot be encoded as UTF-8, so it cannot be put in a URL.
        raise ValueError(f"a lone surrogate cannot be filtered on: {value!r}")
    return '"' + "".join(_ESCAPES.get(c, c) for c in value) + '"'


def guid_literal(value: str | uuid.UUID) -> str:
    return f'Guid("{guid(value)}")'


def literal(field: str, value: object) -> str:
    """Render `value` for comparison with `field`.

    Fields named `...ID` are GUIDs in Xero, so their values must be GUIDs (`Guid("...")`).
    """
    if isinstance(value, uuid.UUID) or (field.endswith("ID") and isinstance(value, str)):
        return guid_literal(value)  # type: ignore[arg-type]
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        if isinstance(value, Decimal) and not value.is_finite():
            raise ValueError(f"not a finite number: {value}")
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            # A local time taken for UTC would shift the filter by hours and skip records.
            raise ValueError("a where datetime must be timezone-aware (e.g. tzinfo=UTC)")
        value = value.astimezone(UTC)  # Xero compares with its UTC timestamps
        parts: tuple[int, ...] = (value.year, value.month, value.day)
        parts += (value.hour, value.minute, value.second)
        return f"DateTime({', '.join(map(str, parts))})"
    if isinstance(value, date):
        return f"DateTime({value.year}, {value.month}, {value.day})"
    if isinstance(value, str):
        return string_literal(value)
    raise TypeError(f"cannot filter on {type(value).__name__}")


def where_compare(field: str, op: str, value: object) -> str:
    """`Field op value` with the value escaped; `op` is one of == != < > <= >=."""
    if op not in _OPERATORS:
        raise ValueError(f"not a where operator: {op!r}")
    return f"{_field(field)}{op}{literal(field, value)}"


def where_equals(field: str, value: object) -> str:
    """`Field=="value"` (or `Field==Guid("...")` for GUID fields), safely escaped."""
    return where_compare(field, "==", value)


def where_guid(field: str, value: str | uuid.UUID) -> str:
    """`Field==Guid("...")` for a GUID field whatever its name."""
    return f"{_field(field)}=={guid_literal(value)}"


def where_method(field: str, method: str, value: str) -> str:
    """`Field.Contains("x")`, `.StartsWith` or `.EndsWith`, with `x` escaped.

    An empty `x` raises: every name contains "", so the filter would match everything.
    """
    if method not in _METHODS:
        raise ValueError(f"not a where method: {method!r}")
    rendered = string_literal(value)
    if value == "":
        raise ValueError(f'{field}.{method}("") would match every record; skip the filter instead')
    return f"{_field(field)}.{method}({rendered})"


def _join(op: str, clauses: Iterable[str | None]) -> str:
    parts = [c for c in clauses if c]
    if not parts:
        raise ValueError(
            f"an {op} of no clause would be no filter and match everything; skip the call instead"
        )
    if len(parts) == 1:
        return parts[0]
    return f" {op} ".join(f"({c})" for c in parts)


def where_and(*clauses: str | None) -> str:
    """Join clauses with `AND`, each parenthesised so an `OR` inside stays inside.

    `None` and "" clauses are skipped; if nothing is left, ValueError (not "no filter").
    """
    return _join("AND", clauses)


def where_or(*clauses: str | None) -> str:
    """Join clauses with `OR`, each parenthesised; refuses an OR of no clause, as
    `where_and` does."""
    return _join("OR", clauses)


def ids_param(values: Iterable[str | uuid.UUID]) -> str:
    """Comma-joined, validated, de-duplicated GUIDs for `IDs` / `ContactIDs` / `InvoiceIDs`.

    An empty list raises: sending no `IDs` would return every record, not none.
    """
    seen: dict[str, None] = {}
    for value in values:
        seen.setdefault(guid(value), None)
    if not seen:
        raise ValueError("an empty id list would match everything; skip the call instead")
    return ",".join(seen)


def id_batches(values: Iterable[str | uuid.UUID], size: int = 50) -> Iterator[str]:
    """`ids_param` in batches of `size`, keeping URLs short; yields nothing for no ids."""
    if size < 1:
        raise ValueError("size must be positive")
    ids = list(dict.fromkeys(guid(v) for v in values))
    for start in range(0, len(ids), size):
        yield ",".join(ids[start : start + size])
