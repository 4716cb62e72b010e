"""Generated query documents, each answered by both read paths and compared byte for byte
(issue 24, point 4; the hand-written tests are compared by tests/differential.py's hook).

The documents come from the schema itself: for each root read (`me`, `node`, `nodes`,
`contacts`, `companies`, `users`, `teams`, `portfolios`, `auditEvents`, `gestiones`), random
sub-selections of scalar, object, list and connection fields to a bounded depth, aliases (two
of one field with different arguments among them), inline and named fragments, `__typename`
at any level, `@include`/`@skip` on literals and variables, arguments as literals and as
variables (declared with defaults, overridden or not), page sizes (0, 1, the limit, past it),
cursors from a previous answer and bad ones, filters and orders built from their input types,
`node(id:)` with ids of every type, foreign and invalid ones. Each document is asked as an
admin, a supervisor, an agent, and sometimes signed out or as a deactivated user, over the
world in tests/compiled_world.py. Both answers must be the same bytes, so for each role the
compiled path shows no row strawberry hides, and refuses what strawberry refuses, alike.

PostgreSQL only (the compiled path's); skipped on SQLite. Hypothesis is derandomized: the same
documents every run, so a failure reproduces, and the failing document is printed. The number
per root read is EXAMPLES (CARTERA_DIFFERENTIAL_EXAMPLES); a longer hunt with other documents:
CARTERA_DIFFERENTIAL_EXAMPLES=500 CARTERA_DIFFERENTIAL_SEED=7 pytest tests/test_compiled_differential.py
As in the hook, the second (strawberry) request is sent only when the compiled path answered,
unless CARTERA_TEST_DIFFERENTIAL=always.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
    Undefined,
    get_named_type,
    is_leaf_type,
)
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from resolvers.root import build_schema
from schema.node import to_global_id
from services.settings import Settings
from tests import compiled_world, differential
from tests.conftest import JSON, POSTGRES_URL, SECRET, GraphQLClient, Server, auth
from tests.factories import Factory, cursor

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="the compiled read path is PostgreSQL's")

SCHEMA = build_schema(Settings(database_url="sqlite+aiosqlite:///:memory:", secret_key=SECRET))._schema
ROOTS = ["me", "node", "nodes", "contacts", "companies", "users", "teams", "portfolios", "auditEvents", "gestiones"]
# Documents per root read: ROOTS x EXAMPLES documents a run, each asked as three to five callers.
EXAMPLES = int(os.environ.get("CARTERA_DIFFERENTIAL_EXAMPLES") or 30)
SEED = os.environ.get("CARTERA_DIFFERENTIAL_SEED")
MAX_PAGE = Settings.max_page_size
# Mostly pages that are served; 0, past the limit and negative ones are refused, alike.
PAGE_SIZES = [1, 2, 3, 7, MAX_PAGE, 1, 2, 5, 0, MAX_PAGE + 1, -1]
# Composite levels below a root field: inside the server's depth limit with room to spare.
MAX_DEPTH = 4
WORDS = ["pérez", "ÑANDÚ", "ana", "🎉", "o'brien", '"el toro"', "\\", "zoë", "a", "%", "_", "", "cobranza", "sur"]
BAD_CURSORS = ["!!!", "", cursor([]), cursor([1, "x", 2]), cursor(["zzz", 2**40]), cursor({"a": 1})]
PAGE_ARGUMENTS = ("first", "last", "after", "before")


class Enum(str):
    """An enum value: a bare name in a GraphQL literal."""


def literal(value: Any) -> str:
    """A Python value as a GraphQL literal."""
    if value is None:
        return "null"
    if isinstance(value, Enum):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        # JSON's string escapes are GraphQL's (GraphQL has no \/ issue, and accepts raw non-ASCII).
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    assert isinstance(value, dict), value
    return "{" + ", ".join(f"{k}: {literal(v)}" for k, v in value.items()) + "}"


def _wire(value: Any) -> Any:
    """A Python value as a variable's JSON value."""
    if isinstance(value, list):
        return [_wire(v) for v in value]
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    return str(value) if isinstance(value, Enum) else value


@dataclass(frozen=True)
class Document:
    query: str
    variables: dict[str, Any]
    operation_name: str | None

    def body(self) -> str:
        payload: dict[str, Any] = {"query": self.query}
        if self.variables:
            payload["variables"] = self.variables
        if self.operation_name:
            payload["operationName"] = self.operation_name
        return json.dumps(payload)

    def __str__(self) -> str:
        variables = json.dumps(self.variables, ensure_ascii=False)
        return f"{self.query}\nvariables: {variables}\noperation: {self.operation_name}"


@dataclass
class Pools:
    """What arguments are drawn from: the world's ids by type, and cursors by connection field
    ("Query.contacts", "Portfolio.contacts")."""

    ids: dict[str, list[str]]
    cursors: dict[str, list[str]]

    def __repr__(self) -> str:
        return f"Pools({len(self.every_id)} ids, {len(self.every_cursor)} cursors)"

    @property
    def every_id(self) -> list[str]:
        return [i for ids in self.ids.values() for i in ids]

    @property
    def every_cursor(self) -> list[str]:
        return [c for cs in self.cursors.values() for c in cs]

    def foreign_ids(self) -> list[str]:
        return [
            to_global_id("Contact", 999_999),
            to_global_id("User", 2**62),
            to_global_id("Nope", 1),
            "x",
            "",
            "Q29udGFjdDox",  # Contact:1 without padding trouble, may or may not exist
        ]


@dataclass
class Builder:
    """One document under construction: its variables, fragments and names drawn so far."""

    draw: Any
    pools: Pools
    definitions: list[str] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)
    fragments: list[str] = field(default_factory=list)
    n: int = 0

    def fresh(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def argument(self, value: Any, kind: GraphQLInputType, other: Any) -> str:
        """`value` as a literal, or as a variable: given, declared with it as default, or
        declared with `other` as default and given."""
        how = self.draw(st.sampled_from(["literal", "literal", "given", "default", "overridden"]))
        if how == "literal":
            return literal(value)
        name = self.fresh("v")
        declared = str(kind)
        if how == "given":
            self.definitions.append(f"${name}: {declared}")
            self.variables[name] = _wire(value)
        elif how == "default":
            self.definitions.append(f"${name}: {declared} = {literal(value)}")
        else:
            # A non-null variable may not have a default in every position: declare it nullable.
            declared = declared.removesuffix("!")
            self.definitions.append(f"${name}: {declared} = {literal(other)}")
            self.variables[name] = _wire(value)
        return f"${name}"

    def condition(self) -> str:
        """An @include/@skip, on a literal or a variable, or nothing."""
        if self.draw(st.integers(0, 7)) > 0:
            return ""
        directive = self.draw(st.sampled_from(["include", "skip"]))
        value = self.draw(st.booleans())
        return f" @{directive}(if: {self.argument(value, GraphQLNonNull(SCHEMA.type_map['Boolean']), not value)})"  # type: ignore[arg-type]

    # --- values of input types -----------------------------------------------------------------

    def input_value(self, kind: GraphQLInputType, name: str, depth: int = 0) -> Any:
        if isinstance(kind, GraphQLNonNull):
            return self._present(kind.of_type, name, depth)
        if self.draw(st.integers(0, 9)) == 0:
            return None
        return self._present(kind, name, depth)

    def _present(self, kind: GraphQLInputType, name: str, depth: int) -> Any:
        if isinstance(kind, GraphQLList):
            return [self.input_value(kind.of_type, name, depth) for _ in range(self.draw(st.integers(0, 2)))]
        if isinstance(kind, GraphQLEnumType):
            return Enum(self.draw(st.sampled_from(sorted(kind.values))))
        if isinstance(kind, GraphQLInputObjectType):
            if depth > 2:
                return {}
            chosen = {}
            for field_name, input_field in kind.fields.items():
                required = isinstance(input_field.type, GraphQLNonNull) and input_field.default_value is Undefined
                if required or self.draw(st.integers(0, 3)) == 0:
                    chosen[field_name] = self.input_value(input_field.type, field_name, depth + 1)
            return chosen
        assert isinstance(kind, GraphQLScalarType), kind
        return self.scalar(kind.name, name)

    def scalar(self, kind: str, name: str) -> Any:
        draw = self.draw
        if kind == "ID":
            stem = name.removesuffix("s").removesuffix("Id")
            typed = self.pools.ids.get(stem[:1].upper() + stem[1:]) or self.pools.every_id
            return draw(st.sampled_from(typed + self.pools.foreign_ids()[:2]))
        if kind == "String":
            if name in ("after", "before"):
                return self.cursor(name)
            return draw(st.sampled_from(WORDS))
        if kind == "Int":
            return draw(st.sampled_from([0, 1, 2, 5, -1, 100]))
        if kind == "Float":
            return draw(st.sampled_from([0.0, 1.5, -2.25]))
        if kind == "Boolean":
            return draw(st.booleans())
        if kind == "Date":
            return draw(st.sampled_from(["2026-03-01", "2020-01-01", "2030-12-31"]))
        if kind == "DateTime":
            return draw(st.sampled_from(["2026-03-01T00:00:00+00:00", "2026-03-03T12:00:00-03:00"]))
        if kind == "JSON":
            return draw(st.sampled_from([*compiled_world.AWKWARD[:4], *compiled_world.NUMBERS[:6], True, None]))
        return None

    def cursor(self, owner: str) -> str:
        own = self.pools.cursors.get(owner) or []
        pick = self.draw(st.integers(0, 9))
        if own and pick < 7:
            return str(self.draw(st.sampled_from(own)))
        if pick < 8 and self.pools.every_cursor:
            return str(self.draw(st.sampled_from(self.pools.every_cursor)))
        return str(self.draw(st.sampled_from(BAD_CURSORS)))

    # --- arguments and selections --------------------------------------------------------------

    def arguments(self, parent: str, name: str, definition: GraphQLField) -> str | None:
        """An argument list for the field (possibly empty); None when it has a required argument
        this builder cannot give."""
        args = definition.args
        given: list[str] = []
        if "id" in args:
            given.append("id: " + self.argument(self._some_id(), args["id"].type, self._some_id()))
        elif "ids" in args:
            ids = [self._some_id() for _ in range(self.draw(st.integers(0, 4)))]
            given.append("ids: " + self.argument(ids, args["ids"].type, [self._some_id()]))
        elif any(isinstance(a.type, GraphQLNonNull) and a.default_value is Undefined for a in args.values()):
            return None
        if "first" in args:
            given.extend(self.page(f"{parent}.{name}"))
        for arg_name, arg in args.items():
            if arg_name in PAGE_ARGUMENTS or arg_name in ("id", "ids"):
                continue
            if self.draw(st.integers(0, 3)) == 0:
                value = self.input_value(arg.type, arg_name)
                given.append(f"{arg_name}: {self.argument(value, arg.type, None)}")
        return f"({', '.join(given)})" if given else ""

    def _some_id(self) -> str:
        return str(self.draw(st.sampled_from(self.pools.every_id + self.pools.foreign_ids())))

    def page(self, owner: str) -> list[str]:
        shapes = ["", "first", "first", "last", "first after", "first after", "last before", "after", "first last"]
        shape = self.draw(st.sampled_from(shapes))
        out = []
        int_type = SCHEMA.type_map["Int"]
        string_type = SCHEMA.type_map["String"]
        for arg_name in shape.split():
            if arg_name in ("first", "last"):
                size = self.draw(st.sampled_from(PAGE_SIZES))
                out.append(f"{arg_name}: {self.argument(size, int_type, 2)}")  # type: ignore[arg-type]
            else:
                out.append(f"{arg_name}: {self.argument(self.cursor(owner), string_type, None)}")  # type: ignore[arg-type]
        return out

    def selection(self, kind: GraphQLNamedType, depth: int) -> str:
        """A selection set on `kind`, `depth` composite levels deep at most."""
        draw = self.draw
        if isinstance(kind, GraphQLUnionType):
            members = draw(st.lists(st.sampled_from(kind.types), min_size=1, max_size=3, unique=True))
            parts = ["__typename"] + [f"... on {m.name} {self.selection(m, depth)}" for m in members]
            return "{ " + " ".join(parts) + " }"
        assert isinstance(kind, GraphQLObjectType | GraphQLInterfaceType), kind
        usable = {n: f for n, f in kind.fields.items() if depth > 0 or is_leaf_type(get_named_type(f.type))}
        items: list[str] = []
        if usable:
            names = draw(st.lists(st.sampled_from(sorted(usable)), min_size=1, max_size=6, unique=True))
            for name in names:
                items.extend(self.field(kind.name, name, usable[name], depth))
        if not items or draw(st.integers(0, 3)) == 0:
            items.insert(draw(st.integers(0, len(items))), "__typename")
        if isinstance(kind, GraphQLInterfaceType) and depth > 0:
            possible = sorted(SCHEMA.get_possible_types(kind), key=lambda t: t.name)
            for member in draw(st.lists(st.sampled_from(possible), max_size=3, unique=True)):
                items.append(f"... on {member.name}{self.condition()} {self.selection(member, depth - 1)}")
        return "{ " + " ".join(self.grouped(kind, items)) + " }"

    def grouped(self, kind: GraphQLNamedType, items: list[str]) -> list[str]:
        """Some of the items moved into an inline fragment or a named one."""
        if len(items) < 2:
            return items
        how = self.draw(st.sampled_from(["", "", "inline", "bare", "named"]))
        if not how:
            return items
        cut = self.draw(st.integers(1, len(items)))
        inner, rest = items[:cut], items[cut:]
        body = "{ " + " ".join(inner) + " }"
        if how == "inline":
            return [f"... on {kind.name}{self.condition()} {body}", *rest]
        if how == "bare":
            return [f"...{self.condition()} {body}", *rest]
        name = self.fresh("F")
        self.fragments.append(f"fragment {name} on {kind.name} {body}")
        return [*rest, f"...{name}{self.condition()}"]

    def field(self, parent: str, name: str, definition: GraphQLField, depth: int) -> list[str]:
        """The field selected once, or (with arguments) sometimes twice under two aliases."""
        copies = 2 if definition.args and self.draw(st.integers(0, 4)) == 0 else 1
        out = []
        for _ in range(copies):
            arguments = self.arguments(parent, name, definition)
            if arguments is None:
                return []
            # Two selections of one field with other arguments conflict unless aliased apart.
            alias = f"{self.fresh('a')}: " if arguments or self.draw(st.integers(0, 3)) == 0 else ""
            inner = get_named_type(definition.type)
            below = "" if is_leaf_type(inner) else " " + self.selection(inner, depth - 1)
            out.append(f"{alias}{name}{arguments}{self.condition()}{below}")
        return out


@st.composite
def documents(draw: Any, pools: Pools, root: str) -> Document:
    builder = Builder(draw, pools)
    query_type = SCHEMA.query_type
    assert query_type is not None
    others = draw(st.lists(st.sampled_from(ROOTS), max_size=2))
    items = []
    for name in [root, *others]:
        items.extend(builder.field("Query", name, query_type.fields[name], draw(st.integers(1, MAX_DEPTH))))
    if draw(st.booleans()):
        items.append("__typename")
    selection = "{ " + " ".join(builder.grouped(query_type, items)) + " }"
    name = draw(st.sampled_from([None, "Read", "Lectura_2"]))
    head = "query"
    if name:
        head += f" {name}"
    if builder.definitions:
        head += "(" + ", ".join(builder.definitions) + ")"
    operations = [selection if head == "query" and draw(st.booleans()) else f"{head} {selection}"]
    operation_name = name
    if name and draw(st.integers(0, 4)) == 0:
        # Another operation beside it: the request names the one to run.
        operations.append(draw(st.sampled_from(["query Otra { me { id } }", "mutation Cambio { __typename }"])))
    return Document("\n".join([*operations, *builder.fragments]), builder.variables, operation_name)


# --- the world and its cursors -------------------------------------------------------------------


def _cursors_in(value: Any, found: list[str]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in ("cursor", "startCursor", "endCursor") and isinstance(inner, str):
                found.append(inner)
            else:
                _cursors_in(inner, found)
    elif isinstance(value, list):
        for inner in value:
            _cursors_in(inner, found)


async def _cursors(client: GraphQLClient, token: str) -> dict[str, list[str]]:
    """Cursors of each connection ("Type.field") as the admin reads them: what a client pages on with."""
    page = "edges { cursor } pageInfo { startCursor endCursor }"
    found: dict[str, list[str]] = {}
    for name in ("contacts", "companies", "users", "teams", "portfolios", "auditEvents", "gestiones"):
        data = await client.data(f"{{ {name}(first: 3) {{ {page} }} }}", token=token)
        _cursors_in(data, found.setdefault(f"Query.{name}", []))
    nested = {
        "Contact.history": f"{{ contacts(first: 10) {{ nodes {{ history(first: 2) {{ {page} }} }} }} }}",
        "AuditEvent.entries": f"{{ auditEvents(first: 20) {{ nodes {{ entries(first: 2) {{ {page} }} }} }} }}",
        "Contact.gestiones": f"{{ contacts(first: 20) {{ nodes {{ gestiones(first: 1) {{ {page} }} }} }} }}",
        "Portfolio.contacts": f"{{ portfolios(first: 5) {{ nodes {{ contacts(first: 2) {{ {page} }} }} }} }}",
    }
    for name, query in nested.items():
        _cursors_in(await client.data(query, token=token), found.setdefault(name, []))
    return {name: sorted(set(values)) for name, values in found.items()}


@dataclass
class Tally:
    asked: int = 0
    compiled: int = 0
    compared: int = 0
    server_errors: int = 0
    executed: int = 0  # documents whose admin answer read something (a root field not null)
    # The errors of the admin's answers, by message: what the generator asks that is refused.
    errors: Counter[str] = field(default_factory=Counter)

    def __str__(self) -> str:
        counts = (
            f"{self.asked} requests, {self.compiled} compiled, {self.compared} compared, "
            f"{self.server_errors} server errors, {self.executed} reads"
        )
        return f"{counts}; the admin's errors: {self.errors.most_common(6)}"


def ask(http: httpx.Client, document: Document, token: str | None, tally: Tally) -> httpx.Response:
    """One request as `token`'s user; when it was compiled (or the mode says always) the same
    request answered by strawberry, which must be the same bytes."""
    body = document.body()
    headers = {"content-type": JSON, **auth(token)}
    first = http.post("/graphql", content=body, headers=headers)
    tally.asked += 1
    tally.compiled += differential.compiled(first)
    if differential.MODE == "always" or differential.compiled(first):
        second = http.post(
            "/graphql",
            content=body,
            headers={**headers, **differential.STRAWBERRY, "x-request-id": first.headers["x-request-id"]},
        )
        tally.compared += 1
        differential.assert_same(first, second, f"as {token and token[:12]}…:\n{document}")
    # A 500 is not this test's to judge (tests/test_cancelled_siblings.py holds the one known):
    # only that both paths give it alike.
    tally.server_errors += first.status_code >= 500
    return first


@pytest.fixture
async def pools(client: GraphQLClient, factory: Factory) -> tuple[compiled_world.CompiledWorld, Pools]:
    world = await compiled_world.build(client, factory)
    return world, Pools(ids=world.ids, cursors=await _cursors(client, world.tokens["ADMIN"]))


@pytest.mark.parametrize("root", ROOTS)
async def test_both_paths_answer_generated_documents_alike(
    server: Server, pools: tuple[compiled_world.CompiledWorld, Pools], root: str
) -> None:
    world, pool = pools
    tally = Tally()
    roles = [world.tokens["ADMIN"], world.tokens["SUPERVISOR"], world.tokens["AGENT"]]
    strangers = [None, world.tokens["inactive"]]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=SEED is None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(document=documents(pool, root), stranger=st.sampled_from([*strangers, False, False, False, False]))
    def examples(document: Document, stranger: str | bool | None) -> None:
        answers = [ask(http, document, token, tally) for token in roles]
        if stranger is not False:
            ask(http, document, stranger, tally)
        try:
            admin = answers[0].json()
        except ValueError:  # a plain-text 500
            admin = {}
        tally.errors.update(e["message"][:60] for e in admin.get("errors") or [])
        data = admin.get("data") or {}
        tally.executed += any(value is not None and not isinstance(value, str) for value in data.values())

    if SEED is not None:
        examples = seed(int(SEED))(examples)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        await asyncio.to_thread(examples)
    print(f"{root}: {tally}")
    # A generator whose documents the server refuses compares nothing: most must read something.
    assert tally.executed >= EXAMPLES // 3, tally
