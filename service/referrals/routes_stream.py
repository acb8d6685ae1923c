"""The live feed of referrals: server-sent events for the caller's facility, from the database."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from service.deps import AnyUser, Rt
from service.http import doc
from service.referrals import queries
from service.referrals.views import event_json

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from service.auth import Principal
    from service.runtime import Runtime

router = APIRouter(prefix="/api", tags=["referrals"])

#: seconds between polls of the events table, and between keep-alive comments
POLL_S = 0.5
KEEP_ALIVE_S = 15


def _latest_event_id(rt: Runtime) -> int:
    with rt.sessions() as s:
        return queries.latest_event_id(s)


def _poll(rt: Runtime, p: Principal, after_id: int) -> list[dict[str, Any]]:
    with rt.sessions() as s:
        return [event_json(e) for e in queries.events_after(s, p, after_id)]


@router.get("/events/stream", **doc(None, 401, media_type="text/event-stream"))
async def stream(
    request: Request,
    rt: Rt,
    p: AnyUser,
    after: Annotated[int | None, Query(ge=0)] = None,
    last_event_id: Annotated[int | None, Header(ge=0)] = None,
    max_events: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    timeout_s: Annotated[float | None, Query(gt=0, le=86_400)] = None,
) -> StreamingResponse:
    """Server-sent events: new referrals and every change, for the caller's facility.

    Events come from the database, so a client connected to any worker sees every change; a
    reconnecting client resumes after ``Last-Event-ID`` (or ``after``) and misses nothing.
    """
    start = last_event_id if last_event_id is not None else after
    if start is None:
        start = await run_in_threadpool(_latest_event_id, rt)

    async def gen() -> AsyncIterator[str]:
        cursor, sent = start, 0
        loop = asyncio.get_running_loop()
        t_end = loop.time() + timeout_s if timeout_s else None
        last_beat = loop.time()
        yield f"retry: 2000\n: connected after {cursor}\n\n"
        while not await request.is_disconnected():
            for ev in await run_in_threadpool(_poll, rt, p, cursor):
                cursor = ev["id"]
                yield f"id: {ev['id']}\nevent: referral\ndata: {json.dumps(ev)}\n\n"
                sent += 1
                if max_events and sent >= max_events:
                    return
            now = loop.time()
            if t_end is not None and now >= t_end:
                return
            if now - last_beat > KEEP_ALIVE_S:
                last_beat = now
                yield ": keep-alive\n\n"
            await asyncio.sleep(POLL_S)

    return StreamingResponse(gen(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})
