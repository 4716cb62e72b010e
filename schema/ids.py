"""Turning global ids from inputs into primary keys, with the field named when they are wrong."""

from __future__ import annotations

from collections.abc import Iterable

from schema.node import pk_of
from services.errors import not_found


def require_pk(global_id: str, type_name: str, field: str) -> int:
    pk = pk_of(global_id, type_name)
    if pk is None:
        raise not_found(type_name, field)
    return pk


def optional_pk(global_id: str | None, type_name: str, field: str) -> int | None:
    return None if global_id is None else require_pk(global_id, type_name, field)


def pks(global_ids: Iterable[str] | None, type_name: str, field: str) -> tuple[int, ...]:
    """Each id's key; a wrong one is named by its position (`operatorIds.2`)."""
    return tuple(require_pk(g, type_name, f"{field}.{i}") for i, g in enumerate(global_ids or ()))
