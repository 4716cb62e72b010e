"""Payloads of gestión attachments (G7)."""

import strawberry

from schema import docs
from schema.errors import UserError
from schema.gestion_types import GestionAttachment


@strawberry.type(description="Result of uploadGestionAttachment: the stored file, or userErrors and nothing stored.")
class GestionAttachmentPayload:
    attachment: GestionAttachment | None = strawberry.field(
        default=None, description="The attachment; null when refused."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)
