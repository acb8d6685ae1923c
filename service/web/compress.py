"""gzip for the JSON answers the pages read, only for the clients that ask for it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.middleware.gzip import GZipMiddleware

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

#: JSON answers the pages read that are worth compressing on a weak connection (the static files
#: and the base map are compressed by their own routes). Streams are never compressed.
COMPRESSED_PREFIXES: tuple[str, ...] = (
    "/api/suggestions",
    "/api/facilities",
    "/api/referrals",
    "/api/dispatch/ambulances",
    "/api/plan/",
    "/api/icd10",
)


def _accepts_gzip(scope: Scope) -> bool:
    return any(k == b"accept-encoding" and b"gzip" in v for k, v in scope["headers"])


class CompressSome:
    """gzip for the answers under ``prefixes`` when the client accepts it.

    Every other request passes straight through: a route not named costs one string comparison, a
    named one a scan of the request headers; only a client asking for gzip enters Starlette's
    GZipMiddleware (which wraps every response it sees, gzip or not: 15-20% of a suggestion's cost).
    """

    def __init__(
        self, app: ASGIApp, prefixes: tuple[str, ...] = COMPRESSED_PREFIXES, minimum_size: int = 1000
    ) -> None:
        self.app = app
        self.prefixes = prefixes
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size, compresslevel=6)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Compress or pass through."""
        if (
            scope["type"] == "http"
            and scope["path"].startswith(self.prefixes)
            and not scope["path"].endswith("/stream")
            and _accepts_gzip(scope)
        ):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)
