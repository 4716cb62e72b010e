"""Who is asking: the signed-in user with the team scopes every visibility rule uses."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, literal, select, union
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import Role, Team, TeamMember, TeamSupervisor, User
from services.events import EventKind, LoggedEvent, access_changed_for
from services.lru import MISSING, Lru


@dataclass(frozen=True)
class Principal:
    user_id: int
    name: str
    role: Role
    member_team_ids: frozenset[int]
    # Teams of the supervised subtrees (a SUPERVISOR's scope); empty for other roles.
    supervised_team_ids: frozenset[int]

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def scope_team_ids(self) -> frozenset[int] | None:
        """Teams whose resources this principal sees; None means every team (ADMIN)."""
        if self.role is Role.ADMIN:
            return None
        if self.role is Role.SUPERVISOR:
            return self.supervised_team_ids | self.member_team_ids
        return self.member_team_ids


async def load_principal(session: AsyncSession, user_id: int) -> Principal | None:
    """Two statements: the user, then its member teams and supervised subtrees."""
    return (await load_principals(session, [user_id])).get(user_id)


# Built once with bound parameters and run on the session's connection: every operation signed
# in runs both, and building the ORM statements and executing them through the ORM took about
# as long as the round trips.
_USERS = select(User.id, User.name, User.role).where(
    User.id.in_(bindparam("user_ids", expanding=True)), User.is_active.is_(True)
)
_members = select(
    TeamMember.user_id.label("user_id"), TeamMember.team_id.label("team_id"), literal("m").label("kind")
).where(TeamMember.user_id.in_(bindparam("member_ids", expanding=True)))
_roots = (
    select(TeamSupervisor.user_id, Team.path)
    .join(Team, Team.id == TeamSupervisor.team_id)
    .where(TeamSupervisor.user_id.in_(bindparam("supervisor_ids", expanding=True)))
    .subquery()
)
_TEAMS = union(
    _members, select(_roots.c.user_id, Team.id, literal("s")).join(_roots, Team.path.startswith(_roots.c.path))
)


async def load_principals(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, Principal]:
    """The principals of the active users among these, in two statements however many."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    conn = await session.connection()
    users = (await conn.execute(_USERS, {"user_ids": ids})).all()
    if not users:
        return {}
    params = {
        "member_ids": [u.id for u in users],
        "supervisor_ids": [u.id for u in users if u.role == Role.SUPERVISOR.value],
    }
    teams: dict[tuple[int, str], set[int]] = defaultdict(set)
    for user_id, team_id, kind in (await conn.execute(_TEAMS, params)).all():
        teams[(user_id, kind)].add(team_id)
    return {
        u.id: Principal(
            user_id=u.id,
            name=u.name,
            role=Role(u.role),
            member_team_ids=frozenset(teams[(u.id, "m")]),
            supervised_team_ids=frozenset(teams[(u.id, "s")]),
        )
        for u in users
    }


# Execution option on the cache's own loads: tests count an operation's statements without
# them (tests/conftest.py StatementCounter), as a process that has met the user runs them.
PRINCIPAL_LOAD = "cartera_principal_load"


class PrincipalCache:
    """The principals of the users signed in to this process, as every operation reads them.

    Kept per process, so an operation signed in reads no SQL to know who is asking. An entry
    goes when its user's access changes (ACCESS_CHANGED): the process that committed the change
    forgets at once, before the mutation answers (resolvers.uow), the others when their feed
    reads the event (subscriptions.feed: the doorbell's delay, at worst the feed's poll,
    CARTERA_EVENT_POLL_SECONDS). Inactive and unknown users are kept too (as None), so a
    refused token costs no SQL either. At most `maxsize` users, the least recently asking
    dropped first: a flood of distinct valid tokens cannot grow memory.
    """

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *, maxsize: int = 10_000) -> None:
        self._sessionmaker = sessionmaker
        self._known: Lru[int, Principal | None] = Lru(maxsize)
        # Bumped by every forget. A load stores what it read only if none came while it ran:
        # one that read before a change committed and finished after its forget would
        # otherwise keep the old access for good.
        self._generation = 0
        # Loads under way, with the generation they started in: the operations that ask for the
        # same user meanwhile (a client's first burst) share one, unless a forget came since.
        self._loading: dict[int, tuple[int, asyncio.Task[Principal | None]]] = {}
        # Loads from the database, for tests and benchmarks to count.
        self.loads = 0

    async def get(self, user_id: int) -> Principal | None:
        """The principal of this user if it is active, else None."""
        known = self._known.get(user_id)
        if known is not MISSING:
            return known
        loading = self._loading.get(user_id)
        if loading is None or loading[0] != self._generation:
            task = asyncio.ensure_future(self._load(user_id, self._generation))
            loading = self._loading[user_id] = (self._generation, task)
            task.add_done_callback(lambda done: self._loaded(user_id, done))
        # Shielded: an operation cancelled meanwhile (a client's `complete`) leaves the load to
        # finish for the others, rather than cut off while its connection is being made.
        return await asyncio.shield(loading[1])

    async def _load(self, user_id: int, generation: int) -> Principal | None:
        self.loads += 1
        async with self._sessionmaker() as session:
            await session.connection(execution_options={PRINCIPAL_LOAD: True})
            principal = await load_principal(session, user_id)
        if generation == self._generation:
            self._known.put(user_id, principal)
        return principal

    def _loaded(self, user_id: int, task: asyncio.Task[Principal | None]) -> None:
        loading = self._loading.get(user_id)
        if loading is not None and loading[1] is task:
            del self._loading[user_id]
        if not task.cancelled():
            # Retrieved, so that a failure nobody awaited any more is not reported as unretrieved.
            task.exception()

    def forget(self, user_ids: Iterable[int] | None) -> None:
        """What these users (None: everyone) may see has changed (ACCESS_CHANGED)."""
        self._generation += 1
        if user_ids is None:
            self._known.clear()
            return
        for user_id in user_ids:
            self._known.pop(user_id)

    def forget_for(self, written: Iterable[LoggedEvent]) -> None:
        """Forget whoever the ACCESS_CHANGED events among these name."""
        for event in written:
            if event.kind is EventKind.ACCESS_CHANGED:
                self.forget(access_changed_for(event))
