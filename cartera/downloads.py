"""GET /attachments/{id}: an attachment's bytes (G7), for whoever sees its gestión; GET
/files/{id}: a file a job made (an export, S5), for its owner and the admins.

The bearer token is read as /graphql reads it; a missing file and one the caller may not
see (another's export, an expired one) both answer 404. The bytes stream from the store in chunks.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator
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
        token = bearer(request.headers.get("authorization"))
        user_id = read_token(token, secret_key=self.app.settings.secret_key) if token else None
        pk = request.path_params["id"]
        response = await self._answer(user_id, pk)
        fields = {"what": self.what.lower(), "id": pk, "user_id": user_id, "status": response.status_code}
        if not isinstance(response, StreamingResponse):
            log.info("download", extra={**fields, "bytes": len(response.body)})
            return response
        response.body_iterator = _logged(response.body_iterator, fields)
        return response

    async def _answer(self, user_id: int | None, pk: int) -> Response:
        if user_id is None:
            return _unauthorized()
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


async def _logged(chunks: AsyncIterable[Any], fields: dict[str, Any]) -> AsyncIterator[Any]:
    """The body as it streams; one log line once it has gone out, or the client left, with the bytes sent."""
    sent = 0
    complete = False
    try:
        async for chunk in chunks:
            yield chunk
            sent += len(chunk)
        complete = True
    finally:
        log.info("download", extra={**fields, "bytes": sent, "complete": complete})


def _unauthorized() -> Response:
    return PlainTextResponse(
        "Sign in first: send a valid bearer token", status_code=401, headers={"www-authenticate": "Bearer"}
    )


class FileDownloads(AttachmentDownloads):
    """GET /files/{id}: an export's CSV, for its owner and the admins, until it expires."""

    what = "File"

    async def lookup(self, session: AsyncSession, principal: Principal, pk: int) -> Any:
        return await stored_files.get_for_download(session, principal, pk)
