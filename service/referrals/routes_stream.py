"""The live feed of referrals: server-sent events for the caller's facility, from the database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from service.deps import AnyUser, Rt
from service.http import doc, event_feed
from service.referrals import queries
from service.referrals.views import event_json

if TYPE_CHECKING:
    from service.runtime import Runtime

router = APIRouter(prefix="/api", tags=["referrals"])


def _latest_event_id(rt: Runtime) -> int:
    with rt.sessions() as s:
        return queries.latest_event_id(s)


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

    def poll(after_id: int) -> tuple[list[dict[str, Any]], None]:
        with rt.sessions() as s:
            return [
                event_json(e) | ({} if queries.sees_note(p, e) else {"note": ""})
                for e in queries.events_after(s, p, after_id)
            ], None

    return event_feed(request, poll, start=start, max_events=max_events, timeout_s=timeout_s)
