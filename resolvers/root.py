"""The assembled schema: root types from each resource plus the operation extensions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import suppress
from datetime import datetime
from functools import cache
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.execution import Executor
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule, ValidationContext, ValidationRule
from strawberry.extensions import (
    MaxAliasesLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionContext
from strawberry.types.base import get_object_definition

from resolvers.attachments import AttachmentMutations
from resolvers.audit import AuditQueries
from resolvers.catalog import CatalogMutations, CatalogQueries
from resolvers.contacts import ContactMutations, ContactQueries
from resolvers.conversations import ConversationMutations, ConversationQueries
from resolvers.cost import QueryCost
from resolvers.gestiones import GestionMutations, GestionQueries
from resolvers.jobs import JobMutations, JobQueries
from resolvers.lifecycle import ArgumentPaths, OperationLifecycle
from resolvers.live import LiveSubscriptions, PresenceMutations
from resolvers.monitoring import MonitoringQueries
from resolvers.node import NodeQueries
from resolvers.notifications import NotificationMutations, NotificationQueries
from resolvers.portfolios import PortfolioMutations, PortfolioQueries
from resolvers.routing import RoutingMutations, RoutingQueries
from resolvers.sales import SalesMutations, SalesQueries
from resolvers.sales_bulk import SalesBulkMutations
from resolvers.sales_views import SalesViewMutations, SalesViewQueries
from resolvers.teams import TeamMutations, TeamQueries
from resolvers.users import OneSignInPerRequest, UserMutations, UserQueries
from schema.scalars import UTC_DATETIME
from schema.types import AuditEvent, Team, User
from services.settings import Settings


@strawberry.type(
    description=(
        "Reads. Send `Authorization: Bearer <token>` (from `login`); lists are Relay connections, and what you may "
        "not see reads as missing (R3)."
    )
)
class Query(
    NodeQueries,
    UserQueries,
    TeamQueries,
    ContactQueries,
    CatalogQueries,
    PortfolioQueries,
    GestionQueries,
    AuditQueries,
    MonitoringQueries,
    ConversationQueries,
    RoutingQueries,
    NotificationQueries,
    SalesQueries,
    SalesViewQueries,
    JobQueries,
):
    pass


@strawberry.type(
    description=(
        "Changes. Each runs in one transaction and answers a payload: the changed object, or `userErrors` (field, "
        "path, code, message) and nothing changed (X3)."
    )
)
class Mutation(
    UserMutations,
    TeamMutations,
    ContactMutations,
    CatalogMutations,
    PortfolioMutations,
    GestionMutations,
    AttachmentMutations,
    PresenceMutations,
    ConversationMutations,
    RoutingMutations,
    SalesBulkMutations,
    NotificationMutations,
    SalesMutations,
    SalesViewMutations,
    JobMutations,
):
    pass


@strawberry.type(
    description=(
        "Live events over WebSocket (graphql-transport-ws or graphql-ws), with "
        '`{"authorization": "Bearer <token>"}` as the `connection_init` payload.'
    )
)
class Subscription(LiveSubscriptions):
    pass


# Every root field's errors name their input from its argument (ArgumentPaths); added here,
# once, so that no resolver has to say so and a new one cannot forget.
for _root in (Query, Mutation):
    for _field in get_object_definition(_root, strict=True).fields:
        _field.extensions.append(ArgumentPaths())


@cache
def _caches(maxsize: int) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Strawberry's own bounded LRU caches of parse and validate_document, built once."""
    return ParserCache(maxsize=maxsize).cached_parse_document, ValidationCache(maxsize=maxsize).cached_validate_document


class DocumentChecks(SchemaExtension):
    """The token limit, the validation rules, and parse and validation cached by document: what
    MaxTokensLimiter, AddValidationRules, ParserCache and ValidationCache do, as one extension
    (strawberry's hooks cost per extension, per operation: four of them were a tenth of
    `{ __typename }`).

    Parse failures are reported in the operation's result: strawberry's ParserCache parses in
    on_parse, outside the try where strawberry turns a parse error into an error result.
    Schema.execute (HTTP) catches it further out; Schema.stream (WebSocket) does not, so an
    unparsable or over-long document over a socket got a bare `complete`. On failure the
    document stays unset: strawberry parses it again itself and reports why.
    """

    def __init__(self, *, max_tokens: int, rules: tuple[type[ASTValidationRule], ...], maxsize: int) -> None:
        self._max_tokens = max_tokens
        self._rules = rules
        self._parse, self._validate = _caches(maxsize)

    def on_operation(self) -> Iterator[None]:
        ctx = self.execution_context
        ctx.parse_options["max_tokens"] = self._max_tokens
        ctx.validation_rules = ctx.validation_rules + self._rules
        yield

    def on_parse(self) -> Iterator[None]:
        ctx = self.execution_context
        # Whatever this raises, strawberry's own parse raises again and reports.
        with suppress(Exception):
            ctx.graphql_document = self._parse(ctx.query, **ctx.parse_options)
        yield

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        ctx.pre_execution_errors = self._validate(ctx.schema._schema, ctx.graphql_document, ctx.validation_rules)
        yield


class PerEventExecutor(StrawberryGraphQLCoreExecutionContext):
    """An executor whose subscription events each start with their own field memo.

    graphql-core 3.3's per-event executors are shallow copies of the subscription's, so they
    share its memo of collected subfields; that memo keys on field lists made afresh for every
    event and keeps them alive, so a subscription held every event it delivered (two entries
    each; at 1,000 events a second, full garbage collections of 300 ms and more).
    """

    def build_per_event_executor(self, payload: Any) -> Executor[Any]:
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        return executor


class SuggestionlessExecutor(PerEventExecutor):
    """PerEventExecutor whose variable and argument coercion errors suggest no names.

    Strawberry passes graphql-core's execute and subscribe no `hide_suggestions`, so with
    introspection off a misspelled enum value or input field in the variables would still be
    answered with "Did you mean ...?", naming what introspection would have shown.
    """

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> list[GraphQLError] | Executor[Any]:
        return super().build(*args, **{**kwargs, "hide_suggestions": True})


class HideSuggestions(ValidationRule):
    """Validation gives no "Did you mean ...?" (unknown fields, arguments, types, enum values).

    Strawberry's validate_document (which ValidationCache caches) calls graphql-core's validate
    without `hide_suggestions`. Every rule is built before the document is visited, and reads the
    flag from the shared context as it reports, so setting it here reaches them all; the context
    offers it only as a read-only property over this attribute.
    """

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        context._hide_suggestions = True


class CarteraSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        # Strawberry logs every error at ERROR level. Expected ones (validation, permission,
        # typed domain errors) are answers, not incidents; the lifecycle logs the unexpected
        # ones once, with their request id.
        return


def build_schema(settings: Settings) -> strawberry.Schema:
    # Rule classes built once: the validation cache keys on them, so a fresh class per
    # request (what the limiter extensions make) would never hit the cache.
    rules: list[type[ASTValidationRule]] = [
        *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
        OneSignInPerRequest,
    ]
    # Introspection off, errors do not name what it would have shown either.
    if not settings.introspection:
        rules += [NoSchemaIntrospectionCustomRule, HideSuggestions]
    max_tokens, max_cost, max_page = settings.max_tokens, settings.max_query_cost, settings.max_page_size
    checked = tuple(rules)
    extensions: list[Callable[[], SchemaExtension]] = [
        # Checks first: a refused document never reaches the lifecycle, so it runs no SQL.
        lambda: DocumentChecks(max_tokens=max_tokens, rules=checked, maxsize=512),
        OperationLifecycle,
        # After validation and before execution, where the lifecycle opens the session.
        lambda: QueryCost(limit=max_cost, max_page_size=max_page),
    ]
    schema = CarteraSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[User, Team, AuditEvent],
        extensions=extensions,
        execution_context_class=PerEventExecutor if settings.introspection else SuggestionlessExecutor,
        scalar_overrides={datetime: UTC_DATETIME},
    )
    # Compiled reads (resolvers/compiled.py) validate a document with the same rules.
    schema.cartera_rules = tuple(rules)  # type: ignore[attr-defined]
    return schema
