"""Root fields for attachments of gestiones (G7)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.file_uploads import Upload

from db import models
from resolvers.uow import mutate_into
from schema.attachment_inputs import GestionAttachmentPayload
from schema.context import Context
from schema.gestion_types import GestionAttachment
from schema.ids import require_pk
from schema.types import Info
from services import attachments
from services.attachment_store import Source
from services.principal import Principal

CSRF_HEADER = "X-Cartera-CSRF"


def _source(file: object) -> Source | None:
    # The Upload scalar takes any value; only a multipart request puts a file (an UploadFile) in it.
    return file if callable(getattr(file, "read", None)) else None  # type: ignore[return-value]


async def _discard(ctx: Context, incoming: attachments.IncomingFile) -> None:
    if incoming.stored is None:
        return
    async with ctx.app.sessionmaker() as session:
        await attachments.discard_unless_attached(session, ctx.app.attachments, incoming)


@strawberry.type
class AttachmentMutations:
    @strawberry.mutation(
        description=(
            "Attach a file to a gestión you can see (G7). Send it as a multipart request (GraphQL multipart "
            f"request spec: `operations`, `map`, then the file) with the header `{CSRF_HEADER}: 1`, which "
            "browsers only send after a CORS preflight; without it the request is refused with 400. The size "
            "(CARTERA_MAX_ATTACHMENT_BYTES) and media type (CARTERA_ATTACHMENT_TYPES) are checked: "
            "LIMIT_EXCEEDED or INVALID on `file`, and nothing is stored."
        )
    )
    async def upload_gestion_attachment(
        self,
        info: Info,
        gestion_id: Annotated[strawberry.ID, strawberry.argument(description="The gestión to attach it to.")],
        file: Annotated[Upload, strawberry.argument(description="The file, a multipart part named in `map`.")],
    ) -> GestionAttachmentPayload:
        ctx = info.context
        settings = ctx.settings
        store = ctx.app.attachments
        incoming = attachments.IncomingFile(
            filename=getattr(file, "filename", None),
            content_type=getattr(file, "content_type", None),
            source=_source(file),
        )

        async def work(session: AsyncSession, actor: Principal) -> models.GestionAttachment:
            pk = require_pk(gestion_id, "Gestion", "gestionId")
            return await attachments.upload(
                session,
                actor,
                store,
                pk,
                incoming,
                max_bytes=settings.max_attachment_bytes,
                allowed_types=settings.attachment_types,
            )

        try:
            payload = await mutate_into(ctx, work, GestionAttachmentPayload, "attachment", GestionAttachment.from_row)
        except BaseException:
            await _discard(ctx, incoming)
            raise
        if payload.attachment is None:
            await _discard(ctx, incoming)
        return payload
