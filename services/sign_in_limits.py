"""Failed sign-ins limited per account and per client address (X6), with the `limits` library.

Per account the limit is strict: it is what stops guessing one user's password. Per address
it is generous: a contact centre signs hundreds of agents in through one NAT at the start of
a shift, and their typos must not lock each other out; it stops one address spraying guesses
over many accounts. Counts live in memory, or in Redis when it is configured so that every
API process shares them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import ConnectionPool
from sqlalchemy.engine import make_url

from services.settings import Settings

log = logging.getLogger("cartera.sign_in")
T = TypeVar("T")
# How long a shared-count read may wait for Redis before this process counts alone.
_REDIS_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class Throttled:
    """This attempt was refused unchecked; the next may come at `retry_at`."""

    retry_at: datetime
    retry_after_seconds: int


def address_key(host: str | None) -> str | None:
    """Whose address a client's is: IPv4 as it is, IPv6 by its /64, which one client usually holds whole."""
    if not host:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        # Not an IP (a Unix socket, a test transport): the name is the address.
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _account_key(email: str) -> str:
    # Hashed: keys stay short whatever was typed, and Redis holds no address book. An email
    # holds no lone surrogate: cartera.wire.decode refuses one in JSON, GraphQL's lexer in a document.
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def _namespace(database_url: str) -> str:
    """The Redis key prefix: counts are shared by the processes of one database, never across databases."""
    url = make_url(database_url)
    where = f"{url.get_backend_name()}://{url.host or ''}:{url.port or ''}/{url.database or ''}"
    return "cartera-sign-in-" + hashlib.sha256(where.encode()).hexdigest()[:16]


class SignInLimits:
    def __init__(
        self,
        storage: Storage,
        *,
        per_account: int,
        per_address: int,
        window_seconds: int,
        pool: ConnectionPool | None = None,
    ) -> None:
        self.storage = storage
        self._limiter = MovingWindowRateLimiter(storage)
        # While the shared store is unreachable this process counts on its own: sign-in keeps
        # working and stays limited (per process), rather than failing or letting guesses through.
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._shared_down = False
        self._per_account: RateLimitItem = RateLimitItemPerSecond(per_account, window_seconds, namespace="ACCOUNT")
        self._per_address: RateLimitItem = RateLimitItemPerSecond(per_address, window_seconds, namespace="ADDRESS")
        self._pool = pool

    @classmethod
    def from_settings(cls, settings: Settings) -> SignInLimits:
        pool = None
        storage: Storage
        if settings.redis_url:
            # Our own pool, so shutting down closes its connections (the storage offers no close).
            pool = ConnectionPool.from_url(
                settings.redis_url,
                socket_timeout=_REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
            )
            storage = RedisStorage(
                f"async+{settings.redis_url}",
                # Redis' own errors arrive as StorageError, which _counted falls back on.
                wrap_exceptions=True,
                implementation="redispy",
                key_prefix=_namespace(settings.database_url),
                # Typed for options read from a URL, but handed to redis-py's client, which takes a pool.
                connection_pool=pool,  # type: ignore[arg-type]
            )
        else:
            storage = MemoryStorage()
        return cls(
            storage,
            per_account=settings.sign_in_failures_per_account,
            per_address=settings.sign_in_failures_per_address,
            window_seconds=settings.sign_in_window_seconds,
            pool=pool,
        )

    async def _counted(self, count: Callable[[MovingWindowRateLimiter], Awaitable[T]]) -> T:
        """`count` on the shared limiter, or on this process's own while the shared store is down."""
        try:
            result = await count(self._limiter)
        except StorageError as error:
            if not self._shared_down:
                log.warning("sign-in limits: shared store unreachable, counting in this process", exc_info=error)
                self._shared_down = True
            return await count(self._local)
        if self._shared_down:
            log.info("sign-in limits: shared store reachable again")
            self._shared_down = False
        return result

    async def admit(self, *, email: str, address: str | None) -> Throttled | None:
        """None when this attempt may check its password, which it then counts against the account."""
        if address is not None and not await self._counted(lambda c: c.test(self._per_address, address)):
            return await self._throttled(self._per_address, address)
        # Taken before the password is checked, so attempts sent in parallel cannot all get
        # past a count they have not added to yet. A success gives the account its count back.
        account = _account_key(email)
        if not await self._counted(lambda c: c.hit(self._per_account, account)):
            return await self._throttled(self._per_account, account)
        return None

    async def failed(self, *, address: str | None) -> None:
        """The attempt admit() let through was a wrong email or password: the address counts it too."""
        # Counted once known: a success must not count here (a shift signing in through one NAT),
        # and a limiter cannot give back what it took.
        if address is not None:
            await self._counted(lambda c: c.hit(self._per_address, address))

    async def succeeded(self, *, email: str) -> None:
        account = _account_key(email)
        await self._counted(lambda c: c.clear(self._per_account, account))

    async def _throttled(self, item: RateLimitItem, key: str) -> Throttled:
        stats = await self._counted(lambda c: c.get_window_stats(item, key))
        wait = max(1, math.ceil(stats.reset_time - time.time()))
        return Throttled(retry_at=datetime.fromtimestamp(math.ceil(stats.reset_time), UTC), retry_after_seconds=wait)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
