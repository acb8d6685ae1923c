"""HTTP routes for planners: simulate, compare, optimise, coverage (the same code as ``rujuk plan``).

Heavy work (hundreds of thousands of referrals through the engine, CP-SAT) runs in a worker
thread; inputs are bounded. A scenario is given inline with the file format's shape.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import Field

from service.auth import Principal, Role
from service.planning.coverage import coverage
from service.planning.demand import synthetic
from service.planning.optimise import optimise
from service.planning.scenario import ScenarioError, apply, dump, parse_scenario
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
