"""HTTP routes for ambulance tracking and dispatch.

Devices post positions (JSON, one or a batch, or the OsmAnd protocol that Traccar Client
speaks); dispatchers see every ambulance with its position, age and ETA, ask for the nearest
available units by road, assign them (one, or a batch proposal from OR-Tools), follow a live
feed and replay tracks. Positions live in Redis: when it cannot be reached, ingestion answers
503 with Retry-After, the dispatcher view says positions are unavailable, and everything else
(suggestions, referrals) goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import math
import time
from typing import TYPE_CHECKING, Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import Field
from sqlalchemy.orm import Session

from routing.dispatch import DispatchAssignment, DispatchProblem
from routing.errors import RoutingError
from service import ambulances, positions, store
from service.ambulances import AmbulanceInfo, AmbulanceStatus
from service.api_ambulances import device_ambulance_id
from service.auth import Principal, Role
from service.lifecycle import Status
from service.positions import Limits, Position, PositionError
from service.runtime import Runtime, require, runtime, session
from service.schemas import _Strict
from service.tracking import Latest, PositionsUnavailableError, Tracker

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

router = APIRouter(prefix="/api", tags=["tracking"])
Rt = Annotated[Runtime, Depends(runtime)]
Db = Annotated[Session, Depends(session)]
Dispatcher = Annotated[Principal, Depends(require(Role.DISPATCHER))]

#: positions in one batch request
MAX_BATCH = 1000
#: a request body larger than this is refused before it is parsed
MAX_BODY_BYTES = 512 * 1024
RETRY_AFTER_S = 5
#: nearest-by-road first looks at this many straight-line-nearest ambulances per unit asked for
ROAD_CANDIDATES_PER_K = 4
#: no ambulance farther than this in a straight line is considered (metres)
MAX_SEARCH_M = 2_000_000


def _limits(rt: Runtime) -> Limits:
    cfg = rt.settings
    return Limits(
        future_tolerance_s=cfg.position_future_tolerance_s,
        max_age_s=cfg.track_retention_h * 3600,
        max_speed_ms=cfg.max_speed_kmh / 3.6,
    )


def _unavailable(
    detail: str = "ambulance positions are unavailable (Redis cannot be reached)",
) -> HTTPException:
    return HTTPException(
        503, {"type": "positions_unavailable", "detail": detail}, headers={"Retry-After": str(RETRY_AFTER_S)}
    )


def _tracker(rt: Runtime) -> Tracker:
    if rt.tracker is None:
        raise _unavailable("ambulance positions are not configured (no RUJUK_REDIS_URL)")
    return rt.tracker


def _bad_position(exc: PositionError) -> HTTPException:
    return HTTPException(
        422,
        {
            "type": "validation_error",
            "detail": f"field '{exc.field}': {exc}",
            "errors": [{"field": exc.field, "message": str(exc)}],
        },
    )


async def _registry(rt: Runtime) -> dict[str, AmbulanceInfo]:
    cached = rt.cached_ambulances()
    return cached if cached is not None else await run_in_threadpool(rt.ambulances)


def _haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    r = 6_371_008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(min(1.0, math.sqrt(a)))


# ------------------------------------------------------------------------------------ ingestion


async def _store(rt: Runtime, ambulance_id: str, batch: list[Position]) -> dict[str, Any]:
    tracker = _tracker(rt)
    now_ms = round(rt.clock().timestamp() * 1000)
    try:
        result = await tracker.ingest(ambulance_id, batch, now_ms=now_ms)
    except PositionsUnavailableError:
        raise _unavailable() from None
    out: dict[str, Any] = {
        "ambulance_id": ambulance_id,
        "stored": result.stored,
        "duplicates": result.duplicates,
        "latest_moved": result.newest is not None,
    }
    if result.newest is not None:
        out.update(await _follow(rt, tracker, ambulance_id, result.newest))
    return out


async def _follow(rt: Runtime, tracker: Tracker, ambulance_id: str, p: Position) -> dict[str, Any]:
    """ETA of a transporting ambulance to its destination; arrival when within the radius."""
    info = (await _registry(rt)).get(ambulance_id)
    if info is None or info.status != AmbulanceStatus.TRANSPORTING.value or info.destination_id is None:
        return {}
    dest = rt.dataset.facility(info.destination_id)
    distance = _haversine_m(p.lon, p.lat, dest.location.lon, dest.location.lat)
    if distance <= rt.settings.arrival_radius_m and info.referral_id is not None:
        arrived = await run_in_threadpool(_arrive, rt, info.referral_id, ambulance_id, distance)
        with contextlib.suppress(PositionsUnavailableError):
            await tracker.set_eta(ambulance_id, eta_s=0.0, eta_at_ms=p.ts_ms, destination_id=dest.id)
        if arrived:
            await tracker.publish(
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
        await tracker.set_eta(ambulance_id, eta_s=eta.time_s, eta_at_ms=eta_at, destination_id=dest.id)
    return {"eta_s": eta.time_s, "destination_id": dest.id}


def _arrive(rt: Runtime, referral_id: str, ambulance_id: str, distance_m: float) -> bool:
    with rt.sessions() as s:
        r = store.arrive_by_gps(s, referral_id, ambulance_id, now=rt.clock(), distance_m=distance_m)
        s.commit()
    rt.ambulances_changed()
    return r is not None


async def _json_body(request: Request) -> Any:  # noqa: ANN401  any JSON value
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise HTTPException(413, {"type": "too_large", "detail": f"at most {MAX_BODY_BYTES} bytes"})
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _bad_position(PositionError("body", f"not JSON: {exc}")) from None


_POSITION_EXAMPLE = {"lat": 1.2891, "lon": 109.3004, "timestamp": "2026-11-23T02:00:05Z", "speed": 13.9,
                     "heading": 84.0, "accuracy": 8.0}  # fmt: skip


@router.post(
    "/ambulances/{ambulance_id}/positions",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "examples": {
                        "one": {"value": _POSITION_EXAMPLE},
                        "batch": {"value": {"positions": [_POSITION_EXAMPLE]}},
                    }
                }
            },
        }
    },
)
async def post_positions(ambulance_id: str, request: Request) -> dict[str, Any]:
    """The ambulance's device reports one position, or a batch ``{"positions": [...]}`` (up to 1,000, e.g. after
    a stretch without signal). Fields: ``lat``, ``lon``, ``timestamp`` (ISO 8601 or epoch seconds
    or milliseconds), ``speed`` (m/s), ``heading`` (degrees), ``accuracy`` (m). The whole request
    is refused, naming the field, if any position is bad; a duplicate is stored once; a late fix
    goes to the history without replacing a newer position."""  # noqa: D205, D209
    rt: Runtime = request.app.state.runtime
    amb = await _device(rt, request.headers.get("authorization"))
    if amb != ambulance_id:
        raise HTTPException(
            403,
            {
                "type": "forbidden",
                "detail": f"this device token belongs to another ambulance, not {ambulance_id!r}",
            },
        )
    body = await _json_body(request)
    now = rt.clock()
    limits = _limits(rt)
    try:
        batch = _parse_batch(body, now=now, limits=limits)
    except PositionError as exc:
        raise _bad_position(exc) from None
    return await _store(rt, amb, batch)


def _parse_batch(body: object, *, now: dt.datetime, limits: Limits) -> list[Position]:
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


async def _device(rt: Runtime, authorization: str | None) -> str:
    def check() -> str:
        with rt.sessions() as s:
            return device_ambulance_id(rt, s, authorization)

    scheme, _, token = (authorization or "").partition(" ")
    hit = rt.device_cache.get(token) if scheme.lower() == "bearer" else None
    if hit is not None and hit[1] > time.monotonic():
        return hit[0]
    return await run_in_threadpool(check)


@router.get("/osmand")
async def osmand_get(request: Request) -> Response:
    """The OsmAnd protocol with the fix in the query string (as OsmAnd and older Traccar Clients
    send it): ``id`` = the device token, ``lat``, ``lon``, ``timestamp``, ``speed`` in knots,
    ``bearing``, ``accuracy``."""  # noqa: D205, D209
    return await osmand(request)


@router.post("/osmand")
async def osmand(request: Request) -> Response:
    """The OsmAnd protocol, as Traccar Client sends it: set the client's server URL to this
    address and its device identifier to the ambulance's device token. Query string or form
    (``id``, ``lat``, ``lon``, ``timestamp``, ``speed`` in knots, ``bearing``, ``accuracy``), or
    Traccar Client 9's JSON (``device_id``, ``location.coords``)."""  # noqa: D205, D209
    rt: Runtime = request.app.state.runtime
    now = rt.clock()
    limits = _limits(rt)
    params: Mapping[str, str] = request.query_params
    ctype = request.headers.get("content-type", "")
    try:
        if request.method == "POST" and ctype.startswith("application/json"):
            device, pos = positions.from_traccar_json(await _json_body(request), now=now, limits=limits)
        else:
            if request.method == "POST" and ctype.startswith("application/x-www-form-urlencoded"):
                form = await request.form()
                params = {**params, **{k: str(v) for k, v in form.items()}}
            device, pos = positions.from_osmand(params, now=now, limits=limits)
    except PositionError as exc:
        raise _bad_position(exc) from None
    amb = await _device(rt, f"Bearer {device}")
    header = request.headers.get("authorization")
    if header and await _device(rt, header) != amb:
        raise HTTPException(
            403, {"type": "forbidden", "detail": "the id and the Authorization header name different devices"}
        )
    out = await _store(rt, amb, [pos])
    return Response(orjson.dumps(out), media_type="application/json")


# ------------------------------------------------------------------------------ dispatcher view


def _age_s(now: dt.datetime, latest: Latest) -> float:
    return max(0.0, now.timestamp() - latest.position.ts_ms / 1000)


def _position_json(latest: Latest | None, now: dt.datetime, stale_s: float) -> dict[str, Any] | None:
    if latest is None:
        return None
    p = latest.position
    age = _age_s(now, latest)
    return {
        "lat": p.lat, "lon": p.lon, "at": p.at.isoformat(), "age_s": round(age, 1), "stale": age > stale_s,
        "speed_ms": p.speed_ms, "heading": p.heading, "accuracy_m": p.accuracy_m,
    }  # fmt: skip


@router.get("/dispatch/ambulances")
async def dispatch_board(request: Request, _: Dispatcher) -> dict[str, Any]:
    """Every ambulance: status, current referral, latest position with its age (stale marked) and,
    when transporting, the ETA to the destination. Says so when positions are unavailable."""  # noqa: D205, D209
    rt: Runtime = request.app.state.runtime
    reg = await _registry(rt)
    now = rt.clock()
    latest: dict[str, Latest] = {}
    available = rt.tracker is not None
    if rt.tracker is not None:
        try:
            latest = await rt.tracker.latest(list(reg))
        except PositionsUnavailableError:
            available = False
    stale_s = rt.settings.position_stale_s
    rows = []
    for a in reg.values():
        la = latest.get(a.id)
        eta = None
        if la is not None and la.eta_s is not None and a.status == AmbulanceStatus.TRANSPORTING.value:
            eta = {"destination_id": la.destination_id, "eta_s": la.eta_s,
                   "eta_at": dt.datetime.fromtimestamp(la.eta_at_ms / 1000, tz=dt.UTC).isoformat() if la.eta_at_ms else None}  # fmt: skip
        rows.append(
            {"id": a.id, "kind": a.kind, "status": a.status, "home_facility_id": a.home_facility_id,
             "referral_id": a.referral_id, "destination_id": a.destination_id,
             "position": _position_json(la, now, stale_s), "eta": eta}
        )  # fmt: skip
    return {
        "positions_available": available,
        "note": None if available else "ambulance positions are unavailable: Redis cannot be reached",
        "stale_after_s": stale_s,
        "road_network_modelled": rt.dataset.roads.modelled,
        "ambulances": rows,
    }


@router.get("/dispatch/nearest")
async def nearest(
    request: Request,
    _: Dispatcher,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    facility_id: Annotated[str | None, Query(max_length=64, description="pickup at a facility")] = None,
    kind: Annotated[Literal["emergency", "transport"] | None, Query()] = None,
    k: Annotated[int, Query(ge=1, le=20)] = 3,
    include_stale: bool = False,
) -> dict[str, Any]:
    """The nearest available ambulances to a pickup by road ETA (not straight line): top ``k``,
    of a ``kind`` if given, with a fresh position unless ``include_stale``."""  # noqa: D205, D209
    rt: Runtime = request.app.state.runtime
    if facility_id is not None:
        try:
            f = rt.dataset.facility(facility_id)
        except KeyError:
            raise store.InputError("facility_id", f"unknown facility {facility_id!r}") from None
        lon, lat = f.location.lon, f.location.lat
    if lon is None or lat is None or not (math.isfinite(lon) and math.isfinite(lat)):
        raise store.InputError("lon", "give lon and lat, or facility_id")
    tracker = _tracker(rt)
    reg = await _registry(rt)
    eligible = rt.available_ambulances(reg, kind)
    now = rt.clock()
    stale_s = rt.settings.position_stale_s
    engine = rt.matcher.engine
    vmax = engine.top_speed_ms() * 1.01
    seen: dict[str, Latest] = {}

    async def look(radius_m: float, count: int | None = None) -> tuple[list[tuple[str, float]], list[Latest]]:
        """GEOSEARCH (raw, nearest first) and the eligible, fresh ambulances among its results."""
        raw = await tracker.near(lon, lat, radius_m=radius_m, count=count)
        new = [a for a, _ in raw if a in eligible and a not in seen]
        seen.update(await tracker.positions(new))
        return raw, [
            seen[a]
            for a, _ in raw
            if a in eligible and a in seen and (include_stale or _age_s(now, seen[a]) <= stale_s)
        ]

    async def rank(cands: list[Latest]) -> list[tuple[int, float, float | None]]:
        origins = [(c.position.lon, c.position.lat, c.position.heading) for c in cands]
        try:
            return await run_in_threadpool(engine.nearest_to_point, origins, lon, lat, k=k)
        except RoutingError as exc:
            raise store.InputError("lon", str(exc)) from None

    try:
        # a first look at the nearest few in a straight line...
        first = max(10, ROAD_CANDIDATES_PER_K * k)
        raw, cands = await look(radius_m=MAX_SEARCH_M, count=first)
        found = await rank(cands)
        if len(found) < k and len(raw) >= first:
            # ... too few reachable among them: every ambulance
            raw, cands = await look(radius_m=MAX_SEARCH_M, count=len(reg) + 1)
            found = await rank(cands)
        elif len(found) >= k and len(raw) >= first and raw[-1][1] < found[-1][1] * vmax:
            # ... then every one close enough to beat the k-th found (no route beats the straight
            # line at the network's top speed): exact, and few
            raw, cands = await look(radius_m=found[-1][1] * vmax)
            found = await rank(cands)
    except PositionsUnavailableError:
        raise _unavailable() from None
    ranked = [(t, d, cands[i]) for i, t, d in found]
    return {
        "pickup": {"lon": lon, "lat": lat, "facility_id": facility_id},
        "road_network_modelled": rt.dataset.roads.modelled,
        "considered": len(cands),
        "ambulances": [
            {"id": c.ambulance_id, "kind": reg[c.ambulance_id].kind, "eta_s": round(t, 1),
             "distance_m": None if d is None else round(d, 1), "position": _position_json(c, now, stale_s)}
            for t, d, c in ranked
        ],
    }  # fmt: skip


@router.get("/ambulances/{ambulance_id}/track")
async def track(
    ambulance_id: str,
    request: Request,
    _: Dispatcher,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> dict[str, Any]:
    """Track replay: the positions taken in ``[since, until]`` (default: the last hour), in time
    order, late uploads included."""  # noqa: D205, D209
    rt: Runtime = request.app.state.runtime
    reg = await _registry(rt)
    if ambulance_id not in reg:
        raise store.NotFoundError(f"no ambulance {ambulance_id!r}")
    now = rt.clock()
    until = until or now
    since = since or until - dt.timedelta(hours=1)
    for name, t in (("since", since), ("until", until)):
        if t.tzinfo is None:
            raise store.InputError(name, "needs a time zone (e.g. Z or +07:00)")
    if since > until:
        raise store.InputError("since", "is after until")
    try:
        fixes = await _tracker(rt).track(
            ambulance_id, since_ms=round(since.timestamp() * 1000), until_ms=round(until.timestamp() * 1000)
        )
    except PositionsUnavailableError:
        raise _unavailable() from None
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


# ------------------------------------------------------------------------------------- dispatch


class StatusIn(_Strict):
    """A status a dispatcher sets by hand."""

    status: Literal["available", "out_of_service"]


class AssignIn(_Strict):
    """Dispatch this ambulance for this referral."""

    referral_id: str = Field(min_length=1, max_length=36)
    ambulance_id: str = Field(min_length=1, max_length=64)


class ProposalIn(_Strict):
    """Referrals waiting for transport (default: every accepted one without an ambulance)."""

    referral_ids: list[Annotated[str, Field(min_length=1, max_length=36)]] | None = Field(
        default=None, max_length=200
    )
    kind: Literal["emergency", "transport"] | None = None


@router.patch("/ambulances/{ambulance_id}/status")
async def set_status(ambulance_id: str, body: StatusIn, request: Request, p: Dispatcher) -> dict[str, Any]:
    """Available again (after a hand-over) or out of service. Other statuses follow the referral."""
    rt: Runtime = request.app.state.runtime

    def write() -> dict[str, Any]:
        with rt.sessions() as s:
            a = ambulances.set_status(
                s, ambulance_id, AmbulanceStatus(body.status), actor=p.user_id, now=rt.clock()
            )
            s.commit()
            return ambulances.ambulance_json(a)

    out = await run_in_threadpool(write)
    rt.ambulances_changed()
    if rt.tracker is not None:
        await rt.tracker.publish({"type": "status", "ambulance_id": ambulance_id, "status": out["status"]})
    return out


@router.post("/dispatch/assign")
async def assign(body: AssignIn, request: Request, p: Dispatcher) -> dict[str, Any]:
    """Dispatch an available ambulance for an accepted referral."""
    rt: Runtime = request.app.state.runtime

    def write() -> dict[str, Any]:
        with rt.sessions() as s:
            r, a = ambulances.assign(
                s,
                p,
                body.referral_id,
                body.ambulance_id,
                now=rt.clock(),
                answer_within_min=rt.answer_within_min,
            )
            s.commit()
            return {
                "referral_id": r.id,
                "referral_status": r.status,
                "ambulance": ambulances.ambulance_json(a),
            }

    out = await run_in_threadpool(write)
    rt.ambulances_changed()
    if rt.tracker is not None:
        await rt.tracker.publish(
            {"type": "dispatched", "ambulance_id": body.ambulance_id, "referral_id": body.referral_id}
        )
    return out


def _waiting(rt: Runtime, p: Principal, ids: list[str] | None) -> list[tuple[str, str, bool]]:
    """(referral id, pickup facility, emergency) of the referrals to plan."""
    from sqlalchemy import select  # noqa: PLC0415

    from service.db import Referral  # noqa: PLC0415

    with rt.sessions() as s:
        if ids is None:
            rows = s.scalars(
                select(Referral).where(Referral.status == Status.ACCEPTED.value, Referral.ambulance_id.is_(None))
                .order_by(Referral.created_at).limit(200)
            ).all()  # fmt: skip
        else:
            rows = []
            for i, rid in enumerate(ids):
                try:
                    r = store.get_referral(s, p, rid)
                except store.NotFoundError:
                    raise store.InputError(f"referral_ids[{i}]", f"no referral {rid!r}") from None
                if r.status != Status.ACCEPTED.value or r.ambulance_id is not None:
                    raise store.InputError(
                        f"referral_ids[{i}]", f"referral {rid} is {r.status}, not waiting for transport"
                    )
                rows.append(r)
        return [(r.id, r.origin_id, r.emergency) for r in rows]


@router.post("/dispatch/proposal")
async def proposal(body: ProposalIn, request: Request, p: Dispatcher) -> dict[str, Any]:
    """When several transfers wait: which available ambulance should pick up which patient, by
    road ETA (OR-Tools, optimal: emergencies' minutes count double). Proposes; assigning is
    ``/dispatch/assign``."""  # noqa: D205, D209
    rt: Runtime = request.app.state.runtime
    waiting = await run_in_threadpool(_waiting, rt, p, body.referral_ids)
    tracker = _tracker(rt)
    reg = await _registry(rt)
    free = [
        a
        for a in reg.values()
        if a.status == AmbulanceStatus.AVAILABLE.value and (body.kind is None or a.kind == body.kind)
    ]
    try:
        latest = await tracker.positions([a.id for a in free])
    except PositionsUnavailableError:
        raise _unavailable() from None
    now = rt.clock()
    fresh = [
        latest[a.id]
        for a in free
        if a.id in latest and _age_s(now, latest[a.id]) <= rt.settings.position_stale_s
    ]

    def matrix() -> list[list[float | None]]:
        origins = [(c.position.lon, c.position.lat, c.position.heading) for c in fresh]
        rows = []
        for _, pickup, _ in waiting:
            f = rt.dataset.facility(pickup)
            rows.append(
                [
                    t
                    for t, _ in rt.matcher.engine.times_to_point(
                        origins, f.location.lon, f.location.lat, with_distance=False
                    )
                ]
            )
        return rows

    eta = await run_in_threadpool(matrix) if waiting else []
    problem = DispatchProblem.from_matrix(
        eta,
        transfer_ids=[w[0] for w in waiting],
        ambulance_ids=[c.ambulance_id for c in fresh],
        priority=[2.0 if w[2] else 1.0 for w in waiting],
    )
    started = time.perf_counter()
    result = await run_in_threadpool(DispatchAssignment(problem).solve)
    return {
        "solver": "OR-Tools min-cost flow (optimal)",
        "solve_ms": round((time.perf_counter() - started) * 1000, 2),
        "ambulances_considered": len(fresh),
        "assignments": [
            {"referral_id": rid, "ambulance_id": aid, "pickup_eta_s": round(t, 1)}
            for rid, (aid, t) in result.assigned.items()
        ],
        "unassigned": [{"referral_id": rid, "reason": why} for rid, why in result.unassigned.items()],
    }


# ------------------------------------------------------------------------------------ live feed


@router.get("/dispatch/stream")
async def dispatch_stream(
    request: Request,
    _: Dispatcher,
    max_events: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    timeout_s: Annotated[float | None, Query(gt=0, le=86_400)] = None,
) -> StreamingResponse:
    """Server-sent events for dispatchers: positions, ETAs, status changes, dispatches, arrivals,
    and ``stale`` / ``fresh`` alerts as ambulances stop or resume reporting. Published through
    Redis, so a client on any worker sees every change."""  # noqa: D205, D209
    rt: Runtime = request.app.state.runtime
    tracker = _tracker(rt)
    stale_s = rt.settings.position_stale_s

    async def gen() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        t_end = loop.time() + timeout_s if timeout_s else None
        sent = 0
        stale: set[str] = set()
        next_scan = 0.0
        pubsub = tracker.client.pubsub()
        subscribed = False
        yield "retry: 2000\n: connected\n\n"
        try:
            while True:
                if await request.is_disconnected():
                    return
                now_loop = loop.time()
                if t_end is not None and now_loop >= t_end:
                    return
                events: list[dict[str, Any]] = []
                try:
                    if not subscribed:
                        await pubsub.subscribe(tracker.channel)
                        subscribed = True
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
                    if msg is not None and msg.get("type") == "message":
                        data = msg["data"]
                        events.append(json.loads(data.decode() if isinstance(data, bytes) else data))
                    if now_loop >= next_scan:  # stale alerts: who stopped or resumed reporting
                        next_scan = now_loop + min(5.0, stale_s / 4)
                        reg = await _registry(rt)
                        latest = await tracker.positions(list(reg))
                        now = rt.clock()
                        for aid in reg:
                            la = latest.get(aid)
                            is_stale = la is None or _age_s(now, la) > stale_s
                            if is_stale and aid not in stale and la is not None:
                                events.append(
                                    {"type": "stale", "ambulance_id": aid, "age_s": round(_age_s(now, la))}
                                )
                            elif not is_stale and aid in stale:
                                events.append({"type": "fresh", "ambulance_id": aid})
                            if is_stale:
                                stale.add(aid)
                            else:
                                stale.discard(aid)
                except PositionsUnavailableError:
                    events.append({"type": "positions_unavailable"})
                    subscribed = False
                    await asyncio.sleep(RETRY_AFTER_S)
                except Exception as exc:
                    if (
                        not isinstance(exc, (ConnectionError, OSError))
                        and "Connection" not in type(exc).__name__
                    ):
                        raise
                    events.append({"type": "positions_unavailable"})
                    subscribed = False
                    with contextlib.suppress(Exception):
                        await pubsub.reset()
                    pubsub = tracker.client.pubsub()
                    await asyncio.sleep(RETRY_AFTER_S)
                for ev in events:
                    yield f"event: {ev.get('type', 'message')}\ndata: {json.dumps(ev)}\n\n"
                    sent += 1
                    if max_events and sent >= max_events:
                        return
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    return StreamingResponse(gen(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})
