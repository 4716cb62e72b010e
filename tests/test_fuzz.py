"""Property-based fuzz over every root field's arguments: hostile input is a typed error, never a server error.

The arguments come from the schema itself (each root Query and Mutation field, each argument
built from its GraphQL type): strings with NUL, lone surrogates and huge lengths, numbers and
dates out of range, malformed ids and cursors, beside real ids of seeded rows so the inputs
reach the rules behind them. Every example goes through the running app over HTTP, as an
admin and anonymously, and fails on a 5xx, a body that is not JSON, or a masked error. Each
field must have some of the admin's examples executed (an answer with `data`), so a field
whose every value is refused before execution fails instead of passing unfuzzed; the one
exception is uploadGestionAttachment, whose Upload is always null here (`NEVER_EXECUTED`).

Hypothesis is derandomized (the same examples every run) with a fixed budget per field, so
the run takes about the same time on both backends.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLUnionType,
    Undefined,
    get_named_type,
    is_leaf_type,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from db.models import Role, Typology, TypologyResult
from resolvers.root import build_schema
from schema.node import to_global_id
from services.settings import Settings
from tests.conftest import JSON, SECRET, GraphQLClient, Server, auth
from tests.factories import Factory, cursor, gid

SCHEMA = build_schema(Settings(database_url="sqlite+aiosqlite:///:memory:", secret_key=SECRET))._schema
# Examples per root field: about a minute for the whole module on either backend. A longer hunt
# on one's own machine: CARTERA_FUZZ_EXAMPLES=200 pytest tests/test_fuzz.py
EXAMPLES = int(os.environ.get("CARTERA_FUZZ_EXAMPLES") or 6)

# --- values -------------------------------------------------------------------------------------

HOSTILE_TEXT = [
    "",
    "   ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "A" * 50_000,
    # Just past the columns' widths (32, 200, 400), and a ligature that folds to 18 characters.
    "7" * 33,
    "N" * 201,
    "N" * 401,
    "\ufdfa" * 120,
    "%_\\*?[",
    "Ángela Núñez",
    "\u202e\u200b",
    "'; DROP TABLE users; --",
]
text = st.one_of(
    st.sampled_from(HOSTILE_TEXT),
    st.text(max_size=12),
    st.builds(lambda a, b, c: a + b + c, st.text(max_size=4), st.sampled_from(HOSTILE_TEXT[2:6]), st.text(max_size=4)),
)
OUT_OF_RANGE_DATES = ["0001-01-01", "9999-12-31", "2026-02-30", "20260101", "2026-13-01", "-2026-01-01"]
dates = st.one_of(st.sampled_from(OUT_OF_RANGE_DATES), st.dates().map(lambda d: d.isoformat()), text)
OUT_OF_RANGE_DATETIMES = [
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59.999999",
    "2026-01-01T00:00:00",
    "2026-01-01T00:00:00Z",
    "2026-01-01T25:00:00+00:00",
    "2026-01-01",
]
datetimes = st.one_of(st.sampled_from(OUT_OF_RANGE_DATETIMES), text)
ints = st.one_of(
    st.sampled_from([0, -1, 1, 2**31 - 1, -(2**31), 2**31, 2**63, 10**6]), st.integers(min_value=-5, max_value=200)
)
floats = st.one_of(
    st.sampled_from([0.0, -1.0, 1e308, -1e308, 5e-324, 0.1]), st.floats(allow_nan=False, allow_infinity=False)
)


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = {"k": [value]}
    return value


json_leaves = st.one_of(st.none(), st.booleans(), ints, floats, st.integers(min_value=10**30, max_value=10**40), text)
json_values = st.one_of(
    st.recursive(
        json_leaves,
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)),
        max_leaves=8,
    ),
    st.sampled_from([_nested(40), _nested(400)]),
)


MALFORMED_CURSORS = [
    cursor(v)
    for v in (
        [],
        {},
        [2**70],
        [1, 2**70],
        ["\x00", 1],
        ["\ud800", 1],
        ["9999-12-31T23:59:59-14:00", 1],
        ["0001-01-01T00:00:00+14:00", 1],
        ["2026-01-01T00:00:00", 1],
        ["A" * 50_000, 1],
        [True, 1],
        [None, None],
        [99, "x", 1],
        [0, "x", 1],
        [[1], {"a": 1}],
    )
] + ["!!!", "", "eyJ"]
cursors = st.one_of(st.sampled_from(MALFORMED_CURSORS), text)
MALFORMED_IDS = [
    "",
    "x",
    to_global_id("User", 2**63),
    to_global_id("Contact", 0),
    to_global_id("Nope", 1),
    base64.urlsafe_b64encode(b"User:01").decode(),
    base64.urlsafe_b64encode(b"User:-1").decode(),
    base64.urlsafe_b64encode(b"\xff\xfe:1").decode(),
    base64.urlsafe_b64encode(b"User:1\x00").decode(),
]


# What an id argument names, when its name does not say it directly ("operatorIds": users).
_ID_KINDS = {"operator": "User", "agent": "User", "parent": "Team", "type": "DocumentType", "result": "TypologyResult"}


@dataclass(frozen=True)
class World:
    """Rows the fuzzed arguments may name (global ids by type name), and the caller."""

    ids: dict[str, list[str]]
    admin_token: str

    def __repr__(self) -> str:
        return f"World({sum(map(len, self.ids.values()))} ids)"

    def ids_for(self, name: str, owner: str) -> st.SearchStrategy[str]:
        """Ids for an argument: of the type its name (or else its field's) suggests, any seeded
        row's, malformed ones, or any text."""
        stem = name.removesuffix("s").removesuffix("Id")
        kind = _ID_KINDS.get(stem) or stem[:1].upper() + stem[1:]
        if kind not in self.ids:
            # `id` of updateContactAddress: the longest seeded type its field's name holds.
            kind = max((k for k in self.ids if k.lower() in owner.lower()), key=len, default="")
        every = [i for ids in self.ids.values() for i in ids]
        return st.one_of(
            st.sampled_from(self.ids.get(kind) or every), st.sampled_from(every), st.sampled_from(MALFORMED_IDS), text
        )


def value_of(kind: GraphQLInputType, name: str, world: World, owner: str, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of a GraphQL input type for argument or input field `name` of root field `owner`;
    nullable ones are sometimes null."""
    if isinstance(kind, GraphQLNonNull):
        return _present(kind.of_type, name, world, owner, depth)
    return st.one_of(st.none(), _present(kind, name, world, owner, depth))


def _present(kind: GraphQLInputType, name: str, world: World, owner: str, depth: int) -> st.SearchStrategy[Any]:
    if isinstance(kind, GraphQLList):
        return st.lists(value_of(kind.of_type, name, world, owner, depth), max_size=3)
    if isinstance(kind, GraphQLEnumType):
        return st.sampled_from(sorted(kind.values))
    if isinstance(kind, GraphQLInputObjectType):
        return _input_object(kind, world, owner, depth)
    assert isinstance(kind, GraphQLScalarType), kind
    if name in ("after", "before"):
        return cursors
    return {
        "String": text,
        "ID": world.ids_for(name, owner),
        "Int": ints,
        "Float": floats,
        "Boolean": st.booleans(),
        "Date": dates,
        "DateTime": datetimes,
        "JSON": json_values,
        "Upload": st.none(),
    }[kind.name]


def _input_object(
    kind: GraphQLInputObjectType, world: World, owner: str, depth: int
) -> st.SearchStrategy[dict[str, Any]]:
    if depth > 3:
        return st.just({})
    fields = {n: (f, value_of(f.type, n, world, owner, depth + 1)) for n, f in kind.fields.items()}
    if _one_of(kind):
        return st.one_of([v.filter(lambda x: x is not None).map(lambda x, n=n: {n: x}) for n, (_, v) in fields.items()])
    required = {n: v for n, (f, v) in fields.items() if _required(f)}
    optional = {n: v for n, (f, v) in fields.items() if not _required(f)}
    return st.fixed_dictionaries(required, optional=optional)


def _one_of(kind: GraphQLInputObjectType) -> bool:
    # strawberry enforces @oneOf itself and leaves graphql-core's flag unset: its definition says.
    definition = kind.extensions.get("strawberry-definition")
    return kind.is_one_of or bool(definition and definition.is_one_of)


def _required(field: GraphQLArgument | Any) -> bool:
    return isinstance(field.type, GraphQLNonNull) and field.default_value is Undefined


# --- documents ----------------------------------------------------------------------------------


def _selection(kind: GraphQLOutputType, depth: int) -> str:
    named = get_named_type(kind)
    if is_leaf_type(named):
        return ""
    if isinstance(named, GraphQLUnionType):
        members = " ".join(f"... on {m.name} {_selection(m, depth)}" for m in named.types)
        return f"{{ __typename {members} }}"
    assert isinstance(named, (GraphQLObjectType, GraphQLInterfaceType))
    chosen = ["__typename"]
    for field_name, field in named.fields.items():
        if any(_required(a) for a in field.args.values()):
            continue
        inner = get_named_type(field.type)
        if is_leaf_type(inner):
            chosen.append(field_name)
        elif depth > 0 and not (field.args and depth < 2):
            # Nested lists only at the top: the document stays small, within the server's limits.
            chosen.append(f"{field_name} {_selection(field.type, depth - 1)}")
    return "{ " + " ".join(chosen) + " }"


@dataclass(frozen=True)
class RootField:
    operation: str
    name: str
    field: GraphQLField

    def document(self, given: set[str]) -> str:
        args = {n: a for n, a in self.field.args.items() if n in given}
        declared = ", ".join(f"${n}: {a.type}" for n, a in args.items())
        passed = ", ".join(f"{n}: ${n}" for n in args)
        head = f"{self.operation} Fuzz({declared})" if declared else f"{self.operation} Fuzz"
        call = f"{self.name}({passed})" if passed else self.name
        return f"{head} {{ {call} {_selection(self.field.type, 2)} }}"

    def variables(self, world: World) -> st.SearchStrategy[dict[str, Any]]:
        args = {n: (a, value_of(a.type, n, world, self.name)) for n, a in self.field.args.items()}
        required = {n: v for n, (a, v) in args.items() if _required(a)}
        optional = {n: v for n, (a, v) in args.items() if not _required(a)}
        return st.fixed_dictionaries(required, optional=optional)


def _root_fields() -> list[RootField]:
    fields = []
    for operation, root in (("query", SCHEMA.query_type), ("mutation", SCHEMA.mutation_type)):
        assert root is not None
        fields.extend(RootField(operation, n, f) for n, f in root.fields.items())
    return fields


ROOT_FIELDS = _root_fields()


# --- the test -----------------------------------------------------------------------------------


SEED = """
mutation {
  createCompany(input: {name: "Fuzz SA"}) { company { id } }
  createDocumentType(input: {code: "ANY", name: "Anything", formatRegex: ".+", checkDigit: NONE}) {
    documentType { id }
  }
  text: createCustomField(input: {key: "nota", label: "Nota", type: TEXT}) { customField { id } }
  choice: createCustomField(input: {key: "segmento", label: "Segmento", type: CHOICE, options: ["A", "B"]}) {
    customField { id }
  }
}
"""


@pytest.fixture
async def world(client: GraphQLClient, factory: Factory) -> World:
    team = await factory.team("Fuzz")
    admin = await factory.user(Role.ADMIN, name="Fuzz Admin")
    supervisor = await factory.user(Role.SUPERVISOR, supervises=[team])
    agent = await factory.user(Role.AGENT, teams=[team])
    contacts = await factory.contacts(team, "Ana Pérez", "Bruno Díaz")
    portfolio = await factory.portfolio("Fuzz portfolio", team=team, contacts=contacts[:1])
    campaign = await factory.campaign("Fuzz campaign", team, operators=[agent])
    gestiones = await factory.gestiones(campaign, contacts, operator=agent)
    token = factory.token(admin)
    # The admin's own id is left out: deactivating the caller would end the run's coverage.
    rows = [team, supervisor, agent, *contacts, portfolio, campaign, *gestiones]
    ids: dict[str, list[str]] = {}
    for row in rows:
        ids.setdefault(type(row).__name__, []).append(gid(row))
    async with factory.sessionmaker() as session:
        for model in (Typology, TypologyResult):
            pk = await session.scalar(select(model.id).order_by(model.id).limit(1))
            ids[model.__name__] = [to_global_id(model.__name__, pk)]
    seeded = await client.data(SEED, token=token)
    ids["Company"] = [seeded["createCompany"]["company"]["id"]]
    ids["DocumentType"] = [seeded["createDocumentType"]["documentType"]["id"]]
    ids["CustomFieldDefinition"] = [seeded[k]["customField"]["id"] for k in ("text", "choice")]
    return World(ids=ids, admin_token=token)


def _masked(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        e
        for e in body.get("errors") or []
        if (e.get("extensions") or {}).get("code") == "INTERNAL_SERVER_ERROR" or "Unexpected error" in e["message"]
    ]


# Upload is always null here (a file travels only in a multipart request, never in JSON
# variables), so uploadGestionAttachment's required `file` refuses every example before it runs.
NEVER_EXECUTED = {"uploadGestionAttachment"}


def _ask(http: httpx.Client, world: World, root: RootField, variables: dict[str, Any]) -> bool:
    """One example as the admin and anonymously; whether the admin's answer was executed (carries `data`)."""
    document = root.document(set(variables))
    # ensure_ascii: lone surrogates travel as \u escapes, as a client's JSON encoder sends them.
    body = json.dumps({"query": document, "variables": variables})
    executed = False
    for token in (world.admin_token, None):
        response = http.post("/graphql", content=body, headers={"content-type": JSON, **auth(token)})
        assert response.status_code < 500, (response.status_code, response.text[:2000])
        answer = response.json()
        assert not _masked(answer), answer
        executed = executed or (token is not None and "data" in answer)
    return executed


@pytest.mark.parametrize("root", ROOT_FIELDS, ids=lambda r: r.name)
async def test_hostile_arguments_get_a_clean_answer(server: Server, world: World, root: RootField) -> None:
    executed = 0

    # Hypothesis drives a plain function in a thread of its own, so that the count can be
    # checked once every example has run, while the server keeps serving in the test's loop.
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(variables=root.variables(world))
    def examples(variables: dict[str, Any]) -> None:
        nonlocal executed
        executed += _ask(http, world, root, variables)

    with httpx.Client(base_url=server.url, timeout=30) as http:
        await asyncio.to_thread(examples)
    if root.name not in NEVER_EXECUTED:
        assert executed > 0, f"none of {root.name}'s examples got past validation: its arguments are never fuzzed"
