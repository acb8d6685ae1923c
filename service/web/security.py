"""Security headers on every answer, pages and API alike, and the API docs served from npm.

The pages load scripts only from this server (no inline script, no CDN): the Content-Security-
Policy says so, and says no other site may frame them. Styles may be inline (Leaflet positions
its markers with style attributes). An online tile layer, when configured, is the one image
source from elsewhere.

The attachment viewer (``static/attachments.js``) fetches a result with the staff token and shows
it from a ``blob:`` URL the page made itself: images (``img-src blob:``) and a PDF in the
browser's own viewer inside the page (``frame-src blob:``: a frame of the page's own bytes, never
a URL of this server or another site; the server's answers stay unframeable, ``frame-ancestors
'none'`` and ``X-Frame-Options: DENY`` on every one of them, the inline download included).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send


def content_security_policy(tile_url: str = "") -> str:
    """The policy of every answer (``tile_url``: the online tile layer, if any, may serve images)."""
    img = "'self' data: blob:"
    if tile_url:
        parts = urlsplit(tile_url.replace("{s}", "a"))
        host = parts.netloc.replace("a.", "*.", 1) if "{s}" in tile_url else parts.netloc
        img += f" {parts.scheme}://{host}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src {img}; connect-src 'self'; font-src 'self'; frame-src blob:; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def security_headers(tile_url: str = "") -> list[tuple[bytes, bytes]]:
    """The headers added to every HTTP answer."""
    return [
        (b"content-security-policy", content_security_policy(tile_url).encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"permissions-policy", b"camera=(self), microphone=(self), geolocation=(self), payment=(), usb=()"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]


#: static files (scripts, styles, images) are no page: only ``nosniff`` matters for them, and on a
#: slow connection the rest would cost ~450 bytes on each of a page's dozen requests
STATIC_HEADERS = [(b"x-content-type-options", b"nosniff")]


class SecurityHeaders:
    """Pure ASGI middleware: appends the headers to the start of every HTTP answer (a few µs)."""

    def __init__(self, app: ASGIApp, *, tile_url: str = "") -> None:
        self.app = app
        self.headers = security_headers(tile_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass through, adding the headers to ``http.response.start``."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = STATIC_HEADERS if scope["path"].startswith("/static/") else self.headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
