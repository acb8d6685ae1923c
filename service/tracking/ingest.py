"""Positions in: parse a device's request, store its fixes, follow a transporting ambulance.

Following means the ETA to the destination recomputed on each new fix, and arrival recorded
once (a conditional update) when the ambulance is within the arrival radius.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import orjson
from fastapi.concurrency import run_in_threadpool

from geodata.geo import haversine_m
from routing.errors import RoutingError
from service.errors import PositionsUnavailableError, TooLargeError
from service.referrals.store import arrive_by_gps
from service.tracking import positions
from service.tracking.ambulances import AmbulanceInfo, AmbulanceStatus
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


async def follow(rt: Runtime, t: Tracker, ambulance_id: str, p: Position) -> dict[str, Any]:
    """ETA of a transporting ambulance to its destination; arrival when within the radius."""
    info = (await registry(rt)).get(ambulance_id)
    if info is None or info.status != AmbulanceStatus.TRANSPORTING.value or info.destination_id is None:
        return {}
    dest = rt.dataset.facility(info.destination_id)
    distance = float(haversine_m(p.lon, p.lat, dest.location.lon, dest.location.lat))
    if distance <= rt.settings.arrival_radius_m and info.referral_id is not None:
        arrived = await run_in_threadpool(_arrive, rt, info.referral_id, ambulance_id, distance)
        with contextlib.suppress(PositionsUnavailableError):
            await t.set_eta(ambulance_id, eta_s=0.0, eta_at_ms=p.ts_ms, destination_id=dest.id)
        if arrived:
            await t.publish(
                {"type": "arrived", "ambulance_id": ambulance_id, "referral_id": info.referral_id,
                 "destination_id": dest.id, "distance_m": round(distance)}
            )  # fmt: skip
        return {"arrived": arrived, "destination_id": dest.id}
    try:
        eta = await run_in_threadpool(
            rt.matcher.engine.eta, p.lon, p.lat, dest.id, heading=p.heading, at=p.at
        )
    except RoutingError:
        return {"eta_s": None, "destination_id": dest.id}
    eta_at = round(eta.arrival.timestamp() * 1000) if eta.arrival is not None else None
    with contextlib.suppress(PositionsUnavailableError):
        await t.set_eta(ambulance_id, eta_s=eta.time_s, eta_at_ms=eta_at, destination_id=dest.id)
    return {"eta_s": eta.time_s, "destination_id": dest.id}


def _arrive(rt: Runtime, referral_id: str, ambulance_id: str, distance_m: float) -> bool:
    with rt.sessions() as s:
        r = arrive_by_gps(s, referral_id, ambulance_id, now=rt.clock(), distance_m=distance_m)
        s.commit()
    rt.registry.forget()
    return r is not None
