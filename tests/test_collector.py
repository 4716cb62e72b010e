"""The scheduled garbage collection (cartera.collector): frozen objects stay out of the way of
automatic collections, and a full pass still frees the cycles among them."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import weakref
from collections.abc import Iterator

import pytest

from cartera.collector import collect_and_freeze, collect_on_schedule


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


def tracked(obj: object) -> bool:
    """Whether automatic collections walk `obj` (frozen objects are not listed)."""
    return any(o is obj for o in gc.get_objects())


def test_a_pass_freezes_what_survives_it() -> None:
    gc.unfreeze()
    alive = Node()
    assert tracked(alive)
    collect_and_freeze(full=False)
    assert not tracked(alive)
    collect_and_freeze(full=True)
    assert not tracked(alive)
    gc.unfreeze()
    assert tracked(alive)


def test_cycles_that_die_frozen_are_freed_by_the_next_full_pass_only() -> None:
    gc.unfreeze()
    holder = [Node(), Node()]
    holder[0].other, holder[1].other = holder[1], holder[0]
    dead = weakref.ref(holder[0])
    collect_and_freeze(full=False)
    holder.clear()
    gc.collect()
    # Frozen: no collection walks it, so its cycle outlives its last reference...
    assert dead() is not None
    collect_and_freeze(full=False)
    assert dead() is not None
    # ...until a full pass unfreezes and collects everything.
    collect_and_freeze(full=True)
    assert dead() is None


async def test_what_the_start_up_left_is_frozen_before_the_first_request() -> None:
    """Not 30 seconds later: until then every full automatic collection walks the schema and
    the modules, one request in ten on the sales panel (p95 145 ms instead of 45)."""
    gc.unfreeze()
    started_with = Node()
    task = asyncio.create_task(collect_on_schedule(3600))
    await asyncio.sleep(0)
    try:
        assert not tracked(started_with)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
