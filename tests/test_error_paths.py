"""Where an error points (point 22 of issue 21, X3): one style for every mutation and query.

`path` is the input at fault as names and list indexes from the field's argument (an item of a
bulk call: from the argument that lists it); `field` is that path joined with dots; a query's
errors carry the same as `extensions.path` and `extensions.field`.
"""

from typing import Any

from db.models import Contact, Role, Team, User
from schema.node import to_global_id
from tests.conftest import GraphQLClient
from tests.factories import PLAN, Factory, audit_count, gid, person

ERRORS = "userErrors { field path code message }"
ARGUMENTS = (
    "{ __schema { queryType { fields { name args { name } } } mutationType { fields { name args { name } } } } }"
)
CREATE_FIELD = """
mutation($input: CreateCustomFieldInput!) { createCustomField(input: $input) { userErrors { field } } }
"""
CREATE_CONTACT = f"mutation($input: CreateContactInput!) {{ createContact(input: $input) {{ {ERRORS} }} }}"
CREATE_CONTACTS = f"""
mutation($input: [CreateContactInput!]!) {{
  createContacts(input: $input) {{ results {{ index {ERRORS} }} {ERRORS} }}
}}
"""
UPDATE_CONTACT = (
    f"mutation($id: ID!, $input: UpdateContactInput!) {{ updateContact(id: $id, input: $input) {{ {ERRORS} }} }}"
)
ADD_ADDRESS = f"""
mutation($id: ID!, $input: AddressInput!) {{ addContactAddress(contactId: $id, input: $input) {{ {ERRORS} }} }}
"""
UPDATE_TEAM = f"mutation($id: ID!, $name: String!) {{ updateTeam(id: $id, name: $name) {{ {ERRORS} }} }}"
ADD_OPERATORS = f"""
mutation($c: ID!, $ops: [ID!]!) {{ addCampaignOperators(campaignId: $c, operatorIds: $ops) {{ {ERRORS} }} }}
"""
DISTRIBUTE = f"""
mutation($c: ID!, $ops: [ID!]!) {{ distributeGestiones(campaignId: $c, operatorIds: $ops) {{ {ERRORS} }} }}
"""
TRANSFER = f"mutation($ids: [ID!]!, $op: ID) {{ transferGestiones(gestionIds: $ids, operatorId: $op) {{ {ERRORS} }} }}"
ADD_GESTIONES = f"mutation($input: AddGestionesInput!) {{ addGestiones(input: $input) {{ {ERRORS} }} }}"
USERS = "query($filter: UserFilter) { users(filter: $filter) { totalCount } }"
AUDIT = "query($filter: AuditEventFilter) { auditEvents(filter: $filter) { totalCount } }"


async def arguments_by_field(client: GraphQLClient, token: str) -> dict[str, set[str]]:
    schema = (await client.data(ARGUMENTS, token=token))["__schema"]
    roots = [schema["queryType"], schema["mutationType"]]
    return {f["name"]: {a["name"] for a in f["args"]} for root in roots for f in root["fields"]}


def assert_one_style(arguments: set[str], error: dict[str, Any]) -> None:
    """The path starts at one of the field's arguments, holds names and indexes, and is the field."""
    path = error["path"]
    assert isinstance(path, list), error
    assert path, error
    assert all(isinstance(step, str) and step for step in path), error
    assert path[0] in arguments, (error, arguments)
    assert error["field"] == ".".join(path), error
    assert not any("[" in step or "." in step for step in path), error


class TestMutationErrors:
    async def test_input_objects_nested_lists_and_plain_arguments_share_one_style(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team
    ) -> None:
        token = factory.token(admin)
        arguments = await arguments_by_field(client, token)
        field = {"input": {"key": "segmento", "label": "Segmento", "type": "CHOICE", "options": ["A", "B"]}}
        assert (await client.data(CREATE_FIELD, field, token))["createCustomField"]["userErrors"] == []
        (contact,) = await factory.contacts(team, "Ana Gómez")
        ana = await factory.user(Role.AGENT, name="Ana Agente", teams=[team])
        stranger = await factory.user(Role.SUPERVISOR, name="Sam Supervisor")
        campaign = await factory.campaign("Mora", team, operators=[ana])
        before = (await factory.count(Contact), await audit_count(factory))
        address = {"street": "Av. Corrientes", "city": "CABA", "country": "AR"}
        cases: list[tuple[str, str, dict[str, Any], list[str]]] = [
            # An input object, and lists within it.
            ("createContact", CREATE_CONTACT, {"input": person(team, firstNames=" ")}, ["input", "firstNames"]),
            (
                "createContact",
                CREATE_CONTACT,
                {"input": person(team, channels=[{"kind": "EMAIL", "value": "nope@"}])},
                ["input", "channels", "0", "value"],
            ),
            (
                "createContact",
                CREATE_CONTACT,
                {"input": person(team, addresses=[address, {**address, "country": "ARG"}])},
                ["input", "addresses", "1", "country"],
            ),
            (
                "createContact",
                CREATE_CONTACT,
                {"input": person(team, document={"typeId": "not-an-id", "number": "1"})},
                ["input", "document", "typeId"],
            ),
            # Custom fields are a list of {key, value}: the item by its position, not by its key.
            (
                "createContact",
                CREATE_CONTACT,
                {"input": person(team, customFields=[{"key": "segmento", "value": "C"}])},
                ["input", "customFields", "0", "value"],
            ),
            (
                "createContact",
                CREATE_CONTACT,
                {"input": person(team, customFields=[{"key": "segmento", "value": "A"}, {"key": "nada", "value": 1}])},
                ["input", "customFields", "1", "key"],
            ),
            (
                "createContact",
                CREATE_CONTACT,
                {
                    "input": person(
                        team, customFields=[{"key": "segmento", "value": "A"}, {"key": "segmento", "value": "B"}]
                    )
                },
                ["input", "customFields", "1", "key"],
            ),
            # A company created inline: under the input's `company`.
            (
                "createContact",
                CREATE_CONTACT,
                {"input": person(team, company={"name": "Acme", "phone": "12"})},
                ["input", "company", "phone"],
            ),
            # A plain argument beside an input object, and a path inside that input object.
            ("updateContact", UPDATE_CONTACT, {"id": "nope", "input": {"firstNames": "X"}}, ["id"]),
            (
                "updateContact",
                UPDATE_CONTACT,
                {"id": gid(contact), "input": {"lastNames": None}},
                ["input", "lastNames"],
            ),
            (
                "addContactAddress",
                ADD_ADDRESS,
                {"id": gid(contact), "input": {**address, "country": "ARG"}},
                ["input", "country"],
            ),
            # Plain arguments only, a list among them: the item by its position in what was sent.
            ("updateTeam", UPDATE_TEAM, {"id": gid(team), "name": "  "}, ["name"]),
            (
                "addCampaignOperators",
                ADD_OPERATORS,
                {"c": gid(campaign), "ops": [gid(ana), "nope"]},
                ["operatorIds", "1"],
            ),
            (
                "distributeGestiones",
                DISTRIBUTE,
                {"c": gid(campaign), "ops": [gid(ana), gid(ana), gid(stranger)]},
                ["operatorIds", "2"],
            ),
            ("transferGestiones", TRANSFER, {"ids": [], "op": gid(stranger)}, ["operatorId"]),
            # A JSON object inside the input: its keys are names too.
            (
                "addGestiones",
                ADD_GESTIONES,
                {
                    "input": {
                        "campaignId": gid(campaign),
                        "contacts": {"ids": [gid(contact)]},
                        "plan": {**PLAN, "extra": 1},
                    }
                },
                ["input", "plan", "extra"],
            ),
        ]
        for name, document, variables, expected in cases:
            payload = (await client.data(document, variables, token))[name]
            paths = [e["path"] for e in payload["userErrors"]]
            assert expected in paths, (name, variables, payload["userErrors"])
            for error in payload["userErrors"]:
                assert_one_style(arguments[name], error)
        assert (await factory.count(Contact), await audit_count(factory)) == before

    async def test_a_plan_field_is_called_so(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team
    ) -> None:
        (contact,) = await factory.contacts(team, "Ana Gómez")
        campaign = await factory.campaign("Mora", team)
        variables = {
            "input": {"campaignId": gid(campaign), "contacts": {"ids": [gid(contact)]}, "plan": {**PLAN, "extra": 1}}
        }
        payload = (await client.data(ADD_GESTIONES, variables, factory.token(admin)))["addGestiones"]
        assert [(e["path"], e["code"], e["message"]) for e in payload["userErrors"]] == [
            (["input", "plan", "extra"], "INVALID", "No such plan field")
        ]

    async def test_a_required_custom_field_left_out_names_the_list(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team
    ) -> None:
        token = factory.token(admin)
        field = {"input": {"key": "origen", "label": "Origen", "type": "TEXT", "required": True}}
        assert (await client.data(CREATE_FIELD, field, token))["createCustomField"]["userErrors"] == []
        payload = (await client.data(CREATE_CONTACT, {"input": person(team)}, token))["createContact"]
        assert [(e["path"], e["field"], e["message"]) for e in payload["userErrors"]] == [
            (["input", "customFields"], "input.customFields", "Origen is required")
        ]


class TestBulkItems:
    async def test_an_item_is_named_by_its_position_in_the_input_list(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team
    ) -> None:
        token = factory.token(admin)
        arguments = await arguments_by_field(client, token)
        items = [
            person(team),
            person(team, firstNames=""),
            person(team, channels=[{"kind": "PHONE", "value": "12"}]),
            person(team, teamId="not-an-id"),
            # An inline company is checked with its item, not for the whole call.
            person(team, company={"name": "Acme", "phone": "12"}),
        ]
        payload = (await client.data(CREATE_CONTACTS, {"input": items}, token))["createContacts"]
        assert [(r["index"], [e["path"] for e in r["userErrors"]]) for r in payload["results"]] == [
            (0, []),
            (1, [["input", "1", "firstNames"]]),
            (2, [["input", "2", "channels", "0", "value"]]),
            (3, [["input", "3", "teamId"]]),
            (4, [["input", "4", "company", "phone"]]),
        ]
        for result in payload["results"]:
            for error in result["userErrors"]:
                assert_one_style(arguments["createContacts"], error)


class TestQueryErrors:
    async def test_extensions_name_the_argument_path(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team
    ) -> None:
        token = factory.token(admin)
        cases = [
            (USERS, {"filter": {"teamIds": [gid(team), to_global_id("User", 1)]}}, ["filter", "teamIds", "1"]),
            (AUDIT, {"filter": {"from": "2026-11-10T00:00:00Z", "to": "2026-11-01T00:00:00Z"}}, ["filter", "from"]),
        ]
        for document, variables, expected in cases:
            (error,) = (await client.gql(document, variables, token))["errors"]
            assert (error["extensions"]["path"], error["extensions"]["field"]) == (expected, ".".join(expected))
