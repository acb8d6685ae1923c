"""HTTP routes for live road conditions: list (any signed-in user: every map draws them), create and
lift (dispatchers, planners, admins). Created or lifted on one worker, in force on every worker
within ``road_sync_s`` seconds (each syncs its engine with the database)."""  # noqa: D205, D209

from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from service.auth import Principal, Role
from service.deps import AnyUser, Rt, require
from service.errors import InputError
from service.http import doc
from service.roads import conditions
from service.roads.schemas import RoadConditionIn, RoadConditionOut, RoadConditionsOut

if TYPE_CHECKING:
    from service.runtime import Runtime

router = APIRouter(prefix="/api", tags=["roads"])
Editor = Annotated[Principal, Depends(require(Role.DISPATCHER, Role.PLANNER))]
#: the longest a condition may be set to last (longer ones are lifted by hand)
MAX_DURATION = dt.timedelta(days=90)
#: corners an area may have
MAX_CORNERS = 2000


@router.get("/road-conditions", **doc(RoadConditionsOut, 401))
async def list_conditions(rt: Rt, _: AnyUser) -> dict[str, Any]:
    """The road conditions in force (closed or slowed), with their geometry for the maps, and the
    road graph version this worker routes on (it includes them once applied here)."""  # noqa: D205, D209

    def read() -> list[dict[str, Any]]:
        with rt.sessions() as s:
            return [conditions.condition_json(r) for r in conditions.active(s, rt.clock())]

    rows = await run_in_threadpool(read)
    return {"graph_version": rt.matcher.engine.version, "worker_pid": os.getpid(), "conditions": rows}


def _check(body: RoadConditionIn, now: dt.datetime) -> None:
    if (body.at is None) == (body.polygon is None):
        raise InputError("at", "give either at (a road segment) or polygon (an area), not both")
    if body.kind == "slow" and body.factor is None:
        raise InputError("factor", "a slowdown needs a factor > 1 (travel time x factor)")
    if body.kind == "closed" and body.factor is not None:
        raise InputError("factor", "a closed road has no factor")
    if body.expires_at is not None and not now < body.expires_at <= now + MAX_DURATION:
        raise InputError("expires_at", f"must be in the future and within {MAX_DURATION.days} days")
    if body.polygon is not None and len(str(body.polygon.get("coordinates", ""))) > MAX_CORNERS * 50:
        raise InputError("polygon", f"at most {MAX_CORNERS} corners")


@router.post("/road-conditions", **doc(RoadConditionOut, 401, 403, status=201))
async def create(body: RoadConditionIn, rt: Rt, p: Editor) -> dict[str, Any]:
    """Close a road or slow it: the segment nearest ``at`` (both ways) or every road touching
    ``polygon``, with a reason and an optional expiry. In force here at once (suggestions, nearest,
    ETAs), on every worker within seconds."""  # noqa: D205, D209
    now = rt.clock()
    _check(body, now)
    engine = rt.matcher.engine

    def write() -> dict[str, Any]:
        pick = (conditions.pick_segment(engine, body.at.lon, body.at.lat) if body.at is not None
                else conditions.pick_area(body.polygon or {}))  # fmt: skip
        with rt.sessions() as s:
            spec = conditions.Spec(body.kind, body.factor, pick, body.reason.strip(), body.expires_at)
            row, n = conditions.create(s, engine, spec, actor=p.user_id, now=now)
            s.commit()
            conditions.put_in_force(engine, row)
            return conditions.condition_json(row) | {"edges": n}

    out = await run_in_threadpool(write)
    await _announce(rt)
    return out


@router.delete("/road-conditions/{condition_id}", **doc(RoadConditionOut, 401, 403, 404, 409))
async def lift(condition_id: str, rt: Rt, p: Editor) -> dict[str, Any]:
    """Lift a road condition: the road is open again here at once, on every worker within seconds."""

    def write() -> dict[str, Any]:
        with rt.sessions() as s:
            row = conditions.lift(s, condition_id, actor=p.user_id, now=rt.clock())
            s.commit()
            conditions.take_off(rt.matcher.engine, row.id)
            return conditions.condition_json(row)

    out = await run_in_threadpool(write)
    await _announce(rt)
    return out


async def _announce(rt: Runtime) -> None:
    """Tell the dispatchers' live maps (best effort: they also reload every minute)."""
    if rt.tracker is not None:
        await rt.tracker.publish({"type": "roads", "graph_version": rt.matcher.engine.version})
