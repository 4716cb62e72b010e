"""Hostile input at the edge: deep JSON, lone surrogates, NUL, DateTimes out of range, huge searches.

Each is a typed refusal that changes nothing, over HTTP (JSON body, GET, multipart) and
WebSocket alike: never a 500, a dropped socket or a masked "Unexpected error".
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from websockets.typing import Subprotocol

from cartera import wire
from db.base import utcnow
from db.models import (
    AuditEvent,
    Company,
    CustomFieldDefinition,
    DocumentType,
    Gestion,
    GestionComment,
    Portfolio,
    Role,
    Team,
    User,
)
from db.search import MAX_SEARCH_LENGTH, fold
from schema.node import to_global_id
from services.settings import Settings, SettingsError
from tests.conftest import (
    GRAPHQL_RESPONSE,
    MEDIA_TYPES,
    SECRET,
    GraphQLClient,
    Server,
    post_body,
    post_query,
    running,
)
from tests.factories import Factory, audit_count, cursor, doc_type, gid, mutate, nothing_written, person
from tests.uploads import CSRF
from tests.ws import LEGACY_WS, TRANSPORT_WS, closed, init, open_socket, subscribe

CREATE_TEAM = """
mutation CreateTeam($input: CreateTeamInput!) {
  createTeam(input: $input) { team { id } userErrors { field code message } }
}
"""
ME = "query Me { me { id } }"


def nested(depth: int) -> str:
    """JSON text of arrays nested `depth` deep."""
    return "[" * depth + "1" + "]" * depth


def deep_json(value: Any, depth: int = 50_000) -> str:
    """`value` as JSON text with each "DEEP" string replaced by arrays nested `depth` deep."""
    return json.dumps(value).replace('"DEEP"', nested(depth))


def refusal(response: httpx.Response) -> str:
    """The one error of a request refused before anything ran; 400 under either media type."""
    assert response.status_code == 400, response.text
    answer = response.json()
    assert "data" not in answer, answer
    [error] = answer["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}, error
    message: str = error["message"]
    return message


async def post_multipart(client: GraphQLClient, operations: str, token: str) -> httpx.Response:
    return await client.http.post(
        "/graphql",
        data={"operations": operations, "map": "{}"},
        files={"0": ("a.png", b"\x89PNG", "image/png")},
        headers={**CSRF, "authorization": f"Bearer {token}"},
    )


async def socket_refusal(
    server: Server, token: str, message: str, protocol: Subprotocol = TRANSPORT_WS
) -> tuple[int, str]:
    """The close frame that answers `message`, sent on an acknowledged socket of `protocol`."""
    async with open_socket(server, protocol) as ws:
        await init(ws, token)
        await ws.send(message)
        return await closed(ws)


# --- JSON nested too deep (point 7) ---------------------------------------------------------------


class TestDeepJSON:
    @pytest.mark.parametrize("media", MEDIA_TYPES)
    @pytest.mark.parametrize("where", ["variables", "extensions", "body"])
    async def test_json_50000_deep_is_a_400(
        self, client: GraphQLClient, factory: Factory, media: str, where: str
    ) -> None:
        token = factory.token(await factory.user(Role.ADMIN))
        team = {"input": {"name": "Deep"}}
        text = {
            "variables": deep_json({"query": CREATE_TEAM, "variables": {**team, "x": "DEEP"}}),
            "extensions": deep_json({"query": CREATE_TEAM, "variables": team, "extensions": {"x": "DEEP"}}),
            "body": nested(50_000),
        }[where]
        response = await post_body(client.http, text, token=token, accept=media)
        assert refusal(response) == "JSON nested deeper than 32 levels"
        await nothing_written(factory)

    async def test_a_json_variable_nested_past_the_limit_is_refused_before_coercion(
        self, client: GraphQLClient, factory: Factory
    ) -> None:
        # 40 levels: far from Python's recursion limit, yet deeper than any input of the schema.
        token = factory.token(await factory.user(Role.ADMIN))
        variables = {"input": {"name": "Deep"}, "json": json.loads(nested(40))}
        response = await post_query(client.http, CREATE_TEAM, variables=variables, token=token)
        assert refusal(response) == "JSON nested deeper than 32 levels"
        await nothing_written(factory)

    async def test_get_variables_too_deep(self, client: GraphQLClient, factory: Factory) -> None:
        token = factory.token(await factory.user())
        # Deep enough that Python's own parser gives up (about 1,000), short enough for a URL.
        response = await client.http.get(
            "/graphql",
            params={"query": ME, "variables": f'{{"x": {nested(2_000)}}}'},
            headers={"authorization": f"Bearer {token}"},
        )
        assert refusal(response) == "JSON nested deeper than 32 levels"

    async def test_multipart_operations_too_deep(self, client: GraphQLClient, factory: Factory) -> None:
        token = factory.token(await factory.user(Role.ADMIN))
        operations = deep_json({"query": CREATE_TEAM, "variables": {"input": {"name": "Deep"}, "x": "DEEP"}})
        assert refusal(await post_multipart(client, operations, token)) == "JSON nested deeper than 32 levels"
        await nothing_written(factory)

    async def test_websocket_message_too_deep_closes_4400(self, server: Server, factory: Factory) -> None:
        token = factory.token(await factory.user(Role.ADMIN))
        message = deep_json(subscribe("1", CREATE_TEAM, {"input": {"name": "Deep"}, "x": "DEEP"}))
        assert await socket_refusal(server, token, message) == (4400, "JSON nested deeper than 32 levels")
        await nothing_written(factory)

    async def test_legacy_websocket_message_too_deep_closes_1002(self, server: Server, factory: Factory) -> None:
        token = factory.token(await factory.user())
        message = deep_json({"id": "1", "type": "start", "payload": {"query": ME, "variables": {"x": "DEEP"}}})
        assert await socket_refusal(server, token, message, LEGACY_WS) == (1002, "JSON nested deeper than 32 levels")

    async def test_the_depth_is_a_setting(self, database_url: str, factory: Factory) -> None:
        token = factory.token(await factory.user())
        async with running(database_url, max_json_depth=4) as (_, client):
            # The body is one level, variables two: x's own arrays may be two deep, not three.
            accepted = await post_query(client.http, ME, variables={"x": json.loads(nested(2))}, token=token)
            assert accepted.status_code == 200, accepted.text
            assert "errors" not in accepted.json()
            refused = await post_query(client.http, ME, variables={"x": json.loads(nested(3))}, token=token)
            assert refusal(refused) == "JSON nested deeper than 4 levels"

    def test_the_setting_is_validated(self, tmp_path: Any) -> None:
        env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "CARTERA_SECRET_KEY": SECRET}
        assert Settings.from_env(env).max_json_depth == 32
        assert Settings.from_env({**env, "CARTERA_MAX_JSON_DEPTH": "64"}).max_json_depth == 64
        for wrong in ("3", "deep"):
            with pytest.raises(SettingsError, match="CARTERA_MAX_JSON_DEPTH"):
                Settings.from_env({**env, "CARTERA_MAX_JSON_DEPTH": wrong})


# --- lone surrogates (point 8) --------------------------------------------------------------------


class TestLoneSurrogates:
    @pytest.mark.parametrize("media", MEDIA_TYPES)
    @pytest.mark.parametrize(
        ("request_body", "where"),
        [
            pytest.param({"variables": {"input": {"name": "Team \ud800"}}}, "`variables.input.name` holds", id="value"),
            pytest.param(
                {"variables": {"input": {"name": "Team"}, "x": [{"deep": ["ok", "\udfff"]}]}},
                "`variables.x.0.deep.1` holds",
                id="value deep in a list",
            ),
            pytest.param(
                {"variables": {"input": {"name": "Team", "\ud800": 1}}},
                "`variables.input` has a key holding",
                id="key",
            ),
            pytest.param(
                {"variables": {"input": {"name": "Team"}}, "operationName": "CreateTeam\ud800"},
                "`operationName` holds",
                id="operationName",
            ),
            pytest.param(
                {"variables": {"input": {"name": "Team"}}, "extensions": {"trace": "\ud800"}},
                "`extensions.trace` holds",
                id="extensions",
            ),
            pytest.param(
                {"query": CREATE_TEAM.replace("CreateTeam(", "CreateTeam\ud800("), "variables": {}},
                "`query` holds",
                id="the document's own text",
            ),
        ],
    )
    async def test_refused_in_a_json_body(
        self, client: GraphQLClient, factory: Factory, media: str, request_body: dict[str, Any], where: str
    ) -> None:
        token = factory.token(await factory.user(Role.ADMIN))
        text = json.dumps({"query": CREATE_TEAM, **request_body})
        message = refusal(await post_body(client.http, text, token=token, accept=media))
        assert message == f"{where} a lone surrogate: text must be valid Unicode"
        await nothing_written(factory)

    async def test_login_with_a_lone_surrogate_is_refused(self, client: GraphQLClient) -> None:
        login = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { __typename } }"
        response = await post_query(client.http, login, variables={"e": "ana@example.com", "p": "secret\ud800"})
        assert refusal(response).startswith("`variables.p` holds a lone surrogate")

    async def test_refused_in_get_parameters(self, client: GraphQLClient, factory: Factory) -> None:
        token = factory.token(await factory.user())
        for name in ("variables", "extensions"):
            response = await client.http.get(
                "/graphql",
                params={"query": ME, name: '{"x": "\\ud800"}'},
                headers={"authorization": f"Bearer {token}"},
            )
            assert refusal(response) == f"`{name}.x` holds a lone surrogate: text must be valid Unicode"

    async def test_refused_in_multipart_operations(self, client: GraphQLClient, factory: Factory) -> None:
        token = factory.token(await factory.user(Role.ADMIN))
        # ensure_ascii: the lone surrogate travels as the \u escape any client's JSON encoder writes.
        operations = json.dumps({"query": CREATE_TEAM, "variables": {"input": {"name": "Team \ud800"}}})
        response = await post_multipart(client, operations, token)
        assert refusal(response) == "`variables.input.name` holds a lone surrogate: text must be valid Unicode"
        await nothing_written(factory)

    async def test_websocket_message_closes_4400(self, server: Server, factory: Factory) -> None:
        token = factory.token(await factory.user(Role.ADMIN))
        message = json.dumps(subscribe("1", CREATE_TEAM, {"input": {"name": "Team \ud800"}}))
        assert await socket_refusal(server, token, message) == (
            4400,
            "`payload.variables.input.name` holds a lone surrogate: text must be valid Unicode",
        )
        await nothing_written(factory)

    async def test_a_long_path_is_cut_to_fit_a_close_frame(self, server: Server, factory: Factory) -> None:
        token = factory.token(await factory.user(Role.ADMIN))
        deep_key = {"k" * 100: {"k" * 100: "\ud800"}}
        message = json.dumps(subscribe("1", CREATE_TEAM, {"input": {"name": "Team"}, "x": deep_key}))
        code, reason = await socket_refusal(server, token, message)
        # A close frame's reason holds 123 bytes: each key shows 40 characters, the rest is cut.
        assert code == 4400
        assert reason.startswith(f"`payload.variables.x.{'k' * 40}….{'k' * 40}…` holds a"), reason
        assert reason.endswith("…")
        assert len(reason.encode()) <= 123

    async def test_legacy_websocket_message_closes_1002(self, server: Server, factory: Factory) -> None:
        token = factory.token(await factory.user())
        message = json.dumps({"id": "1", "type": "start", "payload": {"query": ME, "operationName": "Me\udc00"}})
        assert await socket_refusal(server, token, message, LEGACY_WS) == (
            1002,
            "`payload.operationName` holds a lone surrogate: text must be valid Unicode",
        )

    @pytest.mark.parametrize("value", ["\ud800", "x\x00"], ids=["lone surrogate", "NUL"])
    async def test_in_a_cursor_is_an_invalid_cursor(self, client: GraphQLClient, factory: Factory, value: str) -> None:
        # A cursor's base64 hides its JSON from cartera.wire: db.keyset reads it with the same rule.
        await factory.user(name="Ana Paz")
        token = factory.token(await factory.user(Role.ADMIN))
        users = "query($after: String) { users(after: $after) { totalCount edges { cursor } } }"
        await client.data(users, {"after": cursor(["ana paz", 1])}, token)
        answer = await client.gql(users, {"after": cursor([value, 1])}, token)
        [error] = answer["errors"]
        assert (error["message"], error["extensions"]) == ("Invalid cursor", {"code": "BAD_USER_INPUT"}), error

    @pytest.mark.parametrize("escape", ["\\ud800", "\\u{DFFF}"])
    async def test_escaped_in_a_document_string_is_a_syntax_error(
        self, client: GraphQLClient, factory: Factory, escape: str
    ) -> None:
        # JSON's escapes are read by cartera.wire; GraphQL's own, inside the document, by its lexer.
        token = factory.token(await factory.user(Role.ADMIN))
        query = f'mutation {{ createTeam(input: {{name: "Team {escape}"}}) {{ team {{ id }} }} }}'
        response = await post_query(client.http, query, token=token, accept=GRAPHQL_RESPONSE)
        assert response.status_code == 400, response.text
        [error] = response.json()["errors"]
        assert error["message"] == f"Syntax Error: Invalid Unicode escape sequence: '{escape}'.", error
        await nothing_written(factory)

    def test_the_response_encoder_cannot_fail(self) -> None:
        # Nothing a client sends can put one in a response any more; should anything else, the
        # answer is still JSON (escaped), not a failed encode and a bare 500.
        payload = {"errors": [{"message": "Not a valid id: 'x\ud800'"}], "data": {"name": "Ángela"}}
        assert json.loads(wire.encode(payload)) == payload
        assert "Ángela".encode() in wire.encode({"name": "Ángela"})


# --- NUL (point 9) --------------------------------------------------------------------------------

SAVE = """
mutation($id: ID!, $code: String!) {
  saveGestion(id: $id, finish: {resultCode: $code}) {
    gestion { status result { code } }
    userErrors { field code message }
  }
}
"""
ATTEND = "mutation($id: ID!) { attendGestion(id: $id) { userErrors { code } } }"
PANEL = "query($f: GestionFilter) { gestiones(filter: $f) { totalCount } }"
CONTACTS = "query($f: ContactFilter) { contacts(filter: $f) { totalCount } }"
CREATE_CONTACT = "mutation($input: CreateContactInput!) { createContact(input: $input) { userErrors { field } } }"
CREATE_FIELD = "mutation($input: CreateCustomFieldInput!) { createCustomField(input: $input) { userErrors { field } } }"
COMPANIES = "query($s: String) { companies(search: $s) { totalCount } }"
NUL_REFUSED = "Must not contain NUL characters"


def user_errors(answer: dict[str, Any], field: str) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = answer[field]["userErrors"]
    return errors


async def attended(client: GraphQLClient, factory: Factory) -> tuple[Gestion, str]:
    """A gestión its operator is attending, and the operator's token."""
    team = await factory.team()
    agent = await factory.user(teams=[team])
    campaign = await factory.campaign("Cobranzas", team, operators=[agent])
    [gestion] = await factory.gestiones(campaign, await factory.contacts(team, "Ana Paz"), operator=agent)
    token = factory.token(agent)
    await client.data(ATTEND, {"id": gid(gestion)}, token)
    return gestion, token


class TestNul:
    async def test_save_gestion_result_code(self, client: GraphQLClient, factory: Factory) -> None:
        gestion, token = await attended(client, factory)
        audit_before = await audit_count(factory)
        answer = await client.data(SAVE, {"id": gid(gestion), "code": "PAID\x00"}, token)
        assert user_errors(answer, "saveGestion") == [
            {"field": "finish.resultCode", "code": "INVALID", "message": NUL_REFUSED}
        ]
        async with factory.sessionmaker() as session:
            row = await session.get(Gestion, gestion.id)
            assert row is not None
            assert (row.status, row.result_id) == ("IN_PROGRESS", None)
            assert await session.scalar(select(GestionComment.id)) is None
        assert await audit_count(factory) == audit_before

    async def test_gestiones_result_codes_filter_matches_nothing_for_nul(
        self, client: GraphQLClient, factory: Factory
    ) -> None:
        gestion, token = await attended(client, factory)
        saved = await client.data(SAVE, {"id": gid(gestion), "code": "PAID"}, token)
        assert saved["saveGestion"]["gestion"]["result"] == {"code": "PAID"}
        found = await client.data(PANEL, {"f": {"resultCodes": ["PA\x00ID"]}}, token)
        assert found["gestiones"]["totalCount"] == 0
        found = await client.data(PANEL, {"f": {"resultCodes": ["PA\x00ID", "PAID"]}}, token)
        assert found["gestiones"]["totalCount"] == 1

    @pytest.mark.parametrize(
        ("clean", "flt"),
        [
            ({"documentNumber": "2012345678"}, {"documentNumber": "2012\x00345678"}),
            (
                {"customField": {"key": "segmento", "value": "A"}},
                {"customField": {"key": "seg\x00mento", "value": "A"}},
            ),
            (
                {"customField": {"key": "segmento", "value": "A"}},
                {"customField": {"key": "segmento", "value": "A\x00"}},
            ),
        ],
        ids=["document number", "custom field key", "custom field value"],
    )
    async def test_contact_filters_match_nothing_for_nul(
        self,
        client: GraphQLClient,
        factory: Factory,
        admin: User,
        team: Team,
        clean: dict[str, Any],
        flt: dict[str, Any],
    ) -> None:
        token = factory.token(admin)
        field = {"key": "segmento", "label": "Segmento", "type": "CHOICE", "options": ["A", "B"]}
        await mutate(client, token, CREATE_FIELD, {"input": field})
        document = {"typeId": await doc_type(client, token, "PASSPORT"), "number": "2012345678"}
        contact = person(team, document=document, customFields=[{"key": "segmento", "value": "A"}])
        await mutate(client, token, CREATE_CONTACT, {"input": contact})
        # Without its NUL the filter finds the contact: with it, the NUL alone is why nothing matches.
        assert (await client.data(CONTACTS, {"f": clean}, token))["contacts"]["totalCount"] == 1
        assert (await client.data(CONTACTS, {"f": flt}, token))["contacts"]["totalCount"] == 0

    async def test_company_search_matches_nothing_for_nul(self, client: GraphQLClient, factory: Factory) -> None:
        token = factory.token(await factory.user(Role.ADMIN))
        create = 'mutation { createCompany(input: {name: "Acme"}) { company { id } } }'
        await client.data(create, None, token)
        assert (await client.data(COMPANIES, {"s": "ac\x00me"}, token))["companies"]["totalCount"] == 0
        assert (await client.data(COMPANIES, {"s": "acme"}, token))["companies"]["totalCount"] == 1

    @pytest.mark.parametrize("operation", ["create", "update"])
    async def test_document_type_format_regex(self, client: GraphQLClient, factory: Factory, operation: str) -> None:
        token = factory.token(await factory.user(Role.ADMIN))
        async with factory.sessionmaker() as session:
            shipped = (await session.scalars(select(DocumentType).order_by(DocumentType.id))).all()
        if operation == "create":
            query = """mutation($r: String!) {
                result: createDocumentType(input: {code: "NEW", name: "New", formatRegex: $r, checkDigit: NONE}) {
                    userErrors { field code message } } }"""
            variables: dict[str, Any] = {"r": "[0-9]+\x00"}
        else:
            query = """mutation($id: ID!, $r: String!) { result: updateDocumentType(id: $id,
                input: {formatRegex: $r}) { userErrors { field code message } } }"""
            variables = {"id": to_global_id("DocumentType", shipped[0].id), "r": "[0-9]+\x00"}
        answer = await client.data(query, variables, token)
        assert user_errors(answer, "result") == [
            {"field": "input.formatRegex", "code": "INVALID", "message": NUL_REFUSED}
        ]
        async with factory.sessionmaker() as session:
            after = (await session.scalars(select(DocumentType).order_by(DocumentType.id))).all()
        assert [(t.code, t.format_regex) for t in after] == [(t.code, t.format_regex) for t in shipped]
        assert await audit_count(factory) == 0

    @pytest.mark.parametrize(
        ("query", "field"),
        [
            pytest.param(
                'mutation { result: createCompany(input: {name: "Acme", taxId: "30\\u0000712345678"}) '
                "{ userErrors { field code message } } }",
                "input.taxId",
                id="company tax id",
            ),
            pytest.param(
                'mutation { result: createCustomField(input: {key: "segmento", label: "Segmento", type: CHOICE, '
                'options: ["A", "B\\u0000"]}) { userErrors { field code message } } }',
                "input.options",
                id="custom field option",
            ),
        ],
    )
    async def test_stored_texts_found_by_grepping(
        self, client: GraphQLClient, factory: Factory, query: str, field: str
    ) -> None:
        token = factory.token(await factory.user(Role.ADMIN))
        answer = await client.data(query, None, token)
        assert user_errors(answer, "result") == [{"field": field, "code": "INVALID", "message": NUL_REFUSED}]
        assert await factory.count(Company) == 0
        assert await factory.count(CustomFieldDefinition) == 0
        assert await audit_count(factory) == 0

    async def test_document_number_of_a_permissive_type(self, client: GraphQLClient, factory: Factory) -> None:
        # An admin-defined format may match anything, NUL included: the number is refused before it.
        token = factory.token(await factory.user(Role.ADMIN))
        created = await client.data(
            'mutation { createDocumentType(input: {code: "ANY", name: "Any", formatRegex: ".+", checkDigit: NONE}) '
            "{ documentType { id } } }",
            None,
            token,
        )
        type_id = created["createDocumentType"]["documentType"]["id"]
        team = await factory.team()
        audit_before = await audit_count(factory)
        create = "mutation($i: CreateContactInput!) { createContact(input: $i) { userErrors { field code message } } }"
        base = {"teamId": gid(team), "firstNames": "Ana", "lastNames": "Paz"}
        for number, code, message in [
            ("12\x0034", "INVALID", NUL_REFUSED),
            ("7" * 33, "TOO_LONG", "Must have at most 32 characters"),
        ]:
            answer = await client.data(
                create, {"i": {**base, "document": {"typeId": type_id, "number": number}}}, token
            )
            assert user_errors(answer, "createContact") == [
                {"field": "input.document.number", "code": code, "message": message}
            ]
        assert await audit_count(factory) == audit_before


class TestColumnWidths:
    """Found beside the NUL places: text longer than its column was masked on PostgreSQL."""

    async def test_company_tax_id(self, client: GraphQLClient, factory: Factory) -> None:
        token = factory.token(await factory.user(Role.ADMIN))
        create = "mutation($i: CompanyInput!) { createCompany(input: $i) { userErrors { field code message } } }"
        answer = await client.data(create, {"i": {"name": "Acme", "taxId": "30-" + "7" * 31}}, token)
        assert user_errors(answer, "createCompany") == [
            {"field": "input.taxId", "code": "TOO_LONG", "message": "Must have at most 32 characters"}
        ]
        assert await factory.count(Company) == 0
        assert await audit_count(factory) == 0

    async def test_a_name_whose_folded_form_is_too_long(self, client: GraphQLClient, factory: Factory) -> None:
        # 100 characters, but "ﷺ" folds (for search and order) to 18: 1,800 in a 200-wide column.
        team = await factory.team()
        token = factory.token(await factory.user(Role.ADMIN))
        create = (
            "mutation($i: CreatePortfolioInput!) { createPortfolio(input: $i) { userErrors { field code message } } }"
        )
        answer = await client.data(create, {"i": {"teamId": gid(team), "name": "\ufdfa" * 100}}, token)
        assert user_errors(answer, "createPortfolio") == [
            {"field": "input.name", "code": "TOO_LONG", "message": "Must have at most 200 characters"}
        ]
        assert await factory.count(Portfolio) == 0
        assert await audit_count(factory) == 0


# --- DateTimes (point 10) -------------------------------------------------------------------------

AUDIT = "query($f: AuditEventFilter, $after: String) { auditEvents(filter: $f, after: $after) { totalCount } }"


class TestDateTimes:
    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            ("9999-12-31T23:59:59-14:00", "A DateTime must fall between the years 1 and 9999 in UTC"),
            ("0001-01-01T00:00:00+14:00", "A DateTime must fall between the years 1 and 9999 in UTC"),
            (
                "2026-01-01T00:00:00",
                "A DateTime needs its UTC offset, e.g. 2026-01-01T09:00:00-03:00 or 2026-01-01T12:00:00Z",
            ),
            (
                "2026-02-30T00:00:00Z",
                "Not an ISO 8601 date and time, e.g. 2026-01-01T09:00:00-03:00 or 2026-01-01T12:00:00Z",
            ),
        ],
    )
    @pytest.mark.parametrize("bound", ["from", "to"])
    async def test_audit_filter_refuses(
        self, client: GraphQLClient, factory: Factory, value: str, reason: str, bound: str
    ) -> None:
        token = factory.token(await factory.user(Role.ADMIN))
        answer = await client.gql(AUDIT, {"f": {bound: value}}, token)
        assert "data" not in answer or answer["data"] is None, answer
        [error] = answer["errors"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT"}, error
        assert error["message"] == f"Variable '$f' has invalid value at .{bound}: {reason}", error
        # The same value written in the document itself.
        literal = await client.gql(f'{{ auditEvents(filter: {{{bound}: "{value}"}}) {{ totalCount }} }}', None, token)
        [error] = literal["errors"]
        assert (error["extensions"], error["message"]) == ({"code": "BAD_USER_INPUT"}, reason), error

    async def test_offsets_name_instants(self, client: GraphQLClient, factory: Factory) -> None:
        await factory.audit_event(occurred_at=datetime(2026, 1, 1, 3, 30, tzinfo=UTC))
        token = factory.token(await factory.user(Role.ADMIN))
        for bounds, found in [
            ({"from": "2026-01-01T00:00:00-03:00"}, 1),  # 03:00 UTC
            ({"from": "2026-01-01T01:00:00-03:00"}, 0),  # 04:00 UTC
            ({"to": "2026-01-01T03:30:00Z"}, 1),
        ]:
            assert (await client.data(AUDIT, {"f": bounds}, token))["auditEvents"]["totalCount"] == found

    @pytest.mark.parametrize(
        "moment", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "2026-01-01T00:00:00"]
    )
    async def test_datetime_cursor_out_of_range_or_naive(
        self, client: GraphQLClient, factory: Factory, moment: str
    ) -> None:
        token = factory.token(await factory.user(Role.ADMIN))
        answer = await client.gql(AUDIT, {"after": cursor([moment, 1])}, token)
        [error] = answer["errors"]
        assert (error["message"], error["extensions"]) == ("Invalid cursor", {"code": "BAD_USER_INPUT"}), error


# --- long searches (point 11) ---------------------------------------------------------------------

SEARCHES = {
    "contacts": "query($s: String) { contacts(filter: {search: $s}) { totalCount } }",
    "users": "query($s: String) { users(filter: {search: $s}) { totalCount } }",
    "teams": "query($s: String) { teams(filter: {search: $s}) { totalCount } }",
    "portfolios": "query($s: String) { portfolios(filter: {search: $s}) { totalCount } }",
    "campaigns": "query($s: String) { campaigns(filter: {search: $s}) { totalCount } }",
    "gestiones": "query($s: String) { gestiones(filter: {search: $s}) { totalCount } }",
    "auditEvents": "query($s: String) { auditEvents(filter: {text: $s}) { totalCount } }",
    "companies": "query($s: String) { companies(search: $s) { totalCount } }",
}
TOO_LONG = f"A search text may have at most {MAX_SEARCH_LENGTH} characters"


class TestLongSearches:
    @pytest.mark.parametrize("field", list(SEARCHES))
    @pytest.mark.parametrize("keyword", ["a" * 50_000, "ab " * 10_000], ids=["one term", "many terms"])
    async def test_refused_with_a_typed_error(
        self, client: GraphQLClient, factory: Factory, admin: User, field: str, keyword: str
    ) -> None:
        answer = await client.gql(SEARCHES[field], {"s": keyword}, factory.token(admin))
        [error] = answer["errors"]
        assert (error["message"], error["extensions"]) == (TOO_LONG, {"code": "BAD_USER_INPUT"}), error

    @pytest.mark.parametrize("field", list(SEARCHES))
    async def test_the_longest_allowed_is_served(self, client: GraphQLClient, factory: Factory, field: str) -> None:
        # One row of each kind holds "a", so the long pattern is matched against rows, not an empty table.
        team = await factory.team("Team a")
        contacts = await factory.contacts(team, "Ana Paz")
        await factory.portfolio("Cartera a", team=team)
        await factory.gestiones(await factory.campaign("Campaña a", team), contacts)
        await factory.audit_event(occurred_at=utcnow(), resource_name="Cuenta a")
        async with factory.sessionmaker() as session:
            session.add(Company(name="Acme a", search_name=fold("Acme a")))
            await session.commit()
        token = factory.token(await factory.user(Role.ADMIN, name="Admin a"))
        assert (await client.data(SEARCHES[field], {"s": "a"}, token))[field]["totalCount"] == 1
        answer = await client.data(SEARCHES[field], {"s": "a" * MAX_SEARCH_LENGTH}, token)
        assert answer[field]["totalCount"] == 0

    async def test_a_bulk_selection_by_a_long_search_changes_nothing(
        self, client: GraphQLClient, factory: Factory
    ) -> None:
        team = await factory.team()
        await factory.contacts(team, "Ana Paz")
        portfolio = await factory.portfolio("Cartera", team=team)
        token = factory.token(await factory.user(Role.ADMIN))
        assign = """mutation($p: ID!, $s: String) { assignContactsToPortfolio(portfolioId: $p,
            contacts: {filter: {search: $s}}) { userErrors { code } } }"""
        answer = await client.gql(assign, {"p": gid(portfolio), "s": "a" * 50_000}, token)
        [error] = answer["errors"]
        assert (error["message"], error["extensions"]) == (TOO_LONG, {"code": "BAD_USER_INPUT"}), error
        assert await factory.memberships() == {}
        assert await factory.count(AuditEvent) == 0
