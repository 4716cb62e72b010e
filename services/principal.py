"""Who is asking: the signed-in user with the team scopes every visibility rule uses."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import literal, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Role, Team, TeamMember, TeamSupervisor, User


@dataclass(frozen=True)
class Principal:
    user_id: int
    name: str
    role: Role
    member_team_ids: frozenset[int]
    # Teams of the supervised subtrees (a SUPERVISOR's scope); empty for other roles.
    supervised_team_ids: frozenset[int]

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def scope_team_ids(self) -> frozenset[int] | None:
        """Teams whose resources this principal sees; None means every team (ADMIN)."""
        if self.role is Role.ADMIN:
            return None
        if self.role is Role.SUPERVISOR:
            return self.supervised_team_ids | self.member_team_ids
        return self.member_team_ids


async def load_principal(session: AsyncSession, user_id: int) -> Principal | None:
    """Two statements: the user, then its member teams and supervised subtrees."""
    user = (
        await session.execute(select(User.id, User.name, User.role, User.is_active).where(User.id == user_id))
    ).one_or_none()
    if user is None or not user.is_active:
        return None
    role = Role(user.role)
    members = select(TeamMember.team_id.label("team_id"), literal("m").label("kind")).where(
        TeamMember.user_id == user_id
    )
    queries = [members]
    if role is Role.SUPERVISOR:
        roots = (
            select(Team.path)
            .join(TeamSupervisor, TeamSupervisor.team_id == Team.id)
            .where(TeamSupervisor.user_id == user_id)
            .subquery()
        )
        subtree = select(Team.id.label("team_id"), literal("s").label("kind")).join(
            roots, Team.path.startswith(roots.c.path)
        )
        queries.append(subtree)
    rows = (await session.execute(union(*queries))).all()
    return Principal(
        user_id=user.id,
        name=user.name,
        role=role,
        member_team_ids=frozenset(r[0] for r in rows if r[1] == "m"),
        supervised_team_ids=frozenset(r[0] for r in rows if r[1] == "s"),
    )
