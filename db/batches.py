"""Scoped batch queries behind the dataloaders: one statement per batch, never one per row."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, String, Subquery, and_, func, literal_column, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from db import scopes
from db.base import utcnow
from db.keyset import Column, Page, PageRequest, SortKey, count_many, paginate_many, paginate_many_rows
from db.models import (
    AuditEvent,
    Campaign,
    CampaignOperator,
    Company,
    Contact,
    ContactAddress,
    ContactChannel,
    Conversation,
    ConversationMessage,
    DocumentType,
    Gestion,
    GestionAttachment,
    GestionComment,
    Job,
    Notification,
    Portfolio,
    PortfolioMember,
    Presence,
    SalesAttention,
    SalesCatalogEntry,
    StoredFile,
    Team,
    TeamMember,
    TeamSupervisor,
    Typology,
    TypologyResult,
    User,
)
from db.scopes import Viewer

USER_KEYS = (SortKey(User.sort_name, "sort_name", "str"), SortKey(User.id, "id", "int"))
TEAM_KEYS = (SortKey(Team.sort_name, "sort_name", "str"), SortKey(Team.id, "id", "int"))


async def _by_id(
    session: AsyncSession, model: Any, ids: Sequence[int], scope: Callable[[Select[Any]], Select[Any]] | None = None
) -> dict[int, Any]:
    """The rows of `model` with these ids that `scope` (the viewer's, from db.scopes) lets through."""
    stmt = select(model).where(model.id.in_(list(ids)))
    return {row.id: row for row in await session.scalars(stmt if scope is None else scope(stmt))}


# The rule rows of each model are read by id through (the loaders below, `node`, compiled reads);
# None: every signed-in user reads them (a shared directory or catalogue).
BY_ID: dict[Any, Callable[[Select[Any], Viewer], Select[Any]] | None] = {
    User: scopes.users,
    Team: scopes.teams,
    Contact: scopes.contacts,
    # A contact's details are seen as their contact is.
    ContactChannel: lambda stmt, viewer: scopes.contact_details(stmt, viewer, ContactChannel.contact_id),
    ContactAddress: lambda stmt, viewer: scopes.contact_details(stmt, viewer, ContactAddress.contact_id),
    Company: None,
    DocumentType: None,
    Portfolio: scopes.portfolios,
    Campaign: scopes.campaigns,
    Gestion: scopes.gestiones,
    TypologyResult: None,
    AuditEvent: scopes.audit_events,
    SalesAttention: scopes.sales_attentions,
    # The sales catalogues are reference data every signed-in user may read.
    SalesCatalogEntry: None,
    Conversation: scopes.conversations,
    # A message is seen with its conversation.
    ConversationMessage: lambda stmt, viewer: scopes.conversation_details(
        stmt, viewer, ConversationMessage.conversation_id
    ),
}


def by_id_statement(model: Any, ids: Sequence[int], viewer: Viewer) -> Select[Any]:
    """The rows of `model` with these ids that the viewer may read (BY_ID)."""
    stmt = select(model).where(model.id.in_(list(ids)))
    rule = BY_ID[model]
    return stmt if rule is None else rule(stmt, viewer)


async def _by_rule(session: AsyncSession, model: Any, viewer: Viewer, ids: Sequence[int]) -> dict[int, Any]:
    return {row.id: row for row in await session.scalars(by_id_statement(model, ids, viewer))}


async def users_by_id(session: AsyncSession, viewer: Viewer, ids: Sequence[int]) -> dict[int, User]:
    return await _by_rule(session, User, viewer, ids)


async def notifications_by_id(session: AsyncSession, viewer: Viewer, ids: Sequence[int]) -> dict[int, Notification]:
    return await _by_id(session, Notification, ids, lambda stmt: scopes.notifications(stmt, viewer))


async def teams_by_id(session: AsyncSession, viewer: Viewer, ids: Sequence[int]) -> dict[int, Team]:
    return await _by_rule(session, Team, viewer, ids)


async def audit_events_by_id(session: AsyncSession, viewer: Viewer, ids: Sequence[int]) -> dict[int, AuditEvent]:
    return await _by_rule(session, AuditEvent, viewer, ids)


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


async def companies_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Company]:
    # Companies are a shared directory: every signed-in user may read them.
    return await _by_id(session, Company, ids)


async def document_types_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, DocumentType]:
    return await _by_id(session, DocumentType, ids)


async def contacts_by_id(session: AsyncSession, viewer: Viewer, ids: Sequence[int]) -> dict[int, Contact]:
    return await _by_rule(session, Contact, viewer, ids)


async def channels_by_id(session: AsyncSession, viewer: Viewer, ids: Sequence[int]) -> dict[int, ContactChannel]:
    return await _by_rule(session, ContactChannel, viewer, ids)


async def addresses_by_id(session: AsyncSession, viewer: Viewer, ids: Sequence[int]) -> dict[int, ContactAddress]:
    return await _by_rule(session, ContactAddress, viewer, ids)


async def channels_by_contact(session: AsyncSession, contact_ids: Sequence[int]) -> dict[int, list[ContactChannel]]:
    """Channels of contacts the caller already resolved through the contacts scope."""
    grouped: dict[int, list[ContactChannel]] = {i: [] for i in contact_ids}
    stmt = select(ContactChannel).where(ContactChannel.contact_id.in_(list(contact_ids))).order_by(ContactChannel.id)
    for channel in await session.scalars(stmt):
        grouped[channel.contact_id].append(channel)
    return grouped


async def addresses_by_contact(session: AsyncSession, contact_ids: Sequence[int]) -> dict[int, list[ContactAddress]]:
    grouped: dict[int, list[ContactAddress]] = {i: [] for i in contact_ids}
    stmt = (
        select(ContactAddress)
        .where(ContactAddress.contact_id.in_(list(contact_ids)))
        .order_by(ContactAddress.is_primary.desc(), ContactAddress.id)
    )
    for address in await session.scalars(stmt):
        grouped[address.contact_id].append(address)
    return grouped


AUDIT_ENTRY_KEYS = (SortKey(AuditEvent.id, "id", "int"),)
# The entries of a bulk call's event: the history rows of each contact it touched, in order.
AUDIT_ENTRIES = NestedList(
    AuditEvent,
    AUDIT_ENTRY_KEYS,
    AuditEvent.batch_id,
    lambda viewer: scopes.audit_events(select(AuditEvent), viewer),
)


async def portfolios_by_id(session: AsyncSession, viewer: Viewer, ids: Sequence[int]) -> dict[int, Portfolio]:
    return await _by_rule(session, Portfolio, viewer, ids)


@dataclass(frozen=True)
class Badge:
    """What a contact in a portfolio shows wherever it is seen (P8): public to whoever sees the contact."""

    portfolio_id: int
    portfolio_name: str
    active: bool
    agent_name: str | None
    team_name: str | None


def _badges() -> Select[*tuple[Any, ...]]:
    return (
        select(Portfolio.id, Portfolio.name, Portfolio.active, User.name, Team.name)
        .outerjoin(User, User.id == Portfolio.agent_id)
        .outerjoin(Team, Team.id == Portfolio.team_id)
    )


async def badges_by_contact(session: AsyncSession, contact_ids: Sequence[int]) -> dict[int, Badge]:
    """Badges of contacts the caller already resolved through the contacts scope."""
    stmt = (
        _badges()
        .add_columns(PortfolioMember.contact_id)
        .join(PortfolioMember, PortfolioMember.portfolio_id == Portfolio.id)
        .where(PortfolioMember.contact_id.in_(list(contact_ids)))
    )
    return {row[5]: Badge(*row[:5]) for row in (await session.execute(stmt)).all()}


async def badges_by_portfolio(session: AsyncSession, portfolio_ids: Sequence[int]) -> dict[int, Badge]:
    """Badges of portfolios a visible contact is or was in (a bulk call's other portfolio)."""
    rows = (await session.execute(_badges().where(Portfolio.id.in_(list(portfolio_ids))))).all()
    return {row[0]: Badge(*row) for row in rows}


async def portfolio_contact_counts(session: AsyncSession, portfolio_ids: Sequence[int]) -> dict[int, int]:
    """Members of each portfolio, counted from the membership index."""
    stmt = (
        select(PortfolioMember.portfolio_id, func.count())
        .where(PortfolioMember.portfolio_id.in_(list(portfolio_ids)))
        .group_by(PortfolioMember.portfolio_id)
    )
    counts = dict.fromkeys(portfolio_ids, 0)
    counts.update({pid: int(n) for pid, n in (await session.execute(stmt)).all()})
    return counts


async def presences_by_user(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, Presence]:
    """Presence rows of users the caller already resolved through the users scope."""
    rows = await session.scalars(select(Presence).where(Presence.user_id.in_(list(user_ids))))
    return {p.user_id: p for p in rows}


# --- campaigns and gestiones (G) ------------------------------------------------------------


async def campaigns_by_id(session: AsyncSession, viewer: Viewer, ids: Sequence[int]) -> dict[int, Campaign]:
    return await _by_rule(session, Campaign, viewer, ids)


async def gestiones_by_id(session: AsyncSession, viewer: Viewer, ids: Sequence[int]) -> dict[int, Gestion]:
    return await _by_rule(session, Gestion, viewer, ids)


async def comments_by_id(session: AsyncSession, viewer: Viewer, ids: Sequence[int]) -> dict[int, GestionComment]:
    return await _by_id(
        session, GestionComment, ids, lambda stmt: scopes.gestion_details(stmt, viewer, GestionComment.gestion_id)
    )


async def attachments_by_id(session: AsyncSession, viewer: Viewer, ids: Sequence[int]) -> dict[int, GestionAttachment]:
    return await _by_id(
        session, GestionAttachment, ids, lambda stmt: scopes.gestion_details(stmt, viewer, GestionAttachment.gestion_id)
    )


async def typologies_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Typology]:
    # The typology catalogue is reference data every signed-in user may read.
    return await _by_id(session, Typology, ids)


async def results_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, TypologyResult]:
    return await _by_id(session, TypologyResult, ids)


async def results_by_typology(session: AsyncSession, typology_ids: Sequence[int]) -> dict[int, list[TypologyResult]]:
    """Each typology's whole catalogue, in its order (callers drop the inactive ones where offered)."""
    grouped: dict[int, list[TypologyResult]] = {i: [] for i in typology_ids}
    stmt = (
        select(TypologyResult)
        .where(TypologyResult.typology_id.in_(list(typology_ids)))
        .order_by(TypologyResult.typology_id, TypologyResult.position, TypologyResult.id)
    )
    for result in await session.scalars(stmt):
        grouped[result.typology_id].append(result)
    return grouped


CAMPAIGN_OPERATORS = NestedList(
    User,
    USER_KEYS,
    CampaignOperator.campaign_id,
    lambda viewer: scopes.users(select(User).join(CampaignOperator, CampaignOperator.user_id == User.id), viewer),
)
# A contact's gestiones (C4, G2) that the viewer sees, newest first.
CONTACT_GESTIONES = NestedList(
    Gestion,
    (SortKey(Gestion.id, "id", "int", True),),
    Gestion.contact_id,
    lambda viewer: scopes.gestiones(select(Gestion), viewer),
)
# Under a gestión the caller already resolved through the gestiones scope.
GESTION_COMMENTS = NestedList(
    GestionComment,
    (SortKey(GestionComment.id, "id", "int", True),),
    GestionComment.gestion_id,
    lambda _viewer: select(GestionComment),
)
GESTION_ATTACHMENTS = NestedList(
    GestionAttachment,
    (SortKey(GestionAttachment.id, "id", "int", True),),
    GestionAttachment.gestion_id,
    lambda _viewer: select(GestionAttachment),
)
# A gestión's action history (G4): its own audit events, and the edits of its client made since
# it was created (G6). Whoever sees the gestión reads them, agents included: this is its trail,
# not the audit query (which stays for admins and supervisors).
GESTION_HISTORY = NestedList(
    AuditEvent,
    (SortKey(AuditEvent.id, "id", "int", True),),
    Gestion.id,
    lambda _viewer: select(AuditEvent).join(
        Gestion,
        or_(
            and_(AuditEvent.resource_type == "GESTION", AuditEvent.resource_id == Gestion.id),
            and_(
                AuditEvent.resource_type == "CONTACT",
                AuditEvent.resource_id == Gestion.contact_id,
                AuditEvent.occurred_at >= Gestion.created_at,
            ),
        ),
    ),
)


# --- conversations (A1, C4) -----------------------------------------------------------------


async def conversations_by_id(session: AsyncSession, viewer: Viewer, ids: Sequence[int]) -> dict[int, Conversation]:
    return await _by_rule(session, Conversation, viewer, ids)


async def messages_by_id(session: AsyncSession, viewer: Viewer, ids: Sequence[int]) -> dict[int, ConversationMessage]:
    return await _by_rule(session, ConversationMessage, viewer, ids)


def _timeline(descending: bool) -> NestedList:
    # Scoped although its parent was: a message is seen with its conversation, however that was reached.
    return NestedList(
        ConversationMessage,
        (
            SortKey(ConversationMessage.sent_at, "sent_at", "datetime", descending),
            SortKey(ConversationMessage.id, "id", "int", descending),
        ),
        ConversationMessage.conversation_id,
        lambda viewer: scopes.conversation_details(
            select(ConversationMessage), viewer, ConversationMessage.conversation_id
        ),
    )


# A conversation's timeline, in the order it happened (ix_conversation_messages_timeline).
CONVERSATION_MESSAGES = _timeline(descending=False)
# Read with a page of one: each conversation's latest message, for inbox rows.
CONVERSATION_LATEST_MESSAGES = _timeline(descending=True)


class HistoryKind(enum.StrEnum):
    CONVERSATION = "CONVERSATION"
    GESTION = "GESTION"


class ContactHistory:
    """A contact's interactions (C4): its conversations (calls included) and gestiones, newest first.

    One statement per page for any number of contacts: a UNION ALL of the two scoped selects
    (each read from its contact index), numbered per contact over (created_at, kind, id), with
    each row's conversation or gestión joined in. A page's rows carry both; one is None.
    """

    @staticmethod
    def _union(viewer: Viewer, contact_ids: Sequence[int]) -> Subquery:
        ids = list(contact_ids)

        def branch(model: Any, kind: HistoryKind) -> Select[Any]:
            return select(
                model.contact_id.label("contact_id"),
                model.created_at.label("created_at"),
                literal_column(f"'{kind.value}'", String).label("kind"),
                model.id.label("id"),
            ).where(model.contact_id.in_(ids))

        conversations = scopes.conversations(branch(Conversation, HistoryKind.CONVERSATION), viewer)
        gestiones = scopes.gestiones(branch(Gestion, HistoryKind.GESTION), viewer)
        return union_all(conversations, gestiones).subquery("history")

    @staticmethod
    def _columns(history: Subquery) -> Select[Any]:
        return select(history.c.created_at, history.c.kind, history.c.id, history.c.contact_id)

    async def pages(
        self,
        session: AsyncSession,
        viewer: Viewer,
        parent_ids: Sequence[int],
        request: PageRequest,
        max_page_size: int,
    ) -> dict[int, Page[Any]]:
        history = self._union(viewer, parent_ids)
        # Newest first; a conversation and a gestión created in the same instant by kind, then id.
        keys = (
            SortKey(history.c.created_at, "created_at", "datetime", True),
            SortKey(history.c.kind, "kind", "str", True),
            SortKey(history.c.id, "id", "int", True),
        )

        def rows(numbered: Subquery) -> Select[Any]:
            kind = numbered.c.kind
            return (
                select(numbered.c.created_at, kind, numbered.c.id, numbered.c.parent_key, Conversation, Gestion)
                .select_from(numbered)
                .outerjoin(Conversation, and_(kind == HistoryKind.CONVERSATION.value, Conversation.id == numbered.c.id))
                .outerjoin(Gestion, and_(kind == HistoryKind.GESTION.value, Gestion.id == numbered.c.id))
            )

        return await paginate_many_rows(
            session,
            self._columns(history),
            parent=history.c.contact_id,
            parent_ids=parent_ids,
            keys=keys,
            request=request,
            max_page_size=max_page_size,
            outer=rows,
        )

    async def counts(self, session: AsyncSession, viewer: Viewer, parent_ids: Sequence[int]) -> dict[int, int]:
        history = self._union(viewer, parent_ids)
        return await count_many(session, self._columns(history), parent=history.c.contact_id, parent_ids=parent_ids)


CONTACT_HISTORY = ContactHistory()


async def jobs_by_id(session: AsyncSession, viewer: Viewer, ids: Sequence[int]) -> dict[int, Job]:
    return await _by_id(session, Job, ids, lambda stmt: scopes.jobs(stmt, viewer))


async def stored_files_by_id(session: AsyncSession, viewer: Viewer, ids: Sequence[int]) -> dict[int, StoredFile]:
    """Files the viewer may download: its own (all, for admins), not yet expired."""
    return await _by_id(
        session, StoredFile, ids, lambda stmt: scopes.stored_files(stmt, viewer).where(StoredFile.expires_at > utcnow())
    )


async def stored_files_by_job(session: AsyncSession, viewer: Viewer, job_ids: Sequence[int]) -> dict[int, StoredFile]:
    """Each job's file (a DONE job made one), as stored_files_by_id lets the viewer see it."""
    stmt = scopes.stored_files(select(StoredFile).where(StoredFile.job_id.in_(list(job_ids))), viewer)
    rows = await session.scalars(stmt.where(StoredFile.expires_at > utcnow()))
    return {row.job_id: row for row in rows if row.job_id is not None}
