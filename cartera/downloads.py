"""GET /attachments/{id}: an attachment's bytes (G7), for whoever sees its gestión; GET
/files/{id}: a file a job made (an export, S5), for its owner and the admins.

The bearer token is read as /graphql reads it; a missing file and one the caller may not
see (another's export, an expired one) both answer 404. The bytes stream from the store in chunks.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from db.base import MAX_ID
from schema.context import AppState
from services import attachments, stored_files
from services.auth import bearer, read_token
from services.errors import DomainError
from services.principal import Principal

log = logging.getLogger("cartera.downloads")


def content_disposition(filename: str) -> str:
    """`attachment` with the name twice: plain ASCII for old clients, and RFC 5987 UTF-8."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class AttachmentDownloads:
    """GET /attachments/{id}; `lookup` and `what` are the ones of FileDownloads."""

    what = "Attachment"

    def __init__(self, app: AppState) -> None:
        self.app = app

    async def lookup(self, session: AsyncSession, principal: Principal, pk: int) -> Any:
        return await attachments.get_for_download(session, principal, pk)

    async def handle(self, request: Request) -> Response:
        settings = self.app.settings
        token = bearer(request.headers.get("authorization"))
        user_id = read_token(token, secret_key=settings.secret_key) if token else None
        if user_id is None:
            return _unauthorized()
        pk = request.path_params["id"]
        if not 0 < pk <= MAX_ID:
            return self._not_found()
        principal = await self.app.principals.get(user_id)
        if principal is None:
            return _unauthorized()
        async with self.app.sessionmaker() as session:
            try:
                row = await self.lookup(session, principal, pk)
            except DomainError:
                return self._not_found()
        try:
            chunks = await self.app.attachments.open(row.storage_key)
        except FileNotFoundError:
            log.error("stored bytes missing", extra={"what": self.what, "id": row.id})
            return self._not_found()
        return StreamingResponse(
            chunks,
            media_type=row.content_type,
            headers={
                "content-length": str(row.size_bytes),
                "content-disposition": content_disposition(row.filename),
                "x-content-type-options": "nosniff",
                "cache-control": "private, no-store",
            },
        )

    def _not_found(self) -> Response:
        return PlainTextResponse(f"{self.what} not found", status_code=404)


def _unauthorized() -> Response:
    return PlainTextResponse(
        "Sign in first: send a valid bearer token", status_code=401, headers={"www-authenticate": "Bearer"}
    )


class FileDownloads(AttachmentDownloads):
    """GET /files/{id}: an export's CSV, for its owner and the admins, until it expires."""

    what = "File"

    async def lookup(self, session: AsyncSession, principal: Principal, pk: int) -> Any:
        return await stored_files.get_for_download(session, principal, pk)
