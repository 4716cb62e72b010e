"""The unit of work around every mutation field: commit on success, roll back on any failure."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import READ_ONLY, SQLITE_WRITE, take_after_commit
from schema.context import Context, OperationState
from schema.errors import UserError
from services import events
from services.errors import ConcurrentChange, DomainError, ErrorCode
from services.principal import Principal

log = logging.getLogger("cartera.uow")
T = TypeVar("T")
P = TypeVar("P")


async def _begin_write(session: AsyncSession) -> None:
    if session.info.get(READ_ONLY):
        # Its statements autocommit one by one: a write here would not be one transaction.
        raise RuntimeError("a query operation's session cannot write: make the field a mutation")
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


# PostgreSQL's "try again" answers: a deadlock victim, a serialisation failure.
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
ATTEMPTS = 5


def _retryable(error: BaseException) -> bool:
    if isinstance(error, ConcurrentChange):
        return True
    return isinstance(error, DBAPIError) and getattr(error.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES


async def transaction(ctx: Context, work: Callable[[AsyncSession], Awaitable[T]]) -> T | list[UserError]:
    """Commit on success; expected failures come back as typed errors and change nothing.

    A transaction that lost a race (ConcurrentChange, a deadlock, a serialisation failure) is
    rolled back and run again from the start, so it decides on what the winner committed.
    """
    state = ctx.operation
    session = state.session
    for attempt in range(1, ATTEMPTS + 1):
        await _begin_write(session)
        try:
            result = await work(session)
            # Last, so the lock that orders event ids is held only until the commit just after.
            written = await events.write_pending(session)
            await session.commit()
        except DomainError as error:
            await _roll_back(state)
            return [UserError.from_problem(p) for p in error.problems]
        except BaseException as error:
            await _roll_back(state)
            if not _retryable(error):
                raise
            if attempt == ATTEMPTS:
                message = "Other changes to the same records kept getting in the way; nothing was changed, try again"
                return [UserError(field=None, code=ErrorCode.CONFLICT, message=message)]
            log.info("transaction lost a race; running it again", extra={"attempt": attempt, "reason": repr(error)})
            # Spread the retries so the racers do not meet again at once.
            await asyncio.sleep(random.uniform(0, 0.02 * attempt))  # noqa: S311  (jitter, not security)
            continue
        finally:
            # Later fields of the same document must read what this mutation wrote.
            state.loaders.clear()
        break
    # Here, before the mutation answers, so that on this process "deactivated, then its token is
    # refused" holds at once; other processes forget when their feed reads the event.
    ctx.app.principals.forget_for(written)
    await ctx.app.hub.announce(written)
    for hook in take_after_commit(session):
        await hook()
    return result


async def _roll_back(state: OperationState) -> None:
    await state.session.rollback()
    # What the rolled-back work asked to follow its commit, or announce, never happens.
    take_after_commit(state.session)
    events.discard_pending(state.session)
