"""The dispatchers' live feed: server-sent events published through Redis, and stale alerts."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from service.deps import Dispatcher, Rt
from service.errors import RETRY_AFTER_S, PositionsUnavailableError
from service.http import doc
from service.tracking.feed import Feed
from service.tracking.ingest import registry, tracker
from service.tracking.views import age_s

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from service.runtime import Runtime
    from service.tracking.tracker import Tracker

router = APIRouter(prefix="/api", tags=["tracking"])


@dataclass
class StaleWatch:
    """Which ambulances stopped or resumed reporting since the last scan."""

    stale_s: float
    stale: set[str] = field(default_factory=set)

    async def scan(self, rt: Runtime, t: Tracker) -> list[dict[str, Any]]:
        """``stale`` / ``fresh`` events for the changes."""
        reg = await registry(rt)
        latest = await t.positions(list(reg))
        now = rt.clock()
        events: list[dict[str, Any]] = []
        for aid in reg:
            la = latest.get(aid)
            is_stale = la is None or age_s(now, la) > self.stale_s
            if is_stale and aid not in self.stale and la is not None:
                events.append({"type": "stale", "ambulance_id": aid, "age_s": round(age_s(now, la))})
            elif not is_stale and aid in self.stale:
                events.append({"type": "fresh", "ambulance_id": aid})
            if is_stale:
                self.stale.add(aid)
            else:
                self.stale.discard(aid)
        return events


def _connection_lost(exc: Exception) -> bool:
    return isinstance(exc, (ConnectionError, OSError)) or "Connection" in type(exc).__name__


@router.get("/dispatch/stream", **doc(None, 401, 403, 503, media_type="text/event-stream"))
async def dispatch_stream(
    request: Request,
    rt: Rt,
    _: Dispatcher,
    max_events: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    timeout_s: Annotated[float | None, Query(gt=0, le=86_400)] = None,
) -> StreamingResponse:
    """Server-sent events for dispatchers: positions, ETAs, status changes, dispatches, arrivals,
    and ``stale`` / ``fresh`` alerts as ambulances stop or resume reporting. Published through
    Redis, so a client on any worker sees every change."""  # noqa: D205, D209
    t = tracker(rt)
    watch = StaleWatch(rt.settings.position_stale_s)

    async def events(feed: Feed, scan: bool) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        ev = await feed.next(0.5)
        if ev is not None:
            out.append(ev)
        if scan:
            out.extend(await watch.scan(rt, t))
        return out

    async def gen() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        t_end = loop.time() + timeout_s if timeout_s else None
        sent, next_scan = 0, 0.0
        feed = Feed(t.client, t.channel)
        subscribed = False
        yield "retry: 2000\n: connected\n\n"
        try:
            while not await request.is_disconnected():
                now_loop = loop.time()
                if t_end is not None and now_loop >= t_end:
                    return
                try:
                    if not subscribed:
                        await feed.subscribe()
                        subscribed = True
                    scan = now_loop >= next_scan  # stale alerts: who stopped or resumed reporting
                    if scan:
                        next_scan = now_loop + min(5.0, watch.stale_s / 4)
                    batch = await events(feed, scan)
                except Exception as exc:
                    if not isinstance(exc, PositionsUnavailableError) and not _connection_lost(exc):
                        raise
                    batch, subscribed = [{"type": "positions_unavailable"}], False
                    if not isinstance(exc, PositionsUnavailableError):
                        await feed.close()  # a fresh connection on the next subscribe
                    await asyncio.sleep(RETRY_AFTER_S)
                for ev in batch:
                    yield f"event: {ev.get('type', 'message')}\ndata: {json.dumps(ev)}\n\n"
                    sent += 1
                    if max_events and sent >= max_events:
                        return
        finally:
            await feed.close()

    return StreamingResponse(gen(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})
