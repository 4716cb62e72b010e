"""The process's broadcaster: Redis when REDIS_URL is set, in memory otherwise (RT2)."""

from __future__ import annotations

from broadcaster import Broadcast
from redis import asyncio as aioredis


def create_broadcast(url: str) -> Broadcast:
    return Broadcast(url)


async def ping(url: str) -> None:
    """Raise unless the broadcast backend answers (for /readyz)."""
    if url.startswith(("redis://", "rediss://")):
        client = aioredis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            await client.ping()
        finally:
            await client.aclose()
