"""Visibility (R3): one function per resource that narrows a statement to what a viewer may see.

Lists, `node`, nested loaders and subscriptions all call these; nothing filters
rows in Python after the query. Live events are matched by `may_receive`, against the same
team scopes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, Select, and_, exists, false, or_, select
from sqlalchemy.orm import aliased

from db.models import (
    AuditEvent,
    AuditEventTeam,
    Campaign,
    CampaignOperator,
    Contact,
    Conversation,
    ConversationStatus,
    Gestion,
    Job,
    Notification,
    Portfolio,
    PortfolioMember,
    Role,
    SalesAttention,
    SalesView,
    StoredFile,
    Team,
    TeamMember,
    TeamSupervisor,
    User,
)

# Any statement, whatever it selects: scoping only adds a WHERE clause.
S = TypeVar("S", bound=Select[*tuple[Any, ...]])

# The aliases the rules below probe through, built once: a fresh alias builds its column
# collection again on first use, which made a supervisor's scoped contacts statement take
# 2.9 ms to build instead of 0.3 ms. Each belongs to one rule, so no statement holds one
# alias at two levels (the inner probe would correlate to the outer).
_users_member, _users_supervisor = aliased(TeamMember, name="scope_um"), aliased(TeamSupervisor, name="scope_us")
_supervised_conversation = aliased(Conversation, name="scope_sc")
_supervised_attention = aliased(SalesAttention, name="scope_sa")
_worked_gestion = aliased(Gestion, name="scope_wg")
_talking_conversation = aliased(Conversation, name="scope_tc")
_agent_member = aliased(TeamMember, name="scope_am")
_agent_gestion = aliased(Gestion, name="scope_ag")
_agent_conversation, _agent_queue_member = aliased(Conversation, name="scope_ac"), aliased(TeamMember, name="scope_aq")
_portfolio_member = aliased(TeamMember, name="scope_pm")


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
    m, s = _users_member, _users_supervisor
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
    # Most events carry their one team; the few seen by several teams list them as links.
    linked = select(AuditEventTeam.event_id).where(AuditEventTeam.team_id.in_(scope))
    return stmt.where(or_(AuditEvent.team_id.in_(scope), AuditEvent.id.in_(linked)))


def contacts(stmt: S, viewer: Viewer) -> S:
    """ADMIN: every contact. SUPERVISOR: contacts of its subtrees' teams, and those of the
    conversations and commercial attentions it sees (A3, S1). AGENT: of its own teams,
    and the contacts of the portfolios it owns as their agent and of the gestiones and
    conversations it sees (G4, G6, A3), which it works whatever their team."""
    clause = _contacts_clause(viewer.user_id, viewer.role, viewer.scope_team_ids)
    return stmt if clause is None else stmt.where(clause)


# Built once per viewer's access: an agent's clause took 2 ms to build, most of a compiled
# page's plan (resolvers.compiled) and of every strawberry contacts list. A clause is immutable
# and reusable in any statement; a change of access makes a new principal, hence a new key.
@lru_cache(maxsize=1024)
def _contacts_clause(user_id: int, role: Role, scope: frozenset[int] | None) -> ColumnElement[bool] | None:
    if scope is None:
        return None
    in_teams = Contact.team_id.in_(scope) if scope else false()
    if role is not Role.AGENT:
        if not scope:
            return false()
        # A supervisor reads the client of every conversation it sees, whatever the client's
        # team (one routed to a default group, or transferred to its team): the same probe of
        # the conversations' contact index as an agent's below.
        c = _supervised_conversation
        supervised = exists(select(c.id).where(c.contact_id == Contact.id, c.team_id.in_(scope)).offset(0))
        # And of every commercial attention it sees (C8: the panel reads its clients live).
        a = _supervised_attention
        selling = exists(select(a.id).where(a.contact_id == Contact.id, a.team_id.in_(scope)).offset(0))
        return or_(in_teams, supervised, selling)
    viewer = _Seen(user_id, role, scope)
    owned = (
        select(PortfolioMember.contact_id)
        .join(Portfolio, Portfolio.id == PortfolioMember.portfolio_id)
        .where(Portfolio.agent_id == user_id)
    )
    # A probe of the gestiones' contact index per contact row. As `IN (SELECT …)`, or as a plain
    # EXISTS (which PostgreSQL turns into the same hashed subplan), every pool gestión's client
    # was read first: with a pool of 200,000, 300 ms for 50 contacts by id and 200 ms for a page
    # (3-5 ms and 10-20 ms probing). OFFSET 0 keeps PostgreSQL from rewriting the EXISTS.
    g = _worked_gestion
    worked = exists(select(g.id).where(g.contact_id == Contact.id, _agent_gestiones(g, viewer)).offset(0))
    # The same probe of the conversations' contact index (ix_conversations_contact_created): the
    # contacts of the conversations it works now and of its teams' queue (A3), whatever the
    # contact's team: a transfer to a team, or a conversation assigned by hand.
    c = _talking_conversation
    talking = exists(select(c.id).where(c.contact_id == Contact.id, _agent_working(c, viewer)).offset(0))
    return or_(in_teams, Contact.id.in_(owned), worked, talking)


@dataclass(frozen=True)
class _Seen:
    """A Viewer from the values a cached clause is keyed by."""

    user_id: int
    role: Role
    scope_team_ids: frozenset[int] | None


def agent_sees_contact(user_id: Any, contact_id: Any, contact_team_id: Any) -> ColumnElement[bool]:
    """Whether the AGENT in `user_id` (a column: many agents at once, as the router weighs them)
    sees the contact `contact_id` of team `contact_team_id` (values or bound parameters):
    `contacts`' rule for an agent viewer, one agent per row."""
    member = _agent_member
    in_team = exists().where(member.user_id == user_id, member.team_id == contact_team_id)
    owned = exists().where(
        PortfolioMember.contact_id == contact_id,
        Portfolio.id == PortfolioMember.portfolio_id,
        Portfolio.agent_id == user_id,
    )
    g = _agent_gestion
    operated = select(CampaignOperator.campaign_id).where(CampaignOperator.user_id == user_id)
    pool = and_(g.operator_id.is_(None), g.campaign_id.in_(operated))
    worked = exists().where(g.contact_id == contact_id, or_(g.operator_id == user_id, pool))
    c, queue_member = _agent_conversation, _agent_queue_member
    queued = and_(
        c.status == ConversationStatus.UNASSIGNED.value,
        c.team_id.in_(select(queue_member.team_id).where(queue_member.user_id == user_id)),
    )
    working = and_(c.agent_id == user_id, c.status != ConversationStatus.RESOLVED.value)
    talking = exists().where(c.contact_id == contact_id, or_(working, queued))
    return or_(in_team, owned, worked, talking)


def contact_details(stmt: S, viewer: Viewer, contact_id: Any) -> S:
    """A contact's channels and addresses (`contact_id`: their column): visible iff their contact is."""
    return contacts(stmt.join(Contact, Contact.id == contact_id), viewer)


def portfolios(stmt: S, viewer: Viewer) -> S:
    """Who sees a portfolio, and so may fill or empty it (P6). ADMIN: all. SUPERVISOR: those of its
    subtrees' teams, and agent-owned ones without a team whose agent works in them. AGENT: its own,
    and its teams' ones that no agent owns (editing takes more: services.portfolios._require_editor)."""
    scope = viewer.scope_team_ids
    if scope is None:
        return stmt
    if viewer.role is Role.AGENT:
        team_owned = and_(Portfolio.agent_id.is_(None), Portfolio.team_id.in_(scope)) if scope else false()
        return stmt.where(or_(Portfolio.agent_id == viewer.user_id, team_owned))
    if not scope:
        return stmt.where(false())
    member = _portfolio_member
    agent_in_scope = exists().where(member.user_id == Portfolio.agent_id, member.team_id.in_(scope))
    return stmt.where(or_(Portfolio.team_id.in_(scope), and_(Portfolio.team_id.is_(None), agent_in_scope)))


def _operated(viewer: Viewer) -> Select[int]:
    return select(CampaignOperator.campaign_id).where(CampaignOperator.user_id == viewer.user_id)


def campaigns(stmt: S, viewer: Viewer) -> S:
    """ADMIN: all. SUPERVISOR: those of its subtrees' teams (and its own teams'). AGENT: those it operates."""
    scope = viewer.scope_team_ids
    if scope is None:
        return stmt
    if viewer.role is Role.AGENT:
        return stmt.where(Campaign.id.in_(_operated(viewer)))
    return stmt.where(Campaign.team_id.in_(scope)) if scope else stmt.where(false())


def gestiones(stmt: S, viewer: Viewer) -> S:
    """ADMIN: all. SUPERVISOR: those of its teams' campaigns. AGENT: the ones it was given, and
    those nobody was given yet in the campaigns it operates (G3): the ones it may take (G5).

    The same rule decides who may work one (services.gestion_work): what an agent may take it
    sees, and one it does not see reads as missing to every call."""
    scope = viewer.scope_team_ids
    if scope is None:
        return stmt
    if viewer.role is Role.AGENT:
        return stmt.where(_agent_gestiones(Gestion, viewer))
    if not scope:
        return stmt.where(false())
    return stmt.where(Gestion.campaign_id.in_(select(Campaign.id).where(Campaign.team_id.in_(scope))))


def gestion_details(stmt: S, viewer: Viewer, gestion_id: Any) -> S:
    """A gestión's comments and attachments (`gestion_id`: their column): visible iff their gestión is."""
    return gestiones(stmt.join(Gestion, Gestion.id == gestion_id), viewer)


def _agent_gestiones(g: Any, viewer: Viewer) -> ColumnElement[bool]:
    """An agent's gestiones (`g`: Gestion or an alias of it): its own, and its campaigns' pool."""
    pool = and_(g.operator_id.is_(None), g.campaign_id.in_(_operated(viewer)))
    return or_(g.operator_id == viewer.user_id, pool)


def conversations(stmt: S, viewer: Viewer) -> S:
    """ADMIN: all. SUPERVISOR: those of its subtrees' teams (and its own teams'). AGENT: those
    assigned to it, and the UNASSIGNED ones of its teams: the ones it may take (A3)."""
    scope = viewer.scope_team_ids
    if scope is None:
        return stmt
    if viewer.role is Role.AGENT:
        return stmt.where(_agent_conversations(Conversation, viewer))
    return stmt.where(Conversation.team_id.in_(scope)) if scope else stmt.where(false())


def conversation_details(stmt: S, viewer: Viewer, conversation_id: Any) -> S:
    """A conversation's messages (`conversation_id`: their column): visible iff their conversation is."""
    return conversations(stmt.join(Conversation, Conversation.id == conversation_id), viewer)


def _agent_conversations(c: Any, viewer: Viewer) -> ColumnElement[bool]:
    """An agent's conversations (`c`: Conversation or an alias): its own, and its teams' queue."""
    scope = viewer.scope_team_ids or frozenset()
    queue = and_(c.status == ConversationStatus.UNASSIGNED.value, c.team_id.in_(scope)) if scope else false()
    return or_(c.agent_id == viewer.user_id, queue)


def _agent_working(c: Any, viewer: Viewer) -> ColumnElement[bool]:
    """The conversations whose client an agent reads whatever the client's team: those it works
    now and its teams' queue. Not its RESOLVED ones: once done, the client is its teams' again, so
    an agent moved to another team no longer reads it (and LAST_RESPONSIBLE passes it over)."""
    return and_(c.status != ConversationStatus.RESOLVED.value, _agent_conversations(c, viewer))


def sales_attentions(stmt: S, viewer: Viewer) -> S:
    """ADMIN: all. SUPERVISOR: those of its subtrees' groups (and its own teams'). AGENT: none:
    the panel is not for agents (S2), who create and update attentions without reading them."""
    scope = viewer.scope_team_ids
    if scope is None:
        return stmt
    if viewer.role is Role.AGENT or not scope:
        return stmt.where(false())
    return stmt.where(SalesAttention.team_id.in_(scope))


def sales_attention_work(stmt: S, viewer: Viewer) -> S:
    """The attentions a viewer may change (S1): what it sees in the panel, and for an agent,
    which reads none of it, the ones assigned to it."""
    if viewer.role is Role.AGENT:
        return stmt.where(SalesAttention.agent_id == viewer.user_id)
    return sales_attentions(stmt, viewer)


def sales_views(stmt: S, viewer: Viewer) -> S:
    """Everyone: its own saved views only (S4), admins too."""
    return stmt.where(SalesView.user_id == viewer.user_id)


def notifications(stmt: S, viewer: Viewer) -> S:
    """Everyone: its own notifications only (S6), admins too."""
    return stmt.where(Notification.user_id == viewer.user_id)


def jobs(stmt: S, viewer: Viewer) -> S:
    """ADMIN: all. Others: the jobs they asked for."""
    if viewer.scope_team_ids is None:
        return stmt
    return stmt.where(Job.requested_by_id == viewer.user_id)


def stored_files(stmt: S, viewer: Viewer) -> S:
    """ADMIN: all. Others: the files made for them (an export's requester)."""
    if viewer.scope_team_ids is None:
        return stmt
    return stmt.where(StoredFile.owner_id == viewer.user_id)


def may_receive(
    viewer: Viewer,
    user_ids: Collection[int],
    team_ids: Collection[int],
    manager_team_ids: Collection[int] = (),
    *,
    personal: bool = False,
) -> bool:
    """Whether a live event is for this viewer (RT3): addressed to it, or about a team it sees
    (`manager_team_ids`: only if it manages the team, as an admin or a supervisor).

    An event's teams are those whose visibility rule covers what it is about (the teams of the
    contacts it lists, the owners of a portfolio), so "sees one of its teams" is the contacts
    and portfolios rule above, checked against the viewer as it is when the event is delivered.
    A `personal` event (a notification) is for its users alone, admins included.
    """
    if viewer.user_id in user_ids:
        return True
    if personal:
        return False
    scope = viewer.scope_team_ids
    if scope is None:
        return True
    if not scope.isdisjoint(team_ids):
        return True
    return viewer.role is Role.SUPERVISOR and not scope.isdisjoint(manager_team_ids)
