"""Gzip for HTTP responses (cartera/compression.py), through the real server.

A page is compressed when the client accepts gzip and it is large enough; streams stay streams:
an export's CSV is compressed chunk by chunk as it is read, Server-Sent Events and files that
are compressed already are sent as they are.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import uuid
import zlib
from collections.abc import AsyncIterator
from datetime import timedelta
from io import BytesIO
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from cartera import compression
from db.base import utcnow
from db.models import Role, StoredFile, User
from services.attachment_store import CHUNK
from services.settings import Settings, SettingsError
from tests import differential
from tests.conftest import GraphQLClient, Server, auth, make_settings, running
from tests.factories import Factory

PAGE = """
query ContactsPage {
  contacts(first: 100) {
    nodes { id fullName initials isVip company { name } channels { kind value } addresses { city } }
  }
}
"""
TYPENAME = "{ __typename }"
GZIP = {"accept-encoding": "gzip"}
IDENTITY = {"accept-encoding": "identity"}
# Zlib's sync-flush marker: the middleware flushes after each chunk of a streamed body.
SYNC_FLUSH = b"\x00\x00\xff\xff"


def vary(response: httpx.Response) -> set[str]:
    return {v.strip().lower() for v in response.headers.get("vary", "").split(",") if v.strip()}


@pytest.fixture
async def admin(factory: Factory) -> User:
    return await factory.user(Role.ADMIN, name="Ada Admin")


async def hundred_contacts(factory: Factory) -> None:
    team = await factory.team("Cobranzas")
    await factory.contacts(team, *(f"Contacto{i:03d} Pérez" for i in range(100)))


async def test_a_page_of_contacts_is_gzipped_only_for_clients_that_accept_it(
    client: GraphQLClient, server: Server, factory: Factory, admin: User
) -> None:
    await hundred_contacts(factory)
    token = factory.token(admin)

    plain = await client.post(PAGE, token=token, headers=IDENTITY)
    zipped = await client.post(PAGE, token=token, headers=GZIP)

    assert plain.status_code == zipped.status_code == 200
    assert len(plain.json()["data"]["contacts"]["nodes"]) == 100
    assert "content-encoding" not in plain.headers
    assert int(plain.headers["content-length"]) == len(plain.content) == plain.num_bytes_downloaded
    assert zipped.headers["content-encoding"] == "gzip"
    # The same answer, a fraction of the bytes on the wire.
    assert zipped.content == plain.content
    assert int(zipped.headers["content-length"]) == zipped.num_bytes_downloaded < len(plain.content) / 4
    # Both read paths: the compiled one answers this page where the server has it.
    assert differential.compiled(zipped) == server.compiles
    # A cache between must keep the two apart.
    assert "accept-encoding" in vary(plain)
    assert "accept-encoding" in vary(zipped)
    # Encoding is added to the caching headers the endpoint chose, never in place of them.
    assert zipped.headers["cache-control"] == "no-store"


async def test_a_get_page_keeps_its_own_vary_and_adds_accept_encoding(
    client: GraphQLClient, factory: Factory, admin: User
) -> None:
    await hundred_contacts(factory)
    response = await client.http.get("/graphql", params={"query": PAGE}, headers={**GZIP, **auth(factory.token(admin))})
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["cache-control"] == "private, max-age=10"
    assert {"authorization", "accept", "accept-encoding"} <= vary(response)


async def test_small_responses_are_sent_as_they_are(client: GraphQLClient) -> None:
    response = await client.post(TYPENAME, headers=GZIP)
    assert response.json()["data"] == {"__typename": "Query"}
    assert "content-encoding" not in response.headers
    assert int(response.headers["content-length"]) == response.num_bytes_downloaded


async def test_compression_turned_off(database_url: str, factory: Factory, admin: User) -> None:
    await hundred_contacts(factory)
    async with running(database_url, compression_min_bytes=0) as (_, client):
        response = await client.post(PAGE, token=factory.token(admin), headers=GZIP)
        assert len(response.json()["data"]["contacts"]["nodes"]) == 100
        assert "content-encoding" not in response.headers
        assert int(response.headers["content-length"]) == response.num_bytes_downloaded


async def stored_file(server: Server, factory: Factory, owner: User, content: bytes, content_type: str) -> int:
    """A job's file (GET /files/{id}) with these bytes, as an export leaves it."""
    store = server.app.state.cartera.attachments
    key = f"test-{uuid.uuid4().hex}"

    class Bytes:
        def __init__(self) -> None:
            self.buffer = BytesIO(content)

        async def read(self, size: int = -1) -> bytes:
            return self.buffer.read(size)

    stored = await store.save(key, Bytes(), max_bytes=len(content) + 1)
    async with factory.sessionmaker() as session:
        row = StoredFile(
            owner_id=owner.id,
            filename="export.csv",
            content_type=content_type,
            size_bytes=stored.size_bytes,
            sha256=stored.sha256,
            storage_key=stored.key,
            expires_at=utcnow() + timedelta(hours=1),
        )
        session.add(row)
        await session.commit()
        return row.id


async def raw_download(server: Server, path: str, token: str, encoding: dict[str, str]) -> tuple[httpx.Response, bytes]:
    """The response and its body as it travelled (not decoded)."""
    async with (
        httpx.AsyncClient(base_url=server.url) as http,
        http.stream("GET", path, headers={**auth(token), **encoding}) as response,
    ):
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
    return response, raw


async def test_an_export_csv_streams_compressed_chunk_by_chunk(server: Server, factory: Factory, admin: User) -> None:
    lines = [f"{i},Contacto {i:06d} Pérez,+54911{i:07d},ABIERTA\n".encode() for i in range(40_000)]
    csv = b"id,name,phone,status\n" + b"".join(lines)
    chunks = -(-len(csv) // CHUNK)
    assert chunks >= 4
    file_id = await stored_file(server, factory, admin, csv, "text/csv; charset=utf-8")
    token = factory.token(admin)

    zipped, raw = await raw_download(server, f"/files/{file_id}", token, GZIP)
    assert zipped.status_code == 200
    assert zipped.headers["content-encoding"] == "gzip"
    # Its length is not known before the last chunk: the response goes chunked, without a
    # Content-Length that would be the uncompressed one's.
    assert "content-length" not in zipped.headers
    assert zipped.headers["transfer-encoding"] == "chunked"
    assert "accept-encoding" in vary(zipped)
    assert zipped.headers["content-disposition"].startswith("attachment;")
    assert gzip.decompress(raw) == csv
    assert len(raw) < len(csv) / 3
    # Compressed as the store read it, one flush per chunk, not gathered whole first.
    assert raw.count(SYNC_FLUSH) >= chunks

    plain, raw = await raw_download(server, f"/files/{file_id}", token, IDENTITY)
    assert "content-encoding" not in plain.headers
    assert plain.headers["content-length"] == str(len(csv))
    assert raw == csv


@pytest.mark.parametrize("content_type", ["application/pdf", "image/png", "audio/mpeg", "application/zip"])
async def test_files_compressed_already_are_sent_as_they_are(
    server: Server, factory: Factory, admin: User, content_type: str
) -> None:
    # Compressible bytes, so only the type decides.
    content = b"%PDF-1.7 " + b"0" * 100_000
    file_id = await stored_file(server, factory, admin, content, content_type)

    response, raw = await raw_download(server, f"/files/{file_id}", factory.token(admin), GZIP)
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert response.headers["content-length"] == str(len(content))
    assert raw == content


@pytest.fixture
async def streaming_app() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """A dummy app behind the same middleware as Cartera's, with an event stream and a plain
    text stream that each send one piece, then wait until the test has read it."""
    go_on = asyncio.Event()

    async def pieces() -> AsyncIterator[bytes]:
        yield b"id: 1\ndata: " + b"x" * 4000 + b"\n\n"
        await go_on.wait()
        yield b"id: 2\ndata: last\n\n"

    async def events(_: Request) -> StreamingResponse:
        return StreamingResponse(pieces(), media_type="text/event-stream")

    async def text(_: Request) -> StreamingResponse:
        return StreamingResponse(pieces(), media_type="text/plain")

    settings = make_settings("sqlite+aiosqlite:///unused.db")
    app = Starlette(
        routes=[Route("/events", events), Route("/text", text)], middleware=compression.middleware(settings)
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110  (uvicorn offers no startup event)
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", go_on
    finally:
        go_on.set()
        server.should_exit = True
        await task
        sock.close()


async def test_server_sent_events_are_never_compressed_and_arrive_as_sent(
    streaming_app: tuple[str, asyncio.Event],
) -> None:
    url, go_on = streaming_app
    async with (
        httpx.AsyncClient(base_url=url) as http,
        http.stream("GET", "/events", headers=GZIP) as response,
    ):
        assert "content-encoding" not in response.headers
        raw = response.aiter_raw()
        # The first event arrives while the stream still waits for the test to read it.
        async with asyncio.timeout(10):
            first = await anext(raw)
        assert first.startswith(b"id: 1\n")
        go_on.set()
        rest = b"".join([chunk async for chunk in raw])
    assert (first + rest).endswith(b"id: 2\ndata: last\n\n")


async def test_a_compressed_stream_still_streams(streaming_app: tuple[str, asyncio.Event]) -> None:
    url, go_on = streaming_app
    async with (
        httpx.AsyncClient(base_url=url) as http,
        http.stream("GET", "/text", headers=GZIP) as response,
    ):
        assert response.headers["content-encoding"] == "gzip"
        raw = response.aiter_raw()
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        # The first piece, flushed, arrives and decodes whole before the second is produced.
        async with asyncio.timeout(10):
            first = inflate.decompress(await anext(raw))
        assert first == b"id: 1\ndata: " + b"x" * 4000 + b"\n\n"
        go_on.set()
        rest = b"".join([inflate.decompress(chunk) async for chunk in raw]) + inflate.flush()
    assert rest == b"id: 2\ndata: last\n\n"


def test_the_setting_read_from_the_environment(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "CARTERA_SECRET_KEY": "k" * 32}
    assert Settings.from_env(env).compression_min_bytes == 1024
    assert Settings.from_env({**env, "CARTERA_COMPRESSION_MIN_BYTES": "0"}).compression_min_bytes == 0
    with pytest.raises(SettingsError, match="CARTERA_COMPRESSION_MIN_BYTES must be an integer"):
        Settings.from_env({**env, "CARTERA_COMPRESSION_MIN_BYTES": "1 KB"})
