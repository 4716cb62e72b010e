"""Typed errors in mutation payloads (X3), and where in the input they point."""

from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass

import strawberry

from schema import docs
from services.errors import ErrorCode, Problem

docs.enum(
    ErrorCode,
    name="ErrorCode",
    description="Why an input was refused; stable, so clients may branch on it (the message is for people).",
    values={
        "INVALID": "The value breaks a rule: format, range, or a reference of the wrong kind.",
        "REQUIRED": "A value must be given here.",
        "TOO_LONG": "The text is longer than this field allows.",
        "NOT_FOUND": "No such object, or one you may not see: the two read alike (R3).",
        "FORBIDDEN": "You see it, but your role may not do this to it.",
        "ALREADY_EXISTS": "Another object already holds this unique value (an email, a code, a name).",
        "CONFLICT": "The object's state forbids it now (closed, archived, the last admin…); the message says why.",
        "INVALID_CREDENTIALS": "Sign-in refused: unknown email, wrong password or deactivated user, alike.",
        "LIMIT_EXCEEDED": "More than one call takes (ids, lines, filters, a date range): split it or use a filter.",
        "INACTIVE": "The referenced object is deactivated and takes no new work.",
        "EXPIRED": "An inbox's `after` is older than the events still kept: reload, then subscribe without it.",
    },
)


@dataclass(frozen=True)
class Arguments:
    """The arguments of the root field being resolved: where an error's path starts.

    Services name inputs relative to what they were given ("channels.0.value"); the path a
    client reads starts at one of the field's arguments ("input.channels.0.value").
    """

    names: frozenset[str]
    # The field's one input-object argument (or list of them), which holds every path that
    # names none of the arguments; None when the field has none, or several.
    input: str | None

    def path(self, relative: Sequence[str]) -> list[str]:
        if not relative or relative[0] in self.names or self.input is None:
            return list(relative)
        return [self.input, *relative]


# Set by resolvers.lifecycle.ArgumentPaths around each root field's resolver.
current_arguments: ContextVar[Arguments | None] = ContextVar("cartera_arguments", default=None)


def input_path(field: str | None, at: Sequence[int | str] = ()) -> list[str] | None:
    """The path from the root field's argument of a service's dotted `field`, found under `at`
    (a bulk item's position in its input list: the item itself when `field` is None); None when
    the problem names no input."""
    if field is None and not at:
        return None
    relative = [*(str(step) for step in at), *(field.split(".") if field else ())]
    arguments = current_arguments.get()
    return arguments.path(relative) if arguments else relative


def dotted(path: Sequence[str] | None) -> str | None:
    """A path as `UserError.field` and `extensions.field` show it: joined with dots, None for none."""
    return ".".join(path) if path else None


@strawberry.type(description="An expected failure: which input is at fault, a stable code and a readable message.")
class UserError:
    field: str | None = strawberry.field(
        description="`path` joined with dots, e.g. `input.channels.0.value`; null when no single input is at fault."
    )
    code: ErrorCode = strawberry.field(description="Stable reason; branch on this, not on the message.")
    message: str = strawberry.field(description="Readable explanation, in English.")
    path: list[str] | None = strawberry.field(
        default=None,
        description=(
            "The input at fault: names and list indexes (as strings) from the field's argument, e.g. "
            '`["input", "channels", "0", "value"]`; for an item of a bulk call, from the argument that '
            'lists it (`["input", "2", "firstNames"]`). Null when no single input is at fault.'
        ),
    )

    @classmethod
    def from_problem(cls, problem: Problem, *, at: Sequence[int | str] = ()) -> "UserError":
        path = input_path(problem.field, at)
        return cls(field=dotted(path), code=problem.code, message=problem.message, path=path)
