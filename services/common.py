"""Small shared pieces of the services: the UNSET marker and input checks."""

from __future__ import annotations

import enum
from typing import Final, TypeAlias, TypeVar, Union

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

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


async def flush_unique(session: AsyncSession, message: str, field: str) -> None:
    """Flush; a unique constraint's refusal becomes ALREADY_EXISTS on `field` (the rest stands)."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise fail(ErrorCode.ALREADY_EXISTS, message, field) from None


def problem(code: ErrorCode, message: str, field: str | None = None) -> Problem:
    return Problem(code=code, message=message, field=field)
