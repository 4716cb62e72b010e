"""Uploads for the tests: a GraphQL multipart request attaching a file to a gestión (cartera/http.py)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.conftest import GraphQLClient

UPLOAD = """
mutation Upload($gestionId: ID!, $file: Upload!) {
  uploadGestionAttachment(gestionId: $gestionId, file: $file) {
    attachment { id filename contentType sizeBytes sha256 url uploadedByName }
    userErrors { field code message }
  }
}
"""
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
# A multipart request must carry this header, or it is refused (cross-site request forgery).
CSRF = {"x-cartera-csrf": "1"}


async def upload(
    client: GraphQLClient,
    token: str | None,
    gestion_id: str,
    content: bytes = PNG,
    *,
    filename: str = "recibo.png",
    content_type: str = "image/png",
    headers: dict[str, str] | None = None,
    query: str = UPLOAD,
) -> httpx.Response:
    """The file as `variables.file` of `query`, sent with the CSRF header unless `headers` replace it."""
    operations = {"query": query, "variables": {"gestionId": gestion_id, "file": None}}
    sent = dict(CSRF if headers is None else headers)
    if token:
        sent["authorization"] = f"Bearer {token}"
    return await client.http.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.file"]})},
        files={"0": (filename, content, content_type)},
        headers=sent,
    )


def payload(response: httpx.Response) -> dict[str, Any]:
    """uploadGestionAttachment's payload of an answer with no GraphQL error."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["uploadGestionAttachment"]
    return result
