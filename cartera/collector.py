"""Keeping Python's cyclic garbage collector from pausing live delivery; deleting expired files.

A process holding thousands of WebSockets holds hundreds of thousands of long-lived objects,
and every full collection walks them all: measured at 2,000 subscribers, 300 to 420 ms during
which no event is delivered (bench/inbox.py). So, as large Python services do, objects that
have survived a while are frozen (gc.freeze: automatic collections never walk them again):

- every FREEZE_SECONDS, a collection of what is not frozen yet, then freeze its survivors:
  it walks only what arrived since the last time (new connections), so it is short;
- every `full_every` seconds (CARTERA_GC_SECONDS), unfreeze and collect everything, so that
  cycles among frozen objects (those of connections closed since) are freed too: one pause
  that long, that often.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.engine import unless_cancelled
from services import stored_files
from services.attachment_store import AttachmentStore

log = logging.getLogger("cartera.collector")

FREEZE_SECONDS = 30.0


def collect_and_freeze(*, full: bool) -> float:
    """Collect (everything when `full`, else what is not frozen), freeze the survivors; seconds taken."""
    started = time.perf_counter()
    if full:
        gc.unfreeze()
    gc.collect()
    gc.freeze()
    return time.perf_counter() - started


async def collect_on_schedule(full_every: float) -> None:
    freeze_every = min(FREEZE_SECONDS, full_every)
    # At once, what the start-up left (modules, the schema): until it is frozen, every full
    # automatic collection walks it, about one request in ten on the sales panel, which took its
    # p95 from 45 to 145 ms in a server's first 30 seconds (bench/sales.py). Frozen without a
    # collection first (which walks the whole heap: 0.1 s at start-up, more in a test run that
    # starts servers by the dozen); the start-up's garbage waits for the first full pass.
    gc.freeze()
    next_full = time.monotonic() + full_every
    while True:
        await asyncio.sleep(freeze_every)
        full = time.monotonic() >= next_full
        if full:
            next_full = time.monotonic() + full_every
        seconds = collect_and_freeze(full=full)
        log.log(
            logging.INFO if full else logging.DEBUG,
            "garbage collection",
            extra={"full": full, "duration_ms": round(seconds * 1000, 1), "frozen": gc.get_freeze_count()},
        )


async def sweep_files_on_schedule(
    sessionmaker: async_sessionmaker[AsyncSession], store: AttachmentStore, every: float
) -> None:
    """Delete exports past their retention (rows and bytes), every `every` seconds; every
    process runs it, and SKIP LOCKED keeps two from deleting the same rows."""
    while True:
        await asyncio.sleep(every)
        try:
            count = await stored_files.delete_expired(sessionmaker, store)
        except Exception:
            unless_cancelled()
            log.exception("could not delete expired files")
            continue
        if count:
            log.info("deleted expired files", extra={"count": count})
