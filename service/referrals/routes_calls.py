"""HTTP routes of video calls inside a referral: ring, answer, signal, follow the signals, hang up."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from service.deps import AnyUser, CurrentReferral, Db, Rt
from service.errors import ConflictError
from service.http import doc, event_feed
from service.referrals import calls
from service.referrals.schemas import CallEndIn, CallOut, SignalIn, SignalOut

router = APIRouter(prefix="/api", tags=["referrals"])

CallId = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$", description="the call's id")]


@router.post("/referrals/{referral_id}/calls", **doc(CallOut, 401, 403, 404, 409, status=201))
def ring(r: CurrentReferral, rt: Rt, db: Db, p: AnyUser) -> dict[str, Any]:
    """Call the other side of the referral (video, or audio only): it rings on their page."""
    now = rt.clock()
    c, side = calls.start(db, p, r, now, elsewhere=rt.served_elsewhere(r.destination_id))
    db.commit()
    return calls.call_json(c, side) | {"ice_servers": calls.ice_servers(rt.settings, p.username, now)}


@router.get("/referrals/{referral_id}/calls", **doc(list[CallOut], 401, 404))
def call_history(r: CurrentReferral, rt: Rt, db: Db, p: AnyUser) -> list[dict[str, Any]]:
    """The referral's calls: when, who took part, how long (the sender sees all, a facility its own)."""
    out = calls.history(db, p, r, rt.clock())
    db.commit()  # a call that rang too long is recorded missed
    return out


@router.post("/calls/{call_id}/answer", **doc(CallOut, 401, 403, 404, 409))
def answer(call_id: CallId, rt: Rt, db: Db, p: AnyUser) -> dict[str, Any]:
    """Pick up a ringing call of the other side."""
    now = rt.clock()
    try:
        c, side = calls.answer(db, p, call_id, now)
    except ConflictError:
        db.commit()  # a call answered too late is recorded missed all the same
        raise
    db.commit()
    return calls.call_json(c, side) | {"ice_servers": calls.ice_servers(rt.settings, p.username, now)}


@router.post("/calls/{call_id}/signals", **doc(SignalOut, 401, 403, 404, 409, status=201))
def send_signal(call_id: CallId, body: SignalIn, rt: Rt, db: Db, p: AnyUser) -> dict[str, Any]:
    """An offer, answer or ICE candidate for the other side (or: this side goes audio only)."""
    sid = calls.signal(db, p, call_id, body.kind, body.payload, rt.clock())
    db.commit()
    return {"id": sid}


@router.get("/calls/{call_id}/signals", **doc(None, 401, 404, media_type="text/event-stream"))
async def follow_signals(
    request: Request,
    call_id: CallId,
    rt: Rt,
    p: AnyUser,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    last_event_id: Annotated[int | None, Header(ge=0, le=2**63 - 1)] = None,
    timeout_s: Annotated[float | None, Query(gt=0, le=3600)] = None,
) -> StreamingResponse:
    """Server-sent events: the other side's signals, from ``after`` (or ``Last-Event-ID`` on a
    reconnection); the feed ends, with an ``ended`` event, when the call does."""  # noqa: D205, D209

    def first() -> None:
        with rt.sessions() as s:
            calls.get(s, p, call_id, rt.clock())  # 404 before the stream starts

    await run_in_threadpool(first)

    def poll(after_id: int) -> tuple[list[dict[str, Any]], str | None]:
        with rt.sessions() as s:
            rows, ended = calls.signals_after(s, p, call_id, after_id, rt.clock())
            s.commit()
        return rows, ("event: ended\ndata: {}\n\n" if ended and not rows else None)

    start = last_event_id if last_event_id is not None else after
    return event_feed(request, poll, start=start, max_events=None, timeout_s=timeout_s or 3600)


@router.post("/calls/{call_id}/end", **doc(CallOut, 401, 403, 404))
def hang_up(call_id: CallId, rt: Rt, db: Db, p: AnyUser, body: CallEndIn | None = None) -> dict[str, Any]:
    """Hang up, or decline a ringing call (``declined``); recorded in the referral's history."""
    c, side = calls.end(db, p, call_id, rt.clock(), declined=bool(body and body.declined))
    db.commit()
    return calls.call_json(c, side)
