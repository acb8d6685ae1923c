"""HTTP routes for planners: simulate, compare, optimise, coverage (the same code as ``rujuk plan``).

Heavy work (hundreds of thousands of referrals through the engine, CP-SAT) runs in a worker
thread; inputs are bounded. A scenario is given inline with the file format's shape.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import yaml
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import Field

from service.auth import Principal, Role
from service.planning.coverage import coverage
from service.planning.demand import synthetic
from service.planning.maps import TIME_BANDS, catchments
from service.planning.optimise import optimise
from service.planning.scenario import Scenario, ScenarioError, apply, dump, parse_scenario
from service.planning.simulate import compare, destinations, matcher_for, metrics, simulate
from service.runtime import Runtime, require
from service.schemas import _Strict
from service.store import InputError

router = APIRouter(prefix="/api/plan", tags=["planning"])
Planner = Annotated[Principal, Depends(require(Role.PLANNER))]


class DemandIn(_Strict):
    """Synthetic demand (documented rates) and how to play it."""

    referrals: int = Field(default=10_000, ge=1, le=200_000)
    seed: int = Field(default=1, ge=0, le=2**31)
    days: int = Field(default=365, ge=1, le=3660)
    occupancy: bool = False


class SimulateIn(DemandIn):
    """Optionally a scenario (the YAML file's shape, as JSON)."""

    scenario: dict[str, Any] | None = None


class CompareIn(DemandIn):
    """A scenario against the base on the same demand."""

    scenario: dict[str, Any]


class OptimiseIn(_Strict):
    """Demand and capacities for the regionalisation optimiser."""

    referrals: int = Field(default=10_000, ge=1, le=200_000)
    seed: int = Field(default=1, ge=0, le=2**31)
    capacity_factor: float = Field(default=1.2, gt=0.1, le=100)
    time_limit_s: float = Field(default=10.0, gt=0, le=120)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = df.to_dict(orient="records")
    return [
        {str(k): (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
        for r in out
    ]


def _tables(tables: dict[str, pd.DataFrame]) -> dict[str, list[dict[str, Any]]]:
    return {name: _records(df) for name, df in tables.items()}


def _scenario_matcher(rt: Runtime, raw: dict[str, Any]) -> Any:  # noqa: ANN401  a Matcher
    try:
        applied = apply(parse_scenario(raw, source="scenario"), rt.matcher.dataset, rt.matcher.pack)
    except ScenarioError as exc:
        first = exc.problems[0]
        field, _, msg = first.partition(": ")
        raise InputError(f"scenario.{field}", msg or first) from None
    return matcher_for(applied, rt.matcher)


@router.post("/simulate")
async def simulate_route(body: SimulateIn, request: Request, _: Planner) -> dict[str, Any]:
    """Synthetic demand through the live matching engine: metrics per kecamatan, Puskesmas, hospital."""
    rt: Runtime = request.app.state.runtime

    def run() -> dict[str, Any]:
        m = _scenario_matcher(rt, body.scenario) if body.scenario else rt.matcher
        demand = synthetic(m.dataset, referrals=body.referrals, seed=body.seed, days=body.days)
        return {"modelled_roads": m.dataset.roads.modelled,
                "tables": _tables(metrics(simulate(m, demand, occupancy=body.occupancy), demand, m))}  # fmt: skip

    return await run_in_threadpool(run)


@router.post("/compare")
async def compare_route(body: CompareIn, request: Request, _: Planner) -> dict[str, Any]:
    """The base and a scenario on the same demand, side by side with the differences."""
    rt: Runtime = request.app.state.runtime

    def run() -> dict[str, Any]:
        scen = _scenario_matcher(rt, body.scenario)
        demand = synthetic(rt.matcher.dataset, referrals=body.referrals, seed=body.seed, days=body.days)
        a = simulate(rt.matcher, demand, occupancy=body.occupancy)
        b = simulate(scen, demand, occupancy=body.occupancy)
        return {
            "changed_destinations": int((destinations(a) != destinations(b)).sum()),
            "tables": _tables(compare(metrics(a, demand, rt.matcher), metrics(b, demand, scen))),
        }

    return await run_in_threadpool(run)


@router.post("/optimise")
async def optimise_route(body: OptimiseIn, request: Request, _: Planner) -> dict[str, Any]:
    """The regionalisation with the least demand-weighted travel time under capacities (CP-SAT)."""
    rt: Runtime = request.app.state.runtime

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
            "scenario_yaml": dump(plan.scenario),
        }  # fmt: skip

    return await run_in_threadpool(run)


@router.get("/coverage")
async def coverage_route(request: Request, _: Planner) -> dict[str, Any]:
    """Population within 30 / 60 / 120 minutes by road of each kind of care, per view and per desa."""
    rt: Runtime = request.app.state.runtime
    return {"tables": _tables(await run_in_threadpool(coverage, rt.matcher))}


# ------------------------------------------------------------------------- for the planner's page

EXAMPLES_DIR = Path(__file__).parent / "planning" / "examples"


class ScenarioTextIn(_Strict):
    """A scenario file's text, as uploaded."""

    yaml: str = Field(min_length=1, max_length=200_000)


class MapIn(_Strict):
    """Whose catchments: the base, or a scenario (the YAML file's shape, as JSON)."""

    referrals: int = Field(default=5_000, ge=1, le=100_000)
    seed: int = Field(default=1, ge=0, le=2**31)
    scenario: dict[str, Any] | None = None


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


@router.get("/examples")
def examples(_: Planner) -> list[dict[str, Any]]:
    """The bundled example scenarios (name, description, YAML text and its JSON form)."""
    out = []
    for p in sorted(EXAMPLES_DIR.glob("*.yaml")):
        text = p.read_text(encoding="utf-8")
        sc = _scenario_from_text(text, p.name)
        out.append({"file": p.name, "name": sc.name, "description": sc.description, "yaml": text,
                    "scenario": sc.model_dump(mode="json", exclude_none=True)})  # fmt: skip
    return out


@router.post("/scenario")
def check_scenario(body: ScenarioTextIn, request: Request, _: Planner) -> dict[str, Any]:
    """Check an uploaded scenario file against the base (every problem named by its path);
    answer its JSON form, ready for simulate / compare / map."""  # noqa: D205, D209
    rt: Runtime = request.app.state.runtime
    sc = _scenario_from_text(body.yaml, "yaml")
    raw = sc.model_dump(mode="json", exclude_none=True)
    _scenario_matcher(rt, raw)  # unknown facilities, regions...: a 422 naming the change
    return {"name": sc.name, "description": sc.description, "changes": len(sc.changes), "scenario": raw}


@router.post("/map")
async def map_route(body: MapIn, request: Request, _: Planner) -> dict[str, Any]:
    """Per desa: where its referrals go (the catchments of a simulation) and the road time to the
    nearest hospital, for the planner's maps."""  # noqa: D205, D209
    rt: Runtime = request.app.state.runtime

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
