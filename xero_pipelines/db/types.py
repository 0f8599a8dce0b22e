"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import DateTime, Numeric
from sqlalchemy.types import TypeDecorator

# SQLite keeps NUMERIC values as 64-bit floats, exact to 15 significant digits.
SQLITE_EXACT_DIGITS = 15


class ExactNumeric(TypeDecorator[Decimal]):
    """NUMERIC(p, s) that never silently loses a digit.

    PostgreSQL stores NUMERIC exactly. SQLite stores it as a float, which is exact up to 15
    significant digits (±9,999,999,999,999.99 at two places) and SQLAlchemy reads it back
    rounded to the column's scale. Beyond that, writing to SQLite raises instead of
    storing a nearby number: use PostgreSQL for such amounts.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int):
        super().__init__(precision, scale, asdecimal=True)
        self.scale = scale

    def process_bind_param(self, value, dialect) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError(f"money and quantities must be Decimal, not float ({value!r})")
        # PostgreSQL rounds half away from zero when it fits a value to the scale; so do we.
        exact = Decimal(value).quantize(Decimal(1).scaleb(-self.scale), ROUND_HALF_UP)
        if dialect.name == "sqlite" and len(exact.as_tuple().digits) > SQLITE_EXACT_DIGITS:
            raise ValueError(
                f"{exact} has more than {SQLITE_EXACT_DIGITS} significant digits, which the "
                "embedded SQLite database cannot store exactly: use PostgreSQL"
            )
        return exact


Money = ExactNumeric(18, 2)
Quantity = ExactNumeric(18, 4)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp with time zone that always comes back as an aware UTC datetime.

    SQLite has no time zones and returns naive values; PostgreSQL returns the session's
    zone. Normalising here means no caller ever compares naive and aware datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)
