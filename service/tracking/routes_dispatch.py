"""HTTP routes for dispatchers: the board, nearest available by road, track replay, assignment,
batch proposals. Reads of positions answer 503 with Retry-After when Redis cannot be reached."""  # noqa: D205, D209

from __future__ import annotations

import contextlib
import datetime as dt
import math
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from service.auth import Role
from service.deps import Dispatcher, Rt, authenticate, check_role
from service.errors import ConflictError, ForbiddenError, InputError, NotFoundError, PositionsUnavailableError
from service.http import doc
from service.runtime import Runtime
from service.tracking import ambulances, dispatch
from service.tracking.ambulances import AmbulanceStatus, Step, available
from service.tracking.devices import device_ambulance_id
from service.tracking.ingest import follow, registry, tracker
from service.tracking.nearest import Query as NearestQuery
from service.tracking.nearest import nearest as find_nearest
from service.tracking.positions import MAX_LAT
from service.tracking.schemas import (
    AmbulanceOut,
    AssignIn,
    AssignOut,
    BoardOut,
    NearestOut,
    ProposalIn,
    ProposalOut,
    StatusIn,
    StepIn,
    TrackOut,
)
from service.tracking.tracker import Latest
from service.tracking.views import (
    age_s,
    eta_json,
    heading_to,
    off_the_loop_with_roads,
    position_json,
    roads_to_point,
)

if TYPE_CHECKING:
    from service.tracking.views import Roads

router = APIRouter(prefix="/api", tags=["tracking"])


@router.get("/dispatch/ambulances", **doc(BoardOut, 401, 403))
async def dispatch_board(rt: Rt, _: Dispatcher) -> dict[str, Any]:
    """Every ambulance: status, current referral, latest position with its age (stale marked) and,
    when transporting, the ETA to the destination. Says so when positions are unavailable."""  # noqa: D205, D209
    reg = await registry(rt)
    now = rt.clock()
    latest: dict[str, Latest] = {}
    up = rt.tracker is not None
    if rt.tracker is not None:
        try:
            latest = await rt.tracker.latest(list(reg))
        except PositionsUnavailableError:
            up = False
    stale_s = rt.settings.position_stale_s
    pos = {a: position_json(la, now, stale_s) for a, la in latest.items()}

    def etas_of(m: Roads) -> dict[str, dict[str, Any] | None]:
        return {
            a.id: eta_json(latest.get(a.id), a.status, heading_to(a.status, a.origin_id, a.destination_id), m)
            for a in reg.values()
        }

    etas = await off_the_loop_with_roads(rt.matcher, etas_of)
    rows = [
        {"id": a.id, "kind": a.kind, "status": a.status, "home_facility_id": a.home_facility_id,
         "referral_id": a.referral_id, "destination_id": a.destination_id,
         "origin_id": a.origin_id, "status_reason": a.status_reason or None, "trip": a.trip,
         "position": pos.get(a.id), "eta": etas[a.id]}
        for a in reg.values()
    ]  # fmt: skip
    return {
        "positions_available": up,
        "note": None if up else "ambulance positions are unavailable: Redis cannot be reached",
        "stale_after_s": stale_s,
        "road_network_modelled": rt.dataset.roads.modelled,
        "ambulances": rows,
    }


def _pickup(
    rt: Runtime, lon: float | None, lat: float | None, facility_id: str | None
) -> tuple[float, float]:
    if facility_id is not None:
        try:
            f = rt.dataset.facility(facility_id)
        except KeyError:
            raise InputError(
                "facility_id", f"unknown facility {facility_id!r}", code="unknown_facility"
            ) from None
        return f.location.lon, f.location.lat
    if lon is None or lat is None or not (math.isfinite(lon) and math.isfinite(lat)):
        raise InputError("lon", "give lon and lat, or facility_id")
    return lon, lat


@router.get("/dispatch/nearest", **doc(NearestOut, 401, 403, 503))
async def nearest(
    rt: Rt,
    _: Dispatcher,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    lat: Annotated[float | None, Query(ge=-MAX_LAT, le=MAX_LAT)] = None,
    facility_id: Annotated[str | None, Query(max_length=64, description="pickup at a facility")] = None,
    kind: Annotated[Literal["emergency", "transport"] | None, Query()] = None,
    k: Annotated[int, Query(ge=1, le=20)] = 3,
    include_stale: bool = False,
) -> dict[str, Any]:
    """The nearest available ambulances to a pickup by road ETA (not straight line): top ``k``,
    of a ``kind`` if given, with a fresh position unless ``include_stale``. Every other available
    ambulance that could not be ranked is in ``left_out`` with the reason (no position yet, stale,
    too far from any road, no road route); a parked ambulance's heading is ignored."""  # noqa: D205, D209
    lon, lat = _pickup(rt, lon, lat, facility_id)
    t = tracker(rt)
    reg = await registry(rt)
    now = rt.clock()
    stale_s = rt.settings.position_stale_s
    q = NearestQuery(lon=lon, lat=lat, eligible=available(reg, kind), k=k, now=now, stale_s=stale_s,
                     include_stale=include_stale)  # fmt: skip
    found = await find_nearest(t, rt.matcher.engine, q, fleet_size=len(reg))
    ranked = found.ranked
    units = [c for _, _, c in ranked]
    roads: list[list[dict[str, Any]]] = await off_the_loop_with_roads(
        rt.matcher, lambda m: roads_to_point(m, units, lon, lat) if m else [[] for _ in units]
    )
    return {
        "pickup": {"lon": lon, "lat": lat, "facility_id": facility_id},
        "road_network_modelled": rt.dataset.roads.modelled,
        "considered": found.considered,
        "left_out": [{"id": x.ambulance_id, "kind": reg[x.ambulance_id].kind, "reason": x.reason,
                      "detail": x.detail} for x in found.left_out],
        "ambulances": [
            {"id": c.ambulance_id, "kind": reg[c.ambulance_id].kind, "eta_s": round(tt, 1),
             "distance_m": None if d is None else round(d, 1), "position": position_json(c, now, stale_s),
             "road_conditions": roads[i]}
            for i, (tt, d, c) in enumerate(ranked)
        ],
    }  # fmt: skip


@router.get("/ambulances/{ambulance_id}/track", **doc(TrackOut, 401, 403, 404, 503))
async def track(
    ambulance_id: str,
    rt: Rt,
    _: Dispatcher,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> dict[str, Any]:
    """Track replay: the positions taken in ``[since, until]`` (default: the last hour), in time
    order, late uploads included."""  # noqa: D205, D209
    reg = await registry(rt)
    if ambulance_id not in reg:
        raise NotFoundError(f"no ambulance {ambulance_id!r}")
    until = until or rt.clock()
    since = since or until - dt.timedelta(hours=1)
    for name, t in (("since", since), ("until", until)):
        if t.tzinfo is None:
            raise InputError(name, "needs a time zone (e.g. Z or +07:00)")
    if since > until:
        raise InputError("since", "is after until")
    fixes = await tracker(rt).track(
        ambulance_id, since_ms=round(since.timestamp() * 1000), until_ms=round(until.timestamp() * 1000)
    )
    return {
        "ambulance_id": ambulance_id,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "positions": [
            {"lat": f.lat, "lon": f.lon, "at": f.at.isoformat(), "speed_ms": f.speed_ms, "heading": f.heading,
             "accuracy_m": f.accuracy_m}
            for f in fixes
        ],
    }  # fmt: skip


@router.patch("/ambulances/{ambulance_id}/status", **doc(AmbulanceOut, 401, 403, 404, 409))
async def set_status(ambulance_id: str, body: StatusIn, rt: Rt, p: Dispatcher) -> dict[str, Any]:
    """Available again or out of service (``reason`` required): ends the ambulance's trip. At the
    hospital the patient counts as handed over; before the patient is aboard, the referral goes
    back to waiting for an ambulance. Refused (409) while transporting."""  # noqa: D205, D209

    def write() -> dict[str, Any]:
        with rt.sessions() as s:
            a = ambulances.set_status(s, ambulance_id, AmbulanceStatus(body.status), actor=p.user_id,
                                      now=rt.clock(), reason=body.reason)  # fmt: skip
            s.commit()
            return ambulances.ambulance_json(a)

    out = await run_in_threadpool(write)
    rt.registry.forget()
    if rt.tracker is not None:
        await rt.tracker.publish({"type": "status", "ambulance_id": ambulance_id, "status": out["status"]})
    return out


@router.post("/ambulances/{ambulance_id}/trip", **doc(AmbulanceOut, 401, 403, 404, 409))
async def trip_step(ambulance_id: str, body: StepIn, request: Request, rt: Rt) -> dict[str, Any]:
    """A step of the ambulance's trip: ``at_pickup``, ``transporting`` (the patient aboard: the
    referral is in transit), ``at_hospital`` (the referral has arrived), ``handed_over`` (the
    ambulance is available again). Set by a dispatcher, or by the crew with the ambulance's own
    device token; GPS geofences set the same steps on their own. Each step is recorded once
    with its time and author; a step that does not follow from the ambulance's status is 409."""  # noqa: D205, D209
    header = request.headers.get("authorization")
    actor: int | None = None
    if (header or "").partition(" ")[2].startswith(ambulances.TOKEN_PREFIX):
        if await device_ambulance_id(rt, header) != ambulance_id:
            raise ForbiddenError(f"this device token belongs to another ambulance, not {ambulance_id!r}")
        by = "device"
    else:
        p = authenticate(rt, header)
        check_role(p, Role.DISPATCHER)
        actor, by = p.user_id, f"user:{p.user_id}"

    def write() -> dict[str, Any] | None:
        with rt.sessions() as s:
            a = ambulances.step(s, ambulance_id, Step(body.step), actor=actor, by=by, now=rt.clock())
            if a is None:
                return None
            s.commit()
            return ambulances.ambulance_json(a)

    out = await run_in_threadpool(write)
    if out is None:
        raise ConflictError(f"ambulance {ambulance_id} moved on meanwhile: reload")
    rt.registry.forget()
    if rt.tracker is not None:
        await rt.tracker.publish({"type": "trip", "ambulance_id": ambulance_id, "step": body.step,
                                  "referral_id": out["referral_id"], "status": out["status"]})  # fmt: skip
    return out


@router.post("/dispatch/assign", **doc(AssignOut, 401, 403, 404, 409))
async def assign(body: AssignIn, rt: Rt, p: Dispatcher) -> dict[str, Any]:
    """Dispatch an available ambulance for an accepted referral."""

    def write() -> dict[str, Any]:
        with rt.sessions() as s:
            r, a = ambulances.assign(s, p, body.referral_id, body.ambulance_id, now=rt.clock(),
                                     answer_within_min=rt.answer_within_min)  # fmt: skip
            s.commit()
            return {
                "referral_id": r.id,
                "referral_status": r.status,
                "ambulance": ambulances.ambulance_json(a),
            }

    out = await run_in_threadpool(write)
    rt.registry.forget()
    if rt.tracker is not None:
        with contextlib.suppress(PositionsUnavailableError):  # its ETA to the pickup, from where it is
            latest = await rt.tracker.positions([body.ambulance_id])
            if body.ambulance_id in latest:
                await follow(rt, rt.tracker, body.ambulance_id, latest[body.ambulance_id].position)
        await rt.tracker.publish(
            {"type": "dispatched", "ambulance_id": body.ambulance_id, "referral_id": body.referral_id}
        )
    return out


@router.post("/dispatch/proposal", **doc(ProposalOut, 401, 403, 503))
async def proposal(body: ProposalIn, rt: Rt, p: Dispatcher) -> dict[str, Any]:
    """When several transfers wait: which available ambulance should pick up which patient, by
    road ETA (OR-Tools, optimal: emergencies' minutes count double, an incident's casualties by
    triage, the reds first). Proposes; assigning is
    ``/dispatch/assign``."""  # noqa: D205, D209
    waiting = await run_in_threadpool(dispatch.waiting, rt, p, body.referral_ids)
    t = tracker(rt)
    reg = await registry(rt)
    free = [a.id for a in reg.values() if a.status == AmbulanceStatus.AVAILABLE.value
            and (body.kind is None or a.kind == body.kind)]  # fmt: skip
    latest = await t.positions(free)
    now = rt.clock()
    fresh = [latest[a] for a in free if a in latest and age_s(now, latest[a]) <= rt.settings.position_stale_s]
    result, solve_ms = await run_in_threadpool(dispatch.propose, rt, waiting, fresh)
    return {
        "solver": "OR-Tools min-cost flow (optimal)",
        "solve_ms": round(solve_ms, 2),
        "ambulances_considered": len(fresh),
        "assignments": [
            {"referral_id": rid, "ambulance_id": aid, "pickup_eta_s": round(tt, 1)}
            for rid, (aid, tt) in result.assigned.items()
        ],
        "unassigned": [{"referral_id": rid, "reason": why} for rid, why in result.unassigned.items()],
    }
