"""Column types that behave the same on SQLite and PostgreSQL.

- `UTCDateTime`: timezone-aware UTC datetimes in and out. SQLite has no time zones, so values are
  stored there as naive UTC text (which still compares correctly); naive input is refused rather
  than guessed.
- `VERSION_KEY`: text compared byte-wise (`COLLATE "C"` on PostgreSQL, whose default collation may
  ignore punctuation; SQLite's default BINARY collation already is byte-wise).
- `JSON_VALUE`: JSON on SQLite, JSONB on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = ["JSON_VALUE", "VERSION_KEY", "UTCDateTime", "require_aware"]

VERSION_KEY = sa.String().with_variant(sa.String(collation="C"), "postgresql")


class _JSONValue(sa.TypeDecorator[Any]):
    """JSON, as JSONB on PostgreSQL. The PostgreSQL dialect module is imported only when used:
    it costs start-up time that SQLite users should not pay."""

    # none_as_null: Python None is SQL NULL (absent), never the JSON literal null.
    impl = sa.JSON(none_as_null=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB(none_as_null=True))
        return dialect.type_descriptor(sa.JSON(none_as_null=True))


JSON_VALUE = _JSONValue()


def require_aware(value: datetime | None) -> datetime | None:
    """`value` unchanged if timezone-aware (or None); ValueError for a naive datetime."""
    # UTC itself first: it is what every parsed index timestamp carries, and utcoffset() was a
    # measurable part of storing a page's thousands of rows.
    if value is not None and value.tzinfo is not UTC and (
            value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"naive datetime {value!r}: the store takes timezone-aware ones only")
    return value


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = require_aware(value)
        assert value is not None
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
