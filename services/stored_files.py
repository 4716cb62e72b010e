"""Files jobs made for someone (exports, S5): who may download one, and their expiry.

A file is its owner's (the requester) and the admins' (db.scopes.stored_files); anyone else,
and everyone once it expired, reads it as missing. `delete_expired` removes the rows past
`expires_at` and then their bytes (cartera.collector runs it on a schedule): a crash between
the two leaves bytes no row names, never a row whose bytes are gone before it expired.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import scopes
from db.base import utcnow
from db.engine import SQLITE_WRITE
from db.models import StoredFile
from db.sets import execute_counting, in_ids
from services.attachment_store import AttachmentStore
from services.errors import not_found
from services.principal import Principal

# Rows deleted per transaction: a sweep never holds locks on many at once.
SWEEP_BATCH = 500


async def get_for_download(session: AsyncSession, viewer: Principal, file_id: int) -> StoredFile:
    stmt = scopes.stored_files(select(StoredFile).where(StoredFile.id == file_id), viewer)
    row = await session.scalar(stmt.where(StoredFile.expires_at > utcnow()))
    if row is None:
        raise not_found("File", "id")
    return row


async def delete_expired(sessionmaker: async_sessionmaker[AsyncSession], store: AttachmentStore) -> int:
    """Delete every file past its expiry, rows then bytes; returns how many."""
    deleted = 0
    while True:
        async with sessionmaker() as session:
            await session.connection(execution_options={SQLITE_WRITE: True})
            rows = (
                await session.execute(
                    select(StoredFile.id, StoredFile.storage_key)
                    .where(StoredFile.expires_at <= utcnow())
                    .order_by(StoredFile.id)
                    .limit(SWEEP_BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return deleted
            dialect = session.get_bind().dialect.name
            await execute_counting(
                session, delete(StoredFile).where(in_ids(StoredFile.id, [r.id for r in rows], dialect))
            )
            await session.commit()
        for row in rows:
            await store.delete(row.storage_key)
        deleted += len(rows)
