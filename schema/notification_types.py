"""The notification centre's types (S6): a notification, its filter, and marking them read.

What a notification points at is in its payload (services.notifications.notify, per kind); the
type reads it into typed fields, and a pointed-at object that has its own visibility is read
through its scoped loader, so a notification never shows what its reader may no longer see.
"""

from datetime import datetime
from typing import Any

import strawberry

from db import models
from db.models import NotificationKind as NotificationKind
from schema import docs
from schema.conversation_types import Conversation
from schema.errors import UserError
from schema.job_types import Job, StoredFile
from schema.node import Node, to_global_id
from schema.types import Info

# Re-exported (the `as` above): whoever names the enum in a type imports it registered here.
docs.enum(
    NotificationKind,
    name="NotificationKind",
    description="What a notification tells (S6).",
    values={
        "EXPORT_READY": "Your export is done: `file` and `downloadUrl` point to it.",
        "EXPORT_FAILED": "Your export failed: `job` says why.",
        "ATTENTIONS_TRANSFERRED": "Someone gave you sales attentions (`count`, `attentionIds`).",
        "CONVERSATION_TRANSFERRED": "Someone gave you a conversation (`conversation`).",
        "GESTIONES_TRANSFERRED": "Someone gave you gestiones (`count`, `gestionIds`).",
    },
)


def _ids(type_name: str, values: Any) -> list[strawberry.ID]:
    return [to_global_id(type_name, int(v)) for v in values or ()]


@strawberry.type(description="One entry of your notification centre (S6).")
class Notification(Node):
    pk: strawberry.Private[int]
    data: strawberry.Private[dict[str, Any]]
    kind: NotificationKind = strawberry.field(description="What it tells.")
    message: str = strawberry.field(description="Its text, ready to show.")
    created_at: datetime = strawberry.field(description="When it was created.")
    read_at: datetime | None = strawberry.field(description="When you read it; null while unread.")

    @classmethod
    def from_row(cls, row: models.Notification) -> "Notification":
        return cls(
            id=to_global_id("Notification", row.id),
            pk=row.id,
            data=dict(row.payload or {}),
            kind=NotificationKind(row.kind),
            message=row.message,
            created_at=row.created_at,
            read_at=row.read_at,
        )

    @strawberry.field(description="Whether you read it (readAt is set).")
    def read(self) -> bool:
        return self.read_at is not None

    @strawberry.field(description="How many things it is about (attentions or gestiones given, rows exported).")
    def count(self) -> int | None:
        value = self.data.get("count", self.data.get("rowCount"))
        return int(value) if value is not None else None

    @strawberry.field(description="ATTENTIONS_TRANSFERRED: the attentions given to you (the first 1,000).")
    def attention_ids(self) -> list[strawberry.ID]:
        return _ids("SalesAttention", self.data.get("attentionIds"))

    @strawberry.field(description="GESTIONES_TRANSFERRED: the gestiones given to you (the first 1,000).")
    def gestion_ids(self) -> list[strawberry.ID]:
        return _ids("Gestion", self.data.get("gestionIds"))

    @strawberry.field(description="CONVERSATION_TRANSFERRED: the conversation given to you.")
    def conversation_id(self) -> strawberry.ID | None:
        value = self.data.get("conversationId")
        return to_global_id("Conversation", int(value)) if value is not None else None

    @strawberry.field(description="CONVERSATION_TRANSFERRED: the conversation; null once you cannot see it.")
    async def conversation(self, info: Info) -> Conversation | None:
        value = self.data.get("conversationId")
        if value is None:
            return None
        row = await info.context.loaders.conversation_by_id.load(int(value))
        return Conversation.from_row(row) if row else None

    @strawberry.field(description="EXPORT_READY and EXPORT_FAILED: the job that ran.")
    def job_id(self) -> strawberry.ID | None:
        value = self.data.get("jobId")
        return to_global_id("Job", int(value)) if value is not None else None

    @strawberry.field(description="EXPORT_READY: the file made.")
    def file_id(self) -> strawberry.ID | None:
        value = self.data.get("fileId")
        return to_global_id("StoredFile", int(value)) if value is not None else None

    @strawberry.field(description="EXPORT_READY and EXPORT_FAILED: the job, as it is now.")
    async def job(self, info: Info) -> Job | None:
        value = self.data.get("jobId")
        row = await info.context.loaders.job_by_id.load(int(value)) if value is not None else None
        return Job.from_row(row) if row else None

    @strawberry.field(description="EXPORT_READY: the file; null once it expired.")
    async def file(self, info: Info) -> StoredFile | None:
        value = self.data.get("fileId")
        row = await info.context.loaders.stored_file_by_id.load(int(value)) if value is not None else None
        return StoredFile.from_row(row) if row else None

    @strawberry.field(description="EXPORT_READY: where to download the file (GET, with your token).")
    def download_url(self) -> str | None:
        value = self.data.get("downloadUrl")
        return str(value) if value is not None else None


@strawberry.input(description="Narrow your notifications.")
class NotificationFilter:
    unread: bool | None = strawberry.field(default=None, description="True: only unread; false: only read.")


@strawberry.input(one_of=True, description="Which notifications to mark read: these, or all of yours.")
class MarkNotificationsReadInput:
    ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET,
        description="Your notifications to mark read; at most the server's limit (LIMIT_EXCEEDED).",
    )
    all: bool | None = strawberry.field(default=strawberry.UNSET, description="true marks all of yours read.")


@strawberry.type(description="Result of markNotificationsRead.")
class MarkNotificationsReadPayload:
    updated_count: int = strawberry.field(default=0, description="Notifications that were unread and now are read.")
    unread_count: int = strawberry.field(default=0, description="Your unread notifications after the call.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Ids that are not your notifications (NOT_FOUND), each at its position."
    )
