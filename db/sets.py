"""Set-based statements: a list of ids as a table, inserts that skip existing keys, JSON built in SQL.

Each piece is spelled once per backend here, so the services that write many rows in one
statement (portfolio assignment, bulk audit entries) read the same on both.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    CursorResult,
    Executable,
    Insert,
    Select,
    any_,
    bindparam,
    case,
    func,
    null,
    select,
    type_coerce,
)
from sqlalchemy import (
    cast as sql_cast,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.functions import GenericFunction
from sqlalchemy.types import JSON, String, TypeEngine

from db.base import Base


def id_table(ids: Sequence[int], dialect: str) -> Select[*tuple[Any, ...]]:
    """A one-column (`id`) selection of the given ids, passed as one parameter however many."""
    return int_table(dialect, id=ids)


def in_ids(
    column: ColumnElement[Any] | QueryableAttribute[Any], ids: Sequence[int], dialect: str
) -> ColumnElement[bool]:
    """`column` is one of the ids, passed as one parameter however many.

    On PostgreSQL as `= ANY(array)`, not `IN (SELECT unnest(array))`: the planner hashes a long
    array once, whereas a join against unnest follows row estimates that a bulk call makes
    stale (seen: a nested loop over 50,000 by 100,000 rows). SQLite builds a temporary index
    from the IN subquery.
    """
    if dialect == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=postgresql.ARRAY(BigInteger)))
    return column.in_(id_table(ids, dialect))


def int_table(dialect: str, **columns: Sequence[int]) -> Select[*tuple[Any, ...]]:
    """Rows of integers, one named column per keyword (all of one length), each passed as one parameter."""
    return value_table(dialect, {name: (BigInteger(), values) for name, values in columns.items()})


def value_table(dialect: str, columns: Mapping[str, tuple[TypeEngine[Any], Sequence[Any]]]) -> Select[*tuple[Any, ...]]:
    """Rows of values, one named column of the given type per entry (all of one length), each
    passed as one parameter however many rows.

    PostgreSQL takes an array per column (unnest zips them); SQLite one JSON text of rows walked
    by json_each (a statement there may carry at most 32,766 parameters, fewer than one bulk
    call's ids).
    """
    if dialect == "postgresql":
        return select(
            *(
                func.unnest(bindparam(None, list(values), type_=postgresql.ARRAY(type_))).label(name)
                for name, (type_, values) in columns.items()
            )
        )
    if len(columns) == 1:
        ((name, (type_, values)),) = columns.items()
        each = func.json_each(bindparam(None, json.dumps(list(values)), type_=String)).table_valued("value")
        return select(type_coerce(each.c.value, type_).label(name))
    rows = json.dumps([list(row) for row in zip(*(values for _, values in columns.values()), strict=True)])
    each = func.json_each(bindparam(None, rows, type_=String)).table_valued("value")
    return select(
        *(
            type_coerce(func.json_extract(each.c.value, f"$[{i}]"), type_).label(name)
            for i, (name, (type_, _)) in enumerate(columns.items())
        )
    )


async def columns(session: AsyncSession, stmt: Select[*tuple[Any, ...]], *, order_by: str) -> list[list[Any]]:
    """The statement's rows as one list per column, in the order of its column `order_by`.

    For the tens of thousands of rows a bulk call reads: PostgreSQL aggregates each column into
    one array, which the driver decodes in C, where a row each cost more in Python than the query
    did (100,000 contacts: 0.5 s of Row objects, dict building and decoding). A statement with
    FOR UPDATE keeps it: the rows are locked in the subquery, in that order. SQLite returns rows,
    turned around.
    """
    if session.get_bind().dialect.name == "postgresql":
        # Sorted once, in the subquery, which the aggregates read in its order (nothing at their
        # level reorders it: PostgreSQL's documented "sorted subquery"); array_agg(… ORDER BY)
        # sorted the rows again for each column (100,000 contacts: four sorts, spilling to disk).
        found = stmt.order_by(stmt.selected_columns[order_by]).subquery()
        row = (await session.execute(select(*(func.array_agg(c) for c in found.c)))).one()
        return [list(values or ()) for values in row]
    found = stmt.subquery()
    rows = (await session.execute(select(found).order_by(found.c[order_by]))).all()
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in found.c]


async def execute_counting(session: AsyncSession, statement: Executable) -> int:
    """Run an INSERT, UPDATE or DELETE and return how many rows it wrote.

    The session is not synchronised: an ORM UPDATE or DELETE would otherwise read back the key
    of every row it wrote (RETURNING) to find them among the session's objects, and the bulk
    calls that use this hold none of those rows as objects (100,000 memberships: 0.4 s).
    """
    result = await session.execute(statement, execution_options={"synchronize_session": False})
    return int(cast(CursorResult[Any], result).rowcount)


def insert_skipping_existing(model: type[Base], dialect: str) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING: a row whose key exists is skipped, not an error.

    The statement's rowcount says how many were inserted, which is how a caller learns that a
    concurrent transaction took some of the keys first.
    """
    if dialect == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing()
    return sqlite.insert(model).on_conflict_do_nothing()


_JSON_MEMBER = re.compile(r"[A-Za-z0-9_]{1,64}")


def json_member_text(
    column: ColumnElement[Any] | QueryableAttribute[Any], key: str, dialect: str
) -> ColumnElement[str]:
    """A JSON object's member as text, as PostgreSQL's ->> writes it: "true", "10", "abc".

    SQLite's json_extract gives true as 1 and 10 as an integer, which the text "true" or "10"
    never equals; its json_type tells the booleans apart. NULL (nothing matches) for a key no
    custom field or plan field can have, which SQLite would not parse as a path.
    """
    if not _JSON_MEMBER.fullmatch(key):
        return type_coerce(null(), String)
    if dialect == "postgresql":
        return cast(ColumnElement[str], column[key].as_string())
    path = f'$."{key}"'
    return case(
        (func.json_type(column, path) == "true", "true"),
        (func.json_type(column, path) == "false", "false"),
        else_=sql_cast(func.json_extract(column, path), String),
    )


class json_object(GenericFunction[Any]):  # noqa: N801  (a SQL function's name)
    """A JSON object from key/value arguments: json_build_object on PostgreSQL, json_object on SQLite."""

    type = JSON()
    inherit_cache = True


@compiles(json_object, "postgresql")
def _json_object_postgresql(element: json_object, compiler: Any, **kw: Any) -> str:
    return f"json_build_object({compiler.process(element.clauses, **kw)})"


@compiles(json_object, "sqlite")
def _json_object_sqlite(element: json_object, compiler: Any, **kw: Any) -> str:
    return f"json_object({compiler.process(element.clauses, **kw)})"
