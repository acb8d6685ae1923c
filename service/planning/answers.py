"""The planner API's answers, computed from the running service and a request (blocking: the
routes run them in a worker thread, through ``service.planning.cache``)."""  # noqa: D205, D209

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from fastapi.concurrency import run_in_threadpool

# the modules of the computations (pandas, OR-Tools: a second to import) are imported in the
# functions that use them, not when the service starts
from service.planning.cache import cached
from service.planning.errors import PlanInputError
from service.planning.scenario import ScenarioError, apply, dump, parse_scenario
from service.planning.schemas import MapIn, SimulateIn

if TYPE_CHECKING:
    import pandas as pd

    from service.matcher import Matcher
    from service.planning.schemas import CompareIn, OptimiseIn
    from service.runtime import Runtime

log = logging.getLogger(__name__)


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """A table's rows as JSON (NaN and infinities as null)."""
    out = df.to_dict(orient="records")
    return [
        {str(k): (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
        for r in out
    ]


def tables_json(tables: dict[str, pd.DataFrame]) -> dict[str, list[dict[str, Any]]]:
    """Tables as people read them (rounded), as JSON rows."""
    from service.planning.simulate import rounded  # noqa: PLC0415

    return {name: records(df) for name, df in rounded(tables).items()}


def pack_json(m: Matcher) -> dict[str, str]:
    """The pack the planner works with: the dataset's own regency's (its regionalisation is what a
    scenario changes and what is optimised; origins of other regencies keep their own packs)."""  # noqa: D205, D209
    return {"id": m.pack.id, "version": m.pack.version, "regency": m.pack.regency}


def input_error(field: str, exc: ScenarioError) -> PlanInputError:
    """Every problem of a scenario, each by its path under ``field`` and with its code."""
    return PlanInputError(
        [(f"{field}.{p.path}" if p.path else field, p.message, p.code) for p in exc.problems]
    )


def scenario_matcher(rt: Runtime, raw: dict[str, Any], *, field: str = "scenario") -> Matcher:
    """The engine for a scenario given as JSON (a 422 naming every problem under ``field``)."""
    from service.planning.simulate import matcher_for  # noqa: PLC0415

    try:
        applied = apply(parse_scenario(raw, source="scenario"), rt.matcher.dataset, rt.matcher.pack)
    except ScenarioError as exc:
        raise input_error(field, exc) from None
    return matcher_for(applied, rt.matcher)


def simulate_answer(rt: Runtime, body: SimulateIn) -> dict[str, Any]:
    """Synthetic demand through the engine (of the scenario, if any): the metric tables."""
    from service.planning.demand import synthetic  # noqa: PLC0415
    from service.planning.simulate import metrics, simulate  # noqa: PLC0415

    m = scenario_matcher(rt, body.scenario) if body.scenario else rt.matcher
    demand = synthetic(m.dataset, referrals=body.referrals, seed=body.seed, days=body.days)
    tables = metrics(simulate(m, demand, occupancy=body.occupancy), demand, m)
    return {
        "modelled_roads": m.dataset.roads.modelled,
        "rule_pack": pack_json(m),
        "tables": tables_json(tables),
    }


def compare_answer(rt: Runtime, body: CompareIn) -> dict[str, Any]:
    """Today and the scenario on the same demand: tables side by side, and what changes."""
    from service.planning.changes import changes  # noqa: PLC0415
    from service.planning.demand import synthetic  # noqa: PLC0415
    from service.planning.simulate import compare, metrics, simulate  # noqa: PLC0415

    scen = scenario_matcher(rt, body.scenario)
    demand = synthetic(rt.matcher.dataset, referrals=body.referrals, seed=body.seed, days=body.days)
    a = simulate(rt.matcher, demand, occupancy=body.occupancy)
    b = simulate(scen, demand, occupancy=body.occupancy)
    moved = changes(demand, a, b, scen.dataset)
    return {
        "changed_destinations": moved["referrals"],
        "changes": moved,
        "tables": tables_json(compare(metrics(a, demand, rt.matcher), metrics(b, demand, scen))),
        "rule_pack": pack_json(rt.matcher),
    }


def optimise_answer(rt: Runtime, body: OptimiseIn) -> dict[str, Any]:
    """The optimised regions, against the regulation's, as tables and as a scenario."""
    from service.planning.demand import synthetic  # noqa: PLC0415
    from service.planning.optimise import optimise, plan_tables  # noqa: PLC0415

    demand = synthetic(rt.matcher.dataset, referrals=body.referrals, seed=body.seed)
    plan = optimise(rt.matcher, demand, capacity_factor=body.capacity_factor,
                    time_limit_s=body.time_limit_s, seed=body.seed)  # fmt: skip
    s = plan.solution
    mean = round(s.mean_time_s / 60, 2) if s.assignment else None
    gap = s.gap if math.isfinite(s.gap) else None
    return {
        "status": s.status, "reason": s.reason, "mean_min": mean,
        "regulation_mean_min": round(plan.current_mean_s / 60, 2), "gap": gap,
        "solve_s": round(s.solve_s, 3), "assignment": dict(s.assignment), "load": dict(s.load),
        "capacity": dict(zip(plan.problem.hospital_ids, plan.problem.capacity, strict=True)),
        "scenario_yaml": dump(plan.scenario), "moves": len(plan.scenario.changes),
        "tables": plan_tables(plan, rt.matcher), "rule_pack": pack_json(rt.matcher),
    }  # fmt: skip


def coverage_answer(rt: Runtime) -> dict[str, Any]:
    """Population within 30 / 60 / 120 minutes of each kind of care, per view and per desa."""
    from service.planning.coverage import coverage  # noqa: PLC0415

    return {"tables": tables_json(coverage(rt.matcher))}


def map_answer(rt: Runtime, body: MapIn) -> dict[str, Any]:
    """Per desa: where its referrals go and the road time to the nearest hospital."""
    from service.planning.coverage import coverage  # noqa: PLC0415
    from service.planning.demand import synthetic  # noqa: PLC0415
    from service.planning.maps import TIME_BANDS, catchments  # noqa: PLC0415
    from service.planning.simulate import simulate  # noqa: PLC0415

    m = scenario_matcher(rt, body.scenario) if body.scenario else rt.matcher
    demand = synthetic(m.dataset, referrals=body.referrals, seed=body.seed)
    dest_of, hospitals, colour = catchments(demand, simulate(m, demand))
    names = {f.id: f.name for f in m.dataset.facilities}
    received = {h: sum(c[h] for c in dest_of.values()) for h in hospitals}
    desa = []
    for row in records(coverage(m)["by_desa"]):
        counts = dest_of.get(row["desa_id"])
        top = counts.most_common(1)[0] if counts else None
        desa.append({"id": row["desa_id"], "name": row["name"], "kecamatan": row["kecamatan"],
                     "lon": row["lon"], "lat": row["lat"], "population": row["population"],
                     "destination_id": top[0] if top else None,
                     "share": round(top[1] / sum(counts.values()), 3) if top and counts else None,
                     "referrals": sum(counts.values()) if counts else 0,
                     "nearest_hospital_min": row.get("any-hospital_min")})  # fmt: skip
    hospital_rows = [
        {"id": h, "name": names.get(h, h), "colour": colour[h], "referrals": received[h]} for h in hospitals
    ]
    bands = [
        {"max_min": None if math.isinf(t) else t, "colour": c, "label": label} for t, c, label in TIME_BANDS
    ]
    return {
        "modelled_roads": m.dataset.roads.modelled,
        "hospitals": hospital_rows,
        "time_bands": bands,
        "desa": desa,
    }


#: what the planner's page asks when it opens (its form's defaults): today's map and figures
FIRST_REFERRALS, FIRST_SEED = 5000, 1


def warm(rt: Runtime) -> None:
    """Compute what the planner's page opens with, so its first view is quick (blocking)."""
    where = MapIn(referrals=FIRST_REFERRALS, seed=FIRST_SEED)
    cached(rt, "map", where.model_dump(mode="json"), lambda: map_answer(rt, where))
    today = SimulateIn(referrals=FIRST_REFERRALS, seed=FIRST_SEED)
    cached(rt, "simulate", today.model_dump(mode="json"), lambda: simulate_answer(rt, today))


async def warm_in_background(rt: Runtime) -> None:
    """``warm`` in a worker thread, at start-up; a failure is logged, never fatal (the page then
    computes its first view when asked)."""  # noqa: D205, D209
    try:
        await run_in_threadpool(warm, rt)
    except Exception:
        log.exception("planner: the first view could not be computed at start-up")
