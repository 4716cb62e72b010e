"""Set-based backfills the migrations share: text computed in Python, written by one UPDATE.

A value that only Python computes exactly (db.search.fold, phonenumbers' national forms) is
computed once per distinct value, not per row: the distinct values go into a temporary table
(value, result), and one UPDATE … FROM joins it in, on PostgreSQL and SQLite (3.33+) alike.
A million contacts' names are a few thousand distinct ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import text
from sqlalchemy.engine import Connection

from db.search import fold

MAPPED = "migration_mapped_values"
_CHUNK = 10_000


def distinct_values(bind: Connection, query: str) -> list[str]:
    """The distinct non-null values of the query's one column."""
    return [row[0] for row in bind.execute(text(f"SELECT DISTINCT v FROM ({query}) AS q WHERE v IS NOT NULL"))]


def load_mapping(bind: Connection, values: Iterable[str], compute: Callable[[str], str | None]) -> int:
    """Create MAPPED (value, result) holding compute(value) for each value where it is not None."""
    bind.execute(text(f"DROP TABLE IF EXISTS {MAPPED}"))
    bind.execute(text(f"CREATE TEMPORARY TABLE {MAPPED} (value TEXT PRIMARY KEY, result TEXT NOT NULL)"))
    rows = [{"v": value, "r": result} for value in values if (result := compute(value)) is not None]
    insert = text(f"INSERT INTO {MAPPED} (value, result) VALUES (:v, :r)")
    for start in range(0, len(rows), _CHUNK):
        bind.execute(insert, rows[start : start + _CHUNK])
    # The planner's estimate of a fresh temporary table is a guess; the join below depends on it.
    bind.execute(text(f"ANALYZE {MAPPED}"))
    return len(rows)


def drop_mapping(bind: Connection) -> None:
    bind.execute(text(f"DROP TABLE {MAPPED}"))


def fold_columns(bind: Connection, table: str, target: str, sources: Sequence[str]) -> None:
    """Set every row's `target` to db.models.Folded(*sources): each source folded, joined by " | ".

    The sources are NOT NULL columns.
    """
    union = " UNION ".join(f"SELECT {source} AS v FROM {table}" for source in sources)
    load_mapping(bind, distinct_values(bind, union), fold)
    joins = [f"m{i}" for i in range(len(sources))]
    folded = " || ' | ' || ".join(f"{m}.result" for m in joins)
    matched = " AND ".join(f"{m}.value = {table}.{source}" for m, source in zip(joins, sources, strict=True))
    tables = ", ".join(f"{MAPPED} AS {m}" for m in joins)
    bind.execute(text(f"UPDATE {table} SET {target} = {folded} FROM {tables} WHERE {matched}"))
    drop_mapping(bind)
