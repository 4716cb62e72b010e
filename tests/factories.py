"""Typed helpers that build data through the models (no hand-written SQL fixtures)."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.base import utcnow
from db.engine import SQLITE_WRITE
from db.models import (
    AgentLoad,
    AuditEvent,
    AuditEventTeam,
    Campaign,
    CampaignOperator,
    CampaignStatus,
    ChannelKind,
    Contact,
    ContactChannel,
    Conversation,
    ConversationMessage,
    ConversationStatus,
    Event,
    Gestion,
    GestionStatus,
    MessageDirection,
    Notification,
    NotificationKind,
    Portfolio,
    PortfolioMember,
    Presence,
    PresenceStatus,
    Role,
    RoutingSettings,
    SalesAttention,
    SalesAttentionStatus,
    SalesCatalogEntry,
    SalesCatalogKind,
    Team,
    TeamMember,
    TeamSupervisor,
    Typology,
    User,
)
from db.search import fold
from schema.node import to_global_id
from services import agent_loads, audit, events
from services.auth import hash_password, issue_token
from services.contacts import search_name, search_text, sort_name
from services.settings import Settings

if TYPE_CHECKING:
    # conftest builds its Factory from this module: the client is named for types only.
    from subscriptions.hub import Hub
    from tests.conftest import GraphQLClient

PASSWORD = "correct horse battery"
# Hashing is deliberately slow; every factory user shares one hash of PASSWORD.
_PASSWORD_HASH = hash_password(PASSWORD)


class Factory:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        secret_key: str,
        access_changed: Callable[[], None] | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.secret_key = secret_key
        # Users and teams written here bypass the services, so no ACCESS_CHANGED tells the
        # running servers' principal caches (a new team under a supervised one widens a scope):
        # this does instead.
        self.access_changed = access_changed
        self._n = 0

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """A session for a block that reads a row and then changes it, holding the write lock
        from its start as the app's writers do: on SQLite a deferred transaction the server has
        written past since its first read fails at once with "database is locked" (busy_timeout
        does not apply to that upgrade). PostgreSQL ignores the option. Not for nesting: a
        factory session opened inside would wait on this one's lock."""
        async with self.sessionmaker() as session:
            await session.connection(execution_options={SQLITE_WRITE: True})
            yield session

    def _access_changed(self) -> None:
        if self.access_changed is not None:
            self.access_changed()

    def _next(self) -> int:
        self._n += 1
        return self._n

    async def user(
        self,
        role: Role = Role.AGENT,
        *,
        name: str | None = None,
        email: str | None = None,
        active: bool = True,
        teams: list[Team] | None = None,
        supervises: list[Team] | None = None,
    ) -> User:
        n = self._next()
        async with self.sessionmaker() as session:
            user = User(
                email=email or f"user{n}@example.com",
                name=name or f"User {n:03d}",
                role=role.value,
                password_hash=_PASSWORD_HASH,
                is_active=active,
            )
            session.add(user)
            await session.flush()
            for team in teams or []:
                session.add(TeamMember(team_id=team.id, user_id=user.id))
            for team in supervises or []:
                session.add(TeamSupervisor(team_id=team.id, user_id=user.id))
            await session.commit()
            self._access_changed()
            return user

    async def team(self, name: str | None = None, *, parent: Team | None = None) -> Team:
        n = self._next()
        async with self.sessionmaker() as session:
            team = Team(name=name or f"Team {n:03d}", parent_id=parent.id if parent else None, path="")
            session.add(team)
            await session.flush()
            team.path = f"{parent.path if parent else '/'}{team.id}/"
            await session.commit()
            self._access_changed()
            return team

    async def audit_event(self, *, occurred_at: datetime, actor: User | None = None, **fields: Any) -> AuditEvent:
        async with self.sessionmaker() as session:
            values: dict[str, Any] = {
                "action": "UPDATED",
                "resource_type": "USER",
                "resource_id": 1,
                "resource_name": "Someone",
                "changes": {},
            }
            values.update(fields)
            event = AuditEvent(
                occurred_at=occurred_at,
                actor_id=actor.id if actor else None,
                actor_name=actor.name if actor else "system",
                **values,
            )
            session.add(event)
            await session.commit()
            return event

    async def tag_event(self, event: AuditEvent, *teams: Team) -> None:
        """Scope an event to teams, as audit.record(team_ids=...) does: one on its row, several as links."""
        team_id, links = audit.team_scope(team.id for team in teams)
        async with self.sessionmaker() as session:
            await session.execute(update(AuditEvent).where(AuditEvent.id == event.id).values(team_id=team_id))
            session.add_all(AuditEventTeam(event_id=event.id, team_id=t) for t in links)
            await session.commit()

    async def contacts(self, team: Team, *names: str) -> list[Contact]:
        """Contacts named "First Last" in a team, with the search columns the service would write."""
        async with self.sessionmaker() as session:
            rows = []
            for name in names:
                first, _, last = name.partition(" ")
                rows.append(
                    Contact(
                        first_names=first,
                        last_names=last,
                        team_id=team.id,
                        custom_fields={},
                        search_name=search_name(first, last),
                        sort_name=sort_name(first, last),
                        search_text=search_text(
                            first_names=first, last_names=last, document=None, company=None, channels=[]
                        ),
                    )
                )
            session.add_all(rows)
            await session.commit()
            return rows

    async def portfolio(
        self, name: str, *, team: Team | None = None, agent: User | None = None, contacts: Sequence[Contact] = ()
    ) -> Portfolio:
        async with self.sessionmaker() as session:
            portfolio = Portfolio(
                name=name,
                search_name=fold(name),
                team_id=team.id if team else None,
                agent_id=agent.id if agent else None,
                active=True,
            )
            session.add(portfolio)
            await session.flush()
            session.add_all(PortfolioMember(contact_id=c.id, portfolio_id=portfolio.id) for c in contacts)
            await session.commit()
            return portfolio

    async def memberships(self) -> dict[int, int]:
        """contact id -> portfolio id, for every contact in a portfolio."""
        async with self.sessionmaker() as session:
            rows = await session.execute(select(PortfolioMember.contact_id, PortfolioMember.portfolio_id))
            return {contact: portfolio for contact, portfolio in rows.all()}

    async def campaign(
        self,
        name: str,
        team: Team,
        *,
        typology: str = "COLLECTIONS",
        status: CampaignStatus = CampaignStatus.ACTIVE,
        operators: Sequence[User] = (),
    ) -> Campaign:
        """A campaign of a shipped typology, with its operators."""
        # Read, then write in a transaction of its own: on SQLite a transaction that read first
        # cannot wait for the write lock, it fails at once when someone else holds it.
        async with self.sessionmaker() as session:
            typology_id = await session.scalar(select(Typology.id).where(Typology.code == typology))
        assert typology_id is not None
        async with self.sessionmaker() as session:
            campaign = Campaign(
                name=name, search_name=fold(name), typology_id=typology_id, team_id=team.id, status=status.value
            )
            session.add(campaign)
            await session.flush()
            session.add_all(CampaignOperator(campaign_id=campaign.id, user_id=u.id) for u in operators)
            await session.commit()
            return campaign

    async def gestiones(
        self,
        campaign: Campaign,
        contacts: Sequence[Contact],
        *,
        operator: User | None = None,
        plan: dict[str, Any] | None = None,
        priority: int = 0,
    ) -> list[Gestion]:
        """Pending gestiones of these clients, given to `operator` (or to nobody)."""
        async with self.sessionmaker() as session:
            rows = [
                Gestion(
                    campaign_id=campaign.id,
                    contact_id=c.id,
                    operator_id=operator.id if operator else None,
                    status=GestionStatus.PENDING.value,
                    priority=priority,
                    plan=plan if plan is not None else dict(PLAN),
                    attempts=0,
                )
                for c in contacts
            ]
            session.add_all(rows)
            await session.commit()
            return rows

    # --- conversations (A1, A3): rows the intake would write, for tests of what follows ------

    async def channel(self, contact: Contact, kind: str = "WHATSAPP", normalized: str | None = None) -> ContactChannel:
        """A channel of the contact, stored as the contacts service normalises it."""
        value = normalized or f"+54911{4000_0000 + self._next():08d}"
        async with self.sessionmaker() as session:
            row = ContactChannel(contact_id=contact.id, kind=kind, value=value, normalized=value)
            session.add(row)
            await session.commit()
            return row

    async def conversation(
        self,
        contact: Contact,
        *,
        channel: ContactChannel | None = None,
        status: ConversationStatus = ConversationStatus.UNASSIGNED,
        agent: User | None = None,
        team: Team | None = None,
        portfolio: Portfolio | None = None,
        created_at: datetime | None = None,
        assigned_at: datetime | None = None,
        resolved_at: datetime | None = None,
        kind: ChannelKind = ChannelKind.WHATSAPP,
        messages: Sequence[str] = (),
    ) -> Conversation:
        """A conversation as intake leaves it: in `team` (the contact's unless given), waiting in its
        queue or OPEN for `agent` (whose load counts it, as agent_loads keeps it), with the client's
        `messages`. Without `channel`, a new channel of `kind` of the contact. Its times default to
        `created_at` (now): assigned when it has an agent, resolved when RESOLVED."""
        channel = channel or await self.channel(contact, kind.value)
        now = created_at or utcnow()
        assigned = status is ConversationStatus.OPEN
        async with self.writing() as session:
            row = Conversation(
                contact_id=contact.id,
                channel_id=channel.id,
                channel_kind=channel.kind,
                channel_address=channel.normalized,
                status=status.value,
                agent_id=agent.id if agent else None,
                team_id=team.id if team else contact.team_id,
                portfolio_id=portfolio.id if portfolio else None,
                created_at=now,
                assigned_at=assigned_at or (now if agent else None),
                resolved_at=resolved_at or (now if status is ConversationStatus.RESOLVED else None),
                last_message_at=now if messages else None,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            session.add_all(
                ConversationMessage(
                    conversation_id=row.id, direction=MessageDirection.IN.value, text=text, sent_at=now, created_at=now
                )
                for text in messages
            )
            if assigned and agent is not None:
                load = await session.get(AgentLoad, agent.id)
                if load is None:
                    session.add(AgentLoad(user_id=agent.id, open_conversations=1, last_assigned_at=now))
                else:
                    load.open_conversations += 1
            await session.commit()
            return row

    async def sales_entry(self, kind: SalesCatalogKind, name: str, *, active: bool = True) -> SalesCatalogEntry:
        """An entry of one of the sales panel's catalogues (interest, origin, close reason)."""
        async with self.sessionmaker() as session:
            row = SalesCatalogEntry(kind=kind.value, name=name, active=active)
            session.add(row)
            await session.commit()
            return row

    async def sales_attention(
        self,
        contact: Contact,
        *,
        team: Team | None = None,
        agent: User | None = None,
        status: SalesAttentionStatus = SalesAttentionStatus.OPEN,
        interest: SalesCatalogEntry | None = None,
        origin: SalesCatalogEntry | None = None,
        close_reason: SalesCatalogEntry | None = None,
        created_at: datetime | None = None,
    ) -> SalesAttention:
        """A commercial attention in `team` (the contact's unless given). CLOSED needs
        `close_reason` and is closed at `created_at`; PENDING is pending since it."""
        now = created_at or utcnow()
        async with self.sessionmaker() as session:
            row = SalesAttention(
                contact_id=contact.id,
                team_id=team.id if team else contact.team_id,
                agent_id=agent.id if agent else None,
                status=status.value,
                interest_id=interest.id if interest else None,
                origin_id=origin.id if origin else None,
                close_reason_id=close_reason.id if close_reason else None,
                pending_since=now if status is SalesAttentionStatus.PENDING else None,
                closed_at=now if status is SalesAttentionStatus.CLOSED else None,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            await session.commit()
            return row

    async def conversations(self, contacts: Sequence[Contact], **kw: Any) -> list[Conversation]:
        return [await self.conversation(c, **kw) for c in contacts]

    async def reload(self, row: Conversation) -> Conversation:
        async with self.sessionmaker() as session:
            return await session.get_one(Conversation, row.id)

    async def open_load(self, user: User) -> int:
        """The agent's count of OPEN conversations as agent_loads keeps it (0 without a row)."""
        async with self.sessionmaker() as session:
            load = await session.get(AgentLoad, user.id)
            return load.open_conversations if load else 0

    async def conversation_state(self) -> dict[str, Any]:
        """Everything a conversation call may write: its rows, messages, loads, audit rows and events.
        Equal before and after a refused call: it changed nothing."""
        async with self.sessionmaker() as session:
            conversations = (await session.execute(select(Conversation.__table__).order_by(Conversation.id))).all()
            loads = (await session.execute(select(AgentLoad.__table__).order_by(AgentLoad.user_id))).all()
            return {
                "conversations": [tuple(r) for r in conversations],
                "messages": await self.count(ConversationMessage),
                "loads": [tuple(r) for r in loads],
                "audit": await self.count(AuditEvent),
                "events": await self.count(Event),
            }

    async def routing_capacity(self, capacity: int | None) -> None:
        async with self.sessionmaker() as session:
            await session.execute(update(RoutingSettings).where(RoutingSettings.id == 1).values(capacity=capacity))
            await session.commit()

    def token(self, user: User, ttl_seconds: int = 3600, now: datetime | None = None) -> str:
        return issue_token(secret_key=self.secret_key, user_id=user.id, ttl_seconds=ttl_seconds, now=now or utcnow())

    async def count(self, model: Any) -> int:
        async with self.sessionmaker() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)

    async def audit_rows(self) -> list[AuditEvent]:
        async with self.sessionmaker() as session:
            return list(await session.scalars(select(AuditEvent).order_by(AuditEvent.id)))

    async def notification(
        self,
        user: User,
        kind: NotificationKind = NotificationKind.EXPORT_READY,
        *,
        message: str = "Your export is ready",
        payload: dict[str, Any] | None = None,
        created_at: datetime | None = None,
        read_at: datetime | None = None,
    ) -> Notification:
        """An entry of `user`'s notification centre, as services.notifications.notify writes it."""
        async with self.sessionmaker() as session:
            row = Notification(
                user_id=user.id,
                kind=kind.value,
                message=message,
                payload=payload or {},
                created_at=created_at or utcnow(),
                read_at=read_at,
            )
            session.add(row)
            await session.commit()
            return row

    async def notifications_of(self, user: User) -> list[Notification]:
        """A user's notifications, oldest first."""
        async with self.sessionmaker() as session:
            stmt = select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)
            return list(await session.scalars(stmt))

    async def sales_attentions_bulk(self, team: Team, count: int) -> None:
        """`count` contacts "ClienteNNNNN Ñandú" of `team` with an OPEN attention each, written in
        bulk, created a second apart (Cliente00000 the newest)."""
        now = utcnow()
        async with self.sessionmaker() as session:
            rows = [
                {
                    "first_names": f"Cliente{i:05d}",
                    "last_names": "Ñandú",
                    "team_id": team.id,
                    "custom_fields": {},
                    "search_text": f"cliente{i:05d} nandu",
                    "search_name": f"cliente{i:05d} nandu",
                    "sort_name": f"nandu cliente{i:05d}",
                    "is_vip": False,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(count)
            ]
            ids = (await session.scalars(insert(Contact).returning(Contact.id), rows)).all()
            attentions = [
                {"contact_id": c, "team_id": team.id, "status": "OPEN", "created_at": now - timedelta(seconds=i)}
                for i, c in enumerate(ids)
            ]
            await session.execute(insert(SalesAttention), [{**a, "updated_at": now} for a in attentions])
            await session.commit()


# A valid plan of the shipped COLLECTIONS typology.
PLAN = {
    "planNumber": "PL-0001",
    "product": "Auto 0km",
    "instalmentsOverdue": 3,
    "amountDue": 125000.5,
    "dueDate": "2026-11-01",
}


def gid(
    obj: User
    | Team
    | Contact
    | Portfolio
    | Campaign
    | Gestion
    | Conversation
    | ContactChannel
    | SalesAttention
    | SalesCatalogEntry
    | Notification,
) -> str:
    return to_global_id(type(obj).__name__, obj.id)


async def audit_count(factory: Factory) -> int:
    return await factory.count(AuditEvent)


async def nothing_written(factory: Factory) -> None:
    """No team and no audit row: what a refused createTeam, or a refusal before anything ran, leaves."""
    assert await factory.count(Team) == 0
    assert await audit_count(factory) == 0


async def last_audit(factory: Factory) -> AuditEvent:
    rows = await factory.audit_rows()
    assert rows
    return rows[-1]


async def audit_team_ids(factory: Factory, event: AuditEvent) -> set[int]:
    """The teams an audit event was filed under (whose supervisors see it)."""
    async with factory.sessionmaker() as session:
        linked = select(AuditEventTeam.team_id).where(AuditEventTeam.event_id == event.id)
        own = select(AuditEvent.team_id).where(AuditEvent.id == event.id, AuditEvent.team_id.is_not(None))
        return set((await session.scalars(linked.union(own))).all())


async def mutate(client: GraphQLClient, token: str, document: str, variables: dict[str, Any]) -> dict[str, Any]:
    """Run a mutation of one root field that must succeed (no userErrors); its payload."""
    data = await client.data(document, variables, token)
    (payload,) = data.values()
    assert payload["userErrors"] == [], (document, payload)
    result: dict[str, Any] = payload
    return result


def person(team: Team, **extra: Any) -> dict[str, Any]:
    """A CreateContactInput for José Pérez of `team`; `extra` adds fields or replaces them."""
    return {"firstNames": "José", "lastNames": "Pérez", "teamId": gid(team), **extra}


DOCUMENT_TYPES = "{ documentTypes { id code } }"


async def doc_type(client: GraphQLClient, token: str, code: str) -> str:
    """The global id of the document type with this code, as a client finds it."""
    data = await client.data(DOCUMENT_TYPES, token=token)
    type_id: str = next(t["id"] for t in data["documentTypes"] if t["code"] == code)
    return type_id


def cursor(values: Any) -> str:
    """A cursor built by hand, as db.keyset encodes one: any JSON value (a list of sort-key
    values, or anything a hostile client sends) in unpadded URL-safe base64."""
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def problems(payload: dict[str, Any]) -> list[tuple[str, str | None]]:
    """A payload's userErrors as (code, field) pairs."""
    return [(e["code"], e["field"]) for e in payload["userErrors"]]


def priced(requested: int, *, limit: int = Settings.max_query_cost) -> dict[str, Any]:
    """What an executed response carries beside its data: its price (resolvers/cost.py) and the
    server's limit (the default one unless given)."""
    return {"cost": {"requested": requested, "limit": limit}}


# --- conversations and agent loads, for the monitoring table and reports (A4, P9) ---------------
# Loads and presences written through the models (conversations: Factory.conversation), data
# only, for tests that need them at chosen moments. `load_moved` is the exception: it changes a
# load the way every conversation change does (services.agent_loads.moved, its event committed
# and announced as the unit of work does), for live tests.


async def agent_load(factory: Factory, agent: User, open_conversations: int) -> None:
    """The agent's count of OPEN conversations, as services.agent_loads keeps it."""
    async with factory.writing() as session:
        row = await session.get(AgentLoad, agent.id)
        if row is None:
            session.add(AgentLoad(user_id=agent.id, open_conversations=open_conversations))
        else:
            row.open_conversations = open_conversations
        await session.commit()


async def presence(factory: Factory, user: User, status: PresenceStatus, *, since: datetime) -> None:
    async with factory.sessionmaker() as session:
        session.add(Presence(user_id=user.id, status=status.value, changed_at=since))
        await session.commit()


async def load_moved(
    factory: Factory, hub: Hub, *, before: User | None, after: User | None, teams: Sequence[Team]
) -> None:
    """One OPEN conversation moved from `before` to `after` (either None: opened, resolved)."""
    async with factory.sessionmaker() as session:
        await agent_loads.moved(
            session,
            before=before.id if before else None,
            after=after.id if after else None,
            teams=[t.id for t in teams],
            assigned_at=utcnow() if after else None,
        )
        written = await events.write_pending(session)
        await session.commit()
    await hub.announce(written)
