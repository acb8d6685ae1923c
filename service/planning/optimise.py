"""The regionalisation a planner could adopt: each Puskesmas to one regional hospital.

Demand per Puskesmas is its non-emergency referrals in the simulated demand (emergencies go
to the nearest capable hospital whatever the regions say, Pasal 12(4)); road times come from the
same routing engine; each regional hospital's capacity is its share of the beds times a
``capacity_factor`` of the total demand (a planning assumption). The optimiser
(``routing.regionalisation``) starts from the regulation's regions, so its answer is never worse
on the same demand; the result is a scenario file of ``move_origin`` changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from routing.regionalisation import Regionalisation, RegionalisationProblem, RegionalisationSolution
from service.planning.scenario import Change, MoveOrigin, Scenario

if TYPE_CHECKING:
    from collections.abc import Sequence

    from service.matcher import Matcher
    from service.planning.demand import DemandRecord


#: the solver's status in the scenario file's words
STATUS_ID = {"optimal": "optimal", "feasible": "layak, belum terbukti optimal", "infeasible": "tidak layak"}


@dataclass(frozen=True)
class RegionPlan:
    """The optimiser's answer, the regulation's on the same demand, and the scenario to adopt."""

    solution: RegionalisationSolution
    current_weighted_s: float
    current_mean_s: float
    problem: RegionalisationProblem
    scenario: Scenario


def problem_for(
    matcher: Matcher, demand: Sequence[DemandRecord], *, capacity_factor: float = 1.2
) -> tuple[RegionalisationProblem, dict[str, str]]:
    """The optimisation problem on this demand, and the regulation's assignment (the reference)."""
    if not (math.isfinite(capacity_factor) and capacity_factor > 0):
        msg = f"capacity_factor: {capacity_factor!r} must be > 0"
        raise ValueError(msg)
    pack = matcher.pack
    origins = sorted({o for r in pack.regions for o in r.origins})
    hospitals = sorted({r.hospital for r in pack.regions})
    counts = dict.fromkeys(origins, 0)
    for rec in demand:
        if not rec.emergency and rec.origin_id in counts:
            counts[rec.origin_id] += 1
    t = np.full((len(origins), len(hospitals)), np.inf)
    for i, o in enumerate(origins):
        travel = matcher.travel_from_facility(o)
        for j, h in enumerate(hospitals):
            tr = travel.get(h)
            if tr is not None:
                t[i, j] = tr[0]
    beds = np.array([sum(matcher.dataset.facility(h).beds.values()) for h in hospitals], dtype=np.float64)
    share = beds / beds.sum() if beds.sum() > 0 else np.full(len(hospitals), 1 / len(hospitals))
    total = sum(counts.values())
    capacity = [math.ceil(capacity_factor * total * s) for s in share]
    problem = RegionalisationProblem.from_matrix(
        t, origin_ids=origins, hospital_ids=hospitals, demand=[counts[o] for o in origins], capacity=capacity
    )
    reference = {o: r.hospital for r in pack.regions for o in r.origins}
    return problem, reference


def optimise(
    matcher: Matcher,
    demand: Sequence[DemandRecord],
    *,
    capacity_factor: float = 1.2,
    time_limit_s: float = 30.0,
    seed: int = 0,
) -> RegionPlan:
    """Solve, and express the answer as the region moves a planner would adopt."""
    p, ref = problem_for(matcher, demand, capacity_factor=capacity_factor)
    sol = Regionalisation(p, reference=ref, max_candidates=None, time_limit_s=time_limit_s, seed=seed).solve()
    current = sum(
        p.demand[i] * p.time_s[i, p.hospital_ids.index(ref[o])]
        for i, o in enumerate(p.origin_ids)
        if p.demand[i]
    )
    region_of = {r.hospital: r.id for r in matcher.pack.regions}
    moves = [
        Change(move_origin=MoveOrigin(origin=o, region=region_of[h]))
        for o, h in sorted(sol.assignment.items())
        if ref.get(o) != h
    ]
    total = sum(p.demand)
    mean_now = current / total / 60 if total else 0.0

    def id_num(x: float, places: int) -> str:  # the scenario file is read in Bahasa Indonesia
        return f"{x:.{places}f}".replace(".", ",")

    scenario = Scenario(
        name=f"Regionalisasi hasil optimasi (faktor kapasitas {f'{capacity_factor:g}'.replace('.', ',')})",
        description=(
            f"Rata-rata waktu tempuh {id_num(sol.mean_time_s / 60, 1)} menit per rujukan non-gawat darurat, "
            f"dibanding {id_num(mean_now, 1)} menit menurut Perbup; selisih dari batas bawah "
            f"{id_num(100 * sol.gap, 2)}% ({STATUS_ID.get(sol.status, sol.status)})."
        ),
        changes=moves,
    )
    return RegionPlan(sol, float(current), float(current / total) if total else 0.0, p, scenario)


def plan_tables(plan: RegionPlan, matcher: Matcher) -> dict[str, list[dict[str, object]]]:
    """The plan as tables a planner reads: per Puskesmas its regional hospital today and in the
    plan (names next to ids, road minutes, moved or not); per regional hospital its non-emergency
    referrals today and in the plan against the capacity the optimiser was given."""  # noqa: D205, D209
    p, sol = plan.problem, plan.solution
    names = {f.id: f.name for f in matcher.dataset.facilities}
    ref = {o: r.hospital for r in matcher.pack.regions for o in r.origins}

    def minutes(i: int, h: str | None) -> float | None:
        t = p.time_s[i, p.hospital_ids.index(h)] if h in p.hospital_ids else math.inf
        return round(float(t) / 60, 2) if math.isfinite(t) else None

    assignment: list[dict[str, object]] = []
    today_load = dict.fromkeys(p.hospital_ids, 0)
    for i, o in enumerate(p.origin_ids):
        now, new = ref.get(o), sol.assignment.get(o)
        if now in today_load:
            today_load[now] += int(p.demand[i])
        assignment.append({"origin_id": o, "name": names.get(o, o), "referrals": int(p.demand[i]),
                           "today_id": now, "today_name": names.get(now, now) if now else None,
                           "today_min": minutes(i, now), "optimised_id": new,
                           "optimised_name": names.get(new, new) if new else None,
                           "optimised_min": minutes(i, new), "moved": bool(new and new != now)})  # fmt: skip
    load: list[dict[str, object]] = []
    for j, h in enumerate(p.hospital_ids):
        got, cap = int(sol.load.get(h, 0)), int(p.capacity[j])
        load.append({"hospital_id": h, "name": names.get(h, h), "today_load": today_load[h], "load": got,
                     "capacity": cap, "load_vs_capacity": got / cap if cap else None,
                     "today_over_capacity": today_load[h] > cap})  # fmt: skip
    assignment.sort(key=lambda r: (not r["moved"], str(r["origin_id"])))  # the moves first
    return {"assignment": assignment, "load": load}
