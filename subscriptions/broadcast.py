"""The process's broadcaster: Redis when REDIS_URL is set, in memory otherwise (RT2).

broadcaster's own Redis backend (0.3.1) reads with one `pubsub.listen()` that ends for good
when the connection drops, never reconnects, and queues without bound. ResilientRedisBackend
keeps one listener task that reconnects with backoff, subscribes again to every channel, and
then calls `on_reconnect` so the caller catches up from the event log: what was published
while Redis was away is not lost, because the log, not the broadcast, holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from broadcaster import Broadcast, Event
from broadcaster._backends.base import BroadcastBackend
from redis import asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("cartera.broadcast")

# The bus carries doorbells ("the log has events up to id N"), so a dropped one costs only a
# catch-up read: a full queue drops the oldest and asks for one.
QUEUE_LIMIT = 10_000
_REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


class ResilientRedisBackend(BroadcastBackend):
    def __init__(
        self,
        url: str,
        *,
        on_reconnect: Callable[[], Awaitable[None]] | None = None,
        backoff: tuple[float, float] = (0.1, 5.0),
    ) -> None:
        self._url = url
        self._on_reconnect = on_reconnect
        self._backoff = backoff
        self._channels: set[str] = set()
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=QUEUE_LIMIT)
        self._publisher = aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self._pubsub: Any = None
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._connected = asyncio.Event()

    async def connect(self) -> None:
        self._listener = asyncio.create_task(self._listen(), name="cartera-redis-listener")

    async def disconnect(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        await self._close_pubsub()
        await self._publisher.aclose()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        self._subscribed.set()
        if self._pubsub is not None and self._connected.is_set():
            # On failure the listener reconnects, and subscribes to every channel then.
            with contextlib.suppress(*_REDIS_ERRORS):
                await self._pubsub.subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        if self._pubsub is not None and self._connected.is_set():
            with contextlib.suppress(*_REDIS_ERRORS):
                await self._pubsub.unsubscribe(channel)

    async def publish(self, channel: str, message: Any) -> None:
        await self._publisher.publish(channel, message)

    async def next_published(self) -> Event:
        return await self._queue.get()

    async def _close_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(*_REDIS_ERRORS):
                await pubsub.aclose()

    async def _listen(self) -> None:
        delay = self._backoff[0]
        first = True
        while True:
            await self._subscribed.wait()
            try:
                self._pubsub = aioredis.Redis.from_url(self._url, socket_connect_timeout=2).pubsub()
                await self._pubsub.subscribe(*self._channels)
                self._connected.set()
                if not first:
                    log.info("broadcast reconnected", extra={"channels": len(self._channels)})
                    if self._on_reconnect is not None:
                        await self._on_reconnect()
                first, delay = False, self._backoff[0]
                async for message in self._pubsub.listen():
                    if message.get("type") == "message":
                        self._offer(Event(channel=message["channel"].decode(), message=message["data"].decode()))
            except asyncio.CancelledError:
                raise
            except _REDIS_ERRORS as error:
                if self._connected.is_set():
                    log.warning("broadcast connection lost; reconnecting", extra={"error": repr(error)})
            self._connected.clear()
            await self._close_pubsub()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff[1])

    def _offer(self, event: Event) -> None:
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(event)


def create_broadcast(url: str, *, on_reconnect: Callable[[], Awaitable[None]] | None = None) -> Broadcast:
    if url.startswith(("redis://", "rediss://")):
        return Broadcast(backend=ResilientRedisBackend(url, on_reconnect=on_reconnect))
    return Broadcast(url)


async def ping(url: str) -> None:
    """Raise unless the broadcast backend answers (for /readyz)."""
    if url.startswith(("redis://", "rediss://")):
        client = aioredis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            await client.ping()
        finally:
            await client.aclose()
