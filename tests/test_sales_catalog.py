"""The sales catalogues (S1): interests, origins and close reasons, managed by admins, read by all."""

from __future__ import annotations

import pytest

from db.models import AuditEvent, Role, SalesCatalogEntry, SalesCatalogKind, User
from tests.conftest import GraphQLClient
from tests.factories import Factory, gid, last_audit, mutate, problems

CREATE = """
mutation($input: CreateSalesCatalogEntryInput!) {
  createSalesCatalogEntry(input: $input) {
    entry { id kind name position active }
    userErrors { field code message }
  }
}
"""
UPDATE = """
mutation($input: UpdateSalesCatalogEntryInput!) {
  updateSalesCatalogEntry(input: $input) {
    entry { id name position active }
    userErrors { field code message }
  }
}
"""
CATALOG = """
query($kind: SalesCatalogKind!, $all: Boolean) {
  salesCatalog(kind: $kind, includeInactive: $all) { name position active }
}
"""


async def _names(client: GraphQLClient, token: str, kind: str, everything: bool = False) -> list[str]:
    data = await client.data(CATALOG, {"kind": kind, "all": everything}, token)
    return [e["name"] for e in data["salesCatalog"]]


async def test_an_admin_builds_each_catalogue_in_its_order(
    client: GraphQLClient, factory: Factory, admin: User
) -> None:
    token = factory.token(admin)
    for name in ("Web form", "WhatsApp", "Referral"):
        await mutate(client, token, CREATE, {"input": {"kind": "ORIGIN", "name": name}})
    first = await mutate(client, token, CREATE, {"input": {"kind": "ORIGIN", "name": "  Campaign  ", "position": -1}})
    assert first["entry"] == {
        "id": first["entry"]["id"],
        "kind": "ORIGIN",
        "name": "Campaign",
        "position": -1,
        "active": True,
    }
    # Same name in another catalogue is another entry.
    await mutate(client, token, CREATE, {"input": {"kind": "INTEREST", "name": "WhatsApp"}})
    assert await _names(client, token, "ORIGIN") == ["Campaign", "Web form", "WhatsApp", "Referral"]
    assert await _names(client, token, "INTEREST") == ["WhatsApp"]
    assert await _names(client, token, "CLOSE_REASON") == []
    event = await last_audit(factory)
    assert (event.action, event.resource_type, event.resource_name) == ("CREATED", "SALES_CATALOG_ENTRY", "WhatsApp")
    assert event.changes["kind"] == {"before": None, "after": "INTEREST"}


async def test_equal_positions_list_by_name_and_agents_read_it_too(
    client: GraphQLClient, factory: Factory, admin: User, team: object
) -> None:
    for name in ("Ñandú", "auto", "Bici"):
        await factory.sales_entry(SalesCatalogKind.INTEREST, name)
    agent = await factory.user(Role.AGENT)
    assert await _names(client, factory.token(agent), "INTEREST") == ["auto", "Bici", "Ñandú"]


async def test_a_name_taken_alike_is_refused_and_nothing_is_written(
    client: GraphQLClient, factory: Factory, admin: User
) -> None:
    token = factory.token(admin)
    await factory.sales_entry(SalesCatalogKind.CLOSE_REASON, "Sin interés")
    before = (await factory.count(SalesCatalogEntry), await factory.count(AuditEvent))
    data = await client.data(CREATE, {"input": {"kind": "CLOSE_REASON", "name": "SIN INTERES"}}, token)
    assert problems(data["createSalesCatalogEntry"]) == [("ALREADY_EXISTS", "input.name")]
    assert data["createSalesCatalogEntry"]["entry"] is None
    for bad, field in [
        ({"name": "  "}, "input.name"),
        ({"name": "x" * 201}, "input.name"),
        ({"name": "a\x00"}, "input.name"),
    ]:
        data = await client.data(CREATE, {"input": {"kind": "CLOSE_REASON", **bad}}, token)
        assert [f for _, f in problems(data["createSalesCatalogEntry"])] == [field]
    data = await client.data(CREATE, {"input": {"kind": "ORIGIN", "name": "Far", "position": 10**7}}, token)
    assert problems(data["createSalesCatalogEntry"]) == [("INVALID", "input.position")]
    assert (await factory.count(SalesCatalogEntry), await factory.count(AuditEvent)) == before


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.AGENT])
async def test_only_admins_manage_the_catalogues(client: GraphQLClient, factory: Factory, role: Role) -> None:
    entry = await factory.sales_entry(SalesCatalogKind.ORIGIN, "Web")
    token = factory.token(await factory.user(role))
    created = await client.data(CREATE, {"input": {"kind": "ORIGIN", "name": "Other"}}, token)
    assert problems(created["createSalesCatalogEntry"]) == [("FORBIDDEN", None)]
    updated = await client.data(UPDATE, {"input": {"id": gid(entry), "active": False}}, token)
    assert problems(updated["updateSalesCatalogEntry"]) == [("FORBIDDEN", None)]
    assert await factory.count(SalesCatalogEntry) == 1
    assert await factory.count(AuditEvent) == 0


async def test_an_admin_renames_moves_and_retires_an_entry(
    client: GraphQLClient, factory: Factory, admin: User
) -> None:
    token = factory.token(admin)
    web = await factory.sales_entry(SalesCatalogKind.ORIGIN, "Web")
    await factory.sales_entry(SalesCatalogKind.ORIGIN, "Referral")
    renamed = await mutate(client, token, UPDATE, {"input": {"id": gid(web), "name": "Web form", "position": 5}})
    assert renamed["entry"] == {"id": gid(web), "name": "Web form", "position": 5, "active": True}
    event = await last_audit(factory)
    assert event.action == "UPDATED"
    assert event.changes == {
        "name": {"before": "Web", "after": "Web form"},
        "position": {"before": 0, "after": 5},
    }
    await mutate(client, token, UPDATE, {"input": {"id": gid(web), "active": False}})
    assert (await last_audit(factory)).action == "DEACTIVATED"
    assert await _names(client, token, "ORIGIN") == ["Referral"]
    assert await _names(client, token, "ORIGIN", everything=True) == ["Referral", "Web form"]
    # Nothing changed: no audit row.
    count = await factory.count(AuditEvent)
    await mutate(client, token, UPDATE, {"input": {"id": gid(web), "active": False}})
    assert await factory.count(AuditEvent) == count


async def test_updates_are_refused_with_their_field(client: GraphQLClient, factory: Factory, admin: User) -> None:
    token = factory.token(admin)
    web = await factory.sales_entry(SalesCatalogKind.ORIGIN, "Web")
    await factory.sales_entry(SalesCatalogKind.ORIGIN, "Referral")
    cases = [
        ({"id": gid(web), "name": "referral"}, ("ALREADY_EXISTS", "input.name")),
        ({"id": gid(web), "name": None}, ("REQUIRED", "input.name")),
        ({"id": gid(web), "active": None}, ("REQUIRED", "input.active")),
        ({"id": gid(admin), "name": "X"}, ("NOT_FOUND", "input.id")),
    ]
    for given, expected in cases:
        data = await client.data(UPDATE, {"input": given}, token)
        assert problems(data["updateSalesCatalogEntry"]) == [expected], given
    assert await _names(client, token, "ORIGIN") == ["Referral", "Web"]
    assert await factory.count(AuditEvent) == 0
