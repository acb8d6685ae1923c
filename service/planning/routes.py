"""HTTP routes for planners: simulate, compare, optimise, coverage (the same code as ``rujuk plan``).

Heavy work (hundreds of thousands of referrals through the engine, CP-SAT) runs in a worker
thread; inputs are bounded. A scenario is given inline with the file format's shape.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml
from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from service.deps import Planner, Rt
from service.http import doc
from service.planning.answers import (
    compare_answer,
    coverage_answer,
    input_error,
    map_answer,
    optimise_answer,
    scenario_matcher,
    simulate_answer,
)
from service.planning.cache import cached
from service.planning.errors import PlanInputError
from service.planning.export import TABLES, column, table_csv, tables_xlsx
from service.planning.scenario import Scenario, ScenarioError, parse_scenario
from service.planning.schemas import (
    CompareIn,
    CompareOut,
    ExampleOut,
    ExportIn,
    MapIn,
    MapOut,
    OptimiseIn,
    OptimiseOut,
    ScenarioOut,
    ScenarioTextIn,
    SimulateIn,
    TablesOut,
)
from service.runtime import Runtime

router = APIRouter(prefix="/api/plan", tags=["planning"])


def _answer(
    rt: Runtime, kind: str, body: BaseModel, compute: Callable[[], dict[str, Any]]
) -> Awaitable[dict[str, Any]]:
    """The answer from this worker's memory, or computed in a worker thread and kept."""
    return run_in_threadpool(cached, rt, kind, body.model_dump(mode="json"), compute)


@router.post("/simulate", **doc(TablesOut, 401, 403))
async def simulate_route(body: SimulateIn, rt: Rt, _: Planner) -> dict[str, Any]:
    """Synthetic demand through the live matching engine: metrics per kecamatan, Puskesmas, hospital."""
    return await _answer(rt, "simulate", body, lambda: simulate_answer(rt, body))


@router.post("/compare", **doc(CompareOut, 401, 403))
async def compare_route(body: CompareIn, rt: Rt, _: Planner) -> dict[str, Any]:
    """The base and a scenario on the same demand, side by side with the differences (computed on
    the exact figures, then rounded), and the referrals whose destination changes."""  # noqa: D205, D209
    return await _answer(rt, "compare", body, lambda: compare_answer(rt, body))


@router.post("/optimise", **doc(OptimiseOut, 401, 403))
async def optimise_route(body: OptimiseIn, rt: Rt, _: Planner) -> dict[str, Any]:
    """The regionalisation with the least demand-weighted travel time under capacities (CP-SAT)."""
    return await _answer(rt, "optimise", body, lambda: optimise_answer(rt, body))


@router.get("/coverage", **doc(TablesOut, 401, 403))
async def coverage_route(rt: Rt, _: Planner) -> dict[str, Any]:
    """Population within 30 / 60 / 120 minutes by road of each kind of care, per view and per desa."""
    return await run_in_threadpool(cached, rt, "coverage", {}, lambda: coverage_answer(rt))


# ------------------------------------------------------------------------- for the planner's page

EXAMPLES_DIR = Path(__file__).parent / "examples"


def _scenario_from_text(text: str, field: str) -> Scenario:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        msg = f"not valid YAML{where}: {getattr(exc, 'problem', None) or exc}"
        raise PlanInputError.one(field, msg, "yaml_syntax") from None
    try:
        return parse_scenario(raw, source="scenario")
    except ScenarioError as exc:
        raise input_error(field, exc) from None


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
    scenario_matcher(rt, raw, field="yaml")  # unknown facilities, regions...: a 422 naming the change
    return {"name": sc.name, "description": sc.description, "changes": len(sc.changes), "scenario": raw}


@router.post("/map", **doc(MapOut, 401, 403))
async def map_route(body: MapIn, rt: Rt, _: Planner) -> dict[str, Any]:
    """Per desa: where its referrals go (the catchments of a simulation) and the road time to the
    nearest hospital, for the planner's maps (today's, with the page's defaults, computed at start-up)."""  # noqa: D205, D209
    return await _answer(rt, "map", body, lambda: map_answer(rt, body))


_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.post(
    "/export",
    **doc(None, 401, 403, media_type=_XLSX, description="XLSX; CSV with format=csv",
          also=("text/csv; charset=utf-8",)),
)  # fmt: skip
def export(body: ExportIn, _: Planner) -> Response:
    """The tables on the page as a file that opens right in a spreadsheet set to Indonesian: XLSX
    (headers in words, shares as percentages), or one table as CSV (``;``, decimal comma, BOM)."""  # noqa: D205, D209
    for name, rows in body.tables.items():
        if name not in TABLES:
            raise PlanInputError.one(
                f"tables.{name}", f"unknown table (known: {', '.join(TABLES)})", "unknown_table"
            )
        for i, row in enumerate(rows):
            bad = next((c for c in row if column(c) is None), None)
            if bad is not None:
                raise PlanInputError.one(f"tables.{name}[{i}].{bad}", "unknown column", "unknown_column")
    if body.format == "csv":
        if len(body.tables) != 1:
            raise PlanInputError.one("tables", "a CSV file holds one table: send one", "one_table")
        ((name, rows),) = body.tables.items()
        content, media, filename = table_csv(rows, body.lang), "text/csv; charset=utf-8", f"rujuk-{name}.csv"
    else:
        content, media, filename = tables_xlsx(body.tables, body.lang), _XLSX, "rujuk-perencanaan.xlsx"
    return Response(
        content, media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )
