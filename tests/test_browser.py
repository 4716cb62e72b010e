"""What a browser does with the API (issue 25), in headless Chromium with the network closed.

A real `cartera serve`: GraphiQL loads from it alone, takes a token once, runs a query and an
`inbox` subscription that an event reaches after a mutation; a page on an allowed origin (another
port) queries the API with a bearer token and reads the answer and its request id; a page on an
origin not allowed is refused by the browser itself.

Needs Debian's `chromium` (.ci/run installs it); without it the test skips, unless
CARTERA_TEST_REQUIRE_ALL=1 (CI's PostgreSQL + Redis run) makes that a failure. Chromium is driven
over the DevTools protocol (tests/cdp.py).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from db.models import Role
from tests.cdp import Browser, Page, chromium, on_loopback
from tests.conftest import SECRET, auth
from tests.factories import Factory, gid
from tests.test_live_processes import newest_event

CHROMIUM = shutil.which("chromium")
if CHROMIUM is None and os.environ.get("CARTERA_TEST_REQUIRE_ALL") == "1":
    pytest.fail("CARTERA_TEST_REQUIRE_ALL=1 but this run lacks chromium (apt-get install chromium)", pytrace=False)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt-get install chromium)")

SET_VIP = "mutation($id: ID!, $vip: Boolean!) { setContactVip(id: $id, vip: $vip) { userErrors { code } } }"
# A page on another origin, as an integrator's single-page app would call the API.
CALLER = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>caller</title><link rel="icon" href="data:,"></head>
<body><script>
window.ask = async (api, token) => {
  try {
    const response = await fetch(api + "/graphql", {
      method: "POST",
      headers: {"content-type": "application/json", "authorization": "Bearer " + token},
      body: JSON.stringify({query: "{ me { name } }"}),
    });
    return {status: response.status, requestId: response.headers.get("x-request-id"), body: await response.json()};
  } catch (error) {
    return {error: String(error)};
  }
};
</script></body></html>
"""
# GraphiQL's editors are CodeMirror 5 instances.
QUERY_EDITOR = "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror"
RESPONSE = "document.querySelector('.graphiql-response .CodeMirror')"
# What the token bar says once the server has answered for the token.
SIGNED_IN = "(t => t.startsWith('Signed in') && t)(document.getElementById('token-state').textContent)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def static_page(body: bytes) -> Iterator[str]:
    """An origin of its own (another port) serving one HTML page at /."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@contextmanager
def serving(database_url: str, directory: Path, allowed_origin: str) -> Iterator[str]:
    """`cartera serve` in a process of its own, as an operator starts it; its URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "CARTERA_GRAPHIQL"}}
    env.update(
        DATABASE_URL=database_url,
        CARTERA_SECRET_KEY=SECRET,
        CARTERA_ALLOWED_ORIGINS=allowed_origin,
        CARTERA_LOG_LEVEL="WARNING",
    )
    cartera = Path(sys.executable).with_name("cartera")
    log = (directory / "serve.log").open("w")
    process = subprocess.Popen([str(cartera), "serve", "--port", str(port)], cwd=directory, env=env, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, (directory / "serve.log").read_text()
            time.sleep(0.1)
        else:
            raise AssertionError("cartera serve did not come up")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    assert CHROMIUM is not None
    async with chromium(CHROMIUM) as started:
        yield started


async def response_text(page: Page, containing: str, what: str) -> str:
    text: str = await page.wait_for(
        f"(() => {{ const e = {RESPONSE}; const t = e && e.CodeMirror.getValue();"
        f" return t && t.includes({json.dumps(containing)}) ? t : null; }})()",
        what,
    )
    return text


async def run_in_graphiql(page: Page, document: str, operation: str) -> None:
    """Put the document in the query editor and press the run button, once GraphiQL has read the
    edit: it takes the operation's name and kind (subscription or not) from its own state, which a
    change updates 100 ms later (and stores; that is what is waited for)."""
    await page.evaluate(f"{QUERY_EDITOR}.setValue({json.dumps(document)})")
    stored = (
        f"localStorage.getItem('graphiql:query') === {json.dumps(document)}"
        f" && localStorage.getItem('graphiql:operationName') === {json.dumps(operation)}"
    )
    await page.wait_for(stored, f"GraphiQL did not read the edit of {operation}")
    # Two frames: React has rendered that state when the button is pressed.
    await page.evaluate(
        "new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"
        ".then(() => document.querySelector('.graphiql-execute-button').click())"
    )


async def test_graphiql_offline_and_the_api_from_other_origins(
    factory: Factory, database_url: str, tmp_path: Path, browser: Browser
) -> None:
    team = await factory.team("Norte")
    admin = await factory.user(Role.ADMIN, name="Ada Admin")
    (person,) = await factory.contacts(team, "Juan Pérez")
    token = factory.token(admin)
    with (
        static_page(CALLER) as allowed,
        static_page(CALLER) as refused,
        serving(database_url, tmp_path, allowed) as api,
    ):
        page = await browser.new_page()
        await page.navigate(f"{api}/graphql")
        await page.wait_for(f"!!{QUERY_EDITOR}", "GraphiQL did not render")
        assert await page.evaluate("document.getElementById('token-state').textContent") == (
            "No token: only login and public fields answer."
        )

        # The token, entered once: it outlives a reload.
        await page.type_into("#token", token)
        await page.evaluate("document.querySelector('#token-bar button[type=submit]').click()")
        assert await page.wait_for(SIGNED_IN, "the token was not checked") == "Signed in as Ada Admin (ADMIN)."
        await page.navigate(f"{api}/graphql")
        await page.wait_for(f"!!{QUERY_EDITOR}", "GraphiQL did not render again")
        assert await page.wait_for(SIGNED_IN, "the token was not kept") == "Signed in as Ada Admin (ADMIN)."

        # A query over HTTP, with the token.
        await run_in_graphiql(page, "query Mine { me { name role } }", "Mine")
        answer = json.loads(await response_text(page, '"me"', "the query's answer did not show"))
        assert answer["data"] == {"me": {"name": "Ada Admin", "role": "ADMIN"}}

        # A subscription over WebSocket (the token in connection_init), then a change it must show.
        after = await newest_event(factory)
        subscription = (
            f'subscription Live {{ inbox(after: "{after}") {{ payload {{ __typename'
            " ... on ContactVipChanged { contactId isVip } } } }"
        )
        await run_in_graphiql(page, subscription, "Live")
        async with httpx.AsyncClient(base_url=api) as http:
            changed = await http.post(
                "/graphql", json={"query": SET_VIP, "variables": {"id": gid(person), "vip": True}}, headers=auth(token)
            )
        assert changed.json()["data"] == {"setContactVip": {"userErrors": []}}
        event = json.loads(await response_text(page, "ContactVipChanged", "the subscription's event did not show"))
        assert event["data"]["inbox"]["payload"] == {
            "__typename": "ContactVipChanged",
            "contactId": gid(person),
            "isVip": True,
        }
        assert any(url.startswith(api.replace("http", "ws")) for url in page.requests), page.requests
        # Everything GraphiQL needed came from the API's own origin; nothing was even tried elsewhere.
        assert page.blocked == []
        assert [url for url in page.requests if not on_loopback(url)] == []
        assert all(url.startswith((api, api.replace("http", "ws"), "data:")) for url in page.requests), page.requests

        # The network is closed indeed: what the CDN page loaded fails here.
        probe = (
            "fetch('https://unpkg.com/react@18.2.0/umd/react.production.min.js').then(() => 'loaded', e => String(e))"
        )
        assert await page.evaluate(probe) == "TypeError: Failed to fetch"
        assert page.blocked == ["https://unpkg.com/react@18.2.0/umd/react.production.min.js"]

        # An allowed origin's page reads the answer and the request id.
        caller = await browser.new_page()
        await caller.navigate(allowed)
        result = await caller.evaluate(f"ask({json.dumps(api)}, {json.dumps(token)})")
        assert result["status"] == 200
        assert result["body"]["data"] == {"me": {"name": "Ada Admin"}}
        assert result["requestId"]
        assert caller.cors_failures == []

        # Another origin's page is refused by the browser: its preflight got no CORS header.
        stranger = await browser.new_page()
        await stranger.navigate(refused)
        result = await stranger.evaluate(f"ask({json.dumps(api)}, {json.dumps(token)})")
        assert result == {"error": "TypeError: Failed to fetch"}
        (failure,) = stranger.cors_failures
        assert failure["corsErrorStatus"]["corsError"] == "PreflightMissingAllowOriginHeader"
        assert caller.blocked == stranger.blocked == []
