"""HTTP routes of stations: a receiving facility's screen that keeps alerting without a staff sign-in.

Receivers register, list and revoke their facility's stations with their staff token; a station
proves itself with ``X-Station-Key`` on exactly two routes, its facility's live feed and what
waits for an answer (``service.accounts.stations``). No other route reads that header.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from service.accounts import stations
from service.accounts.schemas import StationCreatedOut, StationIn, StationInboxOut, StationOut
from service.accounts.stations import StationAccess, StationRefusedError
from service.auth import Principal, Role
from service.deps import Db, Rt, own_facility, require
from service.http import doc, event_feed
from service.runtime import Runtime
from service.schemas import MAX_ROW_ID

router = APIRouter(prefix="/api/stations", tags=["stations"])

#: a facility's staff: a hospital's receivers, a Puskesmas's referring staff
FacilityStaff = Annotated[Principal, Depends(require(Role.RECEIVER, Role.REFERRER))]


def _verify(rt: Runtime, secret: str | None, client: str, path: str) -> StationAccess:
    now = rt.clock()
    with rt.sessions() as s:
        try:
            access = stations.verify(s, secret, now=now)
        except StationRefusedError as exc:
            audited = exc.reason is not stations.Refusal.MISSING
            if audited and stations.first_refusal(rt.station_refusals, exc, client=client, now=now):
                stations.audit_refusal(s, exc, client=client, path=path, now=now)
                s.commit()
            raise
        s.commit()  # its last use
        return access


async def station(
    request: Request,
    x_station_key: Annotated[
        str | None, Header(max_length=200, description="the station's secret (`rjk_stn_...`)")
    ] = None,
) -> StationAccess:
    """Dependency: the station calling, by its ``X-Station-Key`` (401 otherwise; checked in a thread)."""
    rt: Runtime = request.app.state.runtime
    client = request.client.host if request.client else "-"
    return await run_in_threadpool(_verify, rt, x_station_key, client, request.url.path)


StationKey = Annotated[StationAccess, Depends(station)]


@router.post("", **doc(StationCreatedOut, 401, 403, 409, status=201))
def register(body: StationIn, rt: Rt, db: Db, p: FacilityStaff) -> dict[str, Any]:
    """Register this screen as a station of the user's facility.

    The answer holds its secret, shown this once only: the screen keeps it and sends it in
    ``X-Station-Key``. It lives ``station_days`` (30 by default).
    """
    now = rt.clock()
    st, secret = stations.register(db, p, name=body.name, days=rt.settings.station_days, now=now)
    db.commit()
    return {**stations.station_json(st, now), "secret": secret}


@router.get("", **doc(list[StationOut], 401, 403))
def list_stations(
    rt: Rt,
    db: Db,
    p: FacilityStaff,
    facility_id: Annotated[str | None, Query(max_length=64, description="admins: one facility's")] = None,
) -> list[dict[str, Any]]:
    """The facility's stations, active, revoked and expired, newest first (admins: every facility's)."""
    if facility_id is not None:
        own_facility(p, facility_id)
    now = rt.clock()
    return [stations.station_json(st, now) for st in stations.list_for(db, p, facility_id=facility_id)]


@router.delete("/{station_id}", **doc(StationOut, 401, 403, 404))
def revoke(
    station_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)], rt: Rt, db: Db, p: FacilityStaff
) -> dict[str, Any]:
    """Revoke a station of the facility: from now its secret opens nothing, an open feed ends."""
    now = rt.clock()
    st = stations.revoke(db, p, station_id, now=now)
    db.commit()
    return stations.station_json(st, now)


@router.get("/inbox", **doc(StationInboxOut, 401))
def inbox(db: Db, st: StationKey) -> dict[str, Any]:
    """For a station: how many referrals wait for the facility's answer, and which (no patient)."""
    return stations.waiting(db, st)


def _start(rt: Runtime) -> int:
    with rt.sessions() as s:
        return stations.feed_start(s)


@router.get("/stream", **doc(None, 401, media_type="text/event-stream"))
async def stream(
    request: Request,
    rt: Rt,
    st: StationKey,
    after: Annotated[int | None, Query(ge=0)] = None,
    last_event_id: Annotated[int | None, Header(ge=0)] = None,
    max_events: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    timeout_s: Annotated[float | None, Query(gt=0, le=86_400)] = None,
) -> StreamingResponse:
    """For a station: the facility's live feed (server-sent events), as its receivers see it.

    The events of ``GET /api/events/stream`` without their free-text note; resumable with
    ``Last-Event-ID``. When the station is revoked or expires, an ``event: station`` says so
    (``{"state": "revoked"}``) and the feed ends.
    """
    start = last_event_id if last_event_id is not None else after
    if start is None:
        start = await run_in_threadpool(_start, rt)

    def poll(after_id: int) -> tuple[list[dict[str, Any]], str | None]:
        with rt.sessions() as s:
            refusal = stations.still_valid(s, st, now=rt.clock())
            if refusal is not None:  # the feed ends, saying why
                return [], f"event: station\ndata: {json.dumps({'state': refusal.value})}\n\n"
            return stations.events(s, st, after_id), None

    return event_feed(request, poll, start=start, max_events=max_events, timeout_s=timeout_s)
