"""The nearest available ambulances to a pickup by road ETA (not straight line), exactly.

A first look at the few nearest in a straight line (Redis GEOSEARCH); if too few of them can
reach the pickup, every ambulance; otherwise every one close enough to beat the k-th found, since
no route beats the straight line at the network's top speed. Road times come from one reverse
search from the pickup (``RoutingEngine.nearest_to_point``), in a worker thread. A parked
ambulance's heading is ignored (it may leave either way).

No available ambulance is dropped silently: one that cannot be ranked (no position yet, a stale
position, farther from any road than the snapping limit, no road route) is listed apart with
the reason.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi.concurrency import run_in_threadpool

from routing.errors import RoutingError
from service.errors import InputError
from service.tracking.views import age_s

if TYPE_CHECKING:
    import datetime as dt

    from routing.engine import RoutingEngine
    from service.tracking.tracker import Latest, Tracker

#: the first look takes this many straight-line-nearest ambulances per unit asked for
ROAD_CANDIDATES_PER_K = 4
#: no ambulance farther than this in a straight line is considered (metres)
MAX_SEARCH_M = 2_000_000


@dataclass(frozen=True, slots=True)
class Query:
    """Who may be sent, to where, and how many."""

    lon: float
    lat: float
    eligible: frozenset[str]
    k: int
    now: dt.datetime
    stale_s: float
    include_stale: bool = False


@dataclass
class _Search:
    tracker: Tracker
    engine: RoutingEngine
    q: Query
    seen: dict[str, Latest] = field(default_factory=dict)

    async def look(
        self, radius_m: float, count: int | None = None
    ) -> tuple[list[tuple[str, float]], list[Latest]]:
        """GEOSEARCH (raw, nearest first) and the eligible, fresh ambulances among its results."""
        q = self.q
        raw = await self.tracker.near(q.lon, q.lat, radius_m=radius_m, count=count)
        new = [a for a, _ in raw if a in q.eligible and a not in self.seen]
        self.seen.update(await self.tracker.positions(new))
        fresh = [
            self.seen[a]
            for a, _ in raw
            if a in q.eligible
            and a in self.seen
            and (q.include_stale or age_s(q.now, self.seen[a]) <= q.stale_s)
        ]
        return raw, fresh

    async def rank(self, cands: list[Latest]) -> list[tuple[int, float, float | None]]:
        """(index in ``cands``, road time, distance) of the k best by road."""
        origins = [c.position.road_origin for c in cands]
        try:
            return await run_in_threadpool(
                self.engine.nearest_to_point, origins, self.q.lon, self.q.lat, k=self.q.k
            )
        except RoutingError as exc:
            raise InputError("lon", str(exc)) from None


#: the positions of every eligible ambulance (for the ones left out: no position, stale) are read
#: at most this often per worker, not on every query (one MGET of the whole fleet costs ~7 ms
#: at 1,000 ambulances, more than the rest of the query)
EVERY_POSITION_TTL_S = 2.0
_EVERY: dict[int, tuple[float, frozenset[str], dict[str, Latest]]] = {}


async def _every_position(tracker: Tracker, eligible: frozenset[str]) -> dict[str, Latest]:
    """The newest fix of every eligible ambulance, read again after ``EVERY_POSITION_TTL_S``: a unit
    is called stale or silent at most that much late (against a staleness of minutes)."""  # noqa: D205, D209
    hit = _EVERY.get(id(tracker))
    now = time.monotonic()
    if hit is not None and now - hit[0] < EVERY_POSITION_TTL_S and eligible <= hit[1]:
        return hit[2]
    got = await tracker.positions(sorted(eligible))
    _EVERY[id(tracker)] = (now, eligible, got)
    return got


@dataclass(frozen=True, slots=True)
class LeftOut:
    """An available ambulance that could not be ranked, and why."""

    ambulance_id: str
    #: no_position | stale | off_road | no_route
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Found:
    """The nearest by road, how many were considered, and those that could not be ranked."""

    ranked: list[tuple[float, float | None, Latest]]
    considered: int
    left_out: list[LeftOut]


async def nearest(tracker: Tracker, engine: RoutingEngine, q: Query, *, fleet_size: int) -> Found:
    """The k nearest eligible ambulances as (road time s, distance m, latest fix), how many were
    considered, and every eligible one that could not be ranked with the reason. Raises
    PositionsUnavailableError when Redis cannot be reached."""  # noqa: D205, D209
    search = _Search(tracker, engine, q)
    vmax = engine.top_speed_ms() * 1.01
    first = max(10, ROAD_CANDIDATES_PER_K * q.k)
    raw, cands = await search.look(radius_m=MAX_SEARCH_M, count=first)
    found = await search.rank(cands)
    if len(found) < q.k and len(raw) >= first:
        # too few reachable among them: every ambulance
        raw, cands = await search.look(radius_m=MAX_SEARCH_M, count=fleet_size + 1)
        found = await search.rank(cands)
    elif len(found) >= q.k and len(raw) >= first and raw[-1][1] < found[-1][1] * vmax:
        # every one close enough to beat the k-th found: exact, and few
        raw, cands = await search.look(radius_m=MAX_SEARCH_M if math.isinf(vmax) else found[-1][1] * vmax)
        found = await search.rank(cands)
    ranked = [(t, d, cands[i]) for i, t, d in found]
    left_out = await _left_out(search, engine, cands, ranked, every_one_examined=len(found) < q.k)
    return Found(ranked, len(cands), left_out)


async def _left_out(
    search: _Search,
    engine: RoutingEngine,
    cands: list[Latest],
    ranked: list[tuple[float, float | None, Latest]],
    *,
    every_one_examined: bool,
) -> list[LeftOut]:
    """Why each eligible ambulance that could have been among the nearest was not ranked.

    Every eligible one without a position, or with a stale one, is listed. Of the fresh ones,
    the candidates examined (every one that could beat the k-th found) that got no road time are
    listed: off the road network, or (when fewer than k were found, so all were examined) with
    no road route. A fresh one farther than that is simply not among the nearest.
    """
    q = search.q
    done = {c.ambulance_id for _, _, c in ranked}
    rest = sorted(q.eligible - done)
    known = {**await _every_position(search.tracker, q.eligible), **search.seen}
    out: list[LeftOut] = []
    for a in rest:
        la = known.get(a)
        if la is None:
            out.append(LeftOut(a, "no_position", "has sent no position yet"))
        elif not q.include_stale and (age := age_s(q.now, la)) > q.stale_s:
            out.append(LeftOut(a, "stale", f"last position {age:.0f} s old (stale after {q.stale_s:.0f} s)"))
    untimed = [c for c in cands if c.ambulance_id not in done]
    if untimed:
        snaps = await run_in_threadpool(
            engine.snapper.snap_many, [(c.position.lon, c.position.lat) for c in untimed]
        )
        limit = engine.snapper.max_snap_m
        for c, snap in zip(untimed, snaps, strict=True):
            if snap is None:
                out.append(
                    LeftOut(
                        c.ambulance_id, "off_road", f"farther than {limit:.0f} m from any road of the network"
                    )
                )
            elif every_one_examined:
                out.append(
                    LeftOut(
                        c.ambulance_id,
                        "no_route",
                        "no road route to the pickup under today's road conditions",
                    )
                )
    return out
