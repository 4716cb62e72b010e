"""Declarative base, column types and the constraint naming convention."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import BigInteger, DateTime, Integer, MetaData
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# Named constraints make Alembic migrations reproducible on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only autoincrements an INTEGER PRIMARY KEY, PostgreSQL wants BIGINT headroom.
BigId = BigInteger().with_variant(Integer(), "sqlite")
# The largest key a BigId column holds (signed 64 bits on both backends): a larger one was never issued.
MAX_ID = 2**63 - 1


def parse_id(text: str) -> int | None:
    """The key a text names in the one form we write keys (a token's subject, a global id's
    tail): ASCII decimal digits with no leading zero, from 1 to MAX_ID; else None.

    int() would also take signs, spaces, underscores and other scripts' digits, and refuse
    thousands of digits with an error of its own.
    """
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(MAX_ID))):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID and str(value) == text else None


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        # SQLite compares timestamps as text: store them without an offset so they sort.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


InstantProblem = Literal["not ISO 8601", "no offset", "out of range"]


class NotAnInstant(ValueError):
    """A text that names no instant; `reason` says why."""

    def __init__(self, reason: InstantProblem) -> None:
        super().__init__(reason)
        self.reason: InstantProblem = reason


def utc_instant(text: str) -> datetime:
    """The instant an ISO 8601 date and time names, in UTC; NotAnInstant when there is none.

    Without an offset a time names no instant, and one that UTC cannot hold
    (9999-12-31T23:59:59-14:00) could be neither compared nor stored.
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise NotAnInstant("not ISO 8601") from None
    if moment.utcoffset() is None:
        raise NotAnInstant("no offset")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise NotAnInstant("out of range") from None


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
