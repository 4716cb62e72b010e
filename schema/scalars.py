"""Scalars that read client input more strictly than strawberry's own."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry
from graphql import GraphQLError
from strawberry.types.scalar import ScalarDefinition

_EXAMPLE = "e.g. 2026-01-01T09:00:00-03:00 or 2026-01-01T12:00:00Z"


def _refused(reason: str) -> GraphQLError:
    # A GraphQLError keeps its code through graphql-core's coercion, which prefixes where the value was.
    return GraphQLError(reason, extensions={"code": "BAD_USER_INPUT"})


def parse_datetime(value: object) -> datetime:
    """An instant in UTC. Without an offset a time names no instant, and one that UTC cannot hold
    (9999-12-31T23:59:59-14:00) could be neither compared nor stored."""
    if not isinstance(value, str):
        raise _refused(f"A DateTime is an ISO 8601 string, {_EXAMPLE}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _refused(f"Not an ISO 8601 date and time, {_EXAMPLE}") from None
    if moment.utcoffset() is None:
        raise _refused(f"A DateTime needs its UTC offset, {_EXAMPLE}")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise _refused("A DateTime must fall between the years 1 and 9999 in UTC") from None


UTC_DATETIME: ScalarDefinition = strawberry.scalar(
    name="DateTime",
    description="An instant: ISO 8601 with a UTC offset (`2026-01-01T09:00:00-03:00`, `…Z`); answers are in UTC.",
    serialize=datetime.isoformat,
    parse_value=parse_datetime,
)
