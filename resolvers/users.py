"""Root fields for users and sign-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

import strawberry
from graphql import FieldNode, GraphQLError, ValidationRule
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from db import keyset
from db.keyset import PageRequest, SortKey
from db.models import User as UserRow
from resolvers.given import given
from resolvers.uow import mutate_into, transaction
from schema import docs
from schema.connection import Connection, connection
from schema.enums import OrderDirection
from schema.errors import UserError
from schema.ids import pks, require_pk
from schema.inputs import CreateUserInput, UpdateUserInput, UserFilter, UserOrder
from schema.payloads import LoginResult, LoginSuccess, LoginThrottled, UserPayload
from schema.types import CursorArg, Info, PageArg, User
from services import auth, users
from services.errors import ErrorCode
from services.principal import Principal, load_principal
from services.sign_in_limits import address_key

T = TypeVar("T")


class OneSignInPerRequest(ValidationRule):
    """At most one `login` in a document: each alias of it would check a password (X6)."""

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.seen = 0

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        if node.name.value == "login" and self.context.get_parent_type() is self.context.schema.mutation_type:
            self.seen += 1
            if self.seen == 2:
                self.report_error(GraphQLError("Sign in with one `login` per request", node))


@strawberry.type
class UserQueries:
    @strawberry.field(description="The signed-in user.")
    async def me(self, info: Info) -> User | None:
        row = await info.context.loaders.user_by_id.load(info.context.principal.user_id)
        assert row is not None
        return User.from_row(row)

    @strawberry.field(description="Users you can see (R3), as a cursor connection.")
    async def users(
        self,
        info: Info,
        filter: Annotated[UserFilter | None, strawberry.argument(description=docs.FILTER)] = None,
        order_by: Annotated[UserOrder | None, strawberry.argument(description=docs.ORDER_BY)] = None,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[User] | None:
        ctx = info.context
        order = order_by or UserOrder()
        page, stmt = await users.list_users(
            ctx.session,
            ctx.principal,
            user_filter(filter),
            PageRequest(first=first, after=after, last=last, before=before),
            order=order.field,
            descending=order.direction is OrderDirection.DESC,
            max_page_size=ctx.settings.max_page_size,
        )
        session = ctx.session
        return connection(page, User.from_row, lambda: keyset.count(session, stmt))


def user_filter(filter: UserFilter | None) -> users.UserFilter:
    flt = filter or UserFilter()
    return users.UserFilter(
        search=flt.search,
        roles=tuple(flt.roles or ()),
        active=flt.active,
        team_ids=pks(flt.team_ids, "Team", "filter.teamIds"),
    )


def user_listing(
    viewer: Principal, filter: UserFilter | None, order_by: UserOrder | None
) -> tuple[Select[Any], tuple[SortKey, ...]]:
    """The users list's statement and order, as `users` pages them (compiled reads build on it)."""
    order = order_by or UserOrder()
    keys = users.sort_keys(order.field, order.direction is OrderDirection.DESC)
    return users.filtered(viewer, user_filter(filter)), keys


@strawberry.type
class UserMutations:
    @strawberry.mutation(description="Sign in with email and password (R5).")
    async def login(
        self,
        info: Info,
        email: Annotated[str, strawberry.argument(description="Sign-in email, in any case.")],
        password: Annotated[str, strawberry.argument(description="The user's password.")],
    ) -> LoginResult:
        ctx = info.context
        settings = ctx.settings
        sign_ins = ctx.app.sign_ins
        address = address_key(ctx.client_host)
        throttled = await sign_ins.admit(email=email, address=address)
        if throttled is not None:
            return LoginThrottled(
                message=f"Too many failed sign-ins; try again in {throttled.retry_after_seconds} s",
                retry_at=throttled.retry_at,
                retry_after_seconds=throttled.retry_after_seconds,
            )

        async def work(session: AsyncSession) -> LoginSuccess:
            user = await auth.authenticate(session, email=email, password=password)
            principal = await load_principal(session, user.id)
            assert principal is not None
            ctx.act_as(principal)
            now = datetime.now(UTC)
            token = auth.issue_token(
                secret_key=settings.secret_key, user_id=user.id, ttl_seconds=settings.token_ttl_seconds, now=now
            )
            expires = now.replace(microsecond=0) + timedelta(seconds=settings.token_ttl_seconds)
            return LoginSuccess(token=token, expires_at=expires, user=User.from_row(user))

        result = await transaction(ctx, work)
        if not isinstance(result, list):
            await sign_ins.succeeded(email=email)
            return result
        if any(e.code is ErrorCode.INVALID_CREDENTIALS for e in result):
            await sign_ins.failed(address=address)
        return result[0]

    @strawberry.mutation(
        description="Create a user (ADMIN). Errors: ALREADY_EXISTS (email), INVALID, TOO_LONG, FORBIDDEN."
    )
    async def create_user(
        self, info: Info, input: Annotated[CreateUserInput, strawberry.argument(description=docs.INPUT)]
    ) -> UserPayload:
        async def work(session: AsyncSession, actor: Principal) -> UserRow:
            return await users.create_user(
                session, actor, email=input.email, name=input.name, role=input.role, password=input.password
            )

        return await mutate_into(info.context, work, UserPayload, "user", User.from_row)

    @strawberry.mutation(
        description=(
            "Change a user's email, name, role or password (ADMIN). Errors: NOT_FOUND, ALREADY_EXISTS, CONFLICT, "
            "INVALID."
        )
    )
    async def update_user(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The user to change.")],
        input: Annotated[UpdateUserInput, strawberry.argument(description=docs.INPUT)],
    ) -> UserPayload:
        async def work(session: AsyncSession, actor: Principal) -> UserRow:
            return await users.update_user(
                session,
                actor,
                require_pk(id, "User", "id"),
                email=given(input.email, "email"),
                name=given(input.name, "name"),
                role=given(input.role, "role"),
                password=given(input.password, "password"),
            )

        return await mutate_into(info.context, work, UserPayload, "user", User.from_row)

    @strawberry.mutation(
        description=(
            "Stop a user from signing in; its tokens stop working at once (ADMIN). CONFLICT for yourself or the last "
            "active admin."
        )
    )
    async def deactivate_user(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The user to deactivate.")]
    ) -> UserPayload:
        async def work(session: AsyncSession, actor: Principal) -> UserRow:
            return await users.set_active(session, actor, require_pk(id, "User", "id"), active=False)

        return await mutate_into(info.context, work, UserPayload, "user", User.from_row)

    @strawberry.mutation(description="Let a deactivated user sign in again (ADMIN).")
    async def activate_user(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The user to activate.")]
    ) -> UserPayload:
        async def work(session: AsyncSession, actor: Principal) -> UserRow:
            return await users.set_active(session, actor, require_pk(id, "User", "id"), active=True)

        return await mutate_into(info.context, work, UserPayload, "user", User.from_row)


__all__ = ["UserError", "UserMutations", "UserQueries"]
