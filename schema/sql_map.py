"""How each GraphQL field reads from SQL, for compiled reads (resolvers/compiled.py).

A type's mapping is declared beside the type (`sql_map.declare("Contact", {...})` at the end of
its module). A field without a mapping makes every operation selecting it run through
strawberry. SQL is PostgreSQL's: the embedded SQLite default never compiles.

In the SQL texts, `{t}` stands for the alias of the row the field is read from, and a nested
field's `source` names its rows' alias `{a}`. Each scalar's SQL yields the field's JSON text,
or NULL for a null; it must encode exactly as strawberry's answer does (resolvers/compiled.py
says how: strings through to_json, instants as Python's isoformat writes them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from db import batches


@dataclass(frozen=True)
class Scalar:
    """A leaf: SQL over `{t}` yielding the value's JSON text (NULL for null).

    `visible`, when set (as Nested's), guards it: a row whose `visible_column` the viewer may not
    see reads `hidden` instead (a gestión's phones are its client's, seen only with the client).
    """

    sql: str
    visible: Callable[[Any], Any] | None = None
    visible_column: str = "id"
    hidden: str = "NULL"


@dataclass(frozen=True)
class Nested:
    """An object (`many=False`: at most one row) or a list of objects read from `source`.

    `source`: a table name or a parenthesised SELECT, aliased `{a}`; `where` ties its rows to the
    parent row `{t}`; `order` orders a list. `visible`, when set, gives the statement of the ids
    the viewer may see (`seen_as_loaded(Model)`: its loader's rule), so that a row hidden from
    the viewer is absent here as it is from the loaders.
    """

    type_name: str
    source: str
    where: str
    many: bool = False
    order: str | None = None
    visible: Callable[[Any], Any] | None = None
    visible_column: str = "id"


@dataclass(frozen=True)
class Paged:
    """A nested connection (first/after/last/before): the rows of `nested` (a db.batches.NestedList:
    its scoped statement, sort keys and parent column, or a function of the viewer and the field's
    arguments giving one) whose parent is the row's `parent_column`."""

    nested: Any
    parent_column: str = "id"


Field = Scalar | Nested | Paged

_TYPES: dict[str, dict[str, Field]] = {}


def seen_as_loaded(model: Any) -> Callable[[Any], Any]:
    """`Nested.visible` for rows of `model`: the ids of it the viewer may read by id, by the same
    rule its loaders and `node` read them through (db.batches.BY_ID)."""
    rule = batches.BY_ID[model]
    assert rule is not None, f"{model.__name__} is read by every signed-in user: no rule to apply"
    return lambda viewer: rule(select(model.id), viewer)


def declare(type_name: str, fields: dict[str, Field]) -> None:
    """The mapping of one GraphQL object type's fields, by their GraphQL names."""
    _TYPES[type_name] = fields


def mapping(type_name: str) -> dict[str, Field] | None:
    return _TYPES.get(type_name)


# Scalars as strawberry encodes them.


def text(column: str) -> Scalar:
    return Scalar(f"to_json({{t}}.{column})::text")


def number(column: str) -> Scalar:
    return Scalar(f"({{t}}.{column})::text")


def boolean(column: str) -> Scalar:
    return Scalar(f"CASE WHEN {{t}}.{column} THEN 'true' WHEN NOT {{t}}.{column} THEN 'false' END")


def day(column: str) -> Scalar:
    """A date as `date.isoformat()` writes it."""
    return Scalar(f"'\"' || to_char({{t}}.{column}, 'YYYY-MM-DD') || '\"'")


def instant(column: str) -> Scalar:
    return Scalar(instant_sql(f"{{t}}.{column}"))


def instant_sql(expr: str) -> str:
    """A UTC instant as `datetime.isoformat()` writes it: microseconds only when there are any,
    then `+00:00` (asyncpg gives aware UTC datetimes, db.base.UTCDateTime)."""
    utc = f"({expr} AT TIME ZONE 'UTC')"
    return (
        f"CASE WHEN {expr} IS NOT NULL THEN '\"' || to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
        f"CASE WHEN extract(microseconds FROM {utc})::bigint % 1000000 = 0 THEN '' "
        f"ELSE to_char({utc}, '.US') END || '+00:00\"' END"
    )


def global_id(type_name: str, column: str = "id") -> Scalar:
    """schema.node.to_global_id: base64url of "Type:pk" without padding."""
    return Scalar(global_id_sql(f"'{type_name}:'", f"{{t}}.{column}"))


def global_id_sql(type_text: str, pk: str) -> str:
    """A global id from SQL for the type's name and colon (`'Contact:'`) and the key.

    Cheaper than base64url_sql, which this is for these bytes: the base64 of ASCII letters,
    digits and a colon never holds "+" or "/" (only a third byte's low six bits can reach 62 or
    63, which takes ">", "?", "~" or DEL), the text has no backslash for the bytea cast to read,
    and it is far shorter than the 76 characters after which PostgreSQL breaks lines. translate
    and convert_to took two thirds of the time of an id.
    """
    return f"'\"' || rtrim(encode(({type_text} || {pk})::bytea, 'base64'), '=') || '\"'"


def base64url_sql(text_expr: str, *, quoted: bool) -> str:
    """URL-safe base64 of the text's UTF-8 without padding (PostgreSQL wraps lines every 76)."""
    encoded = f"rtrim(translate(encode(convert_to({text_expr}, 'UTF8'), 'base64'), E'+/\\n', '-_'), '=')"
    return f"'\"' || {encoded} || '\"'" if quoted else encoded
