"""GraphiQL served from the package (issue 25): the page names only its own assets, each served
from /graphiql/assets/ with the bytes its integrity hash names, cached for good; off, all of it is 404.

That the page works in a browser with the network closed (a query, a subscription) is
tests/test_browser.py's.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, running

ASSETS = Path(__file__).resolve().parents[1] / "cartera" / "static" / "graphiql" / "assets"
BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


class _Tags(HTMLParser):
    """The page's external references: (url, integrity) of every script src, stylesheet and icon href."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        url = named.get("src") if tag == "script" else named.get("href") if tag == "link" else None
        if url is not None:
            self.references.append((url, named.get("integrity")))


async def page_references(http: httpx.AsyncClient) -> list[tuple[str, str | None]]:
    response = await http.get("/graphql", headers=BROWSER)
    assert response.status_code == 200
    parser = _Tags()
    parser.feed(response.text)
    return parser.references


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url) as client:
        yield client


async def test_the_page_is_fetched_again_after_an_upgrade(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", headers=BROWSER)
    assert response.headers["cache-control"] == "no-cache"
    # The same URL answers JSON to a client that does not ask for HTML.
    assert "Accept" in {v.strip() for v in response.headers["vary"].split(",")}


async def test_the_page_loads_nothing_but_its_own_assets(http: httpx.AsyncClient) -> None:
    references = await page_references(http)
    scripts = [url for url, _ in references if url.endswith(".js")]
    # React, ReactDOM, GraphiQL (graphql-ws inside, for subscriptions), the explorer plugin.
    assert len(scripts) == 4
    for url, integrity in references:
        if url == "data:,":  # the icon, so the browser asks for none
            continue
        assert url.startswith("graphiql/assets/"), url
        assert (integrity or "").startswith("sha384-"), url


async def test_every_asset_is_served_with_the_bytes_its_hash_names_for_good(http: httpx.AsyncClient) -> None:
    media = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
    for url, integrity in await page_references(http):
        if integrity is None:
            continue
        # Relative to the page at /graphql.
        response = await http.get(f"/{url}")
        assert response.status_code == 200, url
        digest = base64.b64encode(hashlib.sha384(response.content).digest()).decode()
        assert integrity == f"sha384-{digest}", url
        assert response.headers["content-type"] == media[Path(url).suffix]
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        # Asked again as a browser revalidating would: not modified, still cacheable for good.
        again = await http.get(f"/{url}", headers={"if-none-match": response.headers["etag"]})
        assert again.status_code == 304
        assert again.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_every_asset_folder_keeps_its_licence() -> None:
    folders = [p for p in ASSETS.iterdir() if p.is_dir()]
    assert {p.name.rpartition("@")[0] for p in folders} == {
        "react",
        "react-dom",
        "graphiql",
        "graphiql-plugin-explorer",
    }
    for folder in folders:
        assert "Permission is hereby granted" in (folder / "LICENSE").read_text(), folder.name


@pytest.mark.parametrize(
    "path",
    [
        "/graphiql/assets/nothing.js",
        "/graphiql/assets/../page.html",
        "/graphiql/assets/%2e%2e/page.html",
        "/graphiql/assets/%2e%2e/update.sh",
        "/graphiql/page.html",
    ],
)
async def test_nothing_else_is_served(http: httpx.AsyncClient, path: str) -> None:
    response = await http.get(path)
    assert response.status_code == 404


async def test_an_asset_takes_no_post(http: httpx.AsyncClient) -> None:
    (url, _), *_ = [r for r in await page_references(http) if r[1]]
    response = await http.post(f"/{url}")
    assert response.status_code == 405


async def test_off_the_assets_are_404_too(database_url: str, http: httpx.AsyncClient) -> None:
    urls = [url for url, integrity in await page_references(http) if integrity]
    async with running(database_url, graphiql=False) as (server, _), httpx.AsyncClient(base_url=server.url) as off:
        for url in urls:
            assert (await off.get(f"/{url}")).status_code == 404, url
