"""HTTP routes for planners: simulate, compare, optimise, coverage (the same code as ``rujuk plan``).

Heavy work (hundreds of thousands of referrals through the engine, CP-SAT) runs in a worker
thread; inputs are bounded. A scenario is given inline with the file format's shape.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from service.deps import Planner, Rt
from service.errors import InputError
from service.http import doc
from service.planning.changes import changes
from service.planning.coverage import coverage
from service.planning.demand import synthetic
from service.planning.maps import TIME_BANDS, catchments
from service.planning.optimise import optimise, plan_tables
from service.planning.scenario import Scenario, ScenarioError, apply, dump, parse_scenario
from service.planning.schemas import (
    CompareIn,
    CompareOut,
    ExampleOut,
    MapIn,
    MapOut,
    OptimiseIn,
    OptimiseOut,
    ScenarioOut,
    ScenarioTextIn,
    SimulateIn,
    TablesOut,
)
from service.planning.simulate import compare, matcher_for, metrics, rounded, simulate
from service.runtime import Runtime

router = APIRouter(prefix="/api/plan", tags=["planning"])


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = df.to_dict(orient="records")
    return [
        {str(k): (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
        for r in out
    ]


def _tables(tables: dict[str, pd.DataFrame]) -> dict[str, list[dict[str, Any]]]:
    return {name: _records(df) for name, df in rounded(tables).items()}


def _scenario_matcher(rt: Runtime, raw: dict[str, Any]) -> Any:  # noqa: ANN401  a Matcher
    try:
        applied = apply(parse_scenario(raw, source="scenario"), rt.matcher.dataset, rt.matcher.pack)
    except ScenarioError as exc:
        first = exc.problems[0]
        field, _, msg = first.partition(": ")
        raise InputError(f"scenario.{field}", msg or first) from None
    return matcher_for(applied, rt.matcher)


@router.post("/simulate", **doc(TablesOut, 401, 403))
async def simulate_route(body: SimulateIn, rt: Rt, _: Planner) -> dict[str, Any]:
    """Synthetic demand through the live matching engine: metrics per kecamatan, Puskesmas, hospital."""

    def run() -> dict[str, Any]:
        m = _scenario_matcher(rt, body.scenario) if body.scenario else rt.matcher
        demand = synthetic(m.dataset, referrals=body.referrals, seed=body.seed, days=body.days)
        return {"modelled_roads": m.dataset.roads.modelled,
                "tables": _tables(metrics(simulate(m, demand, occupancy=body.occupancy), demand, m))}  # fmt: skip

    return await run_in_threadpool(run)


@router.post("/compare", **doc(CompareOut, 401, 403))
async def compare_route(body: CompareIn, rt: Rt, _: Planner) -> dict[str, Any]:
    """The base and a scenario on the same demand, side by side with the differences."""

    def run() -> dict[str, Any]:
        scen = _scenario_matcher(rt, body.scenario)
        demand = synthetic(rt.matcher.dataset, referrals=body.referrals, seed=body.seed, days=body.days)
        a = simulate(rt.matcher, demand, occupancy=body.occupancy)
        b = simulate(scen, demand, occupancy=body.occupancy)
        moved = changes(demand, a, b, scen.dataset)
        return {
            "changed_destinations": moved["referrals"],
            "changes": moved,
            "tables": _tables(compare(metrics(a, demand, rt.matcher), metrics(b, demand, scen))),
        }

    return await run_in_threadpool(run)


@router.post("/optimise", **doc(OptimiseOut, 401, 403))
async def optimise_route(body: OptimiseIn, rt: Rt, _: Planner) -> dict[str, Any]:
    """The regionalisation with the least demand-weighted travel time under capacities (CP-SAT)."""

    def run() -> dict[str, Any]:
        demand = synthetic(rt.matcher.dataset, referrals=body.referrals, seed=body.seed)
        plan = optimise(rt.matcher, demand, capacity_factor=body.capacity_factor,
                        time_limit_s=body.time_limit_s, seed=body.seed)  # fmt: skip
        s = plan.solution
        return {
            "status": s.status, "reason": s.reason, "mean_min": round(s.mean_time_s / 60, 2) if s.assignment else None,
            "regulation_mean_min": round(plan.current_mean_s / 60, 2), "gap": s.gap if math.isfinite(s.gap) else None,
            "solve_s": round(s.solve_s, 3), "assignment": dict(s.assignment), "load": dict(s.load),
            "capacity": dict(zip(plan.problem.hospital_ids, plan.problem.capacity, strict=True)),
            "scenario_yaml": dump(plan.scenario), "moves": len(plan.scenario.changes),
            "tables": plan_tables(plan, rt.matcher),
        }  # fmt: skip

    return await run_in_threadpool(run)


@router.get("/coverage", **doc(TablesOut, 401, 403))
async def coverage_route(rt: Rt, _: Planner) -> dict[str, Any]:
    """Population within 30 / 60 / 120 minutes by road of each kind of care, per view and per desa."""
    return {"tables": _tables(await run_in_threadpool(coverage, rt.matcher))}


# ------------------------------------------------------------------------- for the planner's page

EXAMPLES_DIR = Path(__file__).parent / "examples"


def _scenario_from_text(text: str, field: str) -> Scenario:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise InputError(field, f"not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    try:
        return parse_scenario(raw, source="scenario")
    except ScenarioError as exc:
        first = exc.problems[0]
        path, _, msg = first.partition(": ")
        raise InputError(f"{field}.{path}", msg or first) from None


@router.get("/examples", **doc(list[ExampleOut], 401, 403))
def examples(_: Planner) -> list[dict[str, Any]]:
    """The bundled example scenarios (name, description, YAML text and its JSON form)."""
    out = []
    for p in sorted(EXAMPLES_DIR.glob("*.yaml")):
        text = p.read_text(encoding="utf-8")
        sc = _scenario_from_text(text, p.name)
        out.append({"file": p.name, "name": sc.name, "description": sc.description, "yaml": text,
                    "scenario": sc.model_dump(mode="json", exclude_none=True)})  # fmt: skip
    return out


@router.post("/scenario", **doc(ScenarioOut, 401, 403))
def check_scenario(body: ScenarioTextIn, rt: Rt, _: Planner) -> dict[str, Any]:
    """Check an uploaded scenario file against the base (every problem named by its path);
    answer its JSON form, ready for simulate / compare / map."""  # noqa: D205, D209
    sc = _scenario_from_text(body.yaml, "yaml")
    raw = sc.model_dump(mode="json", exclude_none=True)
    _scenario_matcher(rt, raw)  # unknown facilities, regions...: a 422 naming the change
    return {"name": sc.name, "description": sc.description, "changes": len(sc.changes), "scenario": raw}


@router.post("/map", **doc(MapOut, 401, 403))
async def map_route(body: MapIn, rt: Rt, _: Planner) -> dict[str, Any]:
    """Per desa: where its referrals go (the catchments of a simulation) and the road time to the
    nearest hospital, for the planner's maps."""  # noqa: D205, D209

    def run() -> dict[str, Any]:
        m = _scenario_matcher(rt, body.scenario) if body.scenario else rt.matcher
        demand = synthetic(m.dataset, referrals=body.referrals, seed=body.seed)
        dest_of, hospitals, colour = catchments(demand, simulate(m, demand))
        names = {f.id: f.name for f in m.dataset.facilities}
        received = {h: sum(c[h] for c in dest_of.values()) for h in hospitals}
        desa = []
        for row in _records(coverage(m)["by_desa"]):
            counts = dest_of.get(row["desa_id"])
            top = counts.most_common(1)[0] if counts else None
            desa.append({"id": row["desa_id"], "name": row["name"], "kecamatan": row["kecamatan"],
                         "lon": row["lon"], "lat": row["lat"], "population": row["population"],
                         "destination_id": top[0] if top else None,
                         "share": round(top[1] / sum(counts.values()), 3) if top and counts else None,
                         "referrals": sum(counts.values()) if counts else 0,
                         "nearest_hospital_min": row.get("any-hospital_min")})  # fmt: skip
        hospital_rows = [
            {"id": h, "name": names.get(h, h), "colour": colour[h], "referrals": received[h]}
            for h in hospitals
        ]
        bands = [
            {"max_min": None if math.isinf(t) else t, "colour": c, "label": label}
            for t, c, label in TIME_BANDS
        ]
        return {
            "modelled_roads": m.dataset.roads.modelled,
            "hospitals": hospital_rows,
            "time_bands": bands,
            "desa": desa,
        }

    return await run_in_threadpool(run)
