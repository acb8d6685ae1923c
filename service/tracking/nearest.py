"""The nearest available ambulances to a pickup by road ETA (not straight line), exactly.

A first look at the few nearest in a straight line (Redis GEOSEARCH); if too few of them can
reach the pickup, every ambulance; otherwise every one close enough to beat the k-th found, since
no route beats the straight line at the network's top speed. Road times come from one reverse
search from the pickup (``RoutingEngine.nearest_to_point``), in a worker thread.
"""

from __future__ import annotations

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
        origins = [(c.position.lon, c.position.lat, c.position.heading) for c in cands]
        try:
            return await run_in_threadpool(
                self.engine.nearest_to_point, origins, self.q.lon, self.q.lat, k=self.q.k
            )
        except RoutingError as exc:
            raise InputError("lon", str(exc)) from None


async def nearest(
    tracker: Tracker, engine: RoutingEngine, q: Query, *, fleet_size: int
) -> tuple[list[tuple[float, float | None, Latest]], int]:
    """The k nearest eligible ambulances as (road time s, distance m, latest fix), and how many were
    considered. Raises PositionsUnavailableError when Redis cannot be reached."""  # noqa: D205, D209
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
        raw, cands = await search.look(radius_m=found[-1][1] * vmax)
        found = await search.rank(cands)
    return [(t, d, cands[i]) for i, t, d in found], len(cands)
