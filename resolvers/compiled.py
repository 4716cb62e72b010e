"""Compiled reads: a query whose every field has a SQL mapping (schema/sql_map.py) runs as one
statement that builds the response's `data` in PostgreSQL (ARCHITECTURE.md, "Speed of reads").

Per request: the document's parse and validation come from a cache, the variables are coerced
as graphql-core does, and the statement is built from the selection. A root list's rows come
from the same service function its resolver pages (services.contacts.listing, say), so its
filters and visibility are the resolver's own; nested objects that are scoped go through the
same db/scopes.py rule as their loader. Anything not covered (a field without a mapping, an
argument the compiler does not read, a mutation, a subscription, a signed-out request, an
argument the resolver would refuse) returns None, and strawberry answers the whole operation:
nothing is half compiled. tests/test_compiled_reads.py and the differential tests keep the two
answers byte-identical.

Encoding: every piece is JSON text built with `||`, in the selection's order, compact as
cartera.wire.encode writes it: strings through to_json (which escapes as Python's json does with
ensure_ascii off), instants as datetime.isoformat writes them (sql_map.instant_sql).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import asyncpg
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    get_named_type,
    parse,
    specified_rules,
    validate,
)
from graphql.execution.collect_fields import FieldDetails, FragmentDetails, collect_fields, collect_subfields
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from sqlalchemy import Column, Select, literal_column, select
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.schema import BaseSchema
from strawberry.types.arguments import convert_arguments

from db import batches, keyset
from db.engine import lost_connection
from db.keyset import PageRequest, PaginationError, SortKey
from db.models import Role
from db.search import SearchTooLong
from resolvers import lifecycle
from resolvers.audit import audit_filter
from resolvers.cost import operation_cost
from resolvers.node import NODE_TYPES
from resolvers.teams import team_listing
from resolvers.users import user_listing
from schema import sql_map
from schema.context import AppState, Context
from schema.node import InvalidGlobalId, from_global_id
from services import audit, companies, contacts, conversations, gestiones, portfolios, sales_attentions
from services.errors import DomainError, Unauthenticated
from services.lru import MISSING, Lru
from services.principal import Principal

log = logging.getLogger("cartera.compiled")
_DIALECT = asyncpg_dialect.dialect()  # type: ignore[no-untyped-call]
_PARAM = re.compile(r"\$(\d+)")
_DOCUMENTS = 512
_PLANS = 2048
# What a connection lost mid-statement raises (asyncpg, or the socket under it).
# InternalClientError ("cannot switch to state ..."): a statement sent on a connection whose
# server end had just gone, before asyncpg read the close.
_LOST = (
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.AdminShutdownError,
    OSError,
)
# What building a statement may raise for a client's input: strawberry answers with the error.
_REFUSALS = (PaginationError, DomainError, InvalidGlobalId, SearchTooLong, Unauthenticated, GraphQLError)
# The SQL (None: known without it), its parameters (or the answer's text), the operation's cost,
# and whether PostgreSQL must plan it with its values (a text filter: see ReadCompiler._fetch).
_Plan = tuple[str | None, list[Any], int, bool]
# Argument names, at the root or in its filter, of a text that statements match with LIKE.
_TEXT_FILTERS = frozenset({"search", "text"})


class _Fallback(Exception):
    """This request runs through strawberry."""


@dataclass(frozen=True)
class _Document:
    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDetails]
    # Only `__typename` at the root: answered without the database, or the principal.
    typename_only: bool


class _Statement:
    """The statement being built: SQL pieces and their positional parameters."""

    def __init__(self) -> None:
        self.params: list[Any] = []
        self.aliases = 0

    def alias(self) -> str:
        self.aliases += 1
        return f"q{self.aliases}"

    def fragment(self, stmt: Select[Any]) -> str:
        """A SQLAlchemy statement's SQL, its parameters numbered after the ones already bound."""
        text, values = _compiled(stmt)
        offset = len(self.params)
        self.params.extend(values)
        return _renumber(text, offset) if offset else text


_COMPILED: Lru[Any, Any] = Lru(2048)


def _compiled(stmt: Select[Any]) -> tuple[str, list[Any]]:
    """As SQLAlchemy's own execution does it: compile once per statement shape (its cache key),
    then bind this statement's values and expand its IN lists. SQLAlchemy has no public call
    that gives a statement's SQL and parameters as it would send them, so this follows
    Connection._execute_clauseelement (cache key, construct_params, postcompile expansion)."""
    key = stmt._generate_cache_key()
    assert key is not None
    compiled = _COMPILED.get(key.key)
    if compiled is MISSING:
        compiled = _DIALECT.statement_compiler(_DIALECT, stmt, cache_key=key)
        _COMPILED.put(key.key, compiled)
    params = compiled.construct_params(extracted_parameters=key.bindparams, escape_names=False)
    expanded = compiled._process_parameters_for_postcompile(params)
    processors = expanded.processors
    values = []
    for name in expanded.positiontup or ():
        value = expanded.parameters[name]
        processor = processors.get(name)
        values.append(processor(value) if processor is not None else value)
    return expanded.statement, values


@lru_cache(maxsize=4096)
def _renumber(text: str, offset: int) -> str:
    return _PARAM.sub(lambda m: f"${int(m.group(1)) + offset}", text)


def _literal(value: str) -> str:
    """A JSON text as a SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _key(name: str) -> str:
    return _literal(json.dumps(name, ensure_ascii=False) + ":")


class ReadCompiler:
    """Plans cached by document and operation; `run` answers a request or says it cannot."""

    def __init__(self, schema: BaseSchema, app: AppState) -> None:
        self.schema = schema
        self.gql: GraphQLSchema = schema._schema  # type: ignore[attr-defined]
        self.app = app
        self.settings = app.settings
        self.rules = [*specified_rules, *getattr(schema, "cartera_rules", ())]
        self._documents: Lru[tuple[str, str | None], _Document | None] = Lru(_DOCUMENTS)
        self._plans: Lru[tuple[Any, ...], _Plan | None] = Lru(_PLANS)
        # Called with each statement sent (the tests count them, as they count SQLAlchemy's).
        self.listeners: list[Callable[[str], None]] = []

    @property
    def engine(self) -> AsyncEngine:
        bind = self.app.sessionmaker.kw["bind"]
        assert isinstance(bind, AsyncEngine)
        return bind

    def document(self, query: str, operation_name: str | None) -> _Document | None:
        """The parsed and validated query operation, or None when strawberry must answer."""
        key = (query, operation_name)
        found = self._documents.get(key)
        if found is MISSING:
            found = self._parse(query, operation_name)
            self._documents.put(key, found)
        return found

    def _parse(self, query: str, operation_name: str | None) -> _Document | None:
        try:
            document: DocumentNode = parse(query, max_tokens=self.settings.max_tokens)
        except GraphQLError:
            return None
        if validate(self.gql, document, self.rules):
            return None
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if operation_name is None:
            chosen = operations if len(operations) == 1 else []
        else:
            chosen = [o for o in operations if o.name is not None and o.name.value == operation_name]
        if len(chosen) != 1 or chosen[0].operation is not OperationType.QUERY:
            return None
        fragments = {
            d.name.value: FragmentDetails(d) for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        selections = chosen[0].selection_set.selections
        typename_only = all(isinstance(s, FieldNode) and s.name.value == "__typename" for s in selections)
        return _Document(chosen[0], fragments, typename_only)

    async def run(
        self, context: Context, query: str, variables: dict[str, Any] | None, operation_name: str | None
    ) -> bytes | None:
        """The whole response body as JSON bytes, or None: strawberry answers this request."""
        document = self.document(query, operation_name)
        if document is None:
            return None
        principal = None
        if context.token_user_id is not None and not document.typename_only:
            try:
                principal = await lifecycle.principal_of(context)
            except Exception as error:
                if lost_connection(error):
                    raise  # the endpoint sends the request again (cartera.http)
                return None
        built = self._plan(query, operation_name, document, variables, principal)
        if built is None:
            return None
        sql, params, cost, with_values = built
        context.operation_name = document.operation.name.value if document.operation.name else None
        if sql is None:
            data = params[0]
        else:
            try:
                data = await self._fetch(sql, params, with_values=with_values)
            except asyncpg.PostgresError:
                # A statement PostgreSQL refused is this module's mistake, not the client's: say so
                # in the log and let strawberry answer (the differential tests fail on it first).
                log.exception(
                    "compiled read failed", extra={"request_id": context.request_id, "document": query[:2000]}
                )
                key = self._key(query, operation_name, variables, principal)
                if key is not None:
                    self._plans.pop(key)
                return None
        tail = f',"extensions":{{"cost":{{"requested":{cost},"limit":{self.settings.max_query_cost}}}}}}}'
        return b'{"data":' + str(data).encode() + tail.encode()

    async def _fetch(self, sql: str, params: list[Any], *, with_values: bool = False) -> str:
        """The statement's one value, sent on the engine's pooled connection through asyncpg itself:
        SQLAlchemy's execution around one SELECT (greenlets, the cursor adapter, its result) took a
        third of a `{ me { id } }`'s CPU. No transaction: the connection is in autocommit until
        SQLAlchemy begins one, which it does not here."""
        for listener in self.listeners:
            listener(sql)
        for again in (True, False):
            async with self.engine.connect() as conn:
                pooled = await conn.get_raw_connection()
                driver = pooled.driver_connection
                assert driver is not None
                try:
                    if with_values:
                        # A statement asyncpg prepares once per connection may, after five runs, get a
                        # generic plan from PostgreSQL, which ignores the values: the one chosen while
                        # the panel's text filter read "gonzalez" took 52-80 ms for "0341 15" instead of
                        # 9 (bench/sales.py). A statement prepared afresh is planned with its values,
                        # for one round trip more; plan_cache_mode for every statement cost the hot
                        # pages a third of their throughput in planning. Unnamed (""): nothing is
                        # left on the server, the next statement's Parse replaces it.
                        value = await (await driver.prepare(sql, name="")).fetchval(*params)
                    else:
                        value = await driver.fetchval(sql, *params)
                except _LOST as error:
                    # The server restarted or the backend was terminated: drop this connection
                    # and the pool's older ones, and send the read again. Connection.invalidate
                    # drops this one alone, and the retry met the next dead one in the pool (a
                    # 500 with a few idle); Pool._invalidate is what SQLAlchemy's own disconnect
                    # handling calls (Connection._handle_dbapi_exception), with no public twin.
                    self.engine.sync_engine.pool._invalidate(pooled, error)
                    if not again:
                        raise
                    log.info("a compiled read met a dead connection; sending it again", extra={"error": repr(error)})
                    continue
                assert isinstance(value, str)
                return value
        raise AssertionError("unreachable")

    async def statement(
        self, query: str, variables: dict[str, Any] | None, operation_name: str | None, principal: Principal | None
    ) -> tuple[str, tuple[Any, ...]] | None:
        """The SQL (with $1… parameters) and its parameters that `run` would send; None when not compiled."""
        document = self.document(query, operation_name)
        built = self._plan(query, operation_name, document, variables, principal) if document else None
        if built is None or built[0] is None:
            return None
        return built[0], tuple(built[1])

    def _plan(
        self,
        query: str,
        operation_name: str | None,
        document: _Document,
        variables: dict[str, Any] | None,
        principal: Principal | None,
    ) -> _Plan | None:
        """The statement for this document, variables and viewer, built once: a client polling
        its inbox or a page sends the same request again and again. The statement depends on
        nothing else (no root reads the clock; one that does must not be cached here)."""
        key = self._key(query, operation_name, variables, principal)
        if key is None:
            return None
        plan = self._plans.get(key)
        if plan is not MISSING:
            return plan
        plan, clocked = self._build(document, variables, principal)
        if not clocked:
            self._plans.put(key, plan)
        return plan

    @staticmethod
    def _key(
        query: str, operation_name: str | None, variables: dict[str, Any] | None, principal: Principal | None
    ) -> tuple[Any, ...] | None:
        try:
            return (query, operation_name, json.dumps(variables, sort_keys=True) if variables else None, principal)
        except TypeError:  # variables JSON cannot hold (a multipart upload's file): not a read
            return None

    def _build(
        self, document: _Document, variables: dict[str, Any] | None, principal: Principal | None
    ) -> tuple[_Plan | None, bool]:
        """The plan (None: strawberry answers) and whether it read the clock."""
        operation = document.operation
        coerced = get_variable_values(self.gql, operation.variable_definitions or (), variables or {})
        if isinstance(coerced, list):
            return None, False
        definitions = {name: f.definition for name, f in document.fragments.items()}
        cost = operation_cost(self.gql, operation, definitions, variables, max_page_size=self.settings.max_page_size)
        if cost > self.settings.max_query_cost:
            return None, False
        build = _Build(self, document, coerced, principal)
        query_type = self.gql.query_type
        assert query_type is not None
        fields = collect_fields(self.gql, document.fragments, coerced, query_type, operation)
        pieces: list[str] = []
        typenames: dict[str, str] = {}
        try:
            if fields.new_defer_usages:
                return None, False
            for response_key, nodes in fields.grouped_field_set.items():
                name = nodes[0].node.name.value
                if name == "__typename":
                    typenames[response_key] = "Query"
                    pieces.append(_key(response_key) + " || '\"Query\"'")
                    continue
                root = _ROOTS.get(name)
                if root is None or principal is None:
                    return None, False
                pieces.append(_key(response_key) + f" || coalesce({root(build, nodes[0].node, nodes)}, 'null')")
        except (_Fallback, *_REFUSALS):
            # strawberry says why, in its words (resolvers.lifecycle.present_error).
            return None, False
        if len(typenames) == len(pieces):
            # Nothing to read: the answer is known without the database.
            return (None, [json.dumps(typenames, separators=(",", ":"))], cost, False), False
        body = " || ',' || ".join(pieces) if pieces else "''"
        sql = f"SELECT '{{' || {body} || '}}'"
        return (sql, build.statement.params, cost, build.text_filtered), build.clocked


class _Build:
    """One request's statement: the root fields' builders and the selection walk they share."""

    def __init__(
        self, compiler: ReadCompiler, document: _Document, variables: VariableValues, principal: Principal | None
    ) -> None:
        self.compiler = compiler
        self.gql = compiler.gql
        self.document = document
        self.variables = variables
        self.principal = principal
        self.statement = _Statement()
        self.max_page_size = compiler.settings.max_page_size
        # A root whose statement reads the clock (a period preset) is built again for every request.
        self.clocked = False
        # A root filtered by a text: the statement is planned with its values (ReadCompiler._fetch).
        self.text_filtered = False

    # Arguments, converted as strawberry converts them for the resolver.

    def arguments(self, parent: str, node: FieldNode) -> dict[str, Any]:
        parent_type = self.gql.get_type(parent)
        assert isinstance(parent_type, GraphQLObjectType)
        raw = get_argument_values(parent_type.fields[node.name.value], node, self.variables)
        if parent == "Query" and not self.text_filtered:
            levels = [raw, *(v for v in raw.values() if isinstance(v, dict))]
            self.text_filtered = any(isinstance(level.get(name), str) for level in levels for name in _TEXT_FILTERS)
        definition = self.compiler.schema.get_type_by_name(parent)
        names = self.compiler.schema.config.name_converter
        fields = definition.fields  # type: ignore[union-attr]
        field = next(f for f in fields if names.get_graphql_name(f) == node.name.value)
        return convert_arguments(
            raw,
            field.arguments,
            scalar_registry=self.compiler.schema.schema_converter.scalar_registry,
            config=self.compiler.schema.config,
        )

    # Root fields.

    def contacts(self, node: FieldNode, nodes: list[FieldDetails]) -> str:
        from schema.contact_inputs import ContactFilter

        args = self.arguments("Query", node)
        order_by = args.get("order_by")
        order, descending = order_by.to_service() if order_by else (None, False)
        listed = contacts.listing(
            self._principal(),
            (args.get("filter") or ContactFilter()).to_service(),
            "postgresql",
            order=order,
            descending=descending,
        )
        if listed.tiers:
            raise _Fallback  # a search ranked tier by tier: several statements (keyset.paginate_tiers)
        return self.connection("ContactConnection", listed.statement, listed.keys, args, nodes)

    def companies(self, node: FieldNode, nodes: list[FieldDetails]) -> str:
        args = self.arguments("Query", node)
        return self.connection(
            "CompanyConnection", companies.filtered(args.get("search")), companies.COMPANY_KEYS, args, nodes
        )

    def users(self, node: FieldNode, nodes: list[FieldDetails]) -> str:
        args = self.arguments("Query", node)
        stmt, keys = user_listing(self._principal(), args.get("filter"), args.get("order_by"))
        return self.connection("UserConnection", stmt, keys, args, nodes)

    def teams(self, node: FieldNode, nodes: list[FieldDetails]) -> str:
        args = self.arguments("Query", node)
        stmt, keys = team_listing(self._principal(), args.get("filter"))
        return self.connection("TeamConnection", stmt, keys, args, nodes)

    def me(self, node: FieldNode, nodes: list[FieldDetails]) -> str:
        from db.models import User

        stmt = select(User).where(User.id == self._principal().user_id)
        alias = self.statement.alias()
        obj = self.object("User", alias, nodes)
        return f"(SELECT {obj} FROM ({self.statement.fragment(stmt)}) {alias})"

    def portfolios(self, node: FieldNode, nodes: list[FieldDetails]) -> str:
        from schema.portfolio_inputs import PortfolioFilter, PortfolioOrder

        args = self.arguments("Query", node)
        order, descending = (args.get("order_by") or PortfolioOrder()).to_service()
        flt = (args.get("filter") or PortfolioFilter()).to_service()
        stmt = portfolios.filtered(self._principal(), flt)
        return self.connection("PortfolioConnection", stmt, portfolios.sort_keys(order, descending), args, nodes)

    def audit_events(self, node: FieldNode, nodes: list[FieldDetails]) -> str:
        args = self.arguments("Query", node)
        viewer = self._principal()
        if viewer.role is Role.AGENT:
            raise _Fallback  # refused (audit.require_reader), in strawberry's words
        flt = audit_filter(args.get("filter"))
        if flt.period is not None:
            self.clocked = True  # a period's bounds move with the clock
        stmt = audit.filtered(viewer, flt, self.compiler.settings.zone)
        return self.connection("AuditEventConnection", stmt, audit.AUDIT_KEYS, args, nodes)

    def sales_attentions(self, node: FieldNode, nodes: list[FieldDetails]) -> str:
        from schema.sales_attention_inputs import SalesAttentionOrder
        from schema.sales_inputs import SalesAttentionFilter

        args = self.arguments("Query", node)
        viewer = self._principal()
        flt = (args.get("filter") or SalesAttentionFilter()).to_service()
        order, descending = (args.get("order_by") or SalesAttentionOrder()).to_service()
        # The period (LAST_7_DAYS unless given) is read at this moment, as list_attentions reads it.
        self.clocked = True
        zone = self.compiler.settings.zone
        stmt = sales_attentions.panel(viewer, flt, zone=zone, dialect="postgresql")
        keys = sales_attentions.sort_keys(order, descending)
        return self.connection("SalesAttentionConnection", stmt, keys, args, nodes)

    def conversations(self, node: FieldNode, nodes: list[FieldDetails]) -> str:
        from schema.conversation_inputs import ConversationFilter, ConversationOrder

        args = self.arguments("Query", node)
        order, descending = (args.get("order_by") or ConversationOrder()).to_service()
        flt = (args.get("filter") or ConversationFilter()).to_service()
        stmt = conversations.filtered(self._principal(), flt)
        keys = conversations.sort_keys(order, descending)
        return self.connection("ConversationConnection", stmt, keys, args, nodes)

    def gestiones(self, node: FieldNode, nodes: list[FieldDetails]) -> str:
        from schema.gestion_inputs import GestionFilter, GestionOrder

        args = self.arguments("Query", node)
        order, descending = (args.get("order_by") or GestionOrder()).to_service()
        if order is gestiones.GestionOrder.NAME:
            raise _Fallback  # by the client's name: keyed on a joined column (gestiones.list_gestiones)
        stmt = gestiones.filtered(self._principal(), (args.get("filter") or GestionFilter()).to_service())
        return self.connection("GestionConnection", stmt, gestiones.sort_keys(order, descending), args, nodes)

    def node(self, node: FieldNode, nodes: list[FieldDetails]) -> str:
        args = self.arguments("Query", node)
        return self._node(args["id"], nodes)

    def nodes(self, node: FieldNode, nodes: list[FieldDetails]) -> str:
        args = self.arguments("Query", node)
        ids = args["ids"]
        if len(ids) > self.max_page_size:
            raise _Fallback  # refused, in strawberry's words
        items = [f"coalesce({self._node(i, nodes)}, 'null')" for i in ids]
        return "'[' || " + (" || ',' || ".join(items) if items else "''") + " || ']'"

    def _node(self, global_id: str, nodes: list[FieldDetails]) -> str:
        """One object by its global id through its type's by-id rule (db.batches.BY_ID), as the
        `node` resolver loads it: null when missing or not visible, and for a type it does not know."""
        try:
            type_name, pk = from_global_id(global_id)
        except InvalidGlobalId:
            raise _Fallback from None  # an error of its own
        model = _NODE_MODELS.get(type_name)
        if model is None:
            if type_name in NODE_TYPES:
                raise _Fallback  # a type with no mapping yet
            return "NULL"  # the resolver answers null for a type it does not know
        alias = self.statement.alias()
        stmt = batches.by_id_statement(model, [pk], self._principal())
        obj = self.object(type_name, alias, nodes)
        return f"(SELECT {obj} FROM ({self.statement.fragment(stmt)}) {alias})"

    def _principal(self) -> Principal:
        if self.principal is None:
            raise _Fallback
        return self.principal

    # Connections.

    def connection(
        self,
        connection_type: str,
        stmt: Select[Any],
        keys: tuple[SortKey, ...],
        args: dict[str, Any],
        nodes: list[FieldDetails],
    ) -> str:
        request = PageRequest(
            first=args.get("first"), after=args.get("after"), last=args.get("last"), before=args.get("before")
        )
        numbered, size, backwards = keyset.numbered_page(stmt, keys, request, self.max_page_size)
        columns = [_key_column(k, stmt) for k in keys]
        page = self.statement.alias()
        # The page's rows and the one past it (whether there are more), aggregated once.
        shown = f"FILTER (WHERE {page}.page_rn <= {size})"
        more = f"count(*) > {size}"
        direction = "DESC" if backwards else "ASC"
        # Computed once per row, behind OFFSET 0 so that the planner does not inline it at
        # each use (the edges and the page's first and last).
        cursor = f"{page}.page_cursor"
        conn_type = self.gql.get_type(connection_type)
        assert isinstance(conn_type, GraphQLObjectType)
        node_type = get_named_type(conn_type.fields["nodes"].type).name
        pieces: list[str] = []
        rows_read = False
        for response_key, field_nodes in self._subfields(conn_type, nodes).items():
            name = field_nodes[0].node.name.value
            rows_read = rows_read or name in ("edges", "nodes", "pageInfo")
            if name == "__typename":
                value = _literal(json.dumps(connection_type))
            elif name in ("edges", "nodes"):
                if name == "edges":
                    edge_type = get_named_type(conn_type.fields["edges"].type)
                    assert isinstance(edge_type, GraphQLObjectType)
                    item = self._edge(edge_type, page, cursor, node_type, field_nodes)
                else:
                    item = self.object(node_type, page, field_nodes)
                ordered = f"ORDER BY {page}.page_rn {direction}"
                value = f"coalesce('[' || string_agg({item}, ',' {ordered}) {shown} || ']', '[]')"
            elif name == "pageInfo":
                value = self._page_info(page, cursor, direction, shown, more, request, backwards, field_nodes)
            elif name == "totalCount":
                value = f"(SELECT count(*) FROM ({self.statement.fragment(stmt.order_by(None))}) {page}_c)::text"
            else:
                raise _Fallback
            pieces.append(_key(response_key) + f" || {value}")
        body = " || ',' || ".join(pieces) if pieces else "''"
        if not rows_read:
            # Only totalCount or __typename: no rows to read (as the resolvers skip them too).
            return f"(SELECT '{{' || {body} || '}}')"
        rows = f"(SELECT {page}_n.*, {_cursor_sql(f'{page}_n', keys, columns)} AS page_cursor"
        rows += f" FROM ({self.statement.fragment(numbered)}) {page}_n OFFSET 0)"
        # An aggregate over the rows (GROUP BY (): their one group, there even when the page is
        # empty and no aggregate is selected, as under a pageInfo whose fields are all skipped).
        return f"(SELECT '{{' || {body} || '}}' FROM {rows} {page} GROUP BY ())"

    def _edge(
        self, edge_type: GraphQLObjectType, page: str, cursor: str, node_type: str, nodes: list[FieldDetails]
    ) -> str:
        pieces: list[str] = []
        for response_key, field_nodes in self._subfields(edge_type, nodes).items():
            name = field_nodes[0].node.name.value
            if name == "__typename":
                value = _literal(json.dumps(edge_type.name))
            elif name == "cursor":
                value = f"'\"' || {cursor} || '\"'"
            elif name == "node":
                value = self.object(node_type, page, field_nodes)
            else:
                raise _Fallback
            pieces.append(_key(response_key) + f" || {value}")
        return "'{' || " + (" || ',' || ".join(pieces) if pieces else "''") + " || '}'"

    def _page_info(
        self,
        page: str,
        cursor: str,
        direction: str,
        shown: str,
        more: str,
        request: PageRequest,
        backwards: bool,
        nodes: list[FieldDetails],
    ) -> str:
        info_type = self.gql.get_type("PageInfo")
        assert isinstance(info_type, GraphQLObjectType)
        reverse = "ASC" if direction == "DESC" else "DESC"
        flag = f"CASE WHEN {more} THEN 'true' ELSE 'false' END"
        pieces: list[str] = []
        for response_key, field_nodes in self._subfields(info_type, nodes).items():
            name = field_nodes[0].node.name.value
            if name == "__typename":
                value = "'\"PageInfo\"'"
            elif name == "hasNextPage":
                value = flag if not backwards else ("'true'" if request.before is not None else "'false'")
            elif name == "hasPreviousPage":
                value = flag if backwards else ("'true'" if request.after is not None else "'false'")
            elif name in ("startCursor", "endCursor"):
                walk = direction if name == "startCursor" else reverse
                first = f"(array_agg({cursor} ORDER BY {page}.page_rn {walk}) {shown})[1]"
                value = f"coalesce('\"' || {first} || '\"', 'null')"
            else:
                raise _Fallback
            pieces.append(_key(response_key) + f" || {value}")
        return "'{' || " + (" || ',' || ".join(pieces) if pieces else "''") + " || '}'"

    # Objects.

    def _subfields(self, parent: GraphQLObjectType, nodes: list[FieldDetails]) -> dict[str, list[FieldDetails]]:
        collected = collect_subfields(
            self.gql, self.document.fragments, self.variables, self.document.operation, parent, nodes
        )
        if collected.new_defer_usages:
            raise _Fallback
        return collected.grouped_field_set

    def object(self, type_name: str, row: str, nodes: list[FieldDetails]) -> str:
        """The JSON object of `row` (an alias of a row with the type's columns) for this selection."""
        mapping = sql_map.mapping(type_name)
        object_type = self.gql.get_type(type_name)
        if mapping is None or not isinstance(object_type, GraphQLObjectType):
            raise _Fallback
        pieces: list[str] = []
        for response_key, field_nodes in self._subfields(object_type, nodes).items():
            name = field_nodes[0].node.name.value
            if name == "__typename":
                pieces.append(_key(response_key) + " || " + _literal(json.dumps(type_name)))
                continue
            field = mapping.get(name)
            if field is None:
                raise _Fallback
            if isinstance(field, sql_map.Paged):
                value = self.paged(field, type_name, row, field_nodes, object_type.fields[name].type)
            elif field_nodes[0].node.arguments:
                raise _Fallback
            elif isinstance(field, sql_map.Scalar):
                value = field.sql.replace("{t}", row)
                if field.visible is not None:
                    seen = self._visible(field.visible, f"{row}.{field.visible_column}")
                    if seen:
                        value = f"CASE WHEN {seen} THEN {value} ELSE {field.hidden} END"
            else:
                value = self.nested(field, row, field_nodes, object_type.fields[name].type)
            pieces.append(_key(response_key) + f" || coalesce({value}, 'null')")
        return "'{' || " + (" || ',' || ".join(pieces) if pieces else "''") + " || '}'"

    def paged(self, field: sql_map.Paged, parent_type: str, row: str, nodes: list[FieldDetails], gql_type: Any) -> str:
        """A nested connection: the loader's statement (db.batches.NestedList) for this parent row."""
        args = self.arguments(parent_type, nodes[0].node)
        nested = field.nested
        if not isinstance(nested, batches.NestedList):
            nested = nested(self._principal(), args)
        stmt = nested.statement(self._principal()).where(
            nested.parent == literal_column(f"{row}.{field.parent_column}")
        )
        return self.connection(get_named_type(gql_type).name, stmt, nested.keys, args, nodes)

    def _visible(self, rule: Callable[[Any], Any], column: str) -> str:
        """SQL: `column` is an id the viewer may see by this rule; empty when it sees them all."""
        visible = rule(self._principal())
        if visible.whereclause is None:  # an admin sees every row
            return ""
        return f"{column} IN ({self.statement.fragment(visible)})"

    def nested(self, field: sql_map.Nested, parent: str, nodes: list[FieldDetails], gql_type: Any) -> str:
        inner = gql_type.of_type if isinstance(gql_type, GraphQLNonNull) else gql_type
        if field.many != isinstance(inner, GraphQLList):
            raise _Fallback
        alias = self.statement.alias()
        source = field.source.replace("{t}", parent).replace("{a}", alias)
        where = field.where.replace("{t}", parent).replace("{a}", alias)
        if field.visible is not None:
            seen = self._visible(field.visible, f"{alias}.{field.visible_column}")
            if seen:
                where += f" AND {seen}"
        obj = self.object(field.type_name, alias, nodes)
        order = field.order.replace("{a}", alias) if field.order else None
        if field.many:
            ordered = f" ORDER BY {order}" if order else ""
            items = f"coalesce('[' || string_agg({obj}, ','{ordered}) || ']', '[]')"
            return f"(SELECT {items} FROM {source} {alias} WHERE {where})"
        limit = f" ORDER BY {order} LIMIT 1" if order else " LIMIT 1"
        return f"(SELECT {obj} FROM {source} {alias} WHERE {where}{limit})"


def _key_column(key: SortKey, stmt: Select[Any]) -> str:
    """The page's column a sort key reads: a table column the statement selects. A key on an
    expression (a coalesce, a joined table's column) is paged by strawberry."""
    columns = getattr(getattr(key.column, "property", None), "columns", None) or [None]
    column = columns[0]
    if isinstance(column, Column) and column.name == key.attr and any(c is column for c in stmt.selected_columns):
        return column.name
    raise _Fallback


def _cursor_sql(page: str, keys: tuple[SortKey, ...], columns: list[str]) -> str:
    """keyset.encode_cursor in SQL: base64url of the sort-key values' compact JSON array."""
    parts = []
    for key, column in zip(keys, columns, strict=True):
        ref = f"{page}.{column}"
        if key.kind == "str":
            parts.append(f"to_json({ref})::text")
        elif key.kind == "int":
            parts.append(f"{ref}::text")
        elif key.kind == "bool":
            parts.append(f"CASE WHEN {ref} THEN 'true' ELSE 'false' END")
        else:
            parts.append(f"coalesce({sql_map.instant_sql(ref)}, 'null')")
    array = "'[' || " + " || ',' || ".join(parts) + " || ']'"
    return sql_map.base64url_sql(array, quoted=False)


# The root fields compiled, each built by the same-named method.
_ROOTS: dict[str, Callable[[_Build, FieldNode, list[FieldDetails]], str]] = {
    "contacts": _Build.contacts,
    "companies": _Build.companies,
    "me": _Build.me,
    "users": _Build.users,
    "portfolios": _Build.portfolios,
    "gestiones": _Build.gestiones,
    "auditEvents": _Build.audit_events,
    "conversations": _Build.conversations,
    "salesAttentions": _Build.sales_attentions,
    "node": _Build.node,
    "nodes": _Build.nodes,
    "teams": _Build.teams,
}

# What `node` reads compiled: the types with a by-id rule (db.batches.BY_ID), by their names.
_NODE_MODELS = {model.__name__: model for model in batches.BY_ID}

# Fields that are not object fields of a query's answer: the connection shapes the compiler
# builds itself, and the root operation types other than Query.
_BUILT = {"pageInfo", "edges", "nodes", "totalCount", "cursor", "node", "__typename"}
_PAGE_INFO = {"hasNextPage", "hasPreviousPage", "startCursor", "endCursor"}


def fallbacks(schema: GraphQLSchema) -> list[str]:
    """Every `Type.field` a query may select that makes it run through strawberry: the list
    tests/test_compiled_reads.py keeps, so coverage is a decision, not an accident."""
    found = []
    for name, gql_type in sorted(schema.type_map.items()):
        if name.startswith("__") or not isinstance(gql_type, GraphQLObjectType):
            continue
        if name in ("Mutation", "Subscription") or name.endswith("Payload"):
            continue
        connection = name.endswith("Connection") or name.endswith("Edge") or name == "PageInfo"
        mapping = sql_map.mapping(name) or {}
        for field_name in gql_type.fields:
            if name == "Query":
                covered = field_name in _ROOTS
            elif connection:
                covered = field_name in _BUILT or field_name in _PAGE_INFO
            else:
                # A field with arguments is compiled only as a nested connection (its paging).
                field = mapping.get(field_name)
                covered = field is not None and (
                    not gql_type.fields[field_name].args or isinstance(field, sql_map.Paged)
                )
            if not covered:
                found.append(f"{name}.{field_name}")
    return found
