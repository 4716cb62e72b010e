"""Scoped batch queries behind the dataloaders: one statement per batch, never one per row."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import scopes
from db.keyset import Column, Page, PageRequest, SortKey, count_many, paginate_many
from db.models import AuditEvent, Team, TeamMember, TeamSupervisor, User
from db.scopes import Viewer

USER_KEYS = (SortKey(User.name, "name", "str"), SortKey(User.id, "id", "int"))
TEAM_KEYS = (SortKey(Team.name, "name", "str"), SortKey(Team.id, "id", "int"))


async def users_by_id(session: AsyncSession, viewer: Viewer, ids: Sequence[int]) -> dict[int, User]:
    rows = await session.scalars(scopes.users(select(User).where(User.id.in_(list(ids))), viewer))
    return {u.id: u for u in rows}


async def teams_by_id(session: AsyncSession, viewer: Viewer, ids: Sequence[int]) -> dict[int, Team]:
    rows = await session.scalars(scopes.teams(select(Team).where(Team.id.in_(list(ids))), viewer))
    return {t.id: t for t in rows}


async def audit_events_by_id(session: AsyncSession, viewer: Viewer, ids: Sequence[int]) -> dict[int, AuditEvent]:
    rows = await session.scalars(scopes.audit_events(select(AuditEvent).where(AuditEvent.id.in_(list(ids))), viewer))
    return {e.id: e for e in rows}


@dataclass(frozen=True)
class NestedList:
    """A nested connection: which rows (scoped), under which parent column, in which order."""

    entity: Any
    keys: tuple[SortKey, ...]
    parent: Column
    statement: Callable[[Viewer], Select[Any]]

    async def pages(
        self,
        session: AsyncSession,
        viewer: Viewer,
        parent_ids: Sequence[int],
        request: PageRequest,
        max_page_size: int,
    ) -> dict[int, Page[Any]]:
        return await paginate_many(
            session,
            self.statement(viewer),
            entity=self.entity,
            parent=self.parent,
            parent_ids=parent_ids,
            keys=self.keys,
            request=request,
            max_page_size=max_page_size,
        )

    async def counts(self, session: AsyncSession, viewer: Viewer, parent_ids: Sequence[int]) -> dict[int, int]:
        return await count_many(session, self.statement(viewer), parent=self.parent, parent_ids=parent_ids)


def _users_of_teams(link: type[TeamMember] | type[TeamSupervisor]) -> NestedList:
    return NestedList(
        User,
        USER_KEYS,
        link.team_id,
        lambda viewer: scopes.users(select(User).join(link, link.user_id == User.id), viewer),
    )


def _teams_of_users(link: type[TeamMember] | type[TeamSupervisor]) -> NestedList:
    return NestedList(
        Team,
        TEAM_KEYS,
        link.user_id,
        lambda viewer: scopes.teams(select(Team).join(link, link.team_id == Team.id), viewer),
    )


TEAM_MEMBERS = _users_of_teams(TeamMember)
TEAM_SUPERVISORS = _users_of_teams(TeamSupervisor)
USER_TEAMS = _teams_of_users(TeamMember)
USER_SUPERVISED_TEAMS = _teams_of_users(TeamSupervisor)
TEAM_CHILDREN = NestedList(Team, TEAM_KEYS, Team.parent_id, lambda viewer: scopes.teams(select(Team), viewer))
