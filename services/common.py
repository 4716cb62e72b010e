"""Small shared pieces of the services: the UNSET marker and input checks."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Final, TypeAlias, TypeVar, Union

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import Base
from db.search import fold, storable
from services.errors import ErrorCode, Problem, fail
from services.principal import Principal

T = TypeVar("T")


class _Unset(enum.Enum):
    UNSET = "UNSET"


# "Not given" in a partial update, as opposed to an explicit null.
UNSET: Final = _Unset.UNSET
Maybe: TypeAlias = Union[T, _Unset]  # noqa: UP007  (a generic alias needs Union)


def require_admin(actor: Principal, what: str) -> None:
    if not actor.is_admin:
        raise fail(ErrorCode.FORBIDDEN, f"Only admins can {what}")


def require_storable(value: str, field: str) -> str:
    """`value`, refused as INVALID when no backend could store it: the rule for every text a
    mutation keeps or looks up. (PostgreSQL text cannot hold NUL; refused on SQLite alike.)"""
    if not storable(value):
        raise fail(ErrorCode.INVALID, "Must not contain NUL characters", field)
    return value


def optional_text(value: str | None, field: str, max_length: int) -> str | None:
    """Whitespace collapsed, storable, at most `max_length` characters; None when blank: the rule
    for every free text a row keeps."""
    if value is None:
        return None
    cleaned = require_storable(" ".join(value.split()), field)
    if len(cleaned) > max_length:
        raise fail(ErrorCode.TOO_LONG, f"Must have at most {max_length} characters", field)
    return cleaned or None


def clean_name(value: str, field: str, *, max_length: int = 200) -> str:
    """Trimmed, non-empty, bounded text: the rule for every name in Cartera."""
    cleaned = optional_text(value, field, max_length)
    if cleaned is None:
        raise fail(ErrorCode.REQUIRED, "Must not be blank", field)
    # Its folded form (db.search.fold, kept beside names to search and sort by) must fit the same
    # column width: a ligature such as "ﷺ" folds to 18 characters.
    if len(fold(cleaned)) > max_length:
        raise fail(ErrorCode.TOO_LONG, f"Must have at most {max_length} characters", field)
    return cleaned


async def flush_unique(
    session: AsyncSession, message: str, field: str, *, by_index: Mapping[str, tuple[str, str]] | None = None
) -> None:
    """Flush; a unique index's refusal becomes ALREADY_EXISTS on `field` (the rest stands), or, for an
    index `by_index` names, with that index's (message, field)."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as error:
        named = by_index or {}
        message, field = named.get(_refusing_index(error, named) or "", (message, field))
        raise fail(ErrorCode.ALREADY_EXISTS, message, field) from None


def _refusing_index(error: IntegrityError, names: Iterable[str]) -> str | None:
    """Which of these unique indexes refused a write. PostgreSQL names it (asyncpg's constraint_name,
    under SQLAlchemy's adapter); SQLite lists its columns ("companies.tax_id")."""
    constraint = getattr(getattr(error.orig, "orig", None), "constraint_name", None)
    if constraint is not None:
        return str(constraint)
    refused = str(error.orig).removeprefix("UNIQUE constraint failed: ")
    return next((name for name in names if refused in _sqlite_spellings(name)), None)


@cache
def _sqlite_spellings(name: str) -> tuple[str, str]:
    """How SQLite's refusal names a unique index: by its columns ("table.a, table.b"), or by name
    when it indexes expressions."""
    for table in Base.metadata.tables.values():
        for index in table.indexes:
            if index.name == name and index.unique:
                return ", ".join(f"{table.name}.{column.name}" for column in index.columns), f"index '{name}'"
    raise LookupError(f"No unique index {name}")


def problem(code: ErrorCode, message: str, field: str | None = None) -> Problem:
    return Problem(code=code, message=message, field=field)
