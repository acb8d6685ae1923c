"""HTTP route for a receiving facility: patients accepted and on their way, with the ambulance's live ETA."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from service.auth import Role
from service.deps import AnyUser, CurrentReferral, Rt, Staff, check_role
from service.errors import ForbiddenError, NotFoundError, PositionsUnavailableError
from service.http import doc
from service.runtime import Runtime
from service.tracking import ambulances
from service.tracking.incoming import OnTheWay, on_the_way
from service.tracking.ingest import registry
from service.tracking.schemas import IncomingOut, TransportOut
from service.tracking.tracker import Latest
from service.tracking.views import ambulance_now, off_the_loop_with_roads

if TYPE_CHECKING:
    from service.tracking.views import Roads

router = APIRouter(prefix="/api", tags=["tracking"])


def _read(rt: Runtime, p: Any, facility_id: str) -> list[tuple[OnTheWay, float | None]]:  # noqa: ANN401
    with rt.sessions() as s:
        rows = on_the_way(s, p, facility_id)
    out = []
    for row in rows:
        travel = rt.matcher.travel_from_facility(row.origin_id).get(facility_id)
        out.append((row, travel[0] if travel else None))
    return out


@router.get("/incoming", **doc(IncomingOut, 401, 403))
async def incoming(rt: Rt, p: Staff) -> dict[str, Any]:
    """Patients this facility accepted that have not arrived: each with its ambulance, its live
    position and ETA here once it is transporting, and the road time from the referring facility.
    """  # noqa: D205
    check_role(p, Role.RECEIVER, Role.REFERRER)
    if p.facility_id is None:
        raise ForbiddenError("your account is not bound to a facility")
    rows = await run_in_threadpool(_read, rt, p, p.facility_id)
    reg = await registry(rt)
    latest: dict[str, Latest] = {}
    up = rt.tracker is not None
    ids = [r.ambulance_id for r, _ in rows if r.ambulance_id]
    if rt.tracker is not None and ids:
        try:
            latest = await rt.tracker.latest(ids)
        except PositionsUnavailableError:
            up = False
    now = rt.clock()

    def build(m: Roads) -> list[dict[str, Any]]:
        out = []
        for row, road_s in rows:
            aid = row.ambulance_id
            info = reg.get(aid) if aid else None
            la = latest.get(aid) if aid else None
            amb = None if info is None else ambulance_now(info, la, now, rt.settings.position_stale_s, m)
            road = round(road_s, 1) if road_s is not None else None
            out.append({"referral": row.referral, "road_time_s": road, "ambulance": amb})
        return out

    out = await off_the_loop_with_roads(rt.matcher, build)
    return {
        "facility_id": p.facility_id,
        "positions_available": up,
        "at": now.astimezone(dt.UTC).isoformat(),
        "patients": out,
    }


@router.get("/referrals/{referral_id}/transport", **doc(TransportOut, 401, 404))
async def transport(r: CurrentReferral, rt: Rt, p: AnyUser) -> dict[str, Any]:
    """A referral's transport for whoever may read the referral (the sender, the receiving ER,
    dispatchers): its ambulance now, with its live position and ETA to where it is heading
    (the pickup, then here), and its trips with each step's time and author."""  # noqa: D205, D209
    if not (p.is_admin or p.has(Role.DISPATCHER) or p.facility_id in (r.origin_id, r.destination_id)):
        # a facility the referral went on from keeps a trace, not the patient's live whereabouts
        raise NotFoundError(f"no referral {r.id!r}")

    def read() -> list[dict[str, Any]]:
        with rt.sessions() as s:
            return [ambulances.trip_json(t) for t in ambulances.trips_of(s, r.id)]

    trips = await run_in_threadpool(read)
    reg = await registry(rt)
    info = reg.get(r.ambulance_id) if r.ambulance_id else None
    if info is not None and info.referral_id != r.id:
        info = None  # it has moved on to another referral
    la, up = None, rt.tracker is not None
    if info is not None and rt.tracker is not None:
        try:
            la = (await rt.tracker.latest([info.id])).get(info.id)
        except PositionsUnavailableError:
            up = False
    now = rt.clock()
    amb = None
    if info is not None:
        amb = await off_the_loop_with_roads(
            rt.matcher, lambda m: ambulance_now(info, la, now, rt.settings.position_stale_s, m)
        )
    return {
        "referral_id": r.id,
        "status": r.status,
        "positions_available": up,
        "ambulance": amb,
        "trips": trips,
    }
