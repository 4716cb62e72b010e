"""Contacts through the GraphQL endpoint (C1 to C8): validation, search, visibility, bulk, audit."""

from typing import Any

import pytest

from db.models import Contact, ContactAddress, ContactChannel, Role, Team, User
from tests.conftest import GraphQLClient, StatementCounter, running
from tests.factories import Factory, doc_type, gid, person

CONTACT_FIELDS = """
  id firstNames lastNames fullName initials isVip archivedAt
  document { number type { code } }
  company { name }
  team { name }
  channels { id kind value normalized }
  channelKinds
  channelsByKind { kind channels { value } }
  addresses { id city isPrimary }
  primaryAddress { city }
  customFields { definition { key } value }
"""
CREATE = f"""
mutation($input: CreateContactInput!) {{
  createContact(input: $input) {{ contact {{ {CONTACT_FIELDS} }} userErrors {{ field code message }} }}
}}
"""
UPDATE = f"""
mutation($id: ID!, $input: UpdateContactInput!) {{
  updateContact(id: $id, input: $input) {{ contact {{ {CONTACT_FIELDS} }} userErrors {{ field code message }} }}
}}
"""
CREATE_MANY = """
mutation($input: [CreateContactInput!]!) {
  createContacts(input: $input) {
    createdCount rejectedCount
    results { index contact { id fullName } userErrors { field code } }
    userErrors { field code }
  }
}
"""
SEARCH = """
query($filter: ContactFilter, $first: Int, $after: String) {
  contacts(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } nodes { id fullName }
  }
}
"""
NODE = "query($id: ID!) { node(id: $id) { id ... on Contact { fullName } } }"
ADD_CHANNEL = """
mutation($id: ID!, $input: ChannelInput!) {
  addContactChannel(contactId: $id, input: $input) {
    contact { channels { kind normalized } } userErrors { field code }
  }
}
"""
ADD_ADDRESS = """
mutation($id: ID!, $input: AddressInput!) {
  addContactAddress(contactId: $id, input: $input) {
    contact { addresses { id city isPrimary } } userErrors { field code }
  }
}
"""
SET_PRIMARY = """
mutation($id: ID!) { setPrimaryContactAddress(id: $id) { contact { primaryAddress { city } } userErrors { code } } }
"""
ARCHIVE = "mutation($id: ID!) { archiveContact(id: $id) { contact { archivedAt } userErrors { code } } }"
UPDATE_COMPANY = """
mutation($id: ID!, $name: String!) {
  updateCompany(id: $id, input: {name: $name}) { company { name } userErrors { code } }
}
"""
CREATE_FIELD = """
mutation($input: CreateCustomFieldInput!) {
  createCustomField(input: $input) { customField { id key } userErrors { field code } }
}
"""


async def create(client: GraphQLClient, token: str, payload: dict[str, Any]) -> dict[str, Any]:
    data = await client.data(CREATE, {"input": payload}, token)
    result: dict[str, Any] = data["createContact"]
    return result


class TestCreate:
    async def test_all_fields(self, client: GraphQLClient, factory: Factory, admin: User, team: Team) -> None:
        token = factory.token(admin)
        dni = await doc_type(client, token, "DNI")
        await client.data(
            CREATE_FIELD,
            {"input": {"key": "segment", "label": "Segmento", "type": "CHOICE", "options": ["A", "B"]}},
            token,
        )
        result = await create(
            client,
            token,
            person(
                team,
                isVip=True,
                document={"typeId": dni, "number": "30.123.456"},
                company={"name": "Distribuidora del Sur S.A."},
                channels=[
                    {"kind": "PHONE", "value": "+54 9 11 4444-5555"},
                    {"kind": "EMAIL", "value": "Jose.Perez@Example.com"},
                    {"kind": "WHATSAPP", "value": "+54 9 11 4444-5555"},
                ],
                addresses=[{"street": "Av. Corrientes", "number": "1234", "city": "Buenos Aires", "country": "ar"}],
                customFields=[{"key": "segment", "value": "A"}],
            ),
        )
        assert result["userErrors"] == []
        contact = result["contact"]
        assert contact["fullName"] == "José Pérez"
        assert contact["initials"] == "JP"
        assert contact["document"] == {"number": "30123456", "type": {"code": "DNI"}}
        assert contact["company"] == {"name": "Distribuidora del Sur S.A."}
        assert contact["team"] == {"name": "Cobranzas"}
        assert [c["normalized"] for c in contact["channels"]] == [
            "+5491144445555",
            "jose.perez@example.com",
            "+5491144445555",
        ]
        assert contact["channelKinds"] == ["PHONE", "EMAIL", "WHATSAPP"]
        assert [g["kind"] for g in contact["channelsByKind"]] == ["PHONE", "EMAIL", "WHATSAPP"]
        assert contact["primaryAddress"] == {"city": "Buenos Aires"}
        assert contact["customFields"] == [{"definition": {"key": "segment"}, "value": "A"}]
        rows = await factory.audit_rows()
        assert [(r.action, r.resource_type) for r in rows] == [
            ("CREATED", "CUSTOM_FIELD"),
            ("CREATED", "COMPANY"),
            ("CREATED", "CONTACT"),
        ]

    @pytest.mark.parametrize(
        ("extra", "field", "code"),
        [
            ({"firstNames": "  "}, "input.firstNames", "REQUIRED"),
            ({"channels": [{"kind": "PHONE", "value": "12"}]}, "input.channels.0.value", "INVALID"),
            ({"channels": [{"kind": "EMAIL", "value": "nope@"}]}, "input.channels.0.value", "INVALID"),
            ({"addresses": [{"street": "x", "city": "y", "country": "ARG"}]}, "input.addresses.0.country", "INVALID"),
        ],
    )
    async def test_rejected_input_writes_nothing(
        self,
        client: GraphQLClient,
        factory: Factory,
        admin: User,
        team: Team,
        extra: dict[str, Any],
        field: str,
        code: str,
    ) -> None:
        result = await create(client, factory.token(admin), person(team, **extra))
        assert result["contact"] is None
        assert {"field": field, "code": code} in [
            {"field": e["field"], "code": e["code"]} for e in result["userErrors"]
        ]
        assert await factory.count(Contact) == 0
        assert await factory.count(ContactChannel) == 0
        assert await factory.audit_rows() == []

    async def test_document_check_digit(self, client: GraphQLClient, factory: Factory, admin: User, team: Team) -> None:
        token = factory.token(admin)
        cuit = await doc_type(client, token, "CUIT")
        bad = await create(client, token, person(team, document={"typeId": cuit, "number": "20-12345678-0"}))
        assert [e["field"] for e in bad["userErrors"]] == ["input.document.number"]
        assert await factory.count(Contact) == 0

    async def test_every_problem_is_reported_at_once(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team
    ) -> None:
        result = await create(
            client,
            factory.token(admin),
            person(team, firstNames="", lastNames="", channels=[{"kind": "EMAIL", "value": "x"}]),
        )
        assert sorted(e["field"] for e in result["userErrors"]) == [
            "input.channels.0.value",
            "input.firstNames",
            "input.lastNames",
        ]

    async def test_agents_create_only_in_their_teams(self, client: GraphQLClient, factory: Factory, team: Team) -> None:
        other = await factory.team("Ventas")
        agent = await factory.user(Role.AGENT, teams=[team])
        ok = await create(client, factory.token(agent), person(team))
        assert ok["userErrors"] == []
        refused = await create(client, factory.token(agent), person(other))
        assert refused["userErrors"][0]["code"] == "FORBIDDEN"
        assert await factory.count(Contact) == 1


class TestSearch:
    @pytest.fixture
    async def people(self, client: GraphQLClient, factory: Factory, admin: User, team: Team) -> dict[str, str]:
        token = factory.token(admin)
        cuit = await doc_type(client, token, "CUIT")
        made = {}
        for first, last, extra in [
            ("José", "Pérez", {"channels": [{"kind": "PHONE", "value": "+54 9 11 4444-5555"}]}),
            ("María José", "Núñez", {"company": {"name": "Ferretería Ñandú"}}),
            ("Pedro", "Gómez", {"document": {"typeId": cuit, "number": "20-12345678-6"}}),
            ("Ana", "Perezutti", {}),
        ]:
            result = await create(client, token, person(team, firstNames=first, lastNames=last, **extra))
            assert result["userErrors"] == [], result
            made[f"{first} {last}"] = result["contact"]["id"]
        return made

    @pytest.mark.parametrize(
        ("keyword", "expected"),
        [
            ("jose perez", ["José Pérez"]),
            ("JOSÉ", ["José Pérez", "María José Núñez"]),
            ("perez", ["José Pérez", "Ana Perezutti"]),
            ("+54 9 11 4444-5555", ["José Pérez"]),
            ("1144445555", ["José Pérez"]),
            ("11 4444 5555", ["José Pérez"]),
            ("20-12345678-6", ["Pedro Gómez"]),
            ("ferreteria nandu", ["María José Núñez"]),
            ("nadie", []),
        ],
    )
    async def test_keyword(
        self,
        client: GraphQLClient,
        factory: Factory,
        admin: User,
        people: dict[str, str],
        keyword: str,
        expected: list[str],
    ) -> None:
        data = await client.data(SEARCH, {"filter": {"search": keyword}}, factory.token(admin))
        assert [n["fullName"] for n in data["contacts"]["nodes"]] == expected

    async def test_company_rename_reaches_search(
        self, client: GraphQLClient, factory: Factory, admin: User, people: dict[str, str]
    ) -> None:
        token = factory.token(admin)
        companies = await client.data('{ companies(search: "nandu") { nodes { id } } }', token=token)
        company_id = companies["companies"]["nodes"][0]["id"]
        renamed = await client.data(UPDATE_COMPANY, {"id": company_id, "name": "Bulonera Central"}, token)
        assert renamed["updateCompany"]["userErrors"] == []
        found = await client.data(SEARCH, {"filter": {"search": "bulonera"}}, token)
        assert [n["fullName"] for n in found["contacts"]["nodes"]] == ["María José Núñez"]
        gone = await client.data(SEARCH, {"filter": {"search": "nandu"}}, token)
        assert gone["contacts"]["nodes"] == []

    async def test_pages_by_cursor(
        self, client: GraphQLClient, factory: Factory, admin: User, people: dict[str, str]
    ) -> None:
        token = factory.token(admin)
        first = await client.data(SEARCH, {"filter": {"search": "e"}, "first": 2}, token)
        rest = await client.data(
            SEARCH, {"filter": {"search": "e"}, "first": 10, "after": first["contacts"]["pageInfo"]["endCursor"]}, token
        )
        names = [n["fullName"] for n in first["contacts"]["nodes"] + rest["contacts"]["nodes"]]
        assert len(names) == len(set(names)) == first["contacts"]["totalCount"]


WALK = """
query($filter: ContactFilter, $first: Int, $after: String, $last: Int, $before: String) {
  contacts(filter: $filter, first: $first, after: $after, last: $last, before: $before) {
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } nodes { fullName }
  }
}
"""


class TestRelevance:
    # "luna" in every place a keyword can match, most relevant first (services.contacts._relevance_tiers).
    RANKED = [
        "Luna Acosta",  # 1: the name starts with it, first names first; by first name
        "Luna María Zapata",
        "Ana Luna",  # 2: it starts the name last names first; by last name
        "Pedro Lunardi",
        "Carla Gómez Luna",  # 3: elsewhere in the name; by last name
        "Sol Villaluna",
        "Zoe Abad",  # 4: only in a channel or the company; by last name
        "Juan Díaz",
    ]

    @pytest.fixture
    async def ranked(self, client: GraphQLClient, factory: Factory, admin: User, team: Team) -> str:
        token = factory.token(admin)
        rows = [
            ("Juan", "Díaz", {"company": {"name": "Luna Hermanos"}}),
            ("Sol", "Villaluna", {}),
            ("Luna María", "Zapata", {}),
            ("Zoe", "Abad", {"channels": [{"kind": "EMAIL", "value": "luna@example.com"}]}),
            ("Pedro", "Lunardi", {}),
            ("Carla", "Gómez Luna", {}),
            ("Ana", "Luna", {}),
            ("Luna", "Acosta", {}),
            ("Marta", "Sol", {}),
        ]
        for first, last, extra in rows:
            result = await create(client, token, person(team, firstNames=first, lastNames=last, **extra))
            assert result["userErrors"] == [], result
        return token

    async def test_tiers_in_order(self, client: GraphQLClient, ranked: str) -> None:
        data = await client.data(SEARCH, {"filter": {"search": "LUNA"}}, ranked)
        assert [n["fullName"] for n in data["contacts"]["nodes"]] == self.RANKED
        assert data["contacts"]["totalCount"] == len(self.RANKED)

    async def test_one_by_one_forward_and_back_cross_every_tier(self, client: GraphQLClient, ranked: str) -> None:
        forward: list[str] = []
        after = None
        while True:
            page = (await client.data(WALK, {"filter": {"search": "luna"}, "first": 1, "after": after}, ranked))[
                "contacts"
            ]
            forward += [n["fullName"] for n in page["nodes"]]
            assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert forward == self.RANKED
        backward: list[str] = []
        before = None
        while True:
            page = (await client.data(WALK, {"filter": {"search": "luna"}, "last": 3, "before": before}, ranked))[
                "contacts"
            ]
            backward = [n["fullName"] for n in page["nodes"]] + backward
            if not page["pageInfo"]["hasPreviousPage"]:
                break
            before = page["pageInfo"]["startCursor"]
        assert backward == self.RANKED

    async def test_a_page_queries_only_the_tiers_it_reaches(
        self, client: GraphQLClient, ranked: str, count_sql: StatementCounter
    ) -> None:
        async def statements(first: int) -> int:
            count_sql.statements.clear()
            await client.data(WALK, {"filter": {"search": "luna"}, "first": first}, ranked)
            return count_sql.count

        # The first two matches fill a page of one from tier 1; all eight need the four tiers.
        assert await statements(1) + 3 == await statements(8)

    # [5,"x",1]: no such tier; [0,"x"]: a key short; ["x",1]: no tier; [0,"x","y"]: a text id; [true,"x",1].
    @pytest.mark.parametrize(
        "cursor", ["WzUsIngiLDFd", "WzAsIngiXQ", "WyJ4IiwxXQ", "WzAsIngiLCJ5Il0", "W3RydWUsIngiLDFd"]
    )
    async def test_malformed_cursors_are_the_clients_error(
        self, client: GraphQLClient, ranked: str, cursor: str
    ) -> None:
        body = await client.gql(WALK, {"filter": {"search": "luna"}, "first": 1, "after": cursor}, ranked)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


class TestUpdate:
    async def test_only_given_fields_change(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team
    ) -> None:
        token = factory.token(admin)
        created = await create(client, token, person(team, isVip=True, channels=[{"kind": "EMAIL", "value": "a@b.co"}]))
        contact_id = created["contact"]["id"]
        result = await client.data(UPDATE, {"id": contact_id, "input": {"lastNames": "Pérez García"}}, token)
        contact = result["updateContact"]["contact"]
        assert contact["fullName"] == "José Pérez García"
        assert contact["isVip"] is True
        assert len(contact["channels"]) == 1
        (event,) = [r for r in await factory.audit_rows() if r.action == "UPDATED"]
        assert event.changes == {"lastNames": {"before": "Pérez", "after": "Pérez García"}}
        found = await client.data(SEARCH, {"filter": {"search": "garcia"}}, token)
        assert [n["id"] for n in found["contacts"]["nodes"]] == [contact_id]

    async def test_refused_update_changes_nothing(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team
    ) -> None:
        token = factory.token(admin)
        contact_id = (await create(client, token, person(team)))["contact"]["id"]
        audit_before = len(await factory.audit_rows())
        result = await client.data(
            UPDATE, {"id": contact_id, "input": {"lastNames": "Gómez", "firstNames": " "}}, token
        )
        assert [e["field"] for e in result["updateContact"]["userErrors"]] == ["input.firstNames"]
        node = await client.data(NODE, {"id": contact_id}, token)
        assert node["node"]["fullName"] == "José Pérez"
        assert len(await factory.audit_rows()) == audit_before


class TestChannelsAndAddresses:
    async def test_channel_added_is_searchable(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team
    ) -> None:
        token = factory.token(admin)
        contact_id = (await create(client, token, person(team)))["contact"]["id"]
        added = await client.data(
            ADD_CHANNEL, {"id": contact_id, "input": {"kind": "WHATSAPP", "value": "011 15 4444-5555"}}, token
        )
        assert added["addContactChannel"]["userErrors"] == []
        again = await client.data(
            ADD_CHANNEL, {"id": contact_id, "input": {"kind": "WHATSAPP", "value": "+5491144445555"}}, token
        )
        assert again["addContactChannel"]["userErrors"] == [{"field": "input.value", "code": "ALREADY_EXISTS"}]
        found = await client.data(SEARCH, {"filter": {"search": "44445555"}}, token)
        assert [n["id"] for n in found["contacts"]["nodes"]] == [contact_id]

    async def test_one_primary_address(self, client: GraphQLClient, factory: Factory, admin: User, team: Team) -> None:
        token = factory.token(admin)
        contact_id = (await create(client, token, person(team)))["contact"]["id"]
        for city in ("Rosario", "Córdoba"):
            await client.data(
                ADD_ADDRESS, {"id": contact_id, "input": {"street": "San Martín", "city": city, "country": "AR"}}, token
            )
        node = await client.data(
            f"query($id: ID!) {{ node(id: $id) {{ ... on Contact {{ {CONTACT_FIELDS} }} }} }}",
            {"id": contact_id},
            token,
        )
        addresses = node["node"]["addresses"]
        assert [(a["city"], a["isPrimary"]) for a in addresses] == [("Rosario", True), ("Córdoba", False)]
        cordoba = addresses[1]["id"]
        result = await client.data(SET_PRIMARY, {"id": cordoba}, token)
        assert result["setPrimaryContactAddress"]["contact"]["primaryAddress"] == {"city": "Córdoba"}
        assert await factory.count(ContactAddress) == 2


class TestVisibility:
    async def test_agents_see_their_teams_contacts_only(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team
    ) -> None:
        other = await factory.team("Ventas")
        token = factory.token(admin)
        mine = (await create(client, token, person(team, firstNames="Mía")))["contact"]["id"]
        theirs = (await create(client, token, person(other, firstNames="Ajena")))["contact"]["id"]
        agent = await factory.user(Role.AGENT, teams=[team])
        agent_token = factory.token(agent)
        listed = await client.data(SEARCH, {}, agent_token)
        assert [n["id"] for n in listed["contacts"]["nodes"]] == [mine]
        assert (await client.data(NODE, {"id": theirs}, agent_token))["node"] is None
        refused = await client.data(UPDATE, {"id": theirs, "input": {"isVip": True}}, agent_token)
        assert refused["updateContact"]["userErrors"][0]["code"] == "NOT_FOUND"

    async def test_supervisor_sees_its_subtree(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team
    ) -> None:
        child = await factory.team("Cobranzas Norte", parent=team)
        other = await factory.team("Ventas")
        token = factory.token(admin)
        for t in (team, child, other):
            await create(client, token, person(t, firstNames=t.name))
        supervisor = await factory.user(Role.SUPERVISOR, supervises=[team])
        listed = await client.data(SEARCH, {}, factory.token(supervisor))
        assert sorted(n["fullName"] for n in listed["contacts"]["nodes"]) == [
            "Cobranzas Norte Pérez",
            "Cobranzas Pérez",
        ]

    async def test_archived_contacts_leave_lists(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team
    ) -> None:
        token = factory.token(admin)
        contact_id = (await create(client, token, person(team)))["contact"]["id"]
        archived = await client.data(ARCHIVE, {"id": contact_id}, token)
        assert archived["archiveContact"]["contact"]["archivedAt"] is not None
        assert (await client.data(SEARCH, {}, token))["contacts"]["nodes"] == []
        kept = await client.data(SEARCH, {"filter": {"archived": True}}, token)
        assert [n["id"] for n in kept["contacts"]["nodes"]] == [contact_id]


class TestBulk:
    async def test_mixed_good_and_bad_rows(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team
    ) -> None:
        token = factory.token(admin)
        items = [
            person(team, firstNames="Uno"),
            person(team, firstNames=" "),
            person(team, firstNames="Tres", channels=[{"kind": "PHONE", "value": "+54 9 11 4444-5555"}]),
            person(team, firstNames="Cuatro", channels=[{"kind": "PHONE", "value": "1"}]),
        ]
        data = await client.data(CREATE_MANY, {"input": items}, token)
        payload = data["createContacts"]
        assert (payload["createdCount"], payload["rejectedCount"]) == (2, 2)
        assert [(r["index"], r["contact"] is not None) for r in payload["results"]] == [
            (0, True),
            (1, False),
            (2, True),
            (3, False),
        ]
        assert payload["results"][1]["userErrors"] == [{"field": "input.1.firstNames", "code": "REQUIRED"}]
        assert await factory.count(Contact) == 2
        actions = sorted((r.action, r.resource_type) for r in await factory.audit_rows())
        assert actions == [("BULK_CREATED", "BATCH"), ("CREATED", "CONTACT"), ("CREATED", "CONTACT")]

    async def test_statements_do_not_grow_with_the_batch(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team, count_sql: StatementCounter
    ) -> None:
        token = factory.token(admin)
        counts = []
        for size in (3, 30):
            items = [
                person(team, firstNames=f"P{i}", channels=[{"kind": "EMAIL", "value": f"p{i}@x.co"}])
                for i in range(size)
            ]
            count_sql.statements.clear()
            data = await client.data(CREATE_MANY, {"input": items}, token)
            assert data["createContacts"]["createdCount"] == size
            counts.append(count_sql.count)
        assert counts[0] == counts[1]


class TestListCost:
    async def test_page_statements_are_constant(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team, count_sql: StatementCounter
    ) -> None:
        token = factory.token(admin)
        query = f"{{ contacts(first: 50) {{ nodes {{ {CONTACT_FIELDS} }} }} }}"
        counts = []
        for batch in (2, 20):
            items = [
                person(
                    team,
                    firstNames=f"N{batch}-{i}",
                    company={"name": f"C{batch}-{i}"},
                    channels=[{"kind": "EMAIL", "value": f"n{batch}{i}@x.co"}],
                    addresses=[{"street": "A", "city": "B", "country": "AR"}],
                )
                for i in range(batch)
            ]
            await client.data(CREATE_MANY, {"input": items}, token)
            count_sql.statements.clear()
            await client.data(query, token=token)
            counts.append(count_sql.count)
        assert counts[0] == counts[1]


FILTERED = """
query($filter: ContactFilter) { contacts(filter: $filter) { nodes { fullName } } }
"""
CATALOG_MUTATIONS = {
    "createDocumentType": (
        """mutation { createDocumentType(input: {code: "LC", name: "Libreta Cívica", formatRegex: "\\\\d{7,8}"}) {
             documentType { code } userErrors { field code } } }"""
    ),
    "createCustomField": (
        """mutation { createCustomField(input: {key: "score", label: "Score", type: NUMBER}) {
             customField { key } userErrors { field code } } }"""
    ),
}
SET_VIP = "mutation($id: ID!) { setContactVip(id: $id, vip: true) { contact { isVip } userErrors { code } } }"
REMOVE_CHANNEL = (
    "mutation($id: ID!) { removeContactChannel(id: $id) { contact { channels { id } } userErrors { code } } }"
)
REMOVE_ADDRESS = """
mutation($id: ID!) { removeContactAddress(id: $id) { contact { addresses { city isPrimary } } userErrors { code } } }
"""


class TestFilters:
    async def test_each_filter(self, client: GraphQLClient, factory: Factory, admin: User, team: Team) -> None:
        token = factory.token(admin)
        other = await factory.team("Ventas")
        await client.data(
            CREATE_FIELD,
            {"input": {"key": "plan", "label": "Plan", "type": "CHOICE", "options": ["Oro", "Plata"]}},
            token,
        )
        dni = await doc_type(client, token, "DNI")
        made = [
            person(team, firstNames="Vip", isVip=True, customFields=[{"key": "plan", "value": "Oro"}]),
            person(
                other,
                firstNames="Empresa",
                company={"name": "Acme"},
                channels=[{"kind": "INSTAGRAM", "value": "@acme"}],
                document={"typeId": dni, "number": "30123456"},
            ),
            person(team, firstNames="Llano", customFields=[{"key": "plan", "value": "Plata"}]),
        ]
        data = await client.data(CREATE_MANY, {"input": made}, token)
        assert data["createContacts"]["createdCount"] == 3
        company = (await client.data('{ companies(search: "acme") { nodes { id } } }', token=token))["companies"]
        cases: list[tuple[dict[str, Any], list[str]]] = [
            ({"isVip": True}, ["Vip Pérez"]),
            ({"teamIds": [gid(other)]}, ["Empresa Pérez"]),
            ({"companyIds": [company["nodes"][0]["id"]]}, ["Empresa Pérez"]),
            ({"channelKinds": ["INSTAGRAM"]}, ["Empresa Pérez"]),
            ({"documentNumber": "30.123.456"}, ["Empresa Pérez"]),
            ({"customField": {"key": "plan", "value": "Plata"}}, ["Llano Pérez"]),
            ({"isVip": False, "teamIds": [gid(team)]}, ["Llano Pérez"]),
        ]
        for flt, expected in cases:
            found = await client.data(FILTERED, {"filter": flt}, token)
            assert [n["fullName"] for n in found["contacts"]["nodes"]] == expected, flt


class TestCatalogPermissions:
    @pytest.mark.parametrize("name", sorted(CATALOG_MUTATIONS))
    @pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.AGENT])
    async def test_only_admins(
        self, client: GraphQLClient, factory: Factory, team: Team, name: str, role: Role
    ) -> None:
        user = await factory.user(role, teams=[team])
        data = await client.data(CATALOG_MUTATIONS[name], token=factory.token(user))
        assert data[name]["userErrors"][0]["code"] == "FORBIDDEN"
        assert await factory.audit_rows() == []

    @pytest.mark.parametrize("name", sorted(CATALOG_MUTATIONS))
    async def test_admin_creates_once(self, client: GraphQLClient, factory: Factory, admin: User, name: str) -> None:
        token = factory.token(admin)
        assert (await client.data(CATALOG_MUTATIONS[name], token=token))[name]["userErrors"] == []
        again = await client.data(CATALOG_MUTATIONS[name], token=token)
        assert again[name]["userErrors"][0]["code"] == "ALREADY_EXISTS"
        assert len(await factory.audit_rows()) == 1

    async def test_agents_cannot_edit_companies(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team
    ) -> None:
        created = await create(client, factory.token(admin), person(team, company={"name": "Acme"}))
        companies = await client.data("{ companies { nodes { id } } }", token=factory.token(admin))
        agent = await factory.user(Role.AGENT, teams=[team])
        data = await client.data(
            UPDATE_COMPANY, {"id": companies["companies"]["nodes"][0]["id"], "name": "Otra"}, factory.token(agent)
        )
        assert data["updateCompany"]["userErrors"] == [{"code": "FORBIDDEN"}]
        assert created["contact"]["company"] == {"name": "Acme"}


class TestSmallMutations:
    async def test_vip_channel_and_address_removal(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team
    ) -> None:
        token = factory.token(admin)
        created = await create(
            client,
            token,
            person(
                team,
                channels=[{"kind": "EMAIL", "value": "a@b.co"}],
                addresses=[
                    {"street": "A", "city": "Rosario", "country": "AR"},
                    {"street": "B", "city": "Salta", "country": "AR"},
                ],
            ),
        )
        contact = created["contact"]
        assert (await client.data(SET_VIP, {"id": contact["id"]}, token))["setContactVip"]["contact"] == {"isVip": True}
        removed = await client.data(REMOVE_CHANNEL, {"id": contact["channels"][0]["id"]}, token)
        assert removed["removeContactChannel"]["contact"]["channels"] == []
        assert (await client.data(SEARCH, {"filter": {"search": "a@b.co"}}, token))["contacts"]["nodes"] == []
        primary = next(a for a in contact["addresses"] if a["isPrimary"])
        left = await client.data(REMOVE_ADDRESS, {"id": primary["id"]}, token)
        assert left["removeContactAddress"]["contact"]["addresses"] == [{"city": "Salta", "isPrimary": True}]
        actions = [r.action for r in await factory.audit_rows()]
        assert actions.count("UPDATED") == 3


class TestNul:
    """PostgreSQL text cannot hold NUL: both backends refuse it as the client's mistake, never a 500."""

    async def test_search_and_optional_fields(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team
    ) -> None:
        token = factory.token(admin)
        found = await client.data(SEARCH, {"filter": {"search": "pe\x00rez"}}, token)
        assert found["contacts"]["nodes"] == []
        result = await create(
            client,
            token,
            person(team, addresses=[{"street": "A", "city": "B", "country": "AR", "unit": "2\x00B"}]),
        )
        assert result["userErrors"] == [
            {"field": "input.addresses.0.unit", "code": "INVALID", "message": "Must not contain NUL characters"}
        ]
        assert await factory.count(Contact) == 0


class TestBulkLimits:
    async def test_more_than_the_limit_creates_nothing(self, database_url: str, factory: Factory, team: Team) -> None:
        admin = await factory.user(Role.ADMIN)
        async with running(database_url, max_bulk_contacts=2) as (_, client):
            items = [person(team, firstNames=f"P{i}") for i in range(3)]
            data = await client.data(CREATE_MANY, {"input": items}, factory.token(admin))
            assert data["createContacts"]["userErrors"] == [{"field": "input", "code": "LIMIT_EXCEEDED"}]
            assert data["createContacts"]["results"] == []
        assert await factory.count(Contact) == 0
        assert await factory.audit_rows() == []

    async def test_unreadable_ids_are_rejected_items(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team
    ) -> None:
        items = [person(team), {**person(team), "teamId": "not-an-id"}]
        data = await client.data(CREATE_MANY, {"input": items}, factory.token(admin))
        payload = data["createContacts"]
        assert (payload["createdCount"], payload["rejectedCount"]) == (1, 1)
        assert payload["results"][1]["userErrors"] == [{"field": "input.1.teamId", "code": "NOT_FOUND"}]
        batch = next(r for r in await factory.audit_rows() if r.action == "BULK_CREATED")
        assert (batch.changes["created"]["after"], batch.changes["rejected"]["after"]) == (1, 1)

    async def test_a_call_whose_items_are_all_unreadable_is_still_audited(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team
    ) -> None:
        token = factory.token(admin)
        empty = await client.data(CREATE_MANY, {"input": []}, token)
        assert (empty["createContacts"]["createdCount"], empty["createContacts"]["rejectedCount"]) == (0, 0)
        assert await factory.audit_rows() == []  # an empty call did nothing to record
        items = [{**person(team), "teamId": "not-an-id"}, {**person(team), "companyId": "nor-this"}]
        data = await client.data(CREATE_MANY, {"input": items}, token)
        payload = data["createContacts"]
        assert (payload["createdCount"], payload["rejectedCount"]) == (0, 2)
        assert [r["userErrors"] for r in payload["results"]] == [
            [{"field": "input.0.teamId", "code": "NOT_FOUND"}],
            [{"field": "input.1.companyId", "code": "NOT_FOUND"}],
        ]
        assert await factory.count(Contact) == 0
        (batch,) = await factory.audit_rows()
        assert (batch.action, batch.resource_type, batch.resource_id) == ("BULK_CREATED", "BATCH", batch.id)
        assert (batch.changes["created"]["after"], batch.changes["rejected"]["after"]) == (0, 2)
