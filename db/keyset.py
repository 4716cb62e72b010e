"""The one keyset paginator every connection uses (X1). No OFFSET anywhere.

A cursor is the row's sort-key values plus its id, JSON encoded and base64url
wrapped, so it stays valid when rows are inserted before it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import ColumnElement, Select, Subquery, and_, func, literal_column, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute, aliased

from db.base import MAX_ID, utc_instant
from db.search import storable

Row = TypeVar("Row")
Kind = Literal["str", "int", "datetime", "bool"]


class PaginationError(ValueError):
    """The client asked for a page we will not serve (bad cursor, size out of range)."""


# A mapped attribute (User.name) or any SQL expression.
Column = ColumnElement[Any] | QueryableAttribute[Any]


@dataclass(frozen=True)
class SortKey:
    column: Column
    attr: str  # attribute of the selected row holding this key's value
    kind: Kind
    descending: bool = False


@dataclass(frozen=True)
class PageRequest:
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None

    def size(self, max_page_size: int) -> tuple[int, bool]:
        """(page size, backwards)."""
        if self.first is not None and self.last is not None:
            raise PaginationError("Pass either first or last, not both")
        if self.after is not None and self.before is not None:
            raise PaginationError("Pass either after or before, not both")
        backwards = self.last is not None or (self.before is not None and self.first is None)
        size = self.last if backwards else self.first
        if size is None:
            return max_page_size, backwards
        if size < 0:
            raise PaginationError("Page size must not be negative")
        if size > max_page_size:
            raise PaginationError(f"Page size must be at most {max_page_size}")
        return size, backwards


@dataclass(frozen=True)
class Page(Generic[Row]):
    rows: list[Row]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool


def _encode_value(value: Any, kind: Kind) -> Any:
    if kind == "datetime":
        assert isinstance(value, datetime)
        return value.isoformat()
    return value


def _decode_value(value: Any, kind: Kind) -> Any:
    expected: dict[str, type | tuple[type, ...]] = {"str": str, "int": int, "bool": bool, "datetime": str}
    if kind == "int" and isinstance(value, bool):
        raise PaginationError("Invalid cursor")
    if not isinstance(value, expected[kind]):
        raise PaginationError("Invalid cursor")
    # Values no column can hold make the database driver fail: refuse them as the client's mistake.
    if isinstance(value, int) and not -MAX_ID - 1 <= value <= MAX_ID:
        raise PaginationError("Invalid cursor")
    if isinstance(value, str) and not storable(value):
        raise PaginationError("Invalid cursor")
    if kind == "datetime":
        assert isinstance(value, str)
        try:
            # Cursors hold UTC times; a naive one, or one UTC cannot hold, was never issued.
            return utc_instant(value)
        except ValueError:
            raise PaginationError("Invalid cursor") from None
    return value


def _wrap(values: list[Any]) -> str:
    # Not ASCII-escaped: compiled reads build the same cursor in SQL (resolvers/compiled.py),
    # where to_json leaves non-ASCII text as it is. Cursors issued escaped still decode.
    raw = json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unwrap(cursor: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise PaginationError("Invalid cursor") from None
    if not isinstance(values, list):
        raise PaginationError("Invalid cursor")
    return values


def _values(row: Any, keys: Sequence[SortKey]) -> list[Any]:
    """A row's sort-key values as a cursor holds them."""
    return [_encode_value(getattr(row, k.attr), k.kind) for k in keys]


def _decode_values(values: Sequence[Any], kinds: Sequence[Kind]) -> list[Any]:
    if len(values) != len(kinds):
        raise PaginationError("Invalid cursor")
    return [_decode_value(v, kind) for v, kind in zip(values, kinds, strict=True)]


def encode_cursor(row: Any, keys: Sequence[SortKey]) -> str:
    return _wrap(_values(row, keys))


def decode_cursor(cursor: str, keys: Sequence[SortKey]) -> list[Any]:
    return _decode_values(_unwrap(cursor), [k.kind for k in keys])


def order_by(keys: Sequence[SortKey]) -> list[Any]:
    """ORDER BY the keys (a forward walk): for a statement that is not paginated, as a work queue."""
    return _order(keys, False)


def _order(keys: Sequence[SortKey], backwards: bool) -> list[Any]:
    """ORDER BY in walking order: a backward walk reads each key the other way."""
    return [(k.column.asc() if k.descending == backwards else k.column.desc()) for k in keys]


def _beyond(keys: Sequence[SortKey], values: Sequence[Any], backwards: bool) -> ColumnElement[bool]:
    """Rows strictly after the cursor in walking order."""

    def later(key: SortKey) -> bool:
        # Walking forward over an ascending key means "greater".
        return key.descending == backwards

    if len({k.descending for k in keys}) == 1:
        # One direction: a row-value comparison, which both backends answer from the index.
        left = tuple_(*(k.column for k in keys))
        right = tuple_(*values)
        return left > right if later(keys[0]) else left < right
    clauses = []
    for i, key in enumerate(keys):
        equal = [keys[j].column == values[j] for j in range(i)]
        step = key.column > values[i] if later(key) else key.column < values[i]
        clauses.append(and_(*equal, step))
    return or_(*clauses)


def _walk(
    stmt: Select[Any], keys: Sequence[SortKey], request: PageRequest, max_page_size: int
) -> tuple[Select[Any], list[Any], int, bool]:
    """Apply the cursor; return the statement, the walking order, the page size and the direction."""
    size, backwards = request.size(max_page_size)
    cursor = request.before if backwards else request.after
    if cursor is not None:
        stmt = stmt.where(_beyond(keys, decode_cursor(cursor, keys), backwards))
    return stmt, _order(keys, backwards), size, backwards


def numbered_page(
    stmt: Select[Any], keys: Sequence[SortKey], request: PageRequest, max_page_size: int
) -> tuple[Select[Any], int, bool]:
    """`paginate`'s statement without running it, each row numbered (`page_rn`) in walking
    order, with the page size and the direction: compiled reads build the page from it."""
    stmt, order, size, backwards = _walk(stmt, keys, request, max_page_size)
    numbered = stmt.add_columns(func.row_number().over(order_by=order).label("page_rn"))
    # The limit written into the statement (a validated int): bound as $n, PostgreSQL's generic
    # plan for a prepared statement does not know how few rows a page reads.
    return numbered.order_by(*order).limit(literal_column(str(int(size) + 1))), size, backwards


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    *,
    keys: Sequence[SortKey],
    request: PageRequest,
    max_page_size: int,
    scalars: bool = True,
) -> Page[Any]:
    """One page of `stmt`; `keys` must end with a unique column (the id)."""
    stmt, order, size, backwards = _walk(stmt, keys, request, max_page_size)
    stmt = stmt.order_by(*order).limit(size + 1)
    result = await session.execute(stmt)
    return _page(list(result.scalars() if scalars else result.all()), size, backwards, keys, request)


def _page(rows: list[Any], size: int, backwards: bool, keys: Sequence[SortKey], request: PageRequest) -> Page[Any]:
    return _trim(rows, [encode_cursor(r, keys) for r in rows], size, backwards, request)


def _trim(rows: list[Any], cursors: list[str], size: int, backwards: bool, request: PageRequest) -> Page[Any]:
    """Drop the one extra row fetched to learn whether more exist, and restore display order."""
    more = len(rows) > size
    rows, cursors = rows[:size], cursors[:size]
    if backwards:
        rows.reverse()
        cursors.reverse()
    return Page(
        rows=rows,
        cursors=cursors,
        has_next_page=more if not backwards else request.before is not None,
        has_previous_page=more if backwards else request.after is not None,
    )


@dataclass(frozen=True)
class Tier:
    """One part of a list ordered tier by tier (see paginate_tiers); its keys end with the id."""

    statement: Select[Any]
    keys: tuple[SortKey, ...]


async def paginate_tiers(
    session: AsyncSession, tiers: Sequence[Tier], *, request: PageRequest, max_page_size: int
) -> Page[Any]:
    """One page of the concatenation of disjoint tiers, each in its own key order.

    A ranked list ("names starting with the keyword, then names containing it, then…") as
    one statement sorts every match by rank before it can return the first page, which at a
    few percent of a million rows means fetching tens of thousands of rows. Tier by tier,
    each tier is a plain keyset walk its own index can answer, and a later tier is only
    queried when the earlier ones ran out: a page costs one statement per tier it reaches.
    A cursor is [tier, *that tier's key values].
    """
    size, backwards = request.size(max_page_size)
    cursor = request.before if backwards else request.after
    start, values = (len(tiers) - 1 if backwards else 0), None
    if cursor is not None:
        start, values = _decode_tier_cursor(cursor, tiers)
    rows: list[Any] = []
    cursors: list[str] = []
    walk = range(start, -1, -1) if backwards else range(start, len(tiers))
    for index in walk:
        tier = tiers[index]
        stmt = tier.statement
        if values is not None and index == start:
            stmt = stmt.where(_beyond(tier.keys, values, backwards))
        ordered = stmt.order_by(*_order(tier.keys, backwards)).limit(size + 1 - len(rows))
        found = list((await session.execute(ordered)).scalars())
        rows.extend(found)
        cursors.extend(_wrap([index, *_values(r, tier.keys)]) for r in found)
        if len(rows) > size:
            break
    return _trim(rows, cursors, size, backwards, request)


def _decode_tier_cursor(cursor: str, tiers: Sequence[Tier]) -> tuple[int, list[Any]]:
    values = _unwrap(cursor)
    index = values[0] if values else None
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(tiers):
        raise PaginationError("Invalid cursor")
    return index, _decode_values(values[1:], [k.kind for k in tiers[index].keys])


async def count(session: AsyncSession, stmt: Select[Any]) -> int:
    """Total rows of a (scoped, filtered) statement; only run when totalCount is selected."""
    total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    return int(total or 0)


async def paginate_many(
    session: AsyncSession,
    stmt: Select[Any],
    *,
    entity: Any,
    parent: Column,
    parent_ids: Sequence[Any],
    keys: Sequence[SortKey],
    request: PageRequest,
    max_page_size: int,
) -> dict[Any, Page[Any]]:
    """The same page of a nested list for many parents in one statement (ROW_NUMBER per parent).

    `stmt` selects `entity` already scoped and joined so that `parent` is a column of it.
    """
    numbered, size, backwards = _numbered(stmt, parent, parent_ids, keys, request, max_page_size)
    row = aliased(entity, numbered)
    outer = (
        select(row, numbered.c.parent_key)
        .where(numbered.c.rn <= size + 1)
        .order_by(numbered.c.parent_key, numbered.c.rn)
    )
    grouped: dict[Any, list[Any]] = {pid: [] for pid in parent_ids}
    for item, parent_key in (await session.execute(outer)).all():
        grouped[parent_key].append(item)
    return {pid: _page(rows, size, backwards, keys, request) for pid, rows in grouped.items()}


def _numbered(
    stmt: Select[Any],
    parent: Column,
    parent_ids: Sequence[Any],
    keys: Sequence[SortKey],
    request: PageRequest,
    max_page_size: int,
) -> tuple[Subquery, int, bool]:
    """`stmt` narrowed to the parents and the cursor, each row numbered (`rn`) within its parent
    (`parent_key`) in walking order; with the page size and the direction."""
    stmt, order, size, backwards = _walk(stmt.where(parent.in_(list(parent_ids))), keys, request, max_page_size)
    numbered = stmt.add_columns(
        parent.label("parent_key"),
        func.row_number().over(partition_by=parent, order_by=order).label("rn"),
    ).subquery()
    return numbered, size, backwards


async def paginate_many_rows(
    session: AsyncSession,
    stmt: Select[Any],
    *,
    parent: Column,
    parent_ids: Sequence[Any],
    keys: Sequence[SortKey],
    request: PageRequest,
    max_page_size: int,
    outer: Callable[[Subquery], Select[Any]],
) -> dict[Any, Page[Any]]:
    """paginate_many for a list that is no one entity (a UNION ALL of several): `stmt` selects
    the sort keys and `parent` as plain columns, and `outer(numbered)` selects each page's rows
    from its numbered subquery (joining what they show), keeping its key columns by their
    attribute names and its `parent_key`. The page's rows are those result rows."""
    numbered, size, backwards = _numbered(stmt, parent, parent_ids, keys, request, max_page_size)
    page = outer(numbered).where(numbered.c.rn <= size + 1).order_by(numbered.c.parent_key, numbered.c.rn)
    grouped: dict[Any, list[Any]] = {pid: [] for pid in parent_ids}
    for row in (await session.execute(page)).all():
        grouped[row.parent_key].append(row)
    return {pid: _page(rows, size, backwards, keys, request) for pid, rows in grouped.items()}


async def count_many(
    session: AsyncSession, stmt: Select[Any], *, parent: Column, parent_ids: Sequence[Any]
) -> dict[Any, int]:
    """Row counts of a nested list for many parents in one GROUP BY."""
    sub = stmt.where(parent.in_(list(parent_ids))).add_columns(parent.label("parent_key")).subquery()
    rows = (await session.execute(select(sub.c.parent_key, func.count()).group_by(sub.c.parent_key))).all()
    counts = {pid: 0 for pid in parent_ids}
    counts.update({pk: int(n) for pk, n in rows})
    return counts


def paginate_sequence(items: Sequence[Any], *, request: PageRequest, max_page_size: int) -> Page[Any]:
    """A page of a list already in memory (a bulk call's outcomes); a cursor is the item's position."""
    size, backwards = request.size(max_page_size)
    cursor = request.before if backwards else request.after
    position: int | None = None
    if cursor is not None:
        (position,) = _decode_values(_unwrap(cursor), ["int"])
        if position < 0:
            raise PaginationError("Invalid cursor")
    if backwards:
        end = len(items) if position is None else min(position, len(items))
        indexes = list(range(end - 1, max(end - size - 2, -1), -1))
    else:
        start = 0 if position is None else position + 1
        indexes = list(range(start, min(start + size + 1, len(items))))
    return _trim([items[i] for i in indexes], [_wrap([i]) for i in indexes], size, backwards, request)
