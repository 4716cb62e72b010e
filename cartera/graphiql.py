"""GraphiQL from the package: the page GET /graphql answers a browser with, and its assets under
/graphiql/assets/, so the IDE works on a network with no way out (subscriptions included).

The assets are pinned copies of the npm packages (cartera/static/graphiql/README.md says which and
how to update them); each sits under a folder named with its version, so a path's bytes never
change and browsers may keep them for a year without asking again.
"""

from __future__ import annotations

import os
from importlib import resources

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = "static/graphiql"
ASSETS_PATH = "/graphiql/assets"
IMMUTABLE = "public, max-age=31536000, immutable"


# no-cache: the page names the assets' versioned paths, so after an upgrade it must be fetched again.
# Vary: the same GET /graphql answers JSON to a client that does not ask for HTML.
PAGE_HEADERS = {"cache-control": "no-cache", "vary": "Accept"}


def page_html() -> str:
    return (resources.files("cartera") / STATIC / "page.html").read_text(encoding="utf-8")


class Assets(StaticFiles):
    def __init__(self) -> None:
        super().__init__(packages=[("cartera", f"{STATIC}/assets")])

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["cache-control"] = IMMUTABLE
        return response
