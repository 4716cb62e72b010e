"""`node` and `nodes` (X1): one lookup per type, each through its scoped dataloader.

Every type implementing `Node` has its row here (tests/test_node.py checks the schema's list
against it), so whatever carries an id can be fetched again by it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, cast

import strawberry

from db.keyset import PaginationError
from schema.contact_types import (
    Company,
    Contact,
    ContactAddress,
    ContactChannel,
    CustomFieldDefinition,
    DocumentType,
)
from schema.conversation_types import Conversation, ConversationMessage
from schema.gestion_types import Campaign, Gestion, GestionAttachment, GestionComment, Typology, TypologyResult
from schema.job_types import Job, StoredFile
from schema.loaders import Loaders
from schema.node import Node, from_global_id
from schema.notification_types import Notification
from schema.portfolio_types import Portfolio
from schema.sales_types import SalesAttention, SalesCatalogEntry
from schema.sales_view_types import SalesView
from schema.types import AuditEvent, Info, Team, User

# type name -> (loader of the row, converter to the GraphQL type). Each loader applies its
# type's visibility: a channel or an address is seen with its contact, a comment or an
# attachment with its gestión; the catalogues (document types, custom fields, typologies and
# their results) and companies are read by every signed-in user.
_RESOLVERS: dict[str, tuple[Callable[[Loaders], Any], Callable[[Any], Node]]] = {
    "User": (lambda loaders: loaders.user_by_id, User.from_row),
    "Team": (lambda loaders: loaders.team_by_id, Team.from_row),
    "AuditEvent": (lambda loaders: loaders.audit_event_by_id, AuditEvent.from_row),
    "Contact": (lambda loaders: loaders.contact_by_id, Contact.from_row),
    "ContactChannel": (lambda loaders: loaders.channel_by_id, ContactChannel.from_row),
    "ContactAddress": (lambda loaders: loaders.address_by_id, ContactAddress.from_row),
    "Company": (lambda loaders: loaders.company_by_id, Company.from_row),
    "DocumentType": (lambda loaders: loaders.document_type_by_id, DocumentType.from_row),
    "CustomFieldDefinition": (lambda loaders: loaders.custom_field_definition_by_id, CustomFieldDefinition.from_row),
    "Portfolio": (lambda loaders: loaders.portfolio_by_id, Portfolio.from_row),
    "Typology": (lambda loaders: loaders.typology_by_id, Typology.from_row),
    "TypologyResult": (lambda loaders: loaders.result_by_id, TypologyResult.from_row),
    "Campaign": (lambda loaders: loaders.campaign_by_id, Campaign.from_row),
    "Gestion": (lambda loaders: loaders.gestion_by_id, Gestion.from_row),
    "GestionComment": (lambda loaders: loaders.comment_by_id, GestionComment.from_row),
    "GestionAttachment": (lambda loaders: loaders.attachment_by_id, GestionAttachment.from_row),
    # A message is seen with its conversation.
    "Conversation": (lambda loaders: loaders.conversation_by_id, Conversation.from_row),
    "ConversationMessage": (lambda loaders: loaders.message_by_id, ConversationMessage.from_row),
    # Each user's own only (db.scopes.notifications).
    "Notification": (lambda loaders: loaders.notification_by_id, Notification.from_row),
    # The panel's scope: an agent reads none (S2). A view is its owner's only.
    "SalesAttention": (lambda loaders: loaders.sales_attention_by_id, SalesAttention.from_row),
    "SalesCatalogEntry": (lambda loaders: loaders.sales_entry_by_id, SalesCatalogEntry.from_row),
    "SalesView": (lambda loaders: loaders.sales_view_by_id, SalesView.from_row),
    # A job and its file are their requester's, and every admin's.
    "Job": (lambda loaders: loaders.job_by_id, Job.from_row),
    "StoredFile": (lambda loaders: loaders.stored_file_by_id, StoredFile.from_row),
}

NODE_TYPES = frozenset(_RESOLVERS)


async def _resolve(info: Info, global_id: str) -> Node | None:
    type_name, pk = from_global_id(global_id)
    entry = _RESOLVERS.get(type_name)
    if entry is None:
        return None
    loader, convert = entry
    load: Callable[[int], Awaitable[Any]] = loader(info.context.loaders).load
    row = await load(pk)
    # Missing and invisible read the same (R3).
    return convert(row) if row is not None else None


@strawberry.type
class NodeQueries:
    @strawberry.field(
        description=(
            "Any object by its global id; null when it does not exist or you cannot see it (an id this API "
            "never issues is null with an error)."
        )
    )
    async def node(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="A global id, as any object's `id` gives it.")],
    ) -> Node | None:
        info.context.principal  # noqa: B018  (signing in is required before any lookup)
        return await _resolve(info, id)

    @strawberry.field(
        description=(
            "Several objects by global id, in the order asked; null where not visible, and null with an error "
            'of its own (path ["nodes", index]) where an id is not one this API issues.'
        )
    )
    async def nodes(
        self,
        info: Info,
        ids: Annotated[
            list[strawberry.ID], strawberry.argument(description="Global ids, at most the server's page size.")
        ],
    ) -> list[Node | None] | None:
        info.context.principal  # noqa: B018
        if len(ids) > info.context.settings.max_page_size:
            raise PaginationError(f"Ask for at most {info.context.settings.max_page_size} ids at once")
        # One awaitable per position: graphql-core completes list items one by one (gathered, so
        # the loaders still batch), and an item that fails is null with its own error at its
        # index while the others stand.
        return cast(list[Node | None], [_resolve(info, i) for i in ids])
