"""Set-based backfills the migrations share: text computed in Python, written by one UPDATE.

A value that only Python computes exactly (db.search.fold, phonenumbers' national forms) is
computed once per distinct value, not per row: the distinct values go into a temporary table
(value, result), and one UPDATE … FROM joins it in, on PostgreSQL and SQLite (3.33+) alike.
A million contacts' names are a few thousand distinct ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import Connection

from db.search import fold

MAPPED = "migration_mapped_values"
_CHUNK = 10_000


def _distinct_values(bind: Connection, query: str) -> list[str]:
    """The distinct non-null values of the query's column `v`."""
    return [row[0] for row in bind.execute(text(f"SELECT DISTINCT v FROM ({query}) AS q WHERE v IS NOT NULL"))]


def _load_mapping(bind: Connection, values: Iterable[str], compute: Callable[[str], str | None]) -> int:
    bind.execute(text(f"DROP TABLE IF EXISTS {MAPPED}"))
    bind.execute(text(f"CREATE TEMPORARY TABLE {MAPPED} (value TEXT PRIMARY KEY, result TEXT NOT NULL)"))
    rows = [{"v": value, "r": result} for value in values if (result := compute(value)) is not None]
    insert = text(f"INSERT INTO {MAPPED} (value, result) VALUES (:v, :r)")
    for start in range(0, len(rows), _CHUNK):
        bind.execute(insert, rows[start : start + _CHUNK])
    # The planner's estimate of a fresh temporary table is a guess; the join below depends on it.
    bind.execute(text(f"ANALYZE {MAPPED}"))
    return len(rows)


@contextmanager
def mapped(bind: Connection, query: str, compute: Callable[[str], str | None]) -> Iterator[int]:
    """MAPPED (value, result) for the statements in the block: compute(value) for each distinct
    non-null value of the query's column `v`, where it is not None. Yields how many rows it holds."""
    yield _load_mapping(bind, _distinct_values(bind, query), compute)
    # Not in a finally: an error rolls back the migrations' one transaction (db.migrate.upgrade),
    # the table with it, and on PostgreSQL a DROP in that aborted transaction would fail in the
    # error's place.
    bind.execute(text(f"DROP TABLE {MAPPED}"))


def fold_columns(bind: Connection, table: str, target: str, sources: Sequence[str]) -> None:
    """Set every row's `target` to db.models.Folded(*sources): each source folded, joined by " | ".

    The sources are NOT NULL columns.
    """
    union = " UNION ".join(f"SELECT {source} AS v FROM {table}" for source in sources)
    joins = [f"m{i}" for i in range(len(sources))]
    folded = " || ' | ' || ".join(f"{m}.result" for m in joins)
    matched = " AND ".join(f"{m}.value = {table}.{source}" for m, source in zip(joins, sources, strict=True))
    tables = ", ".join(f"{MAPPED} AS {m}" for m in joins)
    with mapped(bind, union, fold):
        bind.execute(text(f"UPDATE {table} SET {target} = {folded} FROM {tables} WHERE {matched}"))
