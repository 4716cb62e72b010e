"""The unit of work around every mutation field: commit on success, roll back on any failure."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import SQLITE_WRITE
from schema.context import Context
from schema.errors import UserError
from services.errors import DomainError
from services.principal import Principal

T = TypeVar("T")
P = TypeVar("P")


async def _begin_write(session: AsyncSession) -> None:
    # End the read transaction the operation may hold (nothing was written in it), then
    # start the write transaction; on SQLite that takes the write lock up front.
    if session.in_transaction():
        await session.commit()
    await session.connection(execution_options={SQLITE_WRITE: True})


async def mutate(ctx: Context, work: Callable[[AsyncSession, Principal], Awaitable[T]]) -> T | list[UserError]:
    """Run `work` for the signed-in user in its own transaction."""
    principal = ctx.principal
    return await transaction(ctx, lambda session: work(session, principal))


async def mutate_into(
    ctx: Context,
    work: Callable[[AsyncSession, Principal], Awaitable[T]],
    payload: Callable[..., P],
    field: str,
    convert: Callable[[T], Any],
) -> P:
    """`mutate`, then wrap the outcome in its payload: the converted object, or the typed errors."""
    result = await mutate(ctx, work)
    if isinstance(result, list):
        return payload(user_errors=result)
    return payload(**{field: convert(result)})


async def transaction(ctx: Context, work: Callable[[AsyncSession], Awaitable[T]]) -> T | list[UserError]:
    """Commit on success; expected failures come back as typed errors and change nothing."""
    state = ctx.operation
    session = state.session
    await _begin_write(session)
    try:
        result = await work(session)
        await session.commit()
    except DomainError as error:
        await session.rollback()
        return [UserError.from_problem(p) for p in error.problems]
    except BaseException:
        await session.rollback()
        raise
    finally:
        # Later fields of the same document must read what this mutation wrote.
        state.loaders.clear()
    for hook in state.after_commit:
        await hook()
    state.after_commit.clear()
    return result
