"""Automatic persisted queries, as Apollo's persisted-query link speaks them.

A client sends `extensions.persistedQuery = {"version": 1, "sha256Hash": …}` with no query
first; a hash this server does not know answers PERSISTED_QUERY_NOT_FOUND, the link sends
the hash and the query together, and the server checks the hash, runs the query and keeps
its text. A hash names one text forever (it is the text's SHA-256), so an entry never goes
stale: this process keeps the ones it met in a small LRU, and when Redis is configured they
are shared there too (with a TTL), so a hash registered through one process is found by
every other. Only a document that passed parsing and validation is kept, so a kept text
already met the request's limits (body size, tokens, depth).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.lru import MISSING, Lru

log = logging.getLogger("cartera.persisted_queries")

VERSION = 1
# A hash the link stops sending (its app closed) leaves Redis after a day; one still in use
# costs a single not-found round trip when it does.
REDIS_TTL_SECONDS = 24 * 3600
REDIS_PREFIX = "cartera:apq:"
# This process's own copy: an app's documents are a few hundred, rarely over a few KB each.
LOCAL_ENTRIES = 2_000
LOCAL_BYTES = 8 * 1024 * 1024
# How long a read may wait for Redis before this process answers from its own copy.
_REDIS_TIMEOUT_SECONDS = 1.0
_HASH = re.compile(r"[0-9a-f]{64}")


class PersistedQueryRequestError(ValueError):
    """`extensions.persistedQuery` is there but not something this server can use."""


@dataclass(frozen=True)
class PersistedQuery:
    sha256: str
    # The request sent the text too (check and keep it), or the hash alone (look it up).
    with_query: bool


def requested(extensions: dict[str, Any] | None, *, with_query: bool) -> PersistedQuery | None:
    """The persisted query `extensions` asks for, None when it names none."""
    if extensions is None or extensions.get("persistedQuery") is None:
        return None
    asked = extensions["persistedQuery"]
    if not isinstance(asked, dict):
        raise PersistedQueryRequestError("`extensions.persistedQuery` must be an object")
    version = asked.get("version")
    if version != VERSION or isinstance(version, bool):
        raise PersistedQueryRequestError(
            f"Unsupported persisted query version {version!r}: this server speaks version {VERSION}"
        )
    digest = asked.get("sha256Hash")
    if not isinstance(digest, str) or not _HASH.fullmatch(digest):
        raise PersistedQueryRequestError(
            "`extensions.persistedQuery.sha256Hash` must be the query's SHA-256 as 64 lowercase hex digits"
        )
    return PersistedQuery(sha256=digest, with_query=with_query)


def sha256_of(query: str) -> str:
    # The text came through cartera.wire.decode or Starlette's URL decoding: no lone surrogate.
    return hashlib.sha256(query.encode()).hexdigest()


def local_queries(*, max_entries: int = LOCAL_ENTRIES, max_bytes: int = LOCAL_BYTES) -> Lru[str, str]:
    """Texts by hash, least recently used first out, bounded by count and by total bytes."""
    return Lru(max_entries, max_weight=max_bytes, weigh=lambda text: len(text.encode()))


class PersistedQueries:
    """This process's texts, in front of Redis' shared ones when Redis is configured.

    While Redis is unreachable the process answers from its own copy: a hash it never met is
    PERSISTED_QUERY_NOT_FOUND, the link sends the query, and the request is served.
    """

    def __init__(self, redis_url: str | None, *, local: Lru[str, str] | None = None) -> None:
        self.local = local or local_queries()
        self._redis = (
            Redis.from_url(
                redis_url, socket_timeout=_REDIS_TIMEOUT_SECONDS, socket_connect_timeout=_REDIS_TIMEOUT_SECONDS
            )
            if redis_url
            else None
        )
        self._shared_down = False

    @property
    def shared(self) -> bool:
        return self._redis is not None

    async def get(self, digest: str) -> str | None:
        text = self.local.get(digest)
        if text is not MISSING:
            return text
        if self._redis is None:
            return None
        try:
            # GETEX: a hash still in use keeps its entry.
            raw = await self._redis.getex(REDIS_PREFIX + digest, ex=REDIS_TTL_SECONDS)
        except (RedisError, OSError) as error:
            self._down(error)
            return None
        self._up()
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        # Another process wrote it; a text under the wrong key is never served.
        if sha256_of(text) != digest:
            return None
        self.local.put(digest, text)
        return text

    async def put(self, digest: str, text: str) -> None:
        self.local.put(digest, text)
        if self._redis is None:
            return
        try:
            await self._redis.set(REDIS_PREFIX + digest, text.encode(), ex=REDIS_TTL_SECONDS)
        except (RedisError, OSError) as error:
            self._down(error)
            return
        self._up()

    def _down(self, error: BaseException) -> None:
        if not self._shared_down:
            log.warning("persisted queries: Redis unreachable, this process uses its own copy", exc_info=error)
            self._shared_down = True

    def _up(self) -> None:
        if self._shared_down:
            log.info("persisted queries: Redis reachable again")
            self._shared_down = False

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
