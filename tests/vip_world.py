"""A small world whose events are easy to commit: Ana, an agent of Norte, gets an inbox event for
each VIP change of a Norte client. The resume tests (WebSocket and Server-Sent Events) share it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from db.models import Contact, Event, Role, Team, User
from schema.node import to_global_id
from services.events import EventKind
from subscriptions.feed import SLOW_CONSUMER, EventFeed
from tests.conftest import GraphQLClient
from tests.factories import Factory, gid

SET_VIP = "mutation($id: ID!, $vip: Boolean!) { setContactVip(id: $id, vip: $vip) { userErrors { code } } }"


@dataclass
class World:
    admin: User
    ana: User  # agent of Norte
    norte: Team
    contact: Contact  # a Norte client: each VIP change of it is an event for Ana


async def build(factory: Factory) -> World:
    norte = await factory.team("Norte")
    (contact,) = await factory.contacts(norte, "Juan Pérez")
    return World(
        admin=await factory.user(Role.ADMIN, name="Ada Admin"),
        ana=await factory.user(Role.AGENT, name="Ana Agente", teams=[norte]),
        norte=norte,
        contact=contact,
    )


async def toggle(client: GraphQLClient, factory: Factory, world: World, times: int = 1, *, start: bool = True) -> None:
    """Commit `times` inbox events for Ana through the API."""
    for i in range(times):
        vip = start if i % 2 == 0 else not start
        data = await client.data(SET_VIP, {"id": gid(world.contact), "vip": vip}, factory.token(world.admin))
        assert data["setContactVip"]["userErrors"] == []


async def vip_events(factory: Factory, after: int = 0) -> list[str]:
    """The VIP changes after event `after`, oldest first (each test starts with an empty log)."""
    async with factory.sessionmaker() as session:
        ids = await session.scalars(
            select(Event.id).where(Event.id > after, Event.kind == EventKind.CONTACT_VIP).order_by(Event.id)
        )
        return [to_global_id("Event", i) for i in ids]


async def commit_while_cut(client: GraphQLClient, factory: Factory, world: World, feed: EventFeed, total: int) -> None:
    """Commit `total` events for Ana, and after the tenth cut every inbox from the server's side,
    as one too far behind is closed (4410): what a stock client's own retry must survive."""
    for i in range(total):
        await toggle(client, factory, world, 1, start=i % 2 == 0)
        if i == 9:
            for inbox in list(feed._inboxes()):
                inbox.close(SLOW_CONSUMER, "cut by the test")
