import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from xero_pipelines.xero.parsing import (
    dumps,
    format_if_modified_since,
    loads,
    parse_xero_date,
    parse_xero_datetime,
    to_decimal,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/Date(1573755038314+0000)/", datetime(2019, 11, 14, 18, 10, 38, 314000, tzinfo=UTC)),
        ("/Date(1573755038314)/", datetime(2019, 11, 14, 18, 10, 38, 314000, tzinfo=UTC)),
        # The offset names the wall clock; the milliseconds are the UTC instant.
        ("/Date(1573755038314+1300)/", datetime(2019, 11, 14, 18, 10, 38, 314000, tzinfo=UTC)),
        ("/Date(1573755038314-0530)/", datetime(2019, 11, 14, 18, 10, 38, 314000, tzinfo=UTC)),
        ("/Date(0+0000)/", datetime(1970, 1, 1, tzinfo=UTC)),
        ("/Date(-86400000+0000)/", datetime(1969, 12, 31, tzinfo=UTC)),
        ("/Date(-1)/", datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)),
        (" /Date(1573755038314+0000)/ ", datetime(2019, 11, 14, 18, 10, 38, 314000, tzinfo=UTC)),
        ("2019-11-14T18:10:38", datetime(2019, 11, 14, 18, 10, 38, tzinfo=UTC)),
        ("2019-11-14T18:10:38.3140000", datetime(2019, 11, 14, 18, 10, 38, 314000, tzinfo=UTC)),
        ("2019-11-14T18:10:38Z", datetime(2019, 11, 14, 18, 10, 38, tzinfo=UTC)),
        ("2019-11-15T07:10:38+13:00", datetime(2019, 11, 14, 18, 10, 38, tzinfo=UTC)),
        ("2019-11-14T12:40:38-05:30", datetime(2019, 11, 14, 18, 10, 38, tzinfo=UTC)),
        ("2019-11-14", datetime(2019, 11, 14, tzinfo=UTC)),
        (None, None),
        ("", None),
    ],
)
def test_parse_xero_datetime(value, expected):
    result = parse_xero_datetime(value)
    assert result == expected
    if result is not None:
        assert result.tzinfo is UTC


def test_parse_xero_datetime_passes_datetimes_and_dates_through_as_utc():
    nz = timezone(timedelta(hours=13))
    assert parse_xero_datetime(datetime(2020, 1, 1, 13, tzinfo=nz)) == datetime(
        2020, 1, 1, tzinfo=UTC
    )
    assert parse_xero_datetime(datetime(2020, 1, 1)) == datetime(2020, 1, 1, tzinfo=UTC)
    assert parse_xero_datetime(date(2020, 1, 1)) == datetime(2020, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "bad", ["/Date(abc)/", "/Date(123+13)/", "Date(123)", "yesterday", "2019-13-01", "/Date()/"]
)
def test_parse_xero_datetime_rejects_garbage(bad):
    with pytest.raises(ValueError):
        parse_xero_datetime(bad)


@pytest.mark.parametrize("bad", [123, 1.5, ["2019-01-01"]])
def test_parse_xero_datetime_rejects_other_types(bad):
    with pytest.raises(TypeError):
        parse_xero_datetime(bad)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/Date(1573689600000+0000)/", date(2019, 11, 14)),
        # 2019-11-14 11:00 UTC is already the 15th in Auckland (+13:00).
        ("/Date(1573729200000+1300)/", date(2019, 11, 15)),
        ("/Date(1573689600000-0500)/", date(2019, 11, 13)),
        ("/Date(-86400000+0000)/", date(1969, 12, 31)),
        ("2019-11-14T00:00:00", date(2019, 11, 14)),
        ("2019-11-14T23:30:00-05:00", date(2019, 11, 14)),
        ("2019-11-14", date(2019, 11, 14)),
        (None, None),
        ("", None),
    ],
)
def test_parse_xero_date(value, expected):
    assert parse_xero_date(value) == expected


def test_parse_xero_date_accepts_dates_and_rejects_garbage():
    assert parse_xero_date(date(2020, 2, 29)) == date(2020, 2, 29)
    assert parse_xero_date(datetime(2020, 2, 29, 23, 59)) == date(2020, 2, 29)
    with pytest.raises(ValueError):
        parse_xero_date("29/02/2020")
    with pytest.raises(TypeError):
        parse_xero_date(20200229)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("10.10"), Decimal("10.10")),
        (10, Decimal("10")),
        (0, Decimal("0")),
        ("1234.5600", Decimal("1234.5600")),
        (" -0.01 ", Decimal("-0.01")),
        ("1E+2", Decimal("1E+2")),
        (None, None),
        ("", None),
        ("  ", None),
    ],
)
def test_to_decimal(value, expected):
    result = to_decimal(value)
    assert result == expected
    if expected is not None:
        assert isinstance(result, Decimal)
        assert str(result) == str(expected)


@pytest.mark.parametrize("bad", [0.1, True, [1]])
def test_to_decimal_refuses_floats_bools_and_others(bad):
    with pytest.raises(TypeError):
        to_decimal(bad)


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity", "-inf", "1,234.00", "12.3.4"])
def test_to_decimal_refuses_non_amounts(bad):
    with pytest.raises(ValueError):
        to_decimal(bad)


def test_loads_keeps_money_exact():
    body = loads(b'{"Total": 0.1, "SubTotal": 1234567890123.4567, "Count": 3, "Rate": 1e-2}')
    assert body["Total"] == Decimal("0.1")
    assert body["SubTotal"] == Decimal("1234567890123.4567")
    assert body["Count"] == 3 and isinstance(body["Count"], int)
    assert body["Rate"] == Decimal("0.01")
    assert to_decimal(body["Total"]) + to_decimal(Decimal("0.2")) == Decimal("0.3")


def test_format_if_modified_since():
    assert (
        format_if_modified_since(datetime(2026, 11, 25, 13, 5, 9, 999999, tzinfo=UTC))
        == "2026-11-25T13:05:09"
    )
    nz = timezone(timedelta(hours=13))
    assert format_if_modified_since(datetime(2026, 11, 26, 2, 0, tzinfo=nz)) == (
        "2026-11-25T13:00:00"
    )


def test_format_if_modified_since_refuses_naive():
    with pytest.raises(ValueError):
        format_if_modified_since(datetime(2026, 11, 25, 13, 0))


def test_round_trip_of_format_and_parse():
    dt = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_xero_datetime(format_if_modified_since(dt)) == dt


def test_dumps_writes_decimals_as_exact_numbers():
    body = {
        "Total": Decimal("0.1"),
        "Big": Decimal("12345678901234567890.123456789"),
        "Sci": Decimal("1E+2"),
        "Lines": [{"UnitAmount": Decimal("-3.50"), "Quantity": 2}],
        "Name": 'Zoë "quoted" 0.1',
        "Date": date(2026, 11, 25),
        "When": datetime(2026, 11, 25, 1, 2, 3, tzinfo=UTC),
        "ID": uuid.UUID(int=1),
    }
    text = dumps(body)
    assert '"Total":0.1,' in text
    assert '"Sci":100,' in text
    assert loads(text) == {
        **body,
        "Date": "2026-11-25",
        "When": "2026-11-25T01:02:03+00:00",
        "ID": "00000000-0000-0000-0000-000000000001",
    }
    assert loads(text)["Big"] == Decimal("12345678901234567890.123456789")


def test_dumps_refuses_what_xero_cannot_take():
    with pytest.raises(ValueError):
        dumps({"Total": Decimal("NaN")})
    with pytest.raises(TypeError):
        dumps({"x": object()})


@pytest.mark.parametrize(
    "body",
    [{"Name": "Zo\ud800"}, {"Lines": [{"Description": "\udfff"}]}, {"\udc00": 1}],
)
def test_dumps_refuses_lone_surrogates(body):
    """Not encodable as UTF-8: the client's `.encode("utf-8")` would raise mid-request."""
    with pytest.raises(ValueError, match="lone surrogate"):
        dumps(body)
    assert loads(dumps({"Name": "Zoë \U0001f600"})) == {"Name": "Zoë \U0001f600"}


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_dumps_refuses_non_finite_floats(value):
    """`json.dumps` would write `NaN` or `Infinity`, which is not JSON."""
    with pytest.raises(ValueError):
        dumps({"Quantity": value})


def test_dumps_is_not_fooled_by_marker_like_strings():
    assert loads(dumps({"a": "x:0", "b": Decimal("1.5")})) == {"a": "x:0", "b": Decimal("1.5")}
