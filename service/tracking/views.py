"""The public JSON forms of positions: a fix with its age and staleness."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi.concurrency import run_in_threadpool

from routing.errors import RoutingError
from service.referrals.road_reasons import condition_json
from service.tracking.ambulances import AmbulanceStatus

if TYPE_CHECKING:
    from collections.abc import Callable

    from service.matcher import Matcher

    #: the matcher when road conditions are to be named, else None (see off_the_loop_with_roads)
    Roads = Matcher | None
    from service.tracking.ambulances import AmbulanceInfo
    from service.tracking.tracker import Latest


def age_s(now: dt.datetime, latest: Latest) -> float:
    """Seconds since the fix was taken."""
    return max(0.0, now.timestamp() - latest.position.ts_ms / 1000)


def position_json(latest: Latest | None, now: dt.datetime, stale_s: float) -> dict[str, Any] | None:
    """A fix, its age, and whether it is stale."""
    if latest is None:
        return None
    p = latest.position
    age = age_s(now, latest)
    return {
        "lat": p.lat, "lon": p.lon, "at": p.at.isoformat(), "age_s": round(age, 1), "stale": age > stale_s,
        "speed_ms": p.speed_ms, "heading": p.heading, "accuracy_m": p.accuracy_m,
    }  # fmt: skip


T = TypeVar("T")

#: the statuses in which an ambulance is on the road to somewhere, and to which leg
LEG_OF = {AmbulanceStatus.DISPATCHED.value: "pickup", AmbulanceStatus.TRANSPORTING.value: "destination"}


def eta_json(
    la: Latest | None, status: str, heading_to: str | None, matcher: Matcher | None = None
) -> dict[str, Any] | None:
    """An ambulance's time to where it is heading: the pickup when dispatched, the destination when
    transporting (None otherwise, or when the ETA held is for another place), with the live road
    conditions that changed it (given the matcher)."""  # noqa: D205, D209
    leg = LEG_OF.get(status)
    if la is None or la.eta_s is None or leg is None or la.destination_id != heading_to:
        return None
    at = dt.datetime.fromtimestamp(la.eta_at_ms / 1000, tz=dt.UTC).isoformat() if la.eta_at_ms else None
    roads = road_conditions(matcher, la, heading_to) if matcher is not None else []
    return {
        "leg": leg,
        "destination_id": la.destination_id,
        "eta_s": la.eta_s,
        "eta_at": at,
        "road_conditions": roads,
    }


def road_conditions(matcher: Matcher, la: Latest, target_id: str | None) -> list[dict[str, Any]]:
    """The live road conditions that changed an ambulance's road time to a facility (none, at once,
    when no condition is in force)."""  # noqa: D205, D209
    engine = matcher.engine
    conds = {c.id: c for c in engine.conditions()}
    if not conds or target_id is None:
        return []
    origin = la.position.road_origin
    try:
        if target_id in engine.facility_ids:
            ids = engine.conditions_on_routes(origin[0], origin[1], [target_id], heading=origin[2]).get(
                target_id, ()
            )
        else:
            f = matcher.dataset.facility(target_id)
            (ids,) = engine.conditions_on_routes_to_point([origin], f.location.lon, f.location.lat)
    except (RoutingError, KeyError):
        return []
    return [condition_json(conds[i]) for i in ids if i in conds]


def heading_to(status: str, origin_id: str | None, destination_id: str | None) -> str | None:
    """Where an ambulance in this status is driving: the pickup or the destination."""
    leg = LEG_OF.get(status)
    return origin_id if leg == "pickup" else destination_id if leg == "destination" else None


def ambulance_now(
    info: AmbulanceInfo, la: Latest | None, now: dt.datetime, stale_s: float, matcher: Matcher | None = None
) -> dict[str, Any]:
    """A referral's ambulance as those waiting for it see it: status, position, ETA to where it
    is heading (the pickup, then the destination)."""  # noqa: D205, D209
    return {
        "id": info.id,
        "kind": info.kind,
        "status": info.status,
        "position": position_json(la, now, stale_s),
        "eta": eta_json(
            la, info.status, heading_to(info.status, info.origin_id, info.destination_id), matcher
        ),
    }


def roads_to_point(
    matcher: Matcher, ranked: list[Latest], lon: float, lat: float
) -> list[list[dict[str, Any]]]:
    """Per ambulance, the live road conditions that changed its road time to a pickup point."""
    engine = matcher.engine
    conds = {c.id: c for c in engine.conditions()}
    if not conds or not ranked:
        return [[] for _ in ranked]
    try:
        hit = engine.conditions_on_routes_to_point([c.position.road_origin for c in ranked], lon, lat)
    except RoutingError:
        return [[] for _ in ranked]
    return [[condition_json(conds[i]) for i in ids if i in conds] for ids in hit]


async def off_the_loop_with_roads(matcher: Matcher, fn: Callable[[Matcher | None], T]) -> T:
    """``fn(None)`` here when no road condition is in force (lookups only: nothing to name), else
    ``fn(matcher)`` in a worker thread: naming the conditions on a route walks trees, may search
    from a new pickup, and waits for the engine's lock."""  # noqa: D205, D209
    if not matcher.engine.has_conditions:
        return fn(None)
    return await run_in_threadpool(fn, matcher)
