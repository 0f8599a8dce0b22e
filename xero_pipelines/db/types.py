"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Numeric
from sqlalchemy.types import TypeDecorator

# Money is exact: NUMERIC on PostgreSQL; on SQLite SQLAlchemy rounds back to 2 places.
Money = Numeric(18, 2, asdecimal=True)
Quantity = Numeric(18, 4, asdecimal=True)


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
