"""Helpers for the routing and intake tests: presence, settings, messages in, conversations read back."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from db.base import utcnow
from db.models import (
    AgentLoad,
    ChannelKind,
    Contact,
    ContactChannel,
    Conversation,
    ConversationMessage,
    Event,
    Presence,
    PresenceStatus,
    RoutingTurn,
    User,
)
from schema.node import from_global_id
from tests.conftest import GraphQLClient
from tests.factories import Factory, audit_count

RECEIVE = """
mutation($input: ReceiveMessageInput!) {
  receiveMessage(input: $input) {
    outcome
    conversation {
      id status channelKind channelAddress agent { name } team { name } contact { id firstNames lastNames }
    }
    message { id direction text externalId sentAt durationSeconds }
    routing {
      rule method fallback candidateCount chosenName
      candidates { name } chosen { name } team { name }
      skipped { userName reason user { name } }
    }
    userErrors { code field message }
  }
}
"""
SETTINGS = """
query { routingSettings {
  method capacity reopenWindowMinutes updatedAt
  defaultTeam { name } intakeTeam { name }
  channelAgents { kind agents { name } }
} }
"""
UPDATE_SETTINGS = """
mutation($input: UpdateRoutingSettingsInput!) {
  updateRoutingSettings(input: $input) {
    routingSettings { method capacity reopenWindowMinutes defaultTeam { name } intakeTeam { name }
      channelAgents { kind agents { name } } }
    userErrors { code field message }
  }
}
"""

_ids = itertools.count(1)


def message(
    value: str = "+54 9 11 4444-0001",
    *,
    kind: ChannelKind = ChannelKind.WHATSAPP,
    text: str = "Hola, quiero saber mi saldo",
    external_id: str | None = None,
    sent_at: datetime | None = None,
    name: str | None = None,
    duration: int | None = None,
) -> dict[str, Any]:
    """A ReceiveMessageInput; each gets a fresh externalId unless one is given."""
    body: dict[str, Any] = {
        "channel": {"kind": kind.value, "value": value},
        "text": text,
        "externalId": external_id or f"wamid.{next(_ids):06d}",
        "sentAt": (sent_at or utcnow()).isoformat(),
    }
    if name is not None:
        body["contactName"] = name
    if duration is not None:
        body["durationSeconds"] = duration
    return body


def phone(n: int) -> str:
    """A distinct valid Argentine mobile per n, as an integrator sends it."""
    return f"+54 9 11 {4000 + n // 10000:04d}-{n % 10000:04d}"


async def receive(client: GraphQLClient, token: str, body: dict[str, Any]) -> dict[str, Any]:
    """receiveMessage that must succeed; its payload."""
    data = await client.data(RECEIVE, {"input": body}, token)
    payload: dict[str, Any] = data["receiveMessage"]
    assert payload["userErrors"] == [], payload
    return payload


async def settings(client: GraphQLClient, token: str, **fields: Any) -> dict[str, Any]:
    """updateRoutingSettings that must succeed; the settings."""
    data = await client.data(UPDATE_SETTINGS, {"input": fields}, token)
    payload = data["updateRoutingSettings"]
    assert payload["userErrors"] == [], payload
    result: dict[str, Any] = payload["routingSettings"]
    return result


async def set_presence(factory: Factory, status: PresenceStatus, *users: User) -> None:
    """Presence as the agents would set it (R4), written directly: the router reads the table."""
    async with factory.sessionmaker() as session:
        await session.execute(delete(Presence).where(Presence.user_id.in_([u.id for u in users])))
        if users:
            await session.execute(
                insert(Presence), [{"user_id": u.id, "status": status.value, "changed_at": utcnow()} for u in users]
            )
        await session.commit()


async def online(factory: Factory, *users: User) -> None:
    await set_presence(factory, PresenceStatus.ONLINE, *users)


async def contact_with(factory: Factory, contact: Contact, kind: ChannelKind, normalized: str) -> None:
    """Give a factory contact a channel, stored as services.contacts stores one."""
    async with factory.sessionmaker() as session:
        session.add(ContactChannel(contact_id=contact.id, kind=kind.value, value=normalized, normalized=normalized))
        await session.commit()


@dataclass(frozen=True)
class Snapshot:
    """Everything intake writes, counted: what a refused or repeated call must leave as it was."""

    conversations: int
    messages: int
    contacts: int
    loads: tuple[tuple[int, int], ...]
    turns: tuple[tuple[str, int | None], ...]
    audit: int


async def snapshot(factory: Factory) -> Snapshot:
    async with factory.sessionmaker() as session:
        counts = select(AgentLoad.user_id, AgentLoad.open_conversations).order_by(AgentLoad.user_id)
        loads = tuple((await session.execute(counts)).all())
        rings = select(RoutingTurn.ring, RoutingTurn.last_user_id).order_by(RoutingTurn.ring)
        turns = tuple((await session.execute(rings)).all())
        contacts = int(await session.scalar(select(func.count()).select_from(Contact)) or 0)
    return Snapshot(
        conversations=await factory.count(Conversation),
        messages=await factory.count(ConversationMessage),
        contacts=contacts,
        loads=tuple((int(u), int(n)) for u, n in loads),
        turns=tuple((str(r), u) for r, u in turns),
        audit=await audit_count(factory),
    )


async def conversations(factory: Factory) -> list[Conversation]:
    async with factory.sessionmaker() as session:
        return list(await session.scalars(select(Conversation).order_by(Conversation.id)))


async def loads(factory: Factory) -> dict[int, int]:
    async with factory.sessionmaker() as session:
        rows = await session.execute(select(AgentLoad.user_id, AgentLoad.open_conversations))
        return {int(u): int(n) for u, n in rows.all()}


def pk(global_id: str) -> int:
    return from_global_id(global_id)[1]


def names(users: Sequence[dict[str, Any]]) -> list[str]:
    return [u["name"] for u in users]


async def resolve_directly(factory: Factory, conversation_id: int, *, at: datetime | None = None) -> None:
    """RESOLVED as resolveConversation leaves it (that mutation is another module's): status,
    resolved_at, and the agent's load."""
    async with factory.writing() as session:
        row = await session.get(Conversation, conversation_id)
        assert row is not None
        if row.agent_id is not None and row.status == "OPEN":
            await session.execute(
                update(AgentLoad)
                .where(AgentLoad.user_id == row.agent_id)
                .values(open_conversations=AgentLoad.open_conversations - 1)
            )
        row.status, row.resolved_at = "RESOLVED", at or utcnow()
        await session.commit()


def ago(minutes: float) -> datetime:
    return utcnow() - timedelta(minutes=minutes)


async def newest_event(factory: Factory) -> int:
    """The event log's newest id: the log is never emptied between tests."""
    async with factory.sessionmaker() as session:
        return int(await session.scalar(select(func.max(Event.id))) or 0)


async def events_after(factory: Factory, last_id: int) -> list[Event]:
    async with factory.sessionmaker() as session:
        return list(await session.scalars(select(Event).where(Event.id > last_id).order_by(Event.id)))


async def messages(factory: Factory) -> list[ConversationMessage]:
    async with factory.sessionmaker() as session:
        return list(await session.scalars(select(ConversationMessage).order_by(ConversationMessage.id)))


async def contacts_on(factory: Factory) -> list[tuple[Contact, list[ContactChannel]]]:
    """Every contact with its channels, in id order."""
    async with factory.sessionmaker() as session:
        found = list(await session.scalars(select(Contact).order_by(Contact.id)))
        channels = list(await session.scalars(select(ContactChannel).order_by(ContactChannel.id)))
    return [(c, [ch for ch in channels if ch.contact_id == c.id]) for c in found]
