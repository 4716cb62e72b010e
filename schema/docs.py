"""Descriptions the schema repeats, written once so every connection, payload and list reads alike.

Strawberry does not read docstrings: a description is always given explicitly.
"""

from collections.abc import Mapping
from enum import Enum
from typing import Any

import strawberry

ID = "Global id: opaque and stable; `node(id:)` takes it."
CREATED_AT = "When it was created."
UPDATED_AT = "When it last changed."
NAME = "Its name as users see it (whitespace collapsed)."
ACTIVE = "False once deactivated: kept for history, no longer offered for new work."
USER_ERRORS = "Why nothing changed: one entry per refused input, with a stable `code`; empty when the call succeeded."
FILTER = "Which rows; every given condition must hold. Omitted: all you may see."
ORDER_BY = "Sort order; ties are broken by id so pages never overlap."
ORDER_FIELD = "What to sort by."
ORDER_DIRECTION = "ASC (the default) or DESC."
INPUT = "The call's fields (see the input type)."
INCLUDE_INACTIVE = "Also list deactivated entries (default false)."
OUTCOMES = "Only the items with one of these outcomes (default: all)."
BULK_RESULTS = "One entry per item given, in the order given, with what happened to it."
EDGES = "The page's rows, each with its cursor."
NODES = "The page's rows, without cursors (the same as `edges { node }`)."
PAGE_INFO = "Whether there are rows before and after this page, and the cursors to ask for them."
CURSOR = "Opaque position of this row: pass it as `after` or `before` for the next page."
EDGE_NODE = "The row."
SELECTION = "Which rows: listed ids or everything matching a filter."


def ref(what: str) -> str:
    """A field holding another object's global id: what it names, and how to read that object."""
    return f"Global id of {what}; `node(id:)` loads it as you may see it now."


def user_errors() -> Any:
    """The `userErrors` field every mutation payload has (X3)."""
    return strawberry.field(default_factory=list, description=USER_ERRORS)


def enum(cls: type[Enum], *, name: str, description: str, values: Mapping[str, str]) -> None:
    """Register a Python enum (the services' own, which know nothing of strawberry) with a description
    for itself and for each of its values; a member missing from `values` fails at import."""
    if "__strawberry_definition__" in cls.__dict__:
        # Strawberry registers a plain enum, undescribed, the first time a field's type names it.
        raise TypeError(f"{name} is registered already: describe it in a module imported before its first use")
    strawberry.enum(cls, name=name, description=description)
    definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
    missing = {member.name for member in cls} - set(values)
    if missing or set(values) - {member.name for member in cls}:
        raise ValueError(f"{name}: describe exactly its values; missing {sorted(missing)}")
    for value in definition.values:
        value.description = values[value.name]
