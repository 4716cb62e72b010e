"""Payloads of gestión attachments (G7)."""

import strawberry

from schema.errors import UserError
from schema.gestion_types import GestionAttachment


@strawberry.type
class GestionAttachmentPayload:
    attachment: GestionAttachment | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
