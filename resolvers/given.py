"""Partial-update inputs: strawberry's "not given" (strawberry.UNSET) as the services' UNSET."""

from __future__ import annotations

from typing import TypeVar

import strawberry

from services.common import UNSET, Maybe
from services.errors import ErrorCode, fail

T = TypeVar("T")


def given(value: T | None, field: str) -> Maybe[T]:
    """UNSET stays UNSET; an explicit null on a field that cannot be empty is refused."""
    if value is strawberry.UNSET:
        return UNSET
    if value is None:
        raise fail(ErrorCode.REQUIRED, "Must not be null", field)
    return value


def given_or_null(value: T | None) -> Maybe[T | None]:
    """UNSET stays UNSET; null means "clear it"."""
    return UNSET if value is strawberry.UNSET else value
