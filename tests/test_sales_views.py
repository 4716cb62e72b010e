"""Saved views of the sales panel (S4): columns in order, at most 12 filters, one default per
user, their rows the panel's own, and only their owner's."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from db.base import utcnow
from db.models import CustomFieldDefinition, SalesView, User
from services.sales_panel import DEFAULT_COLUMNS, Column
from tests.conftest import GraphQLClient
from tests.factories import Factory, gid, last_audit, mutate
from tests.sales_world import SalesWorld, build, refused

VIEW = """
  id name isDefault
  columns { id field customFieldKey label }
  filter {
    text period from to teamId agentIds unassigned statuses interestIds originIds closeReasonIds
    customFields { key value }
  }
"""
CREATE = f"""
mutation($input: CreateSalesViewInput!) {{
  createSalesView(input: $input) {{ view {{ {VIEW} }} userErrors {{ field code message }} }}
}}
"""
UPDATE = f"""
mutation($input: UpdateSalesViewInput!) {{
  updateSalesView(input: $input) {{ view {{ {VIEW} }} userErrors {{ field code message }} }}
}}
"""
SET_DEFAULT = """
mutation($input: SetDefaultSalesViewInput!) {
  setDefaultSalesView(input: $input) { view { id name isDefault } userErrors { field code message } }
}
"""
DELETE = """
mutation($input: DeleteSalesViewInput!) {
  deleteSalesView(input: $input) { deletedId userErrors { field code message } }
}
"""
NODE = "query($id: ID!) { node(id: $id) { id } }"
VIEWS = "{ salesViews { totalCount nodes { name isDefault } } defaultSalesView { name } }"
ROWS = """
query($f: SalesAttentionFilter) {
  salesAttentions(filter: $f) { totalCount nodes { id } }
  defaultSalesView { attentions { totalCount nodes { id } } }
}
"""


@pytest.fixture
async def world(factory: Factory) -> SalesWorld:
    return await build(factory)


@pytest.fixture
async def segment(factory: Factory) -> CustomFieldDefinition:
    async with factory.sessionmaker() as session:
        row = CustomFieldDefinition(key="segmento", label="Segmento", type="TEXT", options=[], position=0)
        session.add(row)
        await session.commit()
        return row


async def _create(client: GraphQLClient, factory: Factory, user: User, **given: Any) -> dict[str, Any]:
    view: dict[str, Any] = (await mutate(client, factory.token(user), CREATE, {"input": given}))["view"]
    return view


def _thirteen(world: SalesWorld) -> dict[str, Any]:
    """Thirteen filters at once: eight fields and five custom field conditions."""
    return {
        "text": "juan",
        "period": "LAST_30_DAYS",
        "teamId": gid(world.ventas),
        "agentIds": [gid(world.ana)],
        "statuses": ["OPEN"],
        "interestIds": [gid(world.auto)],
        "originIds": [gid(world.web)],
        "closeReasonIds": [gid(world.sold)],
        "customFields": [{"key": f"k{i}", "value": "v"} for i in range(5)],
    }


async def test_a_new_view_shows_the_seeds_columns_and_no_filter(
    client: GraphQLClient, factory: Factory, world: SalesWorld
) -> None:
    view = await _create(client, factory, world.sofia, name="  Mi panel ")
    assert view["name"] == "Mi panel"
    assert view["isDefault"] is False
    assert [c["field"] for c in view["columns"]] == [c.value for c in DEFAULT_COLUMNS]
    assert view["columns"][0] == {"id": "FULL_NAME", "field": "FULL_NAME", "customFieldKey": None, "label": "Full name"}
    assert view["filter"]["period"] is None
    assert view["filter"]["agentIds"] == []
    event = await last_audit(factory)
    assert (event.action, event.resource_type, event.resource_name) == ("CREATED", "SALES_VIEW", "Mi panel")
    assert event.changes["columns"]["after"] == [c.value for c in DEFAULT_COLUMNS]


async def test_columns_in_any_order_and_number_with_custom_fields(
    client: GraphQLClient, factory: Factory, world: SalesWorld, segment: CustomFieldDefinition
) -> None:
    every = [{"field": c.value} for c in reversed(Column)]
    columns = [every[0], {"customFieldKey": "segmento"}, *every[1:]]
    view = await _create(client, factory, world.ada, name="Todo", columns=columns)
    backwards = [c.value for c in reversed(Column)]
    assert [c["id"] for c in view["columns"]] == [backwards[0], "customField:segmento", *backwards[1:]]
    assert view["columns"][1] == {
        "id": "customField:segmento",
        "field": None,
        "customFieldKey": "segmento",
        "label": "Segmento",
    }


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        ([{"field": "PHONE"}, {"field": "PHONE"}], ("ALREADY_EXISTS", "input.columns.1")),
        ([{"customFieldKey": "nope"}], ("NOT_FOUND", "input.columns.0.customFieldKey")),
        ([], ("REQUIRED", "input.columns")),
    ],
)
async def test_bad_columns_are_refused_with_their_position(
    client: GraphQLClient, factory: Factory, world: SalesWorld, columns: list[dict[str, str]], expected: Any
) -> None:
    given = {"name": "Mal", "columns": columns}
    assert await refused(client, factory, world.sofia, CREATE, given) == [expected]


async def test_twelve_filters_at_once_and_no_more(client: GraphQLClient, factory: Factory, world: SalesWorld) -> None:
    thirteen = _thirteen(world)
    assert await refused(client, factory, world.sofia, CREATE, {"name": "Mucho", "filter": thirteen}) == [
        ("LIMIT_EXCEEDED", "input.filter")
    ]
    twelve = {**thirteen, "customFields": thirteen["customFields"][:4]}
    view = await _create(client, factory, world.sofia, name="Justo", filter=twelve)
    saved = view["filter"]
    assert (saved["text"], saved["period"], saved["teamId"], saved["agentIds"]) == (
        "juan",
        "LAST_30_DAYS",
        gid(world.ventas),
        [gid(world.ana)],
    )
    assert saved["customFields"] == twelve["customFields"]
    # Updating to thirteen is refused the same way, and leaves the twelve.
    assert await refused(client, factory, world.sofia, UPDATE, {"id": view["id"], "filter": thirteen}) == [
        ("LIMIT_EXCEEDED", "input.filter")
    ]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"from": "2026-03-12T00:00:00-03:00", "to": "2026-03-11T00:00:00-03:00"}, ("INVALID", "input.filter.from")),
        ({"period": "TODAY", "to": "2026-03-11T00:00:00-03:00"}, ("INVALID", "input.filter.period")),
        ({"text": "a\x00"}, ("INVALID", "input.filter.text")),
        ({"teamId": "bm90LW91cnM"}, ("NOT_FOUND", "input.filter.teamId")),
    ],
)
async def test_a_filter_the_panel_cannot_read_is_refused(
    client: GraphQLClient, factory: Factory, world: SalesWorld, flt: dict[str, Any], expected: Any
) -> None:
    assert await refused(client, factory, world.sofia, CREATE, {"name": "Mal", "filter": flt}) == [expected]


async def test_names_are_unique_per_user(client: GraphQLClient, factory: Factory, world: SalesWorld) -> None:
    await _create(client, factory, world.sofia, name="Calientes")
    assert await refused(client, factory, world.sofia, CREATE, {"name": "CALIENTES"}) == [
        ("ALREADY_EXISTS", "input.name")
    ]
    await _create(client, factory, world.nora, name="Calientes")
    other = await _create(client, factory, world.sofia, name="Fríos")
    assert await refused(client, factory, world.sofia, UPDATE, {"id": other["id"], "name": "calientes"}) == [
        ("ALREADY_EXISTS", "input.name")
    ]


async def test_an_update_changes_only_what_it_gives(client: GraphQLClient, factory: Factory, world: SalesWorld) -> None:
    view = await _create(
        client, factory, world.sofia, name="A", columns=[{"field": "EMAIL"}], filter={"period": "TODAY"}
    )
    token = factory.token(world.sofia)
    renamed = (await mutate(client, token, UPDATE, {"input": {"id": view["id"], "name": "B"}}))["view"]
    assert (renamed["name"], renamed["columns"], renamed["filter"]) == ("B", view["columns"], view["filter"])
    assert (await last_audit(factory)).changes == {"name": {"before": "A", "after": "B"}}
    given = {"id": view["id"], "filter": {"unassigned": True}, "columns": [{"field": "STATUS"}, {"field": "EMAIL"}]}
    changed = (await mutate(client, token, UPDATE, {"input": given}))["view"]
    assert (changed["filter"]["period"], changed["filter"]["unassigned"]) == (None, True)
    assert [c["id"] for c in changed["columns"]] == ["STATUS", "EMAIL"]
    assert (await last_audit(factory)).changes["filter"] == {
        "before": {"period": "TODAY"},
        "after": {"unassigned": True},
    }
    for null in ("name", "columns", "filter"):
        assert await refused(client, factory, world.sofia, UPDATE, {"id": view["id"], null: None}) == [
            ("REQUIRED", f"input.{null}")
        ]


async def test_one_default_per_user(client: GraphQLClient, factory: Factory, world: SalesWorld) -> None:
    token = factory.token(world.sofia)
    assert (await client.data(VIEWS, token=token))["defaultSalesView"] is None
    first = await _create(client, factory, world.sofia, name="Uno", isDefault=True)
    second = await _create(client, factory, world.sofia, name="Dos")
    await _create(client, factory, world.nora, name="De Nora", isDefault=True)
    data = await client.data(VIEWS, token=token)
    assert data == {
        "salesViews": {
            "totalCount": 2,
            "nodes": [{"name": "Dos", "isDefault": False}, {"name": "Uno", "isDefault": True}],
        },
        "defaultSalesView": {"name": "Uno"},
    }
    moved = await mutate(client, token, SET_DEFAULT, {"input": {"id": second["id"]}})
    assert moved["view"] == {"id": second["id"], "name": "Dos", "isDefault": True}
    assert (await client.data(VIEWS, token=token))["salesViews"]["nodes"] == [
        {"name": "Dos", "isDefault": True},
        {"name": "Uno", "isDefault": False},
    ]
    assert (await last_audit(factory)).changes == {"isDefault": {"before": False, "after": True}}
    # A new default takes over too; then none at all.
    third = await _create(client, factory, world.sofia, name="Tres", isDefault=True)
    assert (await client.data(VIEWS, token=token))["defaultSalesView"] == {"name": "Tres"}
    await mutate(client, token, SET_DEFAULT, {"input": {"id": third["id"], "isDefault": False}})
    assert (await client.data(VIEWS, token=token))["defaultSalesView"] is None
    assert (await client.data(VIEWS, token=factory.token(world.nora)))["defaultSalesView"] == {"name": "De Nora"}
    assert first["id"] != third["id"]


async def test_a_view_is_its_owners_only(client: GraphQLClient, factory: Factory, world: SalesWorld) -> None:
    view = await _create(client, factory, world.sofia, name="Mía")
    for document, given in [
        (UPDATE, {"id": view["id"], "name": "Robada"}),
        (SET_DEFAULT, {"id": view["id"]}),
        (DELETE, {"id": view["id"]}),
    ]:
        assert await refused(client, factory, world.ada, document, given) == [("NOT_FOUND", "input.id")]
    assert (await client.data(NODE, {"id": view["id"]}, factory.token(world.ada)))["node"] is None
    assert (await client.data(NODE, {"id": view["id"]}, factory.token(world.sofia)))["node"] == {"id": view["id"]}


async def test_deleting_a_view(client: GraphQLClient, factory: Factory, world: SalesWorld) -> None:
    view = await _create(client, factory, world.sofia, name="Vieja", isDefault=True)
    token = factory.token(world.sofia)
    deleted = await mutate(client, token, DELETE, {"input": {"id": view["id"]}})
    assert deleted["deletedId"] == view["id"]
    assert await factory.count(SalesView) == 0
    assert (await client.data(VIEWS, token=token)) == {
        "salesViews": {"totalCount": 0, "nodes": []},
        "defaultSalesView": None,
    }
    event = await last_audit(factory)
    assert (event.action, event.resource_name, event.changes["name"]) == (
        "DELETED",
        "Vieja",
        {"before": "Vieja", "after": None},
    )


async def test_agents_have_no_views(client: GraphQLClient, factory: Factory, world: SalesWorld) -> None:
    token = factory.token(world.ana)
    body = await client.gql(VIEWS, token=token)
    assert body["data"] == {"salesViews": None, "defaultSalesView": None}
    assert sorted(e["extensions"]["code"] for e in body["errors"]) == ["FORBIDDEN", "FORBIDDEN"]
    assert await refused(client, factory, world.ana, CREATE, {"name": "Mía"}) == [("FORBIDDEN", None)]


async def test_a_views_rows_are_the_panels_for_its_filters(
    client: GraphQLClient, factory: Factory, world: SalesWorld
) -> None:
    now = utcnow()
    mine = await factory.sales_attention(world.juan, agent=world.ana, interest=world.auto, created_at=now)
    await factory.sales_attention(world.maria, agent=world.beto, created_at=now - timedelta(minutes=1))
    await factory.sales_attention(world.zoe, created_at=now - timedelta(days=20))
    flt = {"agentIds": [gid(world.ana), gid(world.beto)], "period": "LAST_30_DAYS"}
    await _create(client, factory, world.sofia, name="Equipo", filter=flt, isDefault=True)
    data = await client.data(ROWS, {"f": flt}, factory.token(world.sofia))
    assert data["defaultSalesView"]["attentions"] == data["salesAttentions"]
    assert data["salesAttentions"]["totalCount"] == 2
    narrow = {"interestIds": [gid(world.auto)]}
    view = await _create(client, factory, world.ada, name="Autos", filter=narrow, isDefault=True)
    data = await client.data(ROWS, {"f": narrow}, factory.token(world.ada))
    assert data["defaultSalesView"]["attentions"] == data["salesAttentions"]
    assert data["salesAttentions"]["nodes"] == [{"id": gid(mine)}]
    assert view["filter"]["interestIds"] == [gid(world.auto)]
