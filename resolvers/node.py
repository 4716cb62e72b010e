"""`node` and `nodes` (X1): one lookup per type, each through its scoped dataloader."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, cast

import strawberry

from db.keyset import PaginationError
from schema.contact_types import Company, Contact, DocumentType
from schema.gestion_types import Campaign, Gestion
from schema.loaders import Loaders
from schema.node import Node, from_global_id
from schema.portfolio_types import Portfolio
from schema.types import AuditEvent, Info, Team, User

# type name -> (loader of the row, converter to the GraphQL type)
_RESOLVERS: dict[str, tuple[Callable[[Loaders], Any], Callable[[Any], Node]]] = {
    "User": (lambda loaders: loaders.user_by_id, User.from_row),
    "Team": (lambda loaders: loaders.team_by_id, Team.from_row),
    "AuditEvent": (lambda loaders: loaders.audit_event_by_id, AuditEvent.from_row),
    "Contact": (lambda loaders: loaders.contact_by_id, Contact.from_row),
    "Company": (lambda loaders: loaders.company_by_id, Company.from_row),
    "DocumentType": (lambda loaders: loaders.document_type_by_id, DocumentType.from_row),
    "Portfolio": (lambda loaders: loaders.portfolio_by_id, Portfolio.from_row),
    "Campaign": (lambda loaders: loaders.campaign_by_id, Campaign.from_row),
    "Gestion": (lambda loaders: loaders.gestion_by_id, Gestion.from_row),
}


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
    @strawberry.field(description="Any object by its global id; null when it does not exist or you cannot see it.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        info.context.principal  # noqa: B018  (signing in is required before any lookup)
        return await _resolve(info, id)

    @strawberry.field(description="Several objects by global id, in the order asked; null where not visible.")
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        info.context.principal  # noqa: B018
        if len(ids) > info.context.settings.max_page_size:
            raise PaginationError(f"Ask for at most {info.context.settings.max_page_size} ids at once")
        # Every lookup ends before an error ends the operation: a load left running would use
        # the operation's session after it closed, and its connection would never be returned.
        found = await asyncio.gather(*(_resolve(info, i) for i in ids), return_exceptions=True)
        failed = next((item for item in found if isinstance(item, BaseException)), None)
        if failed is not None:
            raise failed
        return cast(list[Node | None], found)
