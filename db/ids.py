"""Primary keys for set-based inserts, taken before the INSERT so child rows can point at them.

RETURNING cannot be trusted for this: SQLite does not promise the order of RETURNING rows,
so SQLAlchemy falls back to one INSERT per row when asked to keep it.
"""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import Base


async def allocate_ids(session: AsyncSession, model: type[Base], count: int) -> list[int]:
    if count <= 0:
        return []
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        rows = await session.execute(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
            {"table": model.__tablename__, "n": count},
        )
        return [int(r[0]) for r in rows]
    # SQLite: the caller's write transaction (BEGIN IMMEDIATE) holds the database lock, so
    # nobody else can take the ids after the current maximum until it commits.
    start = int(await session.scalar(select(func.max(model.__table__.c.id))) or 0)
    return list(range(start + 1, start + 1 + count))
