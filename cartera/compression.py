"""Gzip for HTTP responses (Starlette's GZipMiddleware), from CARTERA_COMPRESSION_MIN_BYTES up.

A 100-contact page is ~100 KB of JSON and ~14 KB gzipped. Streams stay streams: the middleware
compresses a streamed body chunk by chunk, flushing after each, and drops Content-Length (the
response goes chunked). It leaves alone what compressing would not shrink or would hold back:
Server-Sent Events (text/event-stream, in Starlette's own exclusions), and attachments that
are compressed already (audio, images, PDF, archives); an export's CSV shrinks several times
and is compressed. WebSockets pass through untouched.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware

from services.settings import Settings

# PDF streams are deflated inside the file already.
EXCLUDED_CONTENT_TYPES = (*DEFAULT_EXCLUDED_CONTENT_TYPES, "application/pdf")
# zlib's own default: on a page of contacts' JSON, Starlette's 9 takes twice the CPU for under 1 % less.
COMPRESS_LEVEL = 6


def middleware(settings: Settings) -> list[Middleware]:
    if settings.compression_min_bytes == 0:
        return []
    return [
        Middleware(
            GZipMiddleware,
            minimum_size=settings.compression_min_bytes,
            compresslevel=COMPRESS_LEVEL,
            exclude_content_types=EXCLUDED_CONTENT_TYPES,
        )
    ]
