"""Scalars that read client input more strictly than strawberry's own."""

from __future__ import annotations

from datetime import datetime

import strawberry
from graphql import GraphQLError
from strawberry.types.scalar import ScalarDefinition

from db.base import InstantProblem, NotAnInstant, utc_instant

_EXAMPLE = "e.g. 2026-01-01T09:00:00-03:00 or 2026-01-01T12:00:00Z"
_REFUSALS: dict[InstantProblem, str] = {
    "not ISO 8601": f"Not an ISO 8601 date and time, {_EXAMPLE}",
    "no offset": f"A DateTime needs its UTC offset, {_EXAMPLE}",
    "out of range": "A DateTime must fall between the years 1 and 9999 in UTC",
}


def _refused(reason: str) -> GraphQLError:
    # A GraphQLError keeps its code through graphql-core's coercion, which prefixes where the value was.
    return GraphQLError(reason, extensions={"code": "BAD_USER_INPUT"})


def parse_datetime(value: object) -> datetime:
    """An instant in UTC (db.base.utc_instant), refused in words that name the scalar."""
    if not isinstance(value, str):
        raise _refused(f"A DateTime is an ISO 8601 string, {_EXAMPLE}")
    try:
        return utc_instant(value)
    except NotAnInstant as error:
        raise _refused(_REFUSALS[error.reason]) from None


UTC_DATETIME: ScalarDefinition = strawberry.scalar(
    name="DateTime",
    description="An instant: ISO 8601 with a UTC offset (`2026-01-01T09:00:00-03:00`, `…Z`); answers are in UTC.",
    serialize=datetime.isoformat,
    parse_value=parse_datetime,
)
