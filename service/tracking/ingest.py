"""Positions in: parse a device's request, store its fixes, follow an ambulance on its trip.

Following means the ETA to where it is heading (the pickup, then the destination) recomputed on
each new fix, and the trip's steps taken by geofences around the pickup and the destination:
at the pickup or at the hospital after staying inside the arrival radius for the dwell time
(passing by is not arriving), departed or handed over on leaving it. Each step is claimed by a
conditional update, so it is recorded once however many workers see the fix.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import orjson
from fastapi.concurrency import run_in_threadpool

from geodata.geo import haversine_m
from routing.errors import RoutingError
from service.errors import ConflictError, PositionsUnavailableError, TooLargeError
from service.tracking import ambulances, positions
from service.tracking.ambulances import AmbulanceInfo, AmbulanceStatus, Step
from service.tracking.positions import Limits, Position, PositionError

if TYPE_CHECKING:
    import datetime as dt

    from service.runtime import Runtime
    from service.tracking.tracker import Tracker

#: positions in one batch request
MAX_BATCH = 1000
#: a request body larger than this is refused before it is parsed
MAX_BODY_BYTES = 512 * 1024


def limits(rt: Runtime) -> Limits:
    """What a plausible position is, from the settings."""
    cfg = rt.settings
    return Limits(
        future_tolerance_s=cfg.position_future_tolerance_s,
        max_age_s=cfg.track_retention_h * 3600,
        max_speed_ms=cfg.max_speed_kmh / 3.6,
    )


def tracker(rt: Runtime) -> Tracker:
    """The position store (503 when no Redis is configured)."""
    if rt.tracker is None:
        raise PositionsUnavailableError("ambulance positions are not configured (no RUJUK_REDIS_URL)")
    return rt.tracker


async def registry(rt: Runtime) -> dict[str, AmbulanceInfo]:
    """The ambulance registry snapshot (read in a worker thread when stale)."""
    cached: dict[str, AmbulanceInfo] | None = rt.registry.fresh()
    return cached if cached is not None else await run_in_threadpool(rt.read, rt.registry)


def json_body(raw: bytes) -> Any:  # noqa: ANN401  any JSON value
    """A request body as JSON (413 over the limit, 422 when it is not JSON)."""
    if len(raw) > MAX_BODY_BYTES:
        raise TooLargeError(f"at most {MAX_BODY_BYTES} bytes")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise PositionError("body", f"not JSON: {exc}") from None


def parse_batch(body: object, *, now: dt.datetime, limits: Limits) -> list[Position]:
    """One position, or ``{"positions": [...]}``; PositionError naming the field otherwise."""
    if not (isinstance(body, dict) and "positions" in body):
        return [positions.from_json(body, now=now, limits=limits)]
    extra = set(body) - {"positions"}
    if extra:
        raise PositionError(min(extra), "is not a field of a batch")
    items = body["positions"]
    if not isinstance(items, list) or not items:
        raise PositionError("positions", "must be a non-empty list")
    if len(items) > MAX_BATCH:
        raise PositionError("positions", f"at most {MAX_BATCH} positions per request")
    return [
        positions.from_json(x, now=now, limits=limits, prefix=f"positions[{i}].") for i, x in enumerate(items)
    ]


async def store(rt: Runtime, ambulance_id: str, batch: list[Position]) -> dict[str, Any]:
    """Store a device's fixes; follow the ambulance when its newest position moved."""
    t = tracker(rt)
    now_ms = round(rt.clock().timestamp() * 1000)
    result = await t.ingest(ambulance_id, batch, now_ms=now_ms)
    out: dict[str, Any] = {
        "ambulance_id": ambulance_id,
        "stored": result.stored,
        "duplicates": result.duplicates,
        "latest_moved": result.newest is not None,
    }
    if result.newest is not None:
        out.update(await follow(rt, t, ambulance_id, result.newest))
    return out


#: where each status heads: to the pickup (the referring facility) or to the destination
_PICKUP_LEG = frozenset({AmbulanceStatus.DISPATCHED.value, AmbulanceStatus.AT_PICKUP.value})
_DEST_LEG = frozenset({AmbulanceStatus.TRANSPORTING.value, AmbulanceStatus.AT_HOSPITAL.value})
#: the step reached by staying inside the geofence heading there, and by leaving it once there
_ENTER = {
    AmbulanceStatus.DISPATCHED.value: Step.AT_PICKUP,
    AmbulanceStatus.TRANSPORTING.value: Step.AT_HOSPITAL,
}
_LEAVE = {
    AmbulanceStatus.AT_PICKUP.value: Step.TRANSPORTING,
    AmbulanceStatus.AT_HOSPITAL.value: Step.HANDED_OVER,
}
#: the ambulance's status after each step
AFTER_STEP = {Step.AT_PICKUP: "at_pickup", Step.TRANSPORTING: "transporting", Step.AT_HOSPITAL: "at_hospital",
              Step.HANDED_OVER: "available"}  # fmt: skip
#: a geofence is left once farther than this many radii (no flapping at its edge)
EXIT_RADII = 2.0


async def follow(rt: Runtime, t: Tracker, ambulance_id: str, p: Position) -> dict[str, Any]:
    """Follow an ambulance on a trip: its geofences (at pickup, departed, at hospital, handed
    over, each after the dwell time or on leaving) and its ETA to where it is heading."""  # noqa: D205, D209
    info = (await registry(rt)).get(ambulance_id)
    if info is None or info.referral_id is None:
        return {}
    status = info.status
    target_id = (
        info.origin_id if status in _PICKUP_LEG else info.destination_id if status in _DEST_LEG else None
    )
    if target_id is None:
        return {}
    target = rt.dataset.facility(target_id)
    distance = float(haversine_m(p.lon, p.lat, target.location.lon, target.location.lat))
    radius = rt.settings.arrival_radius_m
    out: dict[str, Any] = {
        "leg": "pickup" if status in _PICKUP_LEG else "destination",
        "destination_id": target_id,
    }
    step: Step | None = None
    if status in _ENTER:
        inside = distance <= radius
        dwell = await t.dwell(ambulance_id, f"{info.referral_id}:{status}", inside=inside, ts_ms=p.ts_ms)
        if dwell is not None:
            out["inside_s"] = dwell
            if dwell >= rt.settings.geofence_dwell_s:
                step = _ENTER[status]
    elif status in _LEAVE and distance > EXIT_RADII * radius and (p.accuracy_m or 0.0) <= radius:
        step = _LEAVE[status]  # (a fix too vague to tell inside from outside moves nothing)
    if step is not None:
        taken = await run_in_threadpool(_gps_step, rt, ambulance_id, step, distance, info.referral_id)
        out["step"] = step.value if taken else None
        if taken:
            about = {
                "ambulance_id": ambulance_id,
                "referral_id": info.referral_id,
                "distance_m": round(distance),
            }
            await t.publish({"type": "trip", "step": step.value, "facility_id": target_id, **about})
            if step is Step.AT_HOSPITAL:
                out["arrived"] = True
                await t.publish({"type": "arrived", "destination_id": target_id, **about})
            status = AFTER_STEP[step]
    if status == AmbulanceStatus.TRANSPORTING.value and target_id != info.destination_id:
        target_id = info.destination_id  # just left the pickup: now heading for the destination
        out.update(leg="destination", destination_id=target_id)
    if (
        status not in (AmbulanceStatus.DISPATCHED.value, AmbulanceStatus.TRANSPORTING.value)
        or target_id is None
    ):
        with contextlib.suppress(PositionsUnavailableError):  # there, or off the trip: no ETA
            await t.set_eta(ambulance_id, eta_s=None, eta_at_ms=None, destination_id=None)
        return out
    eta_s = await run_in_threadpool(_eta, rt, p, target_id)
    out["eta_s"] = eta_s
    eta_at = None if eta_s is None else p.ts_ms + round(eta_s * 1000)
    with contextlib.suppress(PositionsUnavailableError):
        await t.set_eta(ambulance_id, eta_s=eta_s, eta_at_ms=eta_at, destination_id=target_id)
    return out


def _eta(rt: Runtime, p: Position, facility_id: str) -> float | None:
    """Road time from the fix to a facility (any facility: a pickup at a Puskesmas too)."""
    engine = rt.matcher.engine
    f = rt.dataset.facility(facility_id)
    try:
        if facility_id in engine.facility_ids:  # a receiving facility: its precomputed tree
            return engine.eta(p.lon, p.lat, facility_id, heading=p.road_origin[2], at=p.at).time_s
        ((time_s, _),) = engine.times_to_point(
            [p.road_origin], f.location.lon, f.location.lat, with_distance=False
        )
    except RoutingError:
        return None
    return time_s


def _gps_step(rt: Runtime, ambulance_id: str, step: Step, distance_m: float, referral_id: str) -> bool:
    with rt.sessions() as s:
        try:  # on the referral the fix was judged for (the registry may be a moment old)
            a = ambulances.step(s, ambulance_id, step, actor=None, by="gps", now=rt.clock(),
                                distance_m=distance_m, referral_id=referral_id)  # fmt: skip
        except ConflictError:  # moved on by hand meanwhile
            return False
        s.commit()
    rt.registry.forget()
    return a is not None
