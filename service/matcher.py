"""The matcher: dataset + rule pack + road engine, wired for suggestions and disaster distribution.

This is the edge where the pure engines meet: ``rules.suggest`` decides and ranks, the routing
engine gives road times, and ``routing.assignment`` distributes a batch of casualties. The CLI,
the API and the planner all go through one ``Matcher`` so that there is a single code path.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import shapely

from geodata.models import BedType
from routing.engine import RoutingEngine
from routing.errors import RoutingError, TooFarFromRoadError
from rules.errors import RequestError
from rules.jurisdiction import Jurisdictions, load_jurisdictions
from rules.matching import suggest
from rules.pack import bundled_pack_path, load_rule_pack

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime
    from pathlib import Path

    from geodata.dataset import Dataset
    from geodata.models import Facility
    from routing.assignment import Assignment
    from routing.conditions import RoadCondition
    from rules.model import FacilityStatus, ReferralRequest, Suggestion
    from rules.pack import RulePack

Travel = dict[str, tuple[float, float | None] | None]


class FacilityLookupError(LookupError):
    """A facility name or id that matches none, or more than one, facility."""

    def __init__(self, query: str, matches: Sequence[Facility]) -> None:
        self.query = query
        self.matches = tuple(matches)
        if matches:
            listed = "; ".join(f"{f.id} {f.name}" for f in matches[:8])
            msg = f"{query!r} matches {len(matches)} facilities: {listed}"
        else:
            msg = f"no facility id or name matches {query!r}"
        super().__init__(msg)


@dataclass(frozen=True, slots=True)
class Casualty:
    """One patient of a mass-casualty batch: where they are and what they need.

    ``severity`` weighs their travel time (e.g. triage red 3, yellow 2, green 1).
    """

    id: str
    request: ReferralRequest
    severity: float
    lon: float | None = None
    lat: float | None = None


@dataclass(frozen=True, slots=True)
class DisasterPlan:
    """A batch distributed: the assignment, road times, capacities used, each suggestion behind it."""

    assignment: Assignment
    travel_time_s: Mapping[str, float]
    capacity: Mapping[tuple[str, str], int]
    suggestions: Mapping[str, Suggestion]


class Matcher:
    """One loaded deployment: its facilities, its rule packs (one per jurisdiction) and its road engine.

    Every suggestion is governed by one pack, the origin's (``rules.jurisdiction``): ``pack_for``
    an origin facility, ``pack_at`` a position. ``pack`` is the pack of the dataset's own regency
    (the only pack of a deployment without a jurisdictions manifest): the planner's.
    """

    def __init__(
        self,
        dataset: Dataset,
        pack: RulePack,
        engine: RoutingEngine,
        *,
        jurisdictions: Jurisdictions | None = None,
    ) -> None:
        self.dataset = dataset
        self.jurisdictions = jurisdictions or Jurisdictions.single(pack)
        #: the pack of the dataset's own regency (see the class docstring)
        self.pack = pack
        self.engine = engine
        self._by_id = {f.id: f for f in dataset.facilities}
        j = self.jurisdictions
        #: the governing pack of every facility as an origin: one dict read per suggestion
        self._pack_of = {f.id: j.for_regency(f.regency) for f in dataset.facilities}
        #: (bounds, boundary prepared, pack) of each regency of the regions layer, for ``pack_at``
        #: (nothing with one pack for all: no position to look up)
        layer = dataset.regencies if j.regencies else ()
        self._regencies = [(r.boundary.bounds, r.boundary, j.for_code(r.id)) for r in layer]
        shapely.prepare([r.boundary for r in layer])
        #: the candidates of every suggestion: the facilities that receive referrals
        self.receiving = tuple(f for f in dataset.facilities if f.receiving)
        #: the candidates of a back-referral: every facility (Pasal 11 ayat (2): a lower-level
        #: hospital or a first-level facility)
        self.everyone = tuple(dataset.facilities)
        self._not_receiving = tuple(f for f in dataset.facilities if not f.receiving)
        self._travel_cache: dict[tuple[str, str], Travel] = {}
        self._back_cache: dict[tuple[str, str], Travel] = {}

    @classmethod
    def load(
        cls,
        dataset: Dataset,
        *,
        pack_path: Path | None = None,
        jurisdictions_path: Path | None = None,
        cache_dir: Path | None = None,
        workers: int = 1,
        warm: bool = True,
    ) -> Matcher:
        """Load the rule pack (strictly, against the dataset's facilities) and build the engine.

        With ``jurisdictions_path`` (a manifest, ``rules.jurisdiction``) every pack it names is
        loaded and checked, and ``pack_path`` is not read: ``pack`` is the manifest's pack of the
        dataset's regency (the province pack if it has none).

        With ``cache_dir`` the facility trees are read from there (memory-mapped, shared by the
        processes of the host), computed with ``workers`` processes and written first if missing.
        ``warm``: see ``RoutingEngine``.
        """
        jurisdictions = None
        if jurisdictions_path is not None:
            jurisdictions = load_jurisdictions(jurisdictions_path, facilities=dataset.facilities)
            pack = jurisdictions.for_regency(dataset.region.name)
        else:
            pack = load_rule_pack(pack_path or bundled_pack_path(), facilities=dataset.facilities)
        receiving = {f.id: (f.location.lon, f.location.lat) for f in dataset.facilities if f.receiving}
        packs = jurisdictions.packs if jurisdictions is not None else (pack,)
        engine = RoutingEngine(
            dataset.roads,
            receiving,
            max_snap_m=dataset.snap_max_m,
            cache_dir=cache_dir,
            workers=workers,
            warm=warm,
            # a tree holds only the nodes within the longest reach of the deployment's packs: beyond
            # it a facility is excluded anyway (out-of-reach), and reads as no road route
            max_travel_s=60.0 * max(float(p.settings["max_travel_min"]) for p in packs),
        )
        return cls(dataset, pack, engine, jurisdictions=jurisdictions)

    def pack_for(self, origin_id: str) -> RulePack:
        """The pack that governs a referral from this facility (its regency's, else the province's)."""
        return self._pack_of.get(origin_id, self.jurisdictions.fallback)

    def pack_at(self, lon: float, lat: float) -> RulePack:
        """The pack that governs a suggestion from a position: the regency it lies in (the regions
        layer), else the province's."""  # noqa: D205, D209
        for (x0, y0, x1, y1), boundary, pack in self._regencies:
            if x0 <= lon <= x1 and y0 <= lat <= y1 and shapely.contains_xy(boundary, lon, lat):
                return pack
        return self.jurisdictions.fallback

    def find_facility(self, query: str) -> Facility:
        """A facility by id, by exact name (any case), or by a fragment of its name that is unique."""
        q = query.strip()
        if q in self._by_id:
            return self._by_id[q]
        low = q.casefold()
        exact = [f for f in self.dataset.facilities if f.name.casefold() == low]
        if len(exact) == 1:
            return exact[0]
        part = [f for f in self.dataset.facilities if low and low in f.name.casefold()]
        if len(part) == 1:
            return part[0]
        raise FacilityLookupError(query, exact or part)

    def travel_from(self, lon: float, lat: float) -> Travel:
        """Road (time, distance) from a point to every receiving facility; None where there is no route."""
        tt = self.engine.travel_times(lon, lat)
        return {t.facility_id: (t.time_s, t.distance_m) if t.time_s is not None else None for t in tt.times}

    def travel_from_facility(self, facility_id: str) -> Travel:
        """Road (time, distance) from a facility to every receiving facility.

        Kept per facility for the current road-graph version (a closure makes a new version).
        """
        f = self._by_id.get(facility_id)
        if f is None:
            raise RequestError("origin_id", f"unknown facility {facility_id!r}")
        key = (facility_id, self.engine.version)
        hit = self._travel_cache.get(key)
        if hit is None:
            if len(self._travel_cache) > 4096:
                self._travel_cache.clear()
            hit = self._travel_cache[key] = self.travel_from(f.location.lon, f.location.lat)
        return hit

    def travel_to_the_rest(self, lon: float, lat: float) -> Travel:
        """Road (time, distance) from a point to every facility that does not receive referrals.

        The routing engine keeps trees only towards receiving facilities; these are searched
        one per facility (a reverse search from each), for back-referrals, which are rare.
        """
        out: Travel = {}
        for f in self._not_receiving:
            try:
                t, d = self.engine.times_to_point([(lon, lat, None)], f.location.lon, f.location.lat)[0]
            except TooFarFromRoadError:
                t, d = None, None
            out[f.id] = (t, d) if t is not None else None
        return out

    def back_referral_travel(self, facility_id: str) -> Travel:
        """Road (time, distance) from a facility to every other facility (kept per graph version)."""
        f = self._by_id.get(facility_id)
        if f is None:
            raise RequestError("origin_id", f"unknown facility {facility_id!r}")
        key = (facility_id, self.engine.version)
        hit = self._back_cache.get(key)
        if hit is None:
            if len(self._back_cache) > 1024:
                self._back_cache.clear()
            rest = self.travel_to_the_rest(f.location.lon, f.location.lat)
            hit = self._back_cache[key] = {**self.travel_from_facility(facility_id), **rest}
        return hit

    def cached_travel(self, facility_id: str, *, back_referral: bool = False) -> Travel | None:
        """Road times from a facility if already known for the current graph version (no compute);
        for a back-referral, to every facility."""  # noqa: D205, D209
        cache = self._back_cache if back_referral else self._travel_cache
        return cache.get((facility_id, self.engine.version))

    def suggest(
        self,
        request: ReferralRequest,
        *,
        statuses: Mapping[str, FacilityStatus],
        now: datetime,
        lon: float | None = None,
        lat: float | None = None,
        travel: Travel | None = None,
    ) -> Suggestion:
        """Decide and rank; travel is from (lon, lat) when given, else from the origin facility.

        Without ``travel`` this snaps and looks up road times (CPU-bound): call it from a worker
        thread in async code. With ``travel`` given it is only the rule evaluation.

        A back-referral's candidates are every facility, first-level ones included (Pasal 11
        ayat (2)); any other request's are the facilities that receive referrals.

        The pack is the origin's: of the regency (lon, lat) lies in when given, else of the origin
        facility's regency (``pack_for``, ``pack_at``).
        """
        back = request.back_referral
        pack = (
            self.pack_at(lon, lat)
            if lon is not None and lat is not None
            else self.pack_for(request.origin_id)
        )
        if travel is None and lon is not None and lat is not None:
            travel = self.travel_from(lon, lat)
            if back:
                travel = {**travel, **self.travel_to_the_rest(lon, lat)}
        if travel is None:
            travel = (self.back_referral_travel if back else self.travel_from_facility)(request.origin_id)
        return suggest(
            request,
            pack=pack,
            facilities=self.everyone if back else self.receiving,
            statuses=statuses,
            travel=travel,
            now=now,
            origin=self._by_id.get(request.origin_id),
        )

    def road_conditions_on(
        self, lon: float, lat: float, facility_ids: Sequence[str]
    ) -> dict[str, list[RoadCondition]]:
        """The live road conditions that changed the road time from a point to each facility (only
        the facilities whose time changed); nothing, at once, when no condition is in force."""  # noqa: D205, D209
        conds = {c.id: c for c in self.engine.conditions()}
        if not conds:
            return {}
        known = [f for f in facility_ids if f in self.engine.facility_ids]
        try:
            hit = self.engine.conditions_on_routes(lon, lat, known)
        except RoutingError:
            return {}
        return {f: [conds[c] for c in ids if c in conds] for f, ids in hit.items()}

    def distribute(
        self,
        casualties: Sequence[Casualty],
        *,
        statuses: Mapping[str, FacilityStatus],
        now: datetime,
        capacity: Mapping[tuple[str, str], int] | None = None,
        time_limit_s: float = 10.0,
        seed: int = 0,
    ) -> DisasterPlan:
        """Distribute a batch of casualties over capable hospitals within their free beds (Pasal 6).

        Each casualty goes through the same matching engine as a single referral (as an
        emergency under disaster status, so regionalisation is waived); the facilities it ranks
        are the ones it may go to, at the road times found. Capacity per (hospital, bed type)
        comes from ``capacity`` when given, otherwise from the beds each hospital reported free;
        a bed type not reported counts as none free. A patient whose need names no bed type
        takes a general bed.
        """
        if not casualties:
            raise RequestError("casualties", "the batch is empty")
        seen: set[str] = set()
        for i, c in enumerate(casualties):
            if c.id in seen:
                raise RequestError(f"casualties[{i}].id", f"duplicate patient id {c.id!r}")
            seen.add(c.id)
        suggestions: dict[str, Suggestion] = {}
        resources: list[str] = []
        for c in casualties:
            req = replace(c.request, emergency=True, disaster=True)
            s = self.suggest(req, statuses=statuses, now=now, lon=c.lon, lat=c.lat)
            suggestions[c.id] = s
            resources.append((s.need.beds[0] if s.need.beds else BedType.GENERAL).value)
        hospital_ids = sorted({cand.facility_id for s in suggestions.values() for cand in s.candidates})
        col = {h: j for j, h in enumerate(hospital_ids)}
        inf = float("inf")
        times = [[inf] * len(hospital_ids) for _ in casualties]
        for i, c in enumerate(casualties):
            for cand in suggestions[c.id].candidates:
                times[i][col[cand.facility_id]] = cand.travel_time_s
        if capacity is None:
            cap: dict[tuple[str, str], int] = {}
            for h in hospital_ids:
                st = statuses.get(h)
                if st is not None:
                    for bed, n in st.beds_available.items():
                        cap[h, bed.value] = max(0, int(n))
        else:
            cap = {k: v for k, v in capacity.items() if k[0] in col}
        # OR-Tools (and the pandas it brings) only for a batch of casualties: not at start-up
        from routing.assignment import AssignmentProblem, DisasterAssignment  # noqa: PLC0415

        problem = AssignmentProblem.from_cost_matrix(
            times,
            patient_ids=[c.id for c in casualties],
            hospital_ids=hospital_ids,
            severity=[c.severity for c in casualties],
            resource=resources,
            capacity=cap,
        )
        a = DisasterAssignment(problem, time_limit_s=time_limit_s, seed=seed).solve()
        row = {c.id: i for i, c in enumerate(casualties)}
        return DisasterPlan(
            assignment=a,
            travel_time_s={p: times[row[p]][col[h]] for p, h in a.assigned.items()},
            capacity=cap,
            suggestions=suggestions,
        )
