"""Headless Chromium driven over the Chrome DevTools Protocol, for tests/test_browser.py.

Debian's `chromium`, started with a throwaway profile; the protocol spoken over `websockets` (a dev
dependency already), which is all a handful of commands needs: no browser download, no driver.

The network is closed two ways: every request a page makes is paused (Fetch domain) and only one
to this machine's loopback goes on, the others failing as if the network were down and recorded in
`Page.blocked`; and the browser's own traffic goes to a proxy on a port nothing listens on
(loopback bypasses proxies). `Page.requests` holds every URL a page asked for, WebSockets included.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect

TIMEOUT = 60
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def on_loopback(url: str) -> bool:
    """Whether a request for this URL stays on this machine (data: and about: never leave it)."""
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob", "about") or parts.hostname in LOOPBACK


class ProtocolError(Exception):
    pass


class Browser:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            if "id" in message:
                future = self.waiting.pop(message["id"], None)
                if future is not None and not future.done():
                    if "error" in message:
                        future.set_exception(ProtocolError(message["error"]))
                    else:
                        future.set_result(message.get("result", {}))
            else:
                for listener in list(self.listeners):
                    listener(message)

    async def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        number = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[number] = future
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        await self.ws.send(json.dumps(message))
        async with asyncio.timeout(TIMEOUT):
            return await future

    async def new_page(self) -> Page:
        target = await self.call("Target.createTarget", {"url": "about:blank"})
        attached = await self.call("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        page = Page(self, attached["sessionId"])
        self.listeners.append(page.dispatch)
        for domain in ("Page", "Runtime", "Network"):
            await page.call(f"{domain}.enable")
        await page.call("Fetch.enable", {"patterns": [{"urlPattern": "*"}]})
        return page


class Page:
    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session
        self.requests: list[str] = []
        self.blocked: list[str] = []
        # Network.loadingFailed of requests the browser refused on CORS grounds.
        self.cors_failures: list[dict[str, Any]] = []
        self.console: list[str] = []
        self.loaded = asyncio.Event()
        self.tasks: set[asyncio.Task[Any]] = set()

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return await self.browser.call(method, params, self.session)

    def dispatch(self, message: dict[str, Any]) -> None:
        if message.get("sessionId") != self.session:
            return
        method, params = message["method"], message.get("params", {})
        if method == "Network.requestWillBeSent":
            # A data: URL (GraphiQL's fonts) is its whole content: its head says enough.
            self.requests.append(params["request"]["url"][:120])
        elif method == "Network.webSocketCreated":
            self.requests.append(params["url"])
        elif method == "Network.loadingFailed" and params.get("corsErrorStatus"):
            self.cors_failures.append(params)
        elif method == "Page.loadEventFired":
            self.loaded.set()
        elif method == "Runtime.consoleAPICalled":
            self.console.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            self.console.append(f"uncaught: {params['exceptionDetails']}")
        elif method == "Fetch.requestPaused":
            task = asyncio.create_task(self._decide(params))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _decide(self, paused: dict[str, Any]) -> None:
        url = paused["request"]["url"]
        if on_loopback(url):
            await self.call("Fetch.continueRequest", {"requestId": paused["requestId"]})
        else:
            self.blocked.append(url)
            await self.call(
                "Fetch.failRequest", {"requestId": paused["requestId"], "errorReason": "InternetDisconnected"}
            )

    async def navigate(self, url: str) -> None:
        self.loaded.clear()
        result = await self.call("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise ProtocolError(f"{url}: {result['errorText']}")
        async with asyncio.timeout(TIMEOUT):
            await self.loaded.wait()

    async def evaluate(self, expression: str) -> Any:
        """The expression's value (a promise awaited), as JSON."""
        result = await self.call(
            "Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True}
        )
        if "exceptionDetails" in result:
            raise ProtocolError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, what: str, seconds: float = TIMEOUT) -> Any:
        """The expression's first truthy value, evaluated until it has one."""
        try:
            async with asyncio.timeout(seconds):
                while True:
                    value = await self.evaluate(expression)
                    if value:
                        return value
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise AssertionError(f"{what} within {seconds} s; the page's console: {self.console}") from None

    async def type_into(self, selector: str, text: str) -> None:
        """Focus the element and type, as a person would (input events and all)."""
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        await self.call("Input.insertText", {"text": text})


@asynccontextmanager
async def chromium(binary: str) -> AsyncIterator[Browser]:
    with tempfile.TemporaryDirectory(prefix="cartera-chromium-") as profile:
        log = (Path(profile) / "chromium.log").open("wb")
        process = await asyncio.create_subprocess_exec(
            *[
                binary,
                "--headless",
                # The tests run as root in CI, where Chromium's sandbox refuses to start.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--proxy-server=http://127.0.0.1:9",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
            # Its own process group: its helpers (zygote, renderers, crash handler) end with it.
            start_new_session=True,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            async with asyncio.timeout(TIMEOUT):
                while not (port_file.exists() and len(port_file.read_text().split()) == 2):
                    if process.returncode is not None:
                        raise ProtocolError(f"chromium exited: {(Path(profile) / 'chromium.log').read_text()}")
                    await asyncio.sleep(0.05)
            port, path = port_file.read_text().split()
            async with connect(f"ws://127.0.0.1:{port}{path}", max_size=2**24) as ws:
                browser = Browser(ws)
                try:
                    yield browser
                finally:
                    # A clean shutdown: the browser stops writing to its profile before it exits.
                    with contextlib.suppress(Exception):
                        await browser.call("Browser.close")
                    browser.reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await browser.reader
        finally:
            try:
                async with asyncio.timeout(10):
                    await process.wait()
            except TimeoutError:
                pass
            # Whatever of the group outlived the browser (a helper still writing to the profile).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
            log.close()
