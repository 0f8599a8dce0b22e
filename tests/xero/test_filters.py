import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from xero_pipelines.xero.filters import (
    guid,
    id_batches,
    ids_param,
    string_literal,
    where_and,
    where_compare,
    where_equals,
    where_guid,
    where_method,
    where_or,
)

G1 = "5cc8cf28-567e-4d43-b287-687cfcaec47c"
G2 = "DB54AAB0-AD40-4CED-BCFF-0940BA20DB2C"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Acme", '"Acme"'),
        ("O'Brien && Sons", '"O\'Brien && Sons"'),
        ('Bat "QUOTE" Man', '"Bat \\"QUOTE\\" Man"'),
        ("back\\slash", '"back\\\\slash"'),
        ("ends with \\", '"ends with \\\\"'),
        ('\\"', '"\\\\\\""'),
        ("line\nbreak\ttab", '"line\\nbreak\\ttab"'),
        ("", '""'),
        ("Zoë & Søn || x", '"Zoë & Søn || x"'),
    ],
)
def test_string_literal_escapes(value, expected):
    assert string_literal(value) == expected


def _unescape(literal: str) -> str:
    """A reference reader of a backslash-escaped literal: finds where the literal ends."""
    assert literal[0] == '"'
    out, i = [], 1
    while literal[i] != '"':
        if literal[i] == "\\":
            i += 1
            out.append({"n": "\n", "t": "\t", "r": "\r"}.get(literal[i], literal[i]))
        else:
            out.append(literal[i])
        i += 1
    assert i == len(literal) - 1, "the literal ended before its last character"
    return "".join(out)


@pytest.mark.parametrize(
    "value",
    ['a" || Name!="', '\\" || 1==1 || Name=="', "x\\", '"', '""', '\\\\"', "O'Brien && Sons"],
)
def test_a_hostile_value_stays_one_literal(value):
    assert _unescape(string_literal(value)) == value
    clause = where_equals("Name", value)
    assert clause.startswith("Name==")
    assert _unescape(clause[len("Name==") :]) == value


def test_string_literal_refuses_control_characters_and_non_strings():
    with pytest.raises(ValueError):
        string_literal("bell\x07")
    with pytest.raises(TypeError):
        string_literal(5)  # type: ignore[arg-type]


def test_where_equals_renders_each_type():
    assert where_equals("Name", "Acme") == 'Name=="Acme"'
    assert where_equals("ContactID", G2) == f'ContactID==Guid("{G2.lower()}")'
    assert where_equals("Anything", uuid.UUID(G1)) == f'Anything==Guid("{G1}")'
    assert where_equals("IsCustomer", True) == "IsCustomer==true"
    assert where_equals("IsSupplier", False) == "IsSupplier==false"
    assert where_equals("EmailAddress", None) == "EmailAddress==null"
    assert where_equals("Total", Decimal("10.50")) == "Total==10.50"
    assert where_equals("Total", 3) == "Total==3"
    assert where_equals("Date", date(2015, 1, 1)) == "Date==DateTime(2015, 1, 1)"
    nz = timezone(timedelta(hours=13))
    assert (
        where_compare("UpdatedDateUTC", ">=", datetime(2026, 1, 2, 13, 4, 5, tzinfo=nz))
        == "UpdatedDateUTC>=DateTime(2026, 1, 2, 0, 4, 5)"
    )
    assert (
        where_compare("UpdatedDateUTC", "<", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
        == "UpdatedDateUTC<DateTime(2026, 1, 2, 3, 4, 5)"
    )


def test_naive_datetimes_are_refused():
    """A naive datetime is ambiguous (local time or UTC?): refused, as If-Modified-Since does."""
    with pytest.raises(ValueError, match="timezone-aware"):
        where_compare("UpdatedDateUTC", ">=", datetime(2026, 1, 2, 3, 4, 5))
    with pytest.raises(ValueError, match="timezone-aware"):
        where_equals("UpdatedDateUTC", datetime(2026, 1, 2))


def test_guid_fields_only_take_guids():
    with pytest.raises(ValueError):
        where_equals("ContactID", 'x") || true || ("')
    with pytest.raises(ValueError):
        where_guid("AccountID", "not-a-guid")
    assert where_guid("Contact.ContactID", G1) == f'Contact.ContactID==Guid("{G1}")'


@pytest.mark.parametrize("field", ["Name==1||Name", "Name ", "", "1Name", "Name()", "a..b"])
def test_field_names_must_be_identifiers(field):
    with pytest.raises(ValueError):
        where_equals(field, "x")


@pytest.mark.parametrize("bad", [float("nan"), 0.5, object(), [1]])
def test_values_of_other_types_are_refused(bad):
    with pytest.raises((TypeError, ValueError)):
        where_equals("Total", bad)
    with pytest.raises(ValueError):
        where_equals("Total", Decimal("NaN"))


def test_operators_and_methods_are_whitelisted():
    assert where_compare("AmountDue", ">", Decimal("0")) == "AmountDue>0"
    with pytest.raises(ValueError):
        where_compare("AmountDue", "=", 1)
    assert where_method("Name", "Contains", 'a"b') == 'Name.Contains("a\\"b")'
    assert where_method("Name", "StartsWith", "P") == 'Name.StartsWith("P")'
    with pytest.raises(ValueError):
        where_method("Name", "Matches", "x")


def test_where_and_or_parenthesise_and_skip_empties():
    a, b = where_equals("Name", "A"), where_equals("IsCustomer", True)
    assert where_and(a, None, b) == '(Name=="A") AND (IsCustomer==true)'
    assert where_or(a, b) == '(Name=="A") OR (IsCustomer==true)'
    assert where_and(a) == a
    assert where_and(where_or(a, b), a) == f"(({a}) OR ({b})) AND ({a})"


@pytest.mark.parametrize("join", [where_and, where_or])
@pytest.mark.parametrize("clauses", [(), (None,), (None, ""), ("", "")])
def test_a_join_of_no_clause_is_refused_not_no_filter(join, clauses):
    """`None` would be sent as no `where` at all: every record instead of none."""
    with pytest.raises(ValueError, match="no clause would be no filter and match everything"):
        join(*clauses)


@pytest.mark.parametrize("method", ["Contains", "StartsWith", "EndsWith"])
def test_an_empty_text_method_is_refused(method):
    """`Name.Contains("")` is true for every contact."""
    with pytest.raises(ValueError, match=f'Name.{method}\\(""\\) would match every record'):
        where_method("Name", method, "")
    assert where_method("Name", method, " ") == f'Name.{method}(" ")'


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb", "\udc00\ud800"])
def test_lone_surrogates_are_refused_before_requests(text):
    """Not encodable as UTF-8: `requests` would fail deep inside with UnicodeEncodeError."""
    with pytest.raises(ValueError, match="lone surrogate"):
        string_literal(text)
    with pytest.raises(ValueError, match="lone surrogate"):
        where_equals("Name", text)
    with pytest.raises(ValueError, match="lone surrogate"):
        where_method("Name", "Contains", text)
    assert where_equals("Name", "\U0001f600") == 'Name=="\U0001f600"'  # a real astral char


@pytest.mark.parametrize("value", ["NaN", "-NaN", "sNaN", "Infinity", "-Infinity"])
def test_non_finite_amounts_are_refused(value):
    with pytest.raises(ValueError, match="not a finite number"):
        where_compare("Total", ">", Decimal(value))


def test_guid_validation():
    assert guid(G2) == G2.lower()
    assert guid(uuid.UUID(G1)) == G1
    for bad in ["", "x", G1 + "0", G1.replace("-", ""), "{" + G1 + "}", G1 + ",", 5]:
        with pytest.raises(ValueError):
            guid(bad)  # type: ignore[arg-type]


def test_ids_param_validates_dedupes_and_refuses_empty():
    assert ids_param([G1, G2, G1.upper()]) == f"{G1},{G2.lower()}"
    with pytest.raises(ValueError):
        ids_param([])
    with pytest.raises(ValueError):
        ids_param([G1, f"{G2},{G1}"])
    with pytest.raises(ValueError):
        ids_param([G1, ""])


def test_id_batches():
    ids = [str(uuid.UUID(int=i)) for i in range(1, 8)]
    batches = list(id_batches(ids + ids[:2], size=3))
    assert batches == [",".join(ids[0:3]), ",".join(ids[3:6]), ids[6]]
    assert list(id_batches([], size=3)) == []
    with pytest.raises(ValueError):
        list(id_batches(ids, size=0))
