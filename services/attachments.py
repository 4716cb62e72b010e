"""Attachments of gestiones (G7): upload with size and type limits, download with the gestión's visibility.

The bytes go to an `AttachmentStore` (services.attachment_store); the row in
gestion_attachments names them by a random key. A rejected upload stores nothing: every
check that can refuse runs before the bytes are written, the store keeps nothing of a
stream past the cap, and bytes stored by a call whose row did not commit (a later check,
a rollback, a crash of the transaction) are removed by `discard_unless_attached`, which
the caller runs whenever the call did not succeed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db import batches
from db.models import Campaign, GestionAttachment
from services import gestiones
from services.attachment_store import AttachmentStore, Source, Stored, TooLarge, new_key
from services.audit import AuditAction
from services.errors import ErrorCode, fail, not_found
from services.principal import Principal

MAX_FILENAME = 255
FIELD = "file"


@dataclass
class IncomingFile:
    """One upload call's file, as the client declared it.

    Its bytes are stored at most once however often the transaction runs (the unit of work
    runs it again after a lost race, and the stream cannot be read twice): `stored` keeps
    what the first run wrote.
    """

    filename: str | None
    content_type: str | None
    # None when the request carried no file (the Upload scalar takes any value).
    source: Source | None
    stored: Stored | None = None


def clean_filename(raw: str | None) -> str:
    """The name to show and to offer on download: its last path part, without control characters."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in unicodedata.normalize("NFC", name) if unicodedata.category(c)[0] != "C").strip()
    if not name or name in {".", ".."}:
        raise fail(ErrorCode.INVALID, "The file needs a name", FIELD)
    if len(name) > MAX_FILENAME:
        raise fail(ErrorCode.TOO_LONG, f"The file name must be at most {MAX_FILENAME} characters", FIELD)
    return name


def media_type(raw: str | None, allowed: Collection[str]) -> str:
    value = (raw or "").split(";", 1)[0].strip().lower()
    if value not in allowed:
        shown = value or "none given"
        raise fail(
            ErrorCode.INVALID, f"Files of type {shown} are not accepted; send one of: {', '.join(allowed)}", FIELD
        )
    return value


async def upload(
    session: AsyncSession,
    actor: Principal,
    store: AttachmentStore,
    gestion_id: int,
    file: IncomingFile,
    *,
    max_bytes: int,
    allowed_types: Collection[str],
) -> GestionAttachment:
    """Attach a file to a gestión the actor sees; audited as ATTACHED in the gestión's history."""
    gestion = await gestiones.get_visible(session, actor, gestion_id, "gestionId")
    if file.source is None:
        raise fail(ErrorCode.INVALID, "Send the file as a multipart upload (GraphQL multipart request spec)", FIELD)
    filename = clean_filename(file.filename)
    content_type = media_type(file.content_type, allowed_types)
    if file.stored is None:
        try:
            file.stored = await store.save(new_key(), file.source, max_bytes=max_bytes)
        except TooLarge:
            raise fail(ErrorCode.LIMIT_EXCEEDED, f"The file must be at most {max_bytes} bytes", FIELD) from None
    stored = file.stored
    row = GestionAttachment(
        gestion_id=gestion.id,
        filename=filename,
        content_type=content_type,
        size_bytes=stored.size_bytes,
        sha256=stored.sha256,
        storage_key=stored.key,
        uploaded_by_id=actor.user_id,
        uploaded_by_name=actor.name,
    )
    session.add(row)
    await session.flush()
    campaign = await session.get_one(Campaign, gestion.campaign_id)
    changed = {
        "attachment": {
            "before": None,
            "after": {"filename": filename, "contentType": content_type, "sizeBytes": stored.size_bytes},
        }
    }
    await gestiones.record(session, actor, gestion, campaign, AuditAction.ATTACHED, changed)
    return row


async def discard_unless_attached(session: AsyncSession, store: AttachmentStore, file: IncomingFile) -> None:
    """After an upload call that did not succeed: remove its bytes unless a committed row names them.

    Asked of the database rather than assumed, because a failure after COMMIT (announcing,
    say) still leaves a row that needs its file.
    """
    if file.stored is None:
        return
    key = file.stored.key
    named = await session.scalar(select(GestionAttachment.id).where(GestionAttachment.storage_key == key))
    if named is None:
        await store.delete(key)


async def get_for_download(session: AsyncSession, viewer: Principal, attachment_id: int) -> GestionAttachment:
    """The attachment, if the viewer sees its gestión; missing and invisible read the same."""
    row = (await batches.attachments_by_id(session, viewer, [attachment_id])).get(attachment_id)
    if row is None:
        raise not_found("Attachment")
    return row
