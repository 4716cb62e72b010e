"""Relay Node (X1): opaque global ids and the interface every identifiable type implements."""

import base64
import binascii

import strawberry

from db.base import parse_id
from schema import docs


class InvalidGlobalId(ValueError):
    """Not an id this API issued."""


def to_global_id(type_name: str, pk: int) -> strawberry.ID:
    raw = f"{type_name}:{pk}".encode()
    return strawberry.ID(base64.urlsafe_b64encode(raw).decode().rstrip("="))


def from_global_id(global_id: str) -> tuple[str, int]:
    try:
        raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidGlobalId(f"Not a valid id: {global_id!r}") from None
    type_name, _, pk = raw.partition(":")
    value = parse_id(pk)
    if not type_name or value is None:
        raise InvalidGlobalId(f"Not a valid id: {global_id!r}")
    return type_name, value


def pk_of(global_id: str, type_name: str) -> int | None:
    """The primary key if the id names an object of this type, else None (reads as "not found")."""
    try:
        kind, pk = from_global_id(global_id)
    except InvalidGlobalId:
        return None
    return pk if kind == type_name else None


@strawberry.interface(description="An object with a globally unique, opaque id.")
class Node:
    id: strawberry.ID = strawberry.field(description=docs.ID)
