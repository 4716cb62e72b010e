"""CORS for HTTP (issue 25): the origins CARTERA_ALLOWED_ORIGINS names, the same ones WebSockets
accept, may call /graphql and the downloads from a browser; any other origin gets no CORS header.

Through the running app over real HTTP, as a browser would send its preflight and its request.
The browser's own enforcement is tests/test_browser.py's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from db.models import Role
from services.settings import Settings
from tests.conftest import JSON, SECRET, Server, auth, running
from tests.factories import Factory
from tests.ws import TRANSPORT_WS

ALLOWED = "http://app.example.com:8080"
OTHER = "https://app.example.com"  # another scheme and port: another origin
ME = "{ me { name } }"


@pytest.fixture(scope="module")
async def api(database_url: str) -> AsyncIterator[Server]:
    # As written in an environment: the case, a default port and a trailing slash do not matter.
    env = {
        "DATABASE_URL": database_url,
        "CARTERA_SECRET_KEY": SECRET,
        "CARTERA_ALLOWED_ORIGINS": " HTTP://App.Example.com:8080/ , https://partner.test:443 ",
    }
    origins = Settings.from_env(env)
    async with running(database_url, allowed_origins=origins.allowed_origins) as (server, _):
        yield server


@pytest.fixture
async def http(api: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        yield client


def preflight(origin: str, method: str = "POST", headers: str = "authorization, content-type") -> dict[str, str]:
    return {"origin": origin, "access-control-request-method": method, "access-control-request-headers": headers}


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


class TestPreflight:
    @pytest.mark.parametrize("path", ["/graphql", "/graphql/stream", "/attachments/1", "/files/1"])
    async def test_an_allowed_origin_is_answered_with_what_the_api_reads(
        self, http: httpx.AsyncClient, path: str
    ) -> None:
        # What the stock clients send: the token, JSON, the upload CSRF header, a request id, trace
        # context, Apollo's client name, an event stream's resumption.
        asked = (
            "authorization, content-type, x-cartera-csrf, x-request-id, traceparent, apollographql-client-name,"
            " last-event-id"
        )
        response = await http.options(path, headers=preflight(ALLOWED, headers=asked))
        assert response.status_code == 200
        headers = cors_headers(response)
        assert headers["access-control-allow-origin"] == ALLOWED
        assert headers["access-control-allow-methods"] == "GET, POST, OPTIONS"
        allowed = {h.strip().lower() for h in headers["access-control-allow-headers"].split(",")}
        assert {h.strip() for h in asked.split(",")} <= allowed
        assert headers["access-control-max-age"] == "7200"
        # Bearer tokens, not cookies: no credentials mode.
        assert "access-control-allow-credentials" not in headers
        assert "Origin" in response.headers["vary"]

    async def test_the_second_origin_is_matched_as_browsers_write_it(self, http: httpx.AsyncClient) -> None:
        response = await http.options("/graphql", headers=preflight("https://partner.test"))
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "https://partner.test"

    @pytest.mark.parametrize("origin", [OTHER, "http://app.example.com", "null"])
    async def test_another_origin_gets_no_cors_header(self, http: httpx.AsyncClient, origin: str) -> None:
        response = await http.options("/graphql", headers=preflight(origin))
        assert response.status_code == 400
        assert cors_headers(response) == {}
        assert response.headers["vary"] == "Origin"

    @pytest.mark.parametrize(
        ("method", "headers"),
        [("PUT", "content-type"), ("DELETE", "authorization"), ("POST", "content-type, x-not-ours")],
    )
    async def test_a_method_or_header_the_api_does_not_take_is_refused(
        self, http: httpx.AsyncClient, method: str, headers: str
    ) -> None:
        response = await http.options("/graphql", headers=preflight(ALLOWED, method, headers))
        assert response.status_code == 400

    async def test_options_without_a_preflight_is_still_not_a_graphql_method(self, http: httpx.AsyncClient) -> None:
        response = await http.options("/graphql")
        assert response.status_code == 405
        assert cors_headers(response) == {}


class TestRequests:
    async def test_an_allowed_origin_reads_the_answer_and_its_request_id(
        self, http: httpx.AsyncClient, factory: Factory
    ) -> None:
        token = factory.token(await factory.user(Role.ADMIN, name="Ada Admin"))
        response = await http.post(
            "/graphql", json={"query": ME}, headers={"origin": ALLOWED, "accept": JSON, **auth(token)}
        )
        assert response.status_code == 200
        assert response.json()["data"] == {"me": {"name": "Ada Admin"}}
        headers = cors_headers(response)
        assert headers == {
            "access-control-allow-origin": ALLOWED,
            "access-control-expose-headers": "x-request-id, content-disposition",
        }
        assert response.headers["x-request-id"]
        assert "Origin" in response.headers["vary"]

    async def test_a_download_is_readable_by_an_allowed_origin(self, http: httpx.AsyncClient) -> None:
        # No token: the 401 a page must be able to read and act on carries the headers too.
        response = await http.get("/files/1", headers={"origin": ALLOWED})
        assert response.status_code == 401
        assert response.headers["access-control-allow-origin"] == ALLOWED
        assert "content-disposition" in response.headers["access-control-expose-headers"]

    async def test_another_origin_gets_an_answer_the_browser_will_not_show(self, http: httpx.AsyncClient) -> None:
        response = await http.post("/graphql", json={"query": "{ __typename }"}, headers={"origin": OTHER})
        assert response.status_code == 200
        assert cors_headers(response) == {}
        # A cache must not hand an allowed origin's answer to this one, nor this one's to it.
        assert response.headers["vary"] == "Origin"

    async def test_a_request_without_an_origin_gets_no_cors_header(self, http: httpx.AsyncClient) -> None:
        response = await http.post("/graphql", json={"query": "{ __typename }"})
        assert response.status_code == 200
        assert cors_headers(response) == {}
        # Still Vary: a cache must not hand this answer, without the headers, to an allowed origin.
        assert response.headers["vary"] == "Origin"


class TestOneSetting:
    @pytest.mark.parametrize(("origin", "allowed"), [(ALLOWED, True), ("https://partner.test", True), (OTHER, False)])
    async def test_websockets_accept_exactly_the_origins_http_does(
        self, api: Server, http: httpx.AsyncClient, origin: str, allowed: bool
    ) -> None:
        response = await http.options("/graphql", headers=preflight(origin))
        assert (response.status_code == 200) is allowed
        try:
            async with connect(api.ws_url, subprotocols=[TRANSPORT_WS], origin=Origin(origin)):
                status = 101
        except InvalidStatus as refusal:
            status = refusal.response.status_code
        assert status == (101 if allowed else 403)

    async def test_no_origin_is_allowed_by_default(self, server: Server) -> None:
        async with httpx.AsyncClient(base_url=server.url) as http:
            response = await http.options("/graphql", headers=preflight(ALLOWED))
            assert response.status_code == 400
            assert cors_headers(response) == {}

    async def test_a_star_allows_every_origin_without_credentials(self, database_url: str) -> None:
        async with (
            running(database_url, allowed_origins=("*",)) as (server, _),
            httpx.AsyncClient(base_url=server.url) as http,
        ):
            response = await http.options("/graphql", headers=preflight(OTHER))
            assert response.status_code == 200
            assert response.headers["access-control-allow-origin"] == "*"
            assert "access-control-allow-credentials" not in response.headers
            answer = await http.post("/graphql", json={"query": "{ __typename }"}, headers={"origin": OTHER})
            assert answer.headers["access-control-allow-origin"] == "*"
