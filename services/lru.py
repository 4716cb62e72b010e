"""The one bounded cache of the processes: verified tokens, principals, persisted-query texts,
parsed documents, compiled plans and statements all keep what they met last in it."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final, Generic, TypeVar, cast

K = TypeVar("K")
V = TypeVar("V")

# What `get` answers for a key it does not hold: several caches keep None as a value (a user
# found inactive, a document the compiler declines), which must not read as a miss.
MISSING: Final[Any] = object()


class Lru(Generic[K, V]):
    """At most `max_entries` entries and, when `weigh` is given, at most `max_weight` of their
    weights in all; the least recently used go first. A value heavier than `max_weight` alone
    is not kept (it would empty the cache and then not fit). Not thread-safe: each process uses
    its caches from its event loop only."""

    def __init__(
        self, max_entries: int, *, max_weight: int | None = None, weigh: Callable[[V], int] | None = None
    ) -> None:
        if (max_weight is None) != (weigh is None):
            raise ValueError("max_weight and weigh go together")
        self.max_entries = max_entries
        self.max_weight = max_weight
        self._weigh = weigh
        self._entries: OrderedDict[K, V] = OrderedDict()
        self.weight = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V:
        """The value, now the most recently used, or MISSING."""
        entries = self._entries
        if key not in entries:
            return cast(V, MISSING)
        entries.move_to_end(key)
        return entries[key]

    def put(self, key: K, value: V) -> None:
        weight = self._weigh(value) if self._weigh is not None else 0
        if self.max_weight is not None and weight > self.max_weight:
            return
        self.pop(key)
        self._entries[key] = value
        self.weight += weight
        while len(self._entries) > self.max_entries or (self.max_weight is not None and self.weight > self.max_weight):
            self._drop(self._entries.popitem(last=False)[1])

    def pop(self, key: K) -> None:
        if key in self._entries:
            self._drop(self._entries.pop(key))

    def clear(self) -> None:
        self._entries.clear()
        self.weight = 0

    def _drop(self, value: V) -> None:
        if self._weigh is not None:
            self.weight -= self._weigh(value)
