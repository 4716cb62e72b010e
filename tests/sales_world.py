"""The account the sales panel's tests share: a group with two subgroups and a team apart, who
works where, the three catalogues, and a client in each team."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from db.models import (
    AuditEvent,
    Contact,
    Event,
    Notification,
    Role,
    SalesAttention,
    SalesAttentionConversation,
    SalesCatalogEntry,
    SalesCatalogKind,
    SalesView,
    Team,
    User,
)
from tests.factories import Factory, problems

if TYPE_CHECKING:
    from tests.conftest import GraphQLClient


@dataclass
class SalesWorld:
    ventas: Team  # the group: Norte and Sur are its subgroups
    norte: Team
    sur: Team
    otros: Team  # a team apart
    ada: User  # admin
    sofia: User  # supervises Ventas (and so Norte and Sur)
    nora: User  # supervises Norte only
    ana: User  # agent of Norte
    beto: User  # agent of Sur
    carla: User  # agent of Otros
    juan: Contact  # of Norte
    maria: Contact  # of Sur
    zoe: Contact  # of Otros
    auto: SalesCatalogEntry  # interests
    moto: SalesCatalogEntry
    web: SalesCatalogEntry  # origins
    whatsapp: SalesCatalogEntry
    sold: SalesCatalogEntry  # close reasons
    no_interest: SalesCatalogEntry
    retired: SalesCatalogEntry  # an inactive close reason


async def build(factory: Factory) -> SalesWorld:
    ventas = await factory.team("Ventas")
    norte = await factory.team("Norte", parent=ventas)
    sur = await factory.team("Sur", parent=ventas)
    otros = await factory.team("Otros")
    (juan,) = await factory.contacts(norte, "Juan Pérez")
    (maria,) = await factory.contacts(sur, "María Gómez")
    (zoe,) = await factory.contacts(otros, "Zoe Díaz")
    return SalesWorld(
        ventas=ventas,
        norte=norte,
        sur=sur,
        otros=otros,
        ada=await factory.user(Role.ADMIN, name="Ada"),
        sofia=await factory.user(Role.SUPERVISOR, name="Sofía", supervises=[ventas]),
        nora=await factory.user(Role.SUPERVISOR, name="Nora", supervises=[norte]),
        ana=await factory.user(Role.AGENT, name="Ana", teams=[norte]),
        beto=await factory.user(Role.AGENT, name="Beto", teams=[sur]),
        carla=await factory.user(Role.AGENT, name="Carla", teams=[otros]),
        juan=juan,
        maria=maria,
        zoe=zoe,
        auto=await factory.sales_entry(SalesCatalogKind.INTEREST, "Auto 0km"),
        moto=await factory.sales_entry(SalesCatalogKind.INTEREST, "Moto"),
        web=await factory.sales_entry(SalesCatalogKind.ORIGIN, "Web form"),
        whatsapp=await factory.sales_entry(SalesCatalogKind.ORIGIN, "WhatsApp"),
        sold=await factory.sales_entry(SalesCatalogKind.CLOSE_REASON, "Sold"),
        no_interest=await factory.sales_entry(SalesCatalogKind.CLOSE_REASON, "No interest"),
        retired=await factory.sales_entry(SalesCatalogKind.CLOSE_REASON, "Retired", active=False),
    )


async def state(factory: Factory) -> dict[str, Any]:
    """Everything an attention call may write: attentions, links, views, notifications, audit rows
    and events. Equal before and after a refused call: it changed nothing."""
    async with factory.sessionmaker() as session:
        rows = {}
        for model in (SalesAttention, SalesAttentionConversation, SalesView, Notification):
            table = model.__table__
            found = await session.execute(select(table).order_by(*table.primary_key.columns))
            rows[table.name] = [tuple(r) for r in found.all()]
    return {**rows, "audit": await factory.count(AuditEvent), "events": await factory.count(Event)}


async def reload(factory: Factory, row: SalesAttention) -> SalesAttention:
    async with factory.sessionmaker() as session:
        return await session.get_one(SalesAttention, row.id)


async def refused(
    client: GraphQLClient, factory: Factory, user: User, document: str, given: dict[str, Any]
) -> list[tuple[str, str | None]]:
    """The problems of a mutation of one `input` refused to `user`: its payload holds nothing but
    them, and it changed nothing."""
    before = await state(factory)
    data = await client.data(document, {"input": given}, factory.token(user))
    (payload,) = data.values()
    assert [v for k, v in payload.items() if k != "userErrors"] == [None] * (len(payload) - 1), payload
    assert await state(factory) == before
    return problems(payload)
