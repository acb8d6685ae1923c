"""HTTP route for a receiving facility: patients accepted and on their way, with the ambulance's live ETA."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from service.auth import Role
from service.deps import Rt, Staff, check_role
from service.errors import ForbiddenError, PositionsUnavailableError
from service.http import doc
from service.runtime import Runtime
from service.tracking.incoming import OnTheWay, on_the_way
from service.tracking.ingest import registry
from service.tracking.schemas import IncomingOut
from service.tracking.tracker import Latest
from service.tracking.views import eta_json, position_json

router = APIRouter(prefix="/api", tags=["tracking"])


def _read(rt: Runtime, p: Any, facility_id: str) -> list[tuple[OnTheWay, float | None]]:  # noqa: ANN401
    with rt.sessions() as s:
        rows = on_the_way(s, p, facility_id)
    out = []
    for row in rows:
        travel = rt.matcher.travel_from_facility(row.origin_id).get(facility_id)
        out.append((row, travel[0] if travel else None))
    return out


@router.get("/incoming", **doc(IncomingOut, 401, 403))
async def incoming(rt: Rt, p: Staff) -> dict[str, Any]:
    """Patients this facility accepted that have not arrived: each with its ambulance, its live
    position and ETA here once it is transporting, and the road time from the referring facility.
    """  # noqa: D205
    check_role(p, Role.RECEIVER, Role.REFERRER)
    if p.facility_id is None:
        raise ForbiddenError("your account is not bound to a facility")
    rows = await run_in_threadpool(_read, rt, p, p.facility_id)
    reg = await registry(rt)
    latest: dict[str, Latest] = {}
    up = rt.tracker is not None
    ids = [r.ambulance_id for r, _ in rows if r.ambulance_id]
    if rt.tracker is not None and ids:
        try:
            latest = await rt.tracker.latest(ids)
        except PositionsUnavailableError:
            up = False
    now = rt.clock()
    out = []
    for row, road_s in rows:
        aid = row.ambulance_id
        info = reg.get(aid) if aid else None
        la = latest.get(aid) if aid else None
        eta = eta_json(la, info.status) if info else None
        if eta is not None and eta["destination_id"] != p.facility_id:
            eta = None  # heading somewhere else: no ETA here
        out.append(
            {
                "referral": row.referral,
                "road_time_s": round(road_s, 1) if road_s is not None else None,
                "ambulance": None
                if info is None
                else {
                    "id": info.id,
                    "kind": info.kind,
                    "status": info.status,
                    "position": position_json(la, now, rt.settings.position_stale_s),
                    "eta": eta,
                },
            }
        )
    return {
        "facility_id": p.facility_id,
        "positions_available": up,
        "at": now.astimezone(dt.UTC).isoformat(),
        "patients": out,
    }
