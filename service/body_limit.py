"""Request bodies are refused over a limit per route, before anything reads them (413).

A declared ``Content-Length`` over the limit is answered at once; a body sent in chunks is read
here, counted as it arrives, refused at the limit, and otherwise handed on whole. The limits are
generous for what each route takes (the letter, a batch of positions, an attachment of 5 MB)
and small next to what an attacker would send to tie up a worker parsing it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from service.errors import TooLargeError

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

KB = 1024
#: (path prefix, path suffix, limit in bytes): the first that matches applies
LIMITS: tuple[tuple[str, str, int], ...] = (
    ("/api/referrals/", "/attachments", 6 * 1024 * KB),  # a 5 MB file and its multipart envelope
    ("/api/suggestions", "", 64 * KB),
    ("/api/letters/import", "", 2 * 1024 * KB),  # a medical record's export (service.referrals.prefill)
    ("/api/ambulances/", "/positions", 512 * KB),  # a batch of up to 1,000 fixes
    ("/api/osmand", "", 64 * KB),
    ("/api/plan/", "", 1024 * KB),  # scenario files
    ("/api/", "", 256 * KB),  # a referral letter, a status update, an account...
)


def limit_for(path: str) -> int | None:
    """The body limit of a path (None: not an API route)."""
    for prefix, suffix, n in LIMITS:
        if path.startswith(prefix) and path.endswith(suffix):
            return n
    return None


class BodyLimit:
    """Pure ASGI middleware: 413 ``too_large`` for a body over its route's limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse at once on the declared length; count a chunked body as it arrives."""
        limit = limit_for(scope["path"]) if scope["type"] == "http" else None
        if limit is None or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        for k, v in scope["headers"]:
            if k == b"content-length" and v.isdigit():
                if int(v) > limit:
                    await _refuse(send, limit)
                    return
                # the server reads exactly the declared length: nothing to count
                await self.app(scope, receive, send)
                return
        # no declared length (chunked): read it here, counting, and hand it on whole if it fits
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > limit:
                await _refuse(send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        whole: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return whole
            return await receive()

        await self.app(scope, replay, send)


async def _refuse(send: Send, limit: int) -> None:
    body = orjson.dumps(TooLargeError(f"the body is larger than {limit // KB} KB, this route's limit").body())
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
