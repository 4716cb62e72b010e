"""Root fields for portfolios: list, preview, reports; create, edit, (de)activate, delete, assign, remove."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import strawberry
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from db import keyset
from db.keyset import PageRequest, SortKey
from db.models import Portfolio as PortfolioRow
from resolvers.uow import mutate, mutate_into
from schema import docs
from schema.connection import Connection, connection
from schema.contact_inputs import ContactFilter
from schema.errors import UserError
from schema.ids import optional_pk, require_pk
from schema.node import pk_of, to_global_id
from schema.portfolio_inputs import (
    ContactSelection,
    CreatePortfolioInput,
    DeletePortfolioPayload,
    PortfolioAssignmentPreview,
    PortfolioContactsPayload,
    PortfolioFilter,
    PortfolioOrder,
    PortfolioPayload,
    UpdatePortfolioInput,
)
from schema.portfolio_types import OwnerContactCount, Portfolio, PortfolioContactCount
from schema.types import CursorArg, Info, PageArg
from services import contacts, portfolio_assignment, portfolios
from services.common import UNSET
from services.errors import DomainError, ErrorCode, fail
from services.portfolio_assignment import BulkResult, ConflictPolicy
from services.principal import Principal

T = TypeVar("T")


def selection_filter(selection: ContactSelection, limit: int) -> tuple[contacts.ContactFilter, list[str]]:
    """The contacts filter a selection means, and the given ids that are not ids of contacts."""
    if selection.ids is not None and selection.ids is not strawberry.UNSET:
        if len(selection.ids) > limit:
            raise fail(ErrorCode.LIMIT_EXCEEDED, f"Select at most {limit} contacts by id; use a filter", "contacts.ids")
        parsed = {given: pk_of(given, "Contact") for given in selection.ids}  # each id once, in order
        pks = tuple(pk for pk in parsed.values() if pk is not None)
        return contacts.ContactFilter(ids=pks), [given for given, pk in parsed.items() if pk is None]
    flt = selection.filter if selection.filter is not strawberry.UNSET else None
    return (flt or ContactFilter()).to_service(), []


async def _bulk(
    info: Info,
    selection: ContactSelection,
    work: Callable[[AsyncSession, Principal, contacts.ContactFilter], Awaitable[BulkResult]],
) -> PortfolioContactsPayload:
    ctx = info.context
    try:
        flt, unreadable = selection_filter(selection, ctx.settings.max_selection_ids)
    except DomainError as error:
        return PortfolioContactsPayload(user_errors=[UserError.from_problem(p) for p in error.problems])
    result = await mutate(ctx, lambda session, actor: work(session, actor, flt))
    if isinstance(result, list):
        return PortfolioContactsPayload(user_errors=result)
    return PortfolioContactsPayload.of(result, unreadable)


async def _portfolio_mutation(
    info: Info, work: Callable[[AsyncSession, Principal], Awaitable[PortfolioRow]]
) -> PortfolioPayload:
    return await mutate_into(info.context, work, PortfolioPayload, "portfolio", Portfolio.from_row)


async def _set_active(info: Info, id: strawberry.ID, *, active: bool) -> PortfolioPayload:
    async def work(session: AsyncSession, actor: Principal) -> PortfolioRow:
        return await portfolios.set_active(session, actor, require_pk(id, "Portfolio", "id"), active=active)

    return await _portfolio_mutation(info, work)


@strawberry.type
class PortfolioQueries:
    @strawberry.field(description="Portfolios you can see (P6), by name unless orderBy says otherwise.")
    async def portfolios(
        self,
        info: Info,
        filter: Annotated[PortfolioFilter | None, strawberry.argument(description=docs.FILTER)] = None,
        order_by: Annotated[PortfolioOrder | None, strawberry.argument(description=docs.ORDER_BY)] = None,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[Portfolio] | None:
        ctx = info.context
        order, descending = (order_by or PortfolioOrder()).to_service()
        page, stmt = await portfolios.list_portfolios(
            ctx.session,
            ctx.principal,
            (filter or PortfolioFilter()).to_service(),
            PageRequest(first=first, after=after, last=last, before=before),
            order=order,
            descending=descending,
            max_page_size=ctx.settings.max_page_size,
        )
        session = ctx.session
        return connection(page, Portfolio.from_row, lambda: keyset.count(session, stmt))

    @strawberry.field(
        description="Before assigning: which selected contacts are free, already here, or in another portfolio (P4)."
    )
    async def portfolio_assignment_preview(
        self,
        info: Info,
        portfolio_id: Annotated[strawberry.ID, strawberry.argument(description="The destination portfolio.")],
        contacts: Annotated[ContactSelection, strawberry.argument(description="The contacts you mean to assign.")],
    ) -> PortfolioAssignmentPreview | None:
        ctx = info.context
        flt, unreadable = selection_filter(contacts, ctx.settings.max_selection_ids)
        found = await portfolio_assignment.preview(
            ctx.session, ctx.principal, require_pk(portfolio_id, "Portfolio", "portfolioId"), flt
        )
        return PortfolioAssignmentPreview.of(found, unreadable)

    @strawberry.field(description="Contacts per portfolio, most first (P9; admins and supervisors).")
    async def contacts_per_portfolio(
        self,
        info: Info,
        filter: Annotated[PortfolioFilter | None, strawberry.argument(description="Which portfolios to count.")] = None,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[PortfolioContactCount] | None:
        request = PageRequest(first=first, after=after, last=last, before=before)
        return await _report(info, portfolios.contacts_per_portfolio, filter, request, PortfolioContactCount.from_row)

    @strawberry.field(
        description="Portfolios and contacts per owner: each agent, and each team for portfolios no agent owns (P9)."
    )
    async def contacts_per_portfolio_owner(
        self,
        info: Info,
        filter: Annotated[PortfolioFilter | None, strawberry.argument(description="Which portfolios to count.")] = None,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[OwnerContactCount] | None:
        request = PageRequest(first=first, after=after, last=last, before=before)
        return await _report(info, portfolios.contacts_per_owner, filter, request, OwnerContactCount.from_row)


async def _report(
    info: Info,
    build: Callable[[Principal, portfolios.PortfolioFilter], tuple[Select[Any], tuple[SortKey, ...]]],
    flt: PortfolioFilter | None,
    request: PageRequest,
    convert: Callable[[Any], T],
) -> Connection[T]:
    """A page of a supervision report (P9): admins and supervisors, over the portfolios they see."""
    ctx = info.context
    stmt, keys = build(ctx.principal, (flt or PortfolioFilter()).to_service())
    page = await portfolios.report_page(ctx.session, stmt, keys, request, max_page_size=ctx.settings.max_page_size)
    session = ctx.session
    return connection(page, convert, lambda: keyset.count(session, stmt))


@strawberry.type
class PortfolioMutations:
    @strawberry.mutation(description="Create a portfolio owned by a team and/or an agent (P1; admins and supervisors).")
    async def create_portfolio(
        self, info: Info, input: Annotated[CreatePortfolioInput, strawberry.argument(description=docs.INPUT)]
    ) -> PortfolioPayload:
        async def work(session: AsyncSession, actor: Principal) -> PortfolioRow:
            return await portfolios.create_portfolio(
                session,
                actor,
                name=input.name,
                team_id=optional_pk(input.team_id, "Team", "teamId"),
                agent_id=optional_pk(input.agent_id, "User", "agentId"),
            )

        return await _portfolio_mutation(info, work)

    @strawberry.mutation(description="Change a portfolio's name or owners (P2); agents may rename their own.")
    async def update_portfolio(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The portfolio to change.")],
        input: Annotated[UpdatePortfolioInput, strawberry.argument(description=docs.INPUT)],
    ) -> PortfolioPayload:
        async def work(session: AsyncSession, actor: Principal) -> PortfolioRow:
            if input.name is None:
                raise fail(ErrorCode.REQUIRED, "Must not be null", "name")
            return await portfolios.update_portfolio(
                session,
                actor,
                require_pk(id, "Portfolio", "id"),
                name=UNSET if input.name is strawberry.UNSET else input.name,
                team_id=UNSET if input.team_id is strawberry.UNSET else optional_pk(input.team_id, "Team", "teamId"),
                agent_id=(
                    UNSET if input.agent_id is strawberry.UNSET else optional_pk(input.agent_id, "User", "agentId")
                ),
            )

        return await _portfolio_mutation(info, work)

    @strawberry.mutation(description="Make a portfolio take new contacts again.")
    async def activate_portfolio(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The portfolio to activate.")]
    ) -> PortfolioPayload:
        return await _set_active(info, id, active=True)

    @strawberry.mutation(description="Stop a portfolio taking new contacts; it keeps the ones it has (P2).")
    async def deactivate_portfolio(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The portfolio to deactivate.")]
    ) -> PortfolioPayload:
        return await _set_active(info, id, active=False)

    @strawberry.mutation(description="Delete a portfolio; its contacts are released (admins and supervisors).")
    async def delete_portfolio(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The portfolio to delete.")]
    ) -> DeletePortfolioPayload:
        async def work(session: AsyncSession, actor: Principal) -> tuple[int, int]:
            return await portfolios.delete_portfolio(session, actor, require_pk(id, "Portfolio", "id"))

        result = await mutate(info.context, work)
        if isinstance(result, list):
            return DeletePortfolioPayload(user_errors=result)
        deleted, released = result
        return DeletePortfolioPayload(
            deleted_portfolio_id=to_global_id("Portfolio", deleted), released_contact_count=released
        )

    @strawberry.mutation(
        description=(
            "Assign contacts to a portfolio (P3-P5): the free ones join it; those in another portfolio move "
            "(MOVE, where you may take them) or stay (KEEP)."
        )
    )
    async def assign_contacts_to_portfolio(
        self,
        info: Info,
        portfolio_id: Annotated[
            strawberry.ID, strawberry.argument(description="The destination portfolio (INACTIVE when deactivated).")
        ],
        contacts: Annotated[
            ContactSelection,
            strawberry.argument(
                description="Which contacts; by ids at most the server's selection limit (LIMIT_EXCEEDED)."
            ),
        ],
        on_conflict: Annotated[
            ConflictPolicy,
            strawberry.argument(description="What to do with contacts in another portfolio (default KEEP)."),
        ] = ConflictPolicy.KEEP,
    ) -> PortfolioContactsPayload:
        async def work(session: AsyncSession, actor: Principal, flt: Any) -> BulkResult:
            pk = require_pk(portfolio_id, "Portfolio", "portfolioId")
            return await portfolio_assignment.assign(session, actor, pk, flt, policy=on_conflict)

        return await _bulk(info, contacts, work)

    @strawberry.mutation(description="Take contacts out of a portfolio (P3, P5).")
    async def remove_contacts_from_portfolio(
        self,
        info: Info,
        portfolio_id: Annotated[strawberry.ID, strawberry.argument(description="The portfolio to empty of them.")],
        contacts: Annotated[
            ContactSelection,
            strawberry.argument(
                description="Which contacts; by ids at most the server's selection limit (LIMIT_EXCEEDED)."
            ),
        ],
    ) -> PortfolioContactsPayload:
        async def work(session: AsyncSession, actor: Principal, flt: Any) -> BulkResult:
            pk = require_pk(portfolio_id, "Portfolio", "portfolioId")
            return await portfolio_assignment.remove(session, actor, pk, flt)

        return await _bulk(info, contacts, work)
