"""Domain exceptions: expected failures with a field, a code and a message (X3)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ErrorCode(enum.StrEnum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    CONFLICT = "CONFLICT"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    INACTIVE = "INACTIVE"
    EXPIRED = "EXPIRED"


@dataclass(frozen=True)
class Problem:
    code: ErrorCode
    message: str
    field: str | None = None


class DomainError(Exception):
    """One or more expected problems; the mutation that raised it changes nothing."""

    def __init__(self, *problems: Problem) -> None:
        assert problems
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


def fail(code: ErrorCode, message: str, field: str | None = None) -> DomainError:
    return DomainError(Problem(code=code, message=message, field=field))


def not_found(what: str, field: str | None = None) -> DomainError:
    # Same words whether it is missing or merely invisible (R3).
    return fail(ErrorCode.NOT_FOUND, f"{what} not found", field)


def forbidden(message: str = "You are not allowed to do this", field: str | None = None) -> DomainError:
    return fail(ErrorCode.FORBIDDEN, message, field)


class ConcurrentChange(Exception):
    """Rows this transaction read changed under it before it wrote: the unit of work runs it again."""


class Unauthenticated(Exception):
    """No valid token: the client must sign in again."""
