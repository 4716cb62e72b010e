"""Visibility (R3): one function per resource that narrows a statement to what a viewer may see.

Lists, `node`, nested loaders and subscriptions all call these; nothing filters
rows in Python after the query.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, exists, false, or_, select
from sqlalchemy.orm import aliased

from db.models import AuditEvent, AuditEventTeam, Contact, Role, Team, TeamMember, TeamSupervisor, User

S = TypeVar("S", bound=Select[Any])


class Viewer(Protocol):
    """What visibility needs to know about who is asking (services.principal.Principal)."""

    @property
    def user_id(self) -> int: ...
    @property
    def role(self) -> Role: ...
    @property
    def scope_team_ids(self) -> frozenset[int] | None: ...


def users(stmt: S, viewer: Viewer) -> S:
    """ADMIN: everyone. SUPERVISOR: itself and the members and supervisors of its subtrees. AGENT: itself."""
    teams = viewer.scope_team_ids
    if teams is None:
        return stmt
    if viewer.role is not Role.SUPERVISOR or not teams:
        return stmt.where(User.id == viewer.user_id)
    # Aliases: the statement may already join these tables (a team's members), and the subqueries
    # must not correlate to that join; only User correlates.
    m, s = aliased(TeamMember), aliased(TeamSupervisor)
    member = exists().where(m.user_id == User.id, m.team_id.in_(teams))
    supervisor = exists().where(s.user_id == User.id, s.team_id.in_(teams))
    return stmt.where(or_(User.id == viewer.user_id, member, supervisor))


def teams(stmt: S, viewer: Viewer) -> S:
    """ADMIN: every team. SUPERVISOR: its subtrees and its own teams. AGENT: its teams."""
    scope = viewer.scope_team_ids
    if scope is None:
        return stmt
    return stmt.where(Team.id.in_(scope)) if scope else stmt.where(false())


def audit_events(stmt: S, viewer: Viewer) -> S:
    """ADMIN: all. SUPERVISOR: events on its subtrees' resources. AGENT: none."""
    scope = viewer.scope_team_ids
    if scope is None:
        return stmt
    if viewer.role is not Role.SUPERVISOR or not scope:
        return stmt.where(false())
    in_scope = select(AuditEventTeam.event_id).where(AuditEventTeam.team_id.in_(scope))
    return stmt.where(AuditEvent.id.in_(in_scope))


def contacts(stmt: S, viewer: Viewer) -> S:
    """ADMIN: every contact. SUPERVISOR: contacts of its subtrees' teams. AGENT: of its own teams."""
    scope = viewer.scope_team_ids
    if scope is None:
        return stmt
    return stmt.where(Contact.team_id.in_(scope)) if scope else stmt.where(false())
