"""Typed errors in mutation payloads (X3)."""

import strawberry

from services.errors import ErrorCode, Problem

strawberry.enum(ErrorCode, name="ErrorCode", description="Why an input was refused.")


@strawberry.type(description="An expected failure: which input field, a stable code and a readable message.")
class UserError:
    field: str | None = strawberry.field(description="The input field at fault, when one is.")
    code: ErrorCode
    message: str

    @classmethod
    def from_problem(cls, problem: Problem) -> "UserError":
        return cls(field=problem.field, code=problem.code, message=problem.message)
