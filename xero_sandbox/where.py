"""Xero's `where` filter language (the common subset), compiled to SQL or evaluated in Python.

Supported: `Field==value`, `!=`, `<`, `>`, `<=`, `>=`, `Field==null` / `!=null`, `AND`/`&&`,
`OR`/`||`, `NOT`/`!`, parentheses, `Field.Contains("x")`, `.StartsWith`, `.EndsWith`,
`.ToLower()`/`.ToUpper()` on the left, values `"string"`, `guid("...")`, `true`/`false`,
numbers and `DateTime(2026,11,25)`. Anything else is a `QueryParseException`, as Xero answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from .xero_json import day_ms


class WhereError(ValueError):
    """The filter could not be parsed or names an unknown field."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*")
      | (?P<op>==|!=|<=|>=|<|>|=|&&|\|\||!|\(|\)|,|\.)
      | (?P<num>-?\d+(?:\.\d+)?)
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)


@dataclass
class Cmp:
    field: str
    op: str
    value: Any
    fold: str | None = None  # "lower"/"upper" when .ToLower()/.ToUpper() was applied


@dataclass
class Call:
    field: str
    method: str
    value: str


@dataclass
class BoolOp:
    op: str
    items: list[Any]


@dataclass
class Not:
    item: Any


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise WhereError(f"unexpected character at {pos}: {text[pos : pos + 10]!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


MAX_DEPTH = 32
"""Deepest nesting of `(` and `NOT`/`!` accepted (deeper input would exhaust Python's stack)."""
MAX_TERMS = 500
"""Most comparisons in one filter (SQLite refuses expression trees deeper than 1,000)."""


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0
        self.terms = 0

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise WhereError(f"the filter is nested more than {MAX_DEPTH} levels deep")

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1].upper() != value.upper()):
            raise WhereError(f"expected {value or 'a token'}")
        self.i += 1
        return tok

    def parse(self) -> Any:
        node = self.expr()
        if self.peek() is not None:
            raise WhereError(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return node

    def expr(self) -> Any:
        items = [self.conj()]
        while (t := self.peek()) and t[1].upper() in ("OR", "||"):
            self.i += 1
            items.append(self.conj())
        return items[0] if len(items) == 1 else BoolOp("OR", items)

    def conj(self) -> Any:
        items = [self.unary()]
        while (t := self.peek()) and t[1].upper() in ("AND", "&&"):
            self.i += 1
            items.append(self.unary())
        return items[0] if len(items) == 1 else BoolOp("AND", items)

    def unary(self) -> Any:
        t = self.peek()
        if t and t[1].upper() in ("NOT", "!"):
            self.i += 1
            self.nest()
            node: Any = Not(self.unary())
            self.depth -= 1
            return node
        if t and t[1] == "(":
            self.i += 1
            self.nest()
            node = self.expr()
            self.take(")")
            self.depth -= 1
            return node
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise WhereError(f"the filter has more than {MAX_TERMS} conditions")
        return self.comparison()

    def field(self) -> str:
        kind, word = self.take()
        if kind != "word":
            raise WhereError(f"expected a field name, got {word!r}")
        parts = [word]
        while (t := self.peek()) and t[1] == "." and self.i + 1 < len(self.toks):
            nxt = self.toks[self.i + 1]
            if nxt[0] != "word" or nxt[1] in _METHODS:
                break
            self.i += 2
            parts.append(nxt[1])
        return ".".join(parts)

    def comparison(self) -> Any:
        name = self.field()
        fold = None
        while (t := self.peek()) and t[1] == ".":
            self.i += 1
            _, method = self.take()
            self.take("(")
            if method in ("ToLower", "ToUpper"):
                self.take(")")
                fold = "lower" if method == "ToLower" else "upper"
                continue
            if method not in ("Contains", "StartsWith", "EndsWith"):
                raise WhereError(f"unsupported method {method}")
            value = self.value()
            self.take(")")
            if not isinstance(value, str):
                raise WhereError(f"{method} needs a string")
            return Call(name, method, value)
        _kind, op = self.take()
        op = "==" if op == "=" else op  # Dynamic LINQ, which Xero's `where` is: `=` is `==`
        if op not in ("==", "!=", "<", ">", "<=", ">="):
            raise WhereError(f"expected an operator after {name}")
        return Cmp(name, op, self.value(), fold)

    def value(self) -> Any:
        kind, tok = self.take()
        if kind == "str":
            return _unescape(tok[1:-1])
        if kind == "num":
            number = float(tok) if "." in tok else int(tok)
            if abs(number) >= 2**63:  # beyond what SQLite (and Xero's Int64/decimal) holds
                raise WhereError(f"the number {tok} is out of range")
            return number
        if kind == "word":
            low = tok.lower()
            if low in ("true", "false"):
                return low == "true"
            if low == "null":
                return None
            if low == "guid":
                self.take("(")
                v = self.value()
                self.take(")")
                return str(v).lower()
            if low == "datetime":
                self.take("(")
                parts = [self.value()]
                while (t := self.peek()) and t[1] == ",":
                    self.i += 1
                    parts.append(self.value())
                self.take(")")
                try:
                    return day_ms(date(*[int(p) for p in parts[:3]]))
                except (TypeError, ValueError) as exc:
                    raise WhereError("invalid DateTime") from exc
        raise WhereError(f"unexpected value {tok!r}")


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0"}
_ESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)


def _unescape(body: str) -> str:
    """C#-style escapes inside a string literal (\\" \\\\ \\n ...); other text kept as is."""
    return _ESCAPE_RE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


_METHODS = {"Contains", "StartsWith", "EndsWith", "ToLower", "ToUpper"}


def parse(text: str) -> Any:
    """Parse a `where` string into a small AST (raises WhereError)."""
    return _Parser(text).parse()


# ---- SQL -------------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "Boolean"
    return "String" if isinstance(value, str) else "Number"


def _check_types(op: str, field_is_bool: bool, value: Any) -> None:
    """Booleans compare only with true/false (`IsCustomer=="true"` is a type error in Xero)."""
    if value is not None and field_is_bool != isinstance(value, bool):
        left = "Boolean" if field_is_bool else "String"
        raise WhereError(
            f"Operator '{op}' incompatible with operand types '{left}' and '{_kind(value)}'"
        )


def to_sql(
    node: Any, fields: dict[str, str], booleans: frozenset[str] = frozenset()
) -> tuple[str, list[Any]]:
    """Compile to a SQL condition; `fields` maps Xero field names (case-insensitive) to columns,
    `booleans` names the boolean ones (compared only with true/false)."""
    lookup = {k.lower(): v for k, v in fields.items()}
    bools = {b.lower() for b in booleans}

    def col(name: str) -> str:
        c = lookup.get(name.lower())
        if c is None:
            raise WhereError(f"No property or field '{name}' exists")
        return c

    def go(n: Any) -> tuple[str, list[Any]]:
        if isinstance(n, BoolOp):
            parts = [go(i) for i in n.items]
            sql = f" {n.op} ".join(f"({s})" for s, _ in parts)
            return sql, [p for _, ps in parts for p in ps]
        if isinstance(n, Not):
            s, p = go(n.item)
            return f"NOT ({s})", p
        if isinstance(n, Call):
            c = col(n.field)
            if n.field.lower() in bools:
                raise WhereError(f"No applicable method '{n.method}' exists in type 'Boolean'")
            pat = {"Contains": "%{}%", "StartsWith": "{}%", "EndsWith": "%{}"}[n.method]
            esc = n.value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return f"{c} LIKE ? ESCAPE '\\'", [pat.format(esc)]
        assert isinstance(n, Cmp)
        c = col(n.field)
        _check_types(n.op, n.field.lower() in bools, n.value)
        if n.value is None:
            if n.op == "==":
                return f"({c} IS NULL OR {c} = '')", []
            if n.op == "!=":
                return f"({c} IS NOT NULL AND {c} != '')", []
            raise WhereError("null can only be compared with == or !=")
        v = int(n.value) if isinstance(n.value, bool) else n.value
        if n.fold:
            c = f"{n.fold.upper()}({c})"
        if isinstance(v, str):
            op = {"==": "=", "!=": "!="}.get(n.op, n.op)
            return f"{c} {op} ? COLLATE NOCASE", [v]
        op = {"==": "="}.get(n.op, n.op)
        return f"{c} {op} ?", [v]

    return go(node)


# ---- Python (small collections such as the chart of accounts) ---------------------------------


def matches(node: Any, record: dict[str, Any]) -> bool:
    """Evaluate against a dict of Xero fields (case-insensitive names, dotted paths allowed)."""

    def get(name: str) -> Any:
        cur: Any = record
        for part in name.split("."):
            if not isinstance(cur, dict):
                return None
            key = next((k for k in cur if k.lower() == part.lower()), None)
            if key is None:
                if cur is record:
                    raise WhereError(f"No property or field '{name}' exists")
                return None
            cur = cur[key]
        return cur

    def norm(v: Any) -> Any:
        return v.lower() if isinstance(v, str) else v

    if isinstance(node, BoolOp):
        results = (matches(i, record) for i in node.items)
        return all(results) if node.op == "AND" else any(results)
    if isinstance(node, Not):
        return not matches(node.item, record)
    if isinstance(node, Call):
        v = str(get(node.field) or "").lower()
        w = node.value.lower()
        return {"Contains": w in v, "StartsWith": v.startswith(w), "EndsWith": v.endswith(w)}[
            node.method
        ]
    v = get(node.field)
    if v is not None:
        _check_types(node.op, isinstance(v, bool), node.value)
    if node.value is None:
        empty = v is None or v == ""
        return empty if node.op == "==" else not empty
    a, b = norm(v), norm(node.value)
    try:
        return {
            "==": a == b,
            "!=": a != b,
            "<": a < b,
            ">": a > b,
            "<=": a <= b,
            ">=": a >= b,
        }[node.op]
    except TypeError:
        return False
