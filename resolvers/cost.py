"""What an operation may cost, bounded before it runs (X6): the objects its nested lists could resolve.

Depth and alias limits do not bound a document whose every level is a page: contacts, their
portfolio, its contacts, three levels of 100 are two million objects. So every operation is
priced once its document is valid and its variables are known, and one priced above the
limit is refused before the lifecycle opens a session, so it runs no SQL. The price is
(README, "The API in one breath"):

- an object field counts 1 for each object it is selected on;
- a connection's `edges` and `nodes` count its page size (`first`/`last`, else the page-size
  limit) for each connection;
- another list of objects counts 1 for each object it is selected on when no paged list can
  be selected inside its items (a row's own channels, addresses, custom fields); otherwise the
  length of its list argument (`nodes(ids:)`) or, directly in a mutation's payload, of the
  mutation's longest list argument (`createContacts(input:)`), else the page-size limit;
- scalars and introspection count nothing; fragments count where they are spread, and
  `@skip`/`@include` are not looked at.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    ListValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
)
from graphql.utilities import get_operation_ast, value_from_ast_untyped
from strawberry.extensions import SchemaExtension

COST_CODE = "QUERY_TOO_COSTLY"
_PAGE_ARGUMENTS = ("first", "last")


@lru_cache(maxsize=4)
def _paged_below(schema: GraphQLSchema) -> frozenset[str]:
    """Names of the types inside whose objects a paged list can be selected, at any depth."""
    composite = [t for t in schema.type_map.values() if isinstance(t, GraphQLObjectType | GraphQLInterfaceType)]
    inner: dict[str, set[str]] = {}
    paged: set[str] = set()
    for kind in composite:
        inner[kind.name] = {get_named_type(f.type).name for f in kind.fields.values()}
        if any(name in f.args for f in kind.fields.values() for name in _PAGE_ARGUMENTS):
            paged.add(kind.name)
    for named in schema.type_map.values():
        if isinstance(named, GraphQLUnionType):
            inner[named.name] = {member.name for member in named.types}
        elif isinstance(named, GraphQLInterfaceType):
            inner[named.name] |= {t.name for t in schema.get_implementations(named).objects}
    changed = True
    while changed:
        changed = False
        for name, reached in inner.items():
            if name not in paged and reached & paged:
                paged.add(name)
                changed = True
    return frozenset(paged)


def _count(value: Any) -> int | None:
    """A page size a client sent: a non-negative int, else None (execution refuses it anyway)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return max(value, 0)


@dataclass
class _Pricing:
    schema: GraphQLSchema
    fragments: Mapping[str, FragmentDefinitionNode]
    variables: dict[str, Any]
    max_page: int
    paged_below: frozenset[str]
    # A fragment's price per object it is spread on, by (name, page size, list bound): spreads
    # that repeat a fragment cost one pricing each, not a walk per spread.
    _fragment_prices: dict[tuple[str, int | None, int | None], int] = field(default_factory=dict)

    def argument(self, node: FieldNode, name: str) -> Any:
        for argument in node.arguments or ():
            if argument.name.value == name:
                return value_from_ast_untyped(argument.value, self.variables)
        return None

    def page_size(self, node: FieldNode) -> int:
        sizes = [_count(self.argument(node, name)) for name in _PAGE_ARGUMENTS]
        given = [s for s in sizes if s is not None]
        # Above the limit the page itself is refused at execution, with its own error.
        return min(max(given), self.max_page) if given else self.max_page

    def list_length(self, value: ValueNode) -> int | None:
        """The length of a list argument as sent, inline or in its variable; None for any other value.

        Read off the node: building a 5,000-item inline list's values only to count them took
        tens of milliseconds.
        """
        if isinstance(value, ListValueNode):
            return len(value.values)
        if isinstance(value, VariableNode):
            given = self.variables.get(value.name.value)
            return len(given) if isinstance(given, list) else None
        return None

    def longest_list_argument(self, node: FieldNode) -> int | None:
        lengths = [n for argument in node.arguments or () if (n := self.list_length(argument.value)) is not None]
        return max(lengths) if lengths else None

    def selection(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType | None, page: int | None, bound: int | None
    ) -> int:
        """The price of a selection set on one object of `parent`.

        `page` is the size of the lists directly in it (a connection's edges and nodes);
        `bound` the length of the list argument its unpaged lists are bounded by.
        """
        total = 0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                total += self.field(node, parent, page, bound)
            elif isinstance(node, InlineFragmentNode):
                condition = self.schema.get_type(node.type_condition.name.value) if node.type_condition else parent
                total += self.selection(node.selection_set, condition, page, bound)
            elif isinstance(node, FragmentSpreadNode):
                total += self.fragment(node.name.value, page, bound)
        return total

    def fragment(self, name: str, page: int | None, bound: int | None) -> int:
        key = (name, page, bound)
        if key not in self._fragment_prices:
            definition = self.fragments.get(name)
            # Priced at 0 while it is being priced: validation refuses cycles, this keeps the walk finite.
            self._fragment_prices[key] = 0
            if definition is not None:
                condition = self.schema.get_type(definition.type_condition.name.value)
                self._fragment_prices[key] = self.selection(definition.selection_set, condition, page, bound)
        return self._fragment_prices[key]

    def field(self, node: FieldNode, parent: GraphQLNamedType | None, page: int | None, bound: int | None) -> int:
        name = node.name.value
        if node.selection_set is None or name.startswith("__"):
            return 0
        if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType) or name not in parent.fields:
            return 0
        definition = parent.fields[name]
        kind = definition.type.of_type if isinstance(definition.type, GraphQLNonNull) else definition.type
        item = get_named_type(kind)
        assert item is not None
        size = 1
        if isinstance(kind, GraphQLList):
            if page is not None:
                size = page
            elif item.name in self.paged_below:
                size = next((b for b in (self.longest_list_argument(node), bound) if b is not None), self.max_page)
        paged = any(a in definition.args for a in _PAGE_ARGUMENTS)
        inner_page = self.page_size(node) if paged else None
        # A root mutation field hands its list argument to the lists of its payload.
        inner_bound = self.longest_list_argument(node) if parent is self.schema.mutation_type else None
        return size + size * self.selection(node.selection_set, item, inner_page, inner_bound)


def operation_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any] | None,
    *,
    max_page_size: int,
) -> int:
    """The price of one operation of a valid document with these variables (module docstring)."""
    values = {
        d.variable.name.value: value_from_ast_untyped(d.default_value)
        for d in operation.variable_definitions or ()
        if d.default_value is not None
    }
    values.update(variables or {})
    root = {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }[operation.operation]
    pricing = _Pricing(schema, fragments, values, max_page_size, _paged_below(schema))
    return pricing.selection(operation.selection_set, root, None, None)


class QueryCost(SchemaExtension):
    """Prices the operation after validation; above the limit it is a request error, and nothing runs.

    It must come after ValidationCache among the extensions: it prices a validated document.
    """

    def __init__(self, *, limit: int, max_page_size: int) -> None:
        super().__init__()
        self.limit = limit
        self.max_page_size = max_page_size
        self.cost: int | None = None

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        document = ctx.graphql_document
        # Not validated yet (None) or refused (errors): nothing to price.
        if ctx.pre_execution_errors == [] and document is not None:
            operation = get_operation_ast(document, ctx.operation_name)
            if operation is not None:
                fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
                self.cost = operation_cost(
                    ctx.schema._schema, operation, fragments, ctx.variables, max_page_size=self.max_page_size
                )
                if self.cost > self.limit:
                    error = GraphQLError(
                        f"This operation could resolve {self.cost} objects; the limit is {self.limit}. "
                        "Ask for smaller pages (first/last) or fewer nested lists.",
                        extensions={"code": COST_CODE, "cost": self.cost_report()},
                    )
                    ctx.pre_execution_errors = [error]
        yield

    def cost_report(self) -> dict[str, int]:
        assert self.cost is not None
        return {"requested": self.cost, "limit": self.limit}

    def get_results(self) -> dict[str, Any]:
        return {"cost": self.cost_report()} if self.cost is not None else {}
