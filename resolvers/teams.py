"""Root fields for teams, memberships and supervisors."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from db import keyset
from db.batches import TEAM_KEYS
from db.keyset import PageRequest, SortKey
from db.models import Team as TeamRow
from resolvers.uow import mutate_into
from schema import docs
from schema.connection import Connection, connection
from schema.ids import optional_pk, require_pk
from schema.inputs import CreateTeamInput, TeamFilter
from schema.node import to_global_id
from schema.payloads import DeleteTeamPayload, TeamPayload
from schema.types import CursorArg, Info, PageArg, Team
from services import teams
from services.principal import Principal

TeamArg = Annotated[strawberry.ID, strawberry.argument(description="The team whose members or supervisors change.")]
UserArg = Annotated[strawberry.ID, strawberry.argument(description="The user to link or unlink.")]


@strawberry.type
class TeamQueries:
    @strawberry.field(description="Teams you can see, by name; `filter.roots` gives the top of your tree.")
    async def teams(
        self,
        info: Info,
        filter: Annotated[TeamFilter | None, strawberry.argument(description=docs.FILTER)] = None,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[Team] | None:
        ctx = info.context
        page, stmt = await teams.list_teams(
            ctx.session,
            ctx.principal,
            team_filter(filter),
            PageRequest(first=first, after=after, last=last, before=before),
            max_page_size=ctx.settings.max_page_size,
        )
        session = ctx.session
        return connection(page, Team.from_row, lambda: keyset.count(session, stmt))


def team_filter(filter: TeamFilter | None) -> teams.TeamFilter:
    flt = filter or TeamFilter()
    return teams.TeamFilter(
        search=flt.search, parent_id=optional_pk(flt.parent_id, "Team", "filter.parentId"), roots=flt.roots
    )


def team_listing(viewer: Principal, filter: TeamFilter | None) -> tuple[Select[Any], tuple[SortKey, ...]]:
    """The teams list's statement and order, as `teams` pages them (compiled reads build on it)."""
    return teams.filtered(viewer, team_filter(filter)), TEAM_KEYS


@strawberry.type
class TeamMutations:
    @strawberry.mutation(description="Create a team, at the top or under a parent (ADMIN).")
    async def create_team(
        self, info: Info, input: Annotated[CreateTeamInput, strawberry.argument(description=docs.INPUT)]
    ) -> TeamPayload:
        async def work(session: AsyncSession, actor: Principal) -> TeamRow:
            parent = optional_pk(input.parent_id, "Team", "parentId")
            return await teams.create_team(session, actor, name=input.name, parent_id=parent)

        return await mutate_into(info.context, work, TeamPayload, "team", Team.from_row)

    @strawberry.mutation(description="Rename a team (ADMIN).")
    async def update_team(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The team to rename.")],
        name: Annotated[str, strawberry.argument(description="Its new name, unique among its siblings.")],
    ) -> TeamPayload:
        async def work(session: AsyncSession, actor: Principal) -> TeamRow:
            return await teams.rename_team(session, actor, require_pk(id, "Team", "id"), name=name)

        return await mutate_into(info.context, work, TeamPayload, "team", Team.from_row)

    @strawberry.mutation(
        description="Move a team and its subtree under another parent, or to the top with null (ADMIN)."
    )
    async def move_team(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The team to move.")],
        parent_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Its new parent (not in its own subtree: INVALID); null for the top."),
        ] = None,
    ) -> TeamPayload:
        async def work(session: AsyncSession, actor: Principal) -> TeamRow:
            parent = optional_pk(parent_id, "Team", "parentId")
            return await teams.move_team(session, actor, require_pk(id, "Team", "id"), parent_id=parent)

        return await mutate_into(info.context, work, TeamPayload, "team", Team.from_row)

    @strawberry.mutation(
        description=(
            "Delete a team that has no subteams; its memberships go with it (ADMIN). CONFLICT while it has subteams, "
            "contacts or portfolios."
        )
    )
    async def delete_team(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The team to delete.")]
    ) -> DeleteTeamPayload:
        async def work(session: AsyncSession, actor: Principal) -> int:
            return await teams.delete_team(session, actor, require_pk(id, "Team", "id"))

        return await mutate_into(
            info.context, work, DeleteTeamPayload, "deleted_team_id", lambda pk: to_global_id("Team", pk)
        )

    @strawberry.mutation(
        description="Make a user a member of a team (ADMIN). Adding an existing member changes nothing."
    )
    async def add_team_member(self, info: Info, team_id: TeamArg, user_id: UserArg) -> TeamPayload:
        return await _link(info, team_id, user_id, supervisor=False, present=True)

    @strawberry.mutation(description="Remove a user from a team (ADMIN).")
    async def remove_team_member(self, info: Info, team_id: TeamArg, user_id: UserArg) -> TeamPayload:
        return await _link(info, team_id, user_id, supervisor=False, present=False)

    @strawberry.mutation(description="Make a SUPERVISOR supervise a team and its subtree (ADMIN).")
    async def add_team_supervisor(self, info: Info, team_id: TeamArg, user_id: UserArg) -> TeamPayload:
        return await _link(info, team_id, user_id, supervisor=True, present=True)

    @strawberry.mutation(description="Stop a user supervising a team (ADMIN).")
    async def remove_team_supervisor(self, info: Info, team_id: TeamArg, user_id: UserArg) -> TeamPayload:
        return await _link(info, team_id, user_id, supervisor=True, present=False)


async def _link(info: Info, team_id: str, user_id: str, *, supervisor: bool, present: bool) -> TeamPayload:
    async def work(session: AsyncSession, actor: Principal) -> TeamRow:
        return await teams.set_link(
            session,
            actor,
            team_id=require_pk(team_id, "Team", "teamId"),
            user_id=require_pk(user_id, "User", "userId"),
            supervisor=supervisor,
            present=present,
        )

    return await mutate_into(info.context, work, TeamPayload, "team", Team.from_row)
