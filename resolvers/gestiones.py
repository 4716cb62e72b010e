"""Root fields for typologies, campaigns and gestiones (G1-G6)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from db import keyset
from db.keyset import PageRequest
from db.models import CampaignStatus
from resolvers.given import given, given_or_null
from resolvers.portfolios import selection_filter
from resolvers.uow import mutate, mutate_into
from schema import docs
from schema.connection import Connection, connection
from schema.errors import UserError
from schema.gestion_inputs import (
    AddGestionesInput,
    AddGestionesPayload,
    CampaignFilter,
    CampaignOrder,
    CampaignPayload,
    CreateCampaignInput,
    CreateTypologyInput,
    CreateTypologyResultInput,
    DistributeGestionesPayload,
    FinishInput,
    GestionFilter,
    GestionOrder,
    GestionPayload,
    GestionTransferResult,
    SaveGestionPayload,
    TransferGestionesPayload,
    TypologyPayload,
    TypologyResultPayload,
    UpdateCampaignInput,
    UpdateTypologyInput,
    UpdateTypologyResultInput,
)
from schema.gestion_types import Campaign, Gestion, Typology, TypologyResult
from schema.ids import optional_pk, pks, require_pk
from schema.node import pk_of
from schema.types import CursorArg, Info, PageArg
from services import campaigns, gestion_work, gestiones, typologies
from services.common import UNSET
from services.errors import DomainError, ErrorCode, fail
from services.gestiones import GestionLine, Strategy, TransferOutcome
from services.principal import Principal


@strawberry.type
class GestionQueries:
    @strawberry.field(description="Campaign typologies and their result catalogues (G1).")
    async def typologies(
        self,
        info: Info,
        include_inactive: Annotated[bool, strawberry.argument(description=docs.INCLUDE_INACTIVE)] = False,
    ) -> list[Typology] | None:
        ctx = info.context
        ctx.principal  # noqa: B018  (signing in is required)
        rows = await typologies.list_typologies(ctx.session, include_inactive=include_inactive)
        return [Typology.from_row(r) for r in rows]

    @strawberry.field(description="Campaigns you can see: all (ADMIN), your teams' (SUPERVISOR), the ones you work.")
    async def campaigns(
        self,
        info: Info,
        filter: Annotated[CampaignFilter | None, strawberry.argument(description=docs.FILTER)] = None,
        order_by: Annotated[CampaignOrder | None, strawberry.argument(description=docs.ORDER_BY)] = None,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[Campaign] | None:
        ctx = info.context
        order, descending = (order_by or CampaignOrder()).to_service()
        page, stmt = await campaigns.list_campaigns(
            ctx.session,
            ctx.principal,
            (filter or CampaignFilter()).to_service(),
            PageRequest(first=first, after=after, last=last, before=before),
            order=order,
            descending=descending,
            max_page_size=ctx.settings.max_page_size,
        )
        session = ctx.session
        return connection(page, Campaign.from_row, lambda: keyset.count(session, stmt))

    @strawberry.field(
        description=(
            "The operator panel (G3): gestiones you can see (an agent: its own, and the unassigned ones of the "
            "campaigns it operates, which it may take), in queue order unless orderBy says."
        )
    )
    async def gestiones(
        self,
        info: Info,
        filter: Annotated[GestionFilter | None, strawberry.argument(description=docs.FILTER)] = None,
        order_by: Annotated[GestionOrder | None, strawberry.argument(description=docs.ORDER_BY)] = None,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[Gestion] | None:
        ctx = info.context
        order, descending = (order_by or GestionOrder()).to_service()
        page, stmt = await gestiones.list_gestiones(
            ctx.session,
            ctx.principal,
            (filter or GestionFilter()).to_service(),
            PageRequest(first=first, after=after, last=last, before=before),
            order=order,
            descending=descending,
            max_page_size=ctx.settings.max_page_size,
        )
        session = ctx.session
        return connection(page, Gestion.from_row, lambda: keyset.count(session, stmt))


async def _gestion(info: Info, work: Callable[[AsyncSession, Principal], Awaitable[Any]]) -> GestionPayload:
    return await mutate_into(info.context, work, GestionPayload, "gestion", Gestion.from_row)


async def _campaign(info: Info, work: Callable[[AsyncSession, Principal], Awaitable[Any]]) -> CampaignPayload:
    return await mutate_into(info.context, work, CampaignPayload, "campaign", Campaign.from_row)


@strawberry.type
class GestionMutations:
    # --- typologies (ADMIN) ---

    @strawberry.mutation(description="Create a campaign typology with its plan fields (G1; admins).")
    async def create_typology(
        self, info: Info, input: Annotated[CreateTypologyInput, strawberry.argument(description=docs.INPUT)]
    ) -> TypologyPayload:
        async def work(session: AsyncSession, actor: Principal) -> Any:
            fields = [f.to_service() for f in input.plan_fields]
            return await typologies.create_typology(session, actor, code=input.code, name=input.name, fields=fields)

        return await mutate_into(info.context, work, TypologyPayload, "typology", Typology.from_row)

    @strawberry.mutation(description="Rename, redefine the plan fields or (de)activate a typology (admins).")
    async def update_typology(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The typology to change.")],
        input: Annotated[UpdateTypologyInput, strawberry.argument(description=docs.INPUT)],
    ) -> TypologyPayload:
        async def work(session: AsyncSession, actor: Principal) -> Any:
            plan_fields = given(input.plan_fields, "planFields")
            changes = typologies.TypologyChanges(
                name=given(input.name, "name"),
                plan_fields=UNSET if plan_fields is UNSET else [f.to_service() for f in plan_fields],
                active=given(input.active, "active"),
            )
            return await typologies.update_typology(session, actor, require_pk(id, "Typology", "id"), changes)

        return await mutate_into(info.context, work, TypologyPayload, "typology", Typology.from_row)

    @strawberry.mutation(description="Add a result to a typology's catalogue (admins).")
    async def create_typology_result(
        self, info: Info, input: Annotated[CreateTypologyResultInput, strawberry.argument(description=docs.INPUT)]
    ) -> TypologyResultPayload:
        async def work(session: AsyncSession, actor: Principal) -> Any:
            data = typologies.ResultData(
                code=input.code,
                label=input.label,
                finishes=input.finishes,
                requires_comment=input.requires_comment,
                position=input.position,
            )
            typology_id = require_pk(input.typology_id, "Typology", "typologyId")
            return await typologies.create_result(session, actor, typology_id, data)

        return await mutate_into(info.context, work, TypologyResultPayload, "result", TypologyResult.from_row)

    @strawberry.mutation(description="Change or deactivate a typology's result (admins).")
    async def update_typology_result(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The TypologyResult to change.")],
        input: Annotated[UpdateTypologyResultInput, strawberry.argument(description=docs.INPUT)],
    ) -> TypologyResultPayload:
        async def work(session: AsyncSession, actor: Principal) -> Any:
            changes = typologies.ResultChanges(
                label=given(input.label, "label"),
                finishes=given(input.finishes, "finishes"),
                requires_comment=given(input.requires_comment, "requiresComment"),
                position=given(input.position, "position"),
                active=given(input.active, "active"),
            )
            return await typologies.update_result(session, actor, require_pk(id, "TypologyResult", "id"), changes)

        return await mutate_into(info.context, work, TypologyResultPayload, "result", TypologyResult.from_row)

    # --- campaigns ---

    @strawberry.mutation(description="Create a campaign, in DRAFT (G1; admins and supervisors of its team).")
    async def create_campaign(
        self, info: Info, input: Annotated[CreateCampaignInput, strawberry.argument(description=docs.INPUT)]
    ) -> CampaignPayload:
        async def work(session: AsyncSession, actor: Principal) -> Any:
            return await campaigns.create_campaign(
                session,
                actor,
                name=input.name,
                typology_id=require_pk(input.typology_id, "Typology", "typologyId"),
                team_id=require_pk(input.team_id, "Team", "teamId"),
                starts_on=input.starts_on,
                ends_on=input.ends_on,
            )

        return await _campaign(info, work)

    @strawberry.mutation(description="Rename a campaign or change its dates.")
    async def update_campaign(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The campaign to change (CONFLICT when closed).")],
        input: Annotated[UpdateCampaignInput, strawberry.argument(description=docs.INPUT)],
    ) -> CampaignPayload:
        async def work(session: AsyncSession, actor: Principal) -> Any:
            return await campaigns.update_campaign(
                session,
                actor,
                require_pk(id, "Campaign", "id"),
                name=given(input.name, "name"),
                starts_on=given_or_null(input.starts_on),
                ends_on=given_or_null(input.ends_on),
            )

        return await _campaign(info, work)

    @strawberry.mutation(description="DRAFT → ACTIVE ⇄ PAUSED → CLOSED; only ACTIVE campaigns hand out work.")
    async def set_campaign_status(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The campaign to move on.")],
        status: Annotated[
            CampaignStatus,
            strawberry.argument(description="Its new status; a move the lifecycle does not allow is a CONFLICT."),
        ],
    ) -> CampaignPayload:
        async def work(session: AsyncSession, actor: Principal) -> Any:
            return await campaigns.set_status(session, actor, require_pk(id, "Campaign", "id"), status)

        return await _campaign(info, work)

    @strawberry.mutation(description="Assign agents to work a campaign (G1).")
    async def add_campaign_operators(
        self,
        info: Info,
        campaign_id: Annotated[strawberry.ID, strawberry.argument(description="The campaign to move on.")],
        operator_ids: Annotated[
            list[strawberry.ID],
            strawberry.argument(description="Agents to add; ones already operating it change nothing."),
        ],
    ) -> CampaignPayload:
        async def work(session: AsyncSession, actor: Principal) -> Any:
            ids = list(pks(operator_ids, "User", "operatorIds"))
            return await campaigns.add_operators(session, actor, require_pk(campaign_id, "Campaign", "campaignId"), ids)

        return await _campaign(info, work)

    @strawberry.mutation(description="Take agents off a campaign; what they hold stays theirs until transferred.")
    async def remove_campaign_operators(
        self,
        info: Info,
        campaign_id: Annotated[strawberry.ID, strawberry.argument(description="The campaign to move on.")],
        operator_ids: Annotated[list[strawberry.ID], strawberry.argument(description="Agents to take off it.")],
    ) -> CampaignPayload:
        async def work(session: AsyncSession, actor: Principal) -> Any:
            ids = list(pks(operator_ids, "User", "operatorIds"))
            pk = require_pk(campaign_id, "Campaign", "campaignId")
            return await campaigns.remove_operators(session, actor, pk, ids)

        return await _campaign(info, work)

    # --- gestiones ---

    @strawberry.mutation(
        description=(
            "Add one gestión per client (G2): a selection with one plan, or lines with their own. A client with an "
            "open gestión in the campaign is reported as DUPLICATE, not added twice."
        )
    )
    async def add_gestiones(
        self, info: Info, input: Annotated[AddGestionesInput, strawberry.argument(description=docs.INPUT)]
    ) -> AddGestionesPayload:
        ctx = info.context
        unreadable: list[str] = []
        try:
            if (input.contacts is None) == (input.lines is None):
                raise fail(ErrorCode.INVALID, "Give either contacts (with a plan) or lines", "contacts")
            if input.lines is not None and (input.plan is not None or input.priority is not None):
                raise fail(ErrorCode.INVALID, "With lines, each line carries its plan and priority", "plan")
            selection = None
            lines = None
            if input.contacts is not None:
                selection, unreadable = selection_filter(input.contacts, ctx.settings.max_selection_ids)
            else:
                assert input.lines is not None
                # A plan that is not an object is refused by the typology's check, naming its line.
                lines = [
                    GestionLine(
                        contact_id=require_pk(line.contact_id, "Contact", f"lines.{i}.contactId"),
                        plan=line.plan,
                        priority=line.priority,
                    )
                    for i, line in enumerate(input.lines)
                ]
        except DomainError as error:
            return AddGestionesPayload(user_errors=[UserError.from_problem(p) for p in error.problems])

        async def work(session: AsyncSession, actor: Principal) -> Any:
            return await gestiones.add_gestiones(
                session,
                actor,
                require_pk(input.campaign_id, "Campaign", "campaignId"),
                selection=selection,
                plan=input.plan,
                priority=input.priority,
                lines=lines,
                max_lines=ctx.settings.max_bulk_contacts,
            )

        result = await mutate(ctx, work)
        if isinstance(result, list):
            return AddGestionesPayload(user_errors=result)
        return AddGestionesPayload.of(result, unreadable)

    @strawberry.mutation(
        description="Give a campaign's unassigned pending gestiones to these operators (G2), EVEN or ROUND_ROBIN."
    )
    async def distribute_gestiones(
        self,
        info: Info,
        campaign_id: Annotated[
            strawberry.ID, strawberry.argument(description="The campaign whose unassigned gestiones are dealt.")
        ],
        operator_ids: Annotated[
            list[strawberry.ID], strawberry.argument(description="Operators of the campaign to deal them to, in order.")
        ],
        strategy: Annotated[
            Strategy, strawberry.argument(description="How to deal them (default EVEN).")
        ] = Strategy.EVEN,
    ) -> DistributeGestionesPayload:
        async def work(session: AsyncSession, actor: Principal) -> Any:
            ids = list(pks(operator_ids, "User", "operatorIds"))
            pk = require_pk(campaign_id, "Campaign", "campaignId")
            return await gestiones.distribute(session, actor, pk, ids, strategy)

        result = await mutate(info.context, work)
        if isinstance(result, list):
            return DistributeGestionesPayload(user_errors=result)
        return DistributeGestionesPayload.of(result)

    @strawberry.mutation(
        description="Give pending gestiones to another operator of their campaigns, or to nobody (operatorId null)."
    )
    async def transfer_gestiones(
        self,
        info: Info,
        gestion_ids: Annotated[
            list[strawberry.ID],
            strawberry.argument(
                description="The gestiones to move; at most the server's limit per call (LIMIT_EXCEEDED)."
            ),
        ],
        operator_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="The new operator, who must operate their campaigns; null leaves them unassigned."
            ),
        ] = None,
    ) -> TransferGestionesPayload:
        ctx = info.context
        parsed = {given: pk_of(given, "Gestion") for given in gestion_ids}
        unreadable = [given for given, pk in parsed.items() if pk is None]

        async def work(session: AsyncSession, actor: Principal) -> Any:
            ids = [pk for pk in parsed.values() if pk is not None]
            target = optional_pk(operator_id, "User", "operatorId")
            # A tuple: `mutate` answers a list of errors as a list.
            return tuple(await gestiones.transfer(session, actor, ids, target, max_ids=ctx.settings.max_selection_ids))

        result = await mutate(ctx, work)
        if isinstance(result, list):
            return TransferGestionesPayload(user_errors=result)
        results = [*map(GestionTransferResult.of, unreadable), *map(GestionTransferResult.of, result)]
        transferred = sum(r.outcome is TransferOutcome.TRANSFERRED for r in results)
        return TransferGestionesPayload(transferred_count=transferred, results=results)

    @strawberry.mutation(description="Open a finished gestión again, pending for its operator (supervisors, admins).")
    async def reopen_gestion(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The finished gestión.")]
    ) -> GestionPayload:
        async def work(session: AsyncSession, actor: Principal) -> Any:
            return await gestiones.reopen(session, actor, require_pk(id, "Gestion", "id"))

        return await _gestion(info, work)

    @strawberry.mutation(
        description="Start working a gestión (G4): yours, or an unassigned one of a campaign you operate."
    )
    async def attend_gestion(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The gestión to work.")]
    ) -> GestionPayload:
        async def work(session: AsyncSession, actor: Principal) -> Any:
            return await gestion_work.attend(session, actor, require_pk(id, "Gestion", "id"))

        return await _gestion(info, work)

    @strawberry.mutation(description="Claim your next gestión without saving one (the start of a shift).")
    async def take_next_gestion(self, info: Info) -> GestionPayload:
        async def work(session: AsyncSession, actor: Principal) -> Any:
            return await gestion_work.claim_next(session, actor)

        result = await mutate(info.context, work)
        if isinstance(result, list):
            return GestionPayload(user_errors=result)
        return GestionPayload(gestion=Gestion.from_row(result) if result else None)

    @strawberry.mutation(
        description=(
            "Save a gestión you are attending (G5): a comment keeps it open; `finish` gives a result of its "
            "typology (and a comment when the result asks for one). With next: true, also claims your next one."
        )
    )
    async def save_gestion(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The gestión you are attending.")],
        comment: Annotated[str | None, strawberry.argument(description="A comment to add to its history.")] = None,
        finish: Annotated[
            FinishInput | None, strawberry.argument(description="Finish it with this result; omitted, it stays open.")
        ] = None,
        next: Annotated[
            bool,
            strawberry.argument(
                description="Also claim your next gestión and return it as `next` (save and next, G5)."
            ),
        ] = False,
    ) -> SaveGestionPayload:
        async def work(session: AsyncSession, actor: Principal) -> Any:
            return await gestion_work.save(
                session,
                actor,
                require_pk(id, "Gestion", "id"),
                comment=comment,
                result_code=finish.result_code if finish else None,
                next=next,
            )

        result = await mutate(info.context, work)
        if isinstance(result, list):
            return SaveGestionPayload(user_errors=result)
        following = Gestion.from_row(result.next) if result.next else None
        return SaveGestionPayload(gestion=Gestion.from_row(result.gestion), next=following)
