"""Root fields for the routing settings (A2) and intake (A1)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from resolvers.given import given, given_or_null
from resolvers.uow import mutate, mutate_into
from schema import docs
from schema.ids import optional_pk, pks
from schema.routing_types import (
    ReceiveMessageInput,
    ReceiveMessagePayload,
    RoutingSettings,
    RoutingSettingsPayload,
    UpdateRoutingSettingsInput,
)
from schema.types import Info
from services import intake, routing_settings
from services.common import UNSET
from services.principal import Principal
from services.routing_settings import ChannelAgents, SettingsChanges, Snapshot


@strawberry.type
class RoutingQueries:
    @strawberry.field(description="How incoming conversations are routed (A2); admins only.")
    async def routing_settings(self, info: Info) -> RoutingSettings | None:
        ctx = info.context
        return RoutingSettings.of(await routing_settings.get_settings(ctx.session, ctx.principal))


def _changes(input: UpdateRoutingSettingsInput) -> SettingsChanges:
    default_team = given_or_null(input.default_team_id)
    intake_team = given_or_null(input.intake_team_id)
    agents = given(input.channel_agents, "channelAgents")
    return SettingsChanges(
        method=given(input.method, "method"),
        default_team_id=UNSET if default_team is UNSET else optional_pk(default_team, "Team", "defaultTeamId"),
        channel_agents=UNSET
        if agents is UNSET
        else [
            ChannelAgents(a.kind, pks(a.agent_ids, "User", f"channelAgents.{i}.agentIds")) for i, a in enumerate(agents)
        ],
        intake_team_id=UNSET if intake_team is UNSET else optional_pk(intake_team, "Team", "intakeTeamId"),
        capacity=given_or_null(input.capacity),
        reopen_window_minutes=given(input.reopen_window_minutes, "reopenWindowMinutes"),
    )


@strawberry.type
class RoutingMutations:
    @strawberry.mutation(
        description="Change the routing settings (ADMIN). Invalid settings change nothing, with every problem named."
    )
    async def update_routing_settings(
        self, info: Info, input: Annotated[UpdateRoutingSettingsInput, strawberry.argument(description=docs.INPUT)]
    ) -> RoutingSettingsPayload:
        async def work(session: AsyncSession, actor: Principal) -> Snapshot:
            return await routing_settings.update_settings(session, actor, _changes(input))

        return await mutate_into(info.context, work, RoutingSettingsPayload, "routing_settings", RoutingSettings.of)

    @strawberry.mutation(
        description=(
            "An integrator hands over one message a client sent (A1). Integrators sign in as ADMIN users; nobody "
            "else may call it. The sender is the contact with this channel (normalised as contact channels are), or "
            "a new contact filed in the routing settings' intake team (with none set: the oldest top-level team), "
            "named by contactName (else by the address). The message joins the contact's conversation on this "
            "address that is not RESOLVED; else one RESOLVED within the reopen window is reopened (back to its agent "
            "while that agent may take it, else routed again); else a new conversation is opened and routed. "
            "The same externalId again changes nothing and answers the same conversation and message (DUPLICATE)."
        )
    )
    async def receive_message(
        self, info: Info, input: Annotated[ReceiveMessageInput, strawberry.argument(description=docs.INPUT)]
    ) -> ReceiveMessagePayload:
        ctx = info.context
        region = ctx.settings.default_region

        async def work(session: AsyncSession, actor: Principal) -> intake.Received:
            return await intake.receive_message(session, actor, input.to_service(), default_region=region)

        result = await mutate(ctx, work)
        if isinstance(result, list):
            return ReceiveMessagePayload(user_errors=result)
        return ReceiveMessagePayload.of(result)
