"""Device sign-in: an ambulance's tracking device proves itself with its own token.

A token (``Authorization: Bearer rjk_amb_...``, or the OsmAnd ``id``) works on device routes only;
a verified token is trusted for ``DEVICE_CACHE_S`` without asking the database again (a revoked
token stops working on every worker within this time; at once on the worker that revoked it).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from service.errors import UnauthorizedError
from service.tracking import ambulances

if TYPE_CHECKING:
    from service.runtime import Runtime

DEVICE_CACHE_S = 5.0


def _token(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return token if scheme.lower() == "bearer" and token else None


def _cached(rt: Runtime, token: str | None) -> str | None:
    hit = rt.device_cache.get(token) if token else None
    return hit[0] if hit is not None and hit[1] > time.monotonic() else None


def _check(rt: Runtime, token: str | None) -> str:
    """The ambulance of a token, from the cache or the database (blocking)."""
    if token is None:
        raise UnauthorizedError("a device token is needed (Authorization: Bearer rjk_amb_...)")
    hit = _cached(rt, token)
    if hit is not None:
        return hit
    with rt.sessions() as s:
        a = ambulances.by_token(s, token)
    if a is None:
        raise UnauthorizedError("unknown, rotated or revoked device token")
    if len(rt.device_cache) > 10_000:
        rt.device_cache.clear()
    rt.device_cache[token] = (a.id, time.monotonic() + DEVICE_CACHE_S)
    return a.id


async def device_ambulance_id(rt: Runtime, authorization: str | None) -> str:
    """The ambulance whose device sent this ``Authorization: Bearer`` token (401 otherwise).

    A cached token answers on the event loop; an unknown one is checked in a worker thread.
    """
    token = _token(authorization)
    hit = _cached(rt, token)
    return hit if hit is not None else await run_in_threadpool(_check, rt, token)


async def device(request: Request) -> str:
    """Dependency: the id of the ambulance whose device is calling."""
    return await device_ambulance_id(request.app.state.runtime, request.headers.get("authorization"))


Device = Annotated[str, Depends(device)]
