"""Where attachments' bytes live (G7): one small interface, local disk by default.

An object store (S3, GCS…) implements `AttachmentStore` too and is built in
cartera.app.create_app instead of `LocalDiskStore`; nothing else changes. Keys are made
here (`new_key`), random, never from what the client sent.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

import anyio.to_thread

# Read and written 256 KiB at a time, each chunk in a worker thread: the event loop never
# waits on the disk, and a 20 MiB file costs 80 thread hops, nothing next to its transfer.
CHUNK = 256 * 1024
_KEY = re.compile(r"[A-Za-z0-9_-]{20,100}")


class Source(Protocol):
    """What an upload is read from (Starlette's UploadFile is one)."""

    async def read(self, size: int = -1) -> bytes: ...


@dataclass(frozen=True)
class Stored:
    key: str
    size_bytes: int
    sha256: str


class TooLarge(Exception):
    """The stream passed the size cap; nothing was kept."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"larger than {max_bytes} bytes")
        self.max_bytes = max_bytes


class AttachmentStore(Protocol):
    async def save(self, key: str, source: Source, *, max_bytes: int) -> Stored:
        """Store all of `source` under `key`, or nothing (TooLarge past `max_bytes`, or any error)."""
        ...

    async def open(self, key: str) -> AsyncIterator[bytes]:
        """The stored bytes in chunks; FileNotFoundError (before any chunk) when there are none."""
        ...

    async def delete(self, key: str) -> None:
        """Forget `key`; no error when it was never stored."""
        ...


def new_key() -> str:
    return secrets.token_urlsafe(24)


class LocalDiskStore:
    """Files under one directory, two levels of fan-out by key (ab/cd/abcd…)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        # Keys are ours, but a key read back from the database is still checked: no path
        # separators, no dots, so it cannot leave the root.
        if not _KEY.fullmatch(key):
            raise ValueError(f"not an attachment key: {key!r}")
        return self.root / key[:2] / key[2:4] / key

    async def save(self, key: str, source: Source, *, max_bytes: int) -> Stored:
        path = self._path(key)
        await anyio.to_thread.run_sync(lambda: path.parent.mkdir(parents=True, exist_ok=True))
        # Written beside its final place and renamed into it once complete, so a reader never
        # sees half a file and a failure leaves none.
        tmp = path.with_name(f".{key}.{secrets.token_hex(4)}.part")
        fh: IO[bytes] = await anyio.to_thread.run_sync(lambda: open(tmp, "xb"))  # noqa: SIM115  (closed below)
        digest = hashlib.sha256()
        size = 0
        try:
            try:
                while chunk := await source.read(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(max_bytes)
                    digest.update(chunk)
                    await anyio.to_thread.run_sync(fh.write, chunk)
                await anyio.to_thread.run_sync(fh.flush)
                await anyio.to_thread.run_sync(os.fsync, fh.fileno())
            finally:
                await anyio.to_thread.run_sync(fh.close)
            await anyio.to_thread.run_sync(os.replace, tmp, path)
        except BaseException:
            # Also on cancellation (the client went away): never a partial file.
            tmp.unlink(missing_ok=True)
            raise
        return Stored(key=key, size_bytes=size, sha256=digest.hexdigest())

    async def open(self, key: str) -> AsyncIterator[bytes]:
        path = self._path(key)
        # Opened now, so a missing file is known before a response starts.
        fh: IO[bytes] = await anyio.to_thread.run_sync(lambda: open(path, "rb"))  # noqa: SIM115  (closed by _chunks)
        return _chunks(fh)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))


async def _chunks(fh: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while chunk := await anyio.to_thread.run_sync(fh.read, CHUNK):
            yield chunk
    finally:
        fh.close()
