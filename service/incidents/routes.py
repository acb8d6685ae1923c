"""HTTP routes for mass-casualty incidents (Pasal 6): declare, add casualties, distribute, adjust,
send every referral in one step, follow on a board, close. Dispatchers and planners (the
district office) run them; a receiving hospital reads what happened and its own share."""  # noqa: D205, D209

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.concurrency import run_in_threadpool

from routing.errors import RoutingError
from service.auth import Principal, Role
from service.deps import AnyUser, Rt, require
from service.errors import ForbiddenError, InputError, NotFoundError
from service.http import doc
from service.incidents import store
from service.incidents.schemas import (
    AdjustIn,
    CasualtiesIn,
    CasualtyIn,
    IncidentIn,
    IncidentOut,
    IncidentSummaryOut,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from service.database import Incident
    from service.runtime import Runtime

router = APIRouter(prefix="/api", tags=["incidents"])
Commander = Annotated[Principal, Depends(require(Role.DISPATCHER, Role.PLANNER))]


def _new(cs: list[CasualtyIn]) -> list[store.NewCasualty]:
    return [
        store.NewCasualty(
            triage=c.triage,
            age_years=c.age_years,
            sex=c.sex,
            icd10=tuple(c.icd10),
            bed=c.bed,
            label=c.label,
            note=c.note,
        )
        for c in cs
    ]


def _scene(rt: Runtime, body: IncidentIn) -> tuple[float, float, str]:
    """Where (lon, lat) and the facility the referrals come from (the nearest by straight line)."""
    if body.facility_id is not None:
        try:
            f = rt.dataset.facility(body.facility_id)
        except KeyError:
            raise InputError(
                "facility_id", f"unknown facility {body.facility_id!r}", code="unknown_facility"
            ) from None
        lon, lat = f.location.lon, f.location.lat
    elif body.lon is not None and body.lat is not None:
        lon, lat = body.lon, body.lat
    else:
        raise InputError("lon", "give lon and lat of the scene, or facility_id")
    try:  # casualties leave the scene by road
        rt.matcher.engine.snap(lon, lat)
    except RoutingError as exc:
        raise InputError("lon" if body.facility_id is None else "facility_id", str(exc)) from None
    if body.origin_id is not None:
        if body.origin_id not in rt.facility_ids:
            raise InputError("origin_id", f"unknown facility {body.origin_id!r}", code="unknown_facility")
        return lon, lat, body.origin_id
    # the nearest first-level facility refers (a hospital at the scene must stay a destination)
    firsts = [f for f in rt.dataset.facilities if not f.receiving] or list(rt.dataset.facilities)
    near = min(firsts, key=lambda f: math.dist((f.location.lon, f.location.lat), (lon, lat)))
    return lon, lat, near.id


@router.post("/incidents", **doc(IncidentOut, 401, 403, status=201))
async def declare(body: IncidentIn, rt: Rt, p: Commander) -> dict[str, Any]:
    """Declare a mass-casualty incident at a point (or a facility), with its casualties as triaged
    (or none yet: add them as they are counted)."""  # noqa: D205, D209
    lon, lat, origin = _scene(rt, body)
    now = rt.clock()
    if body.occurred_at is not None and body.occurred_at > now + dt.timedelta(minutes=5):
        raise InputError("occurred_at", "is in the future", code="in_future")

    def write() -> dict[str, Any]:
        with rt.sessions() as s:
            scene = store.Scene(body.name.strip(), body.kind, lon, lat, origin, body.occurred_at or now)
            inc = store.declare(s, scene, actor=p.user_id, now=now)
            if body.casualties:
                store.add_casualties(s, inc, _new(body.casualties), actor=p.user_id, now=now)
            s.commit()
            return store.board(s, inc)

    return await run_in_threadpool(write)


@router.get("/incidents", **doc(list[dict[str, Any]], 401, 403))
async def list_incidents(rt: Rt, p: AnyUser) -> list[dict[str, Any]]:
    """Incidents open now: every one for dispatchers and planners; for a hospital's staff, those
    that sent it casualties (with its share)."""  # noqa: D205, D209

    def read() -> list[dict[str, Any]]:
        with rt.sessions() as s:
            return store.open_incidents(s, p)

    return await run_in_threadpool(read)


@router.get("/incidents/{incident_id}", **doc(IncidentOut | IncidentSummaryOut, 401, 403, 404))
async def get_incident(incident_id: str, rt: Rt, p: AnyUser) -> dict[str, Any]:
    """The incident board (dispatchers, planners): every casualty, its plan, its referral's status and
    ambulance. A hospital's staff get the summary and their share."""  # noqa: D205, D209

    def read() -> dict[str, Any]:
        with rt.sessions() as s:
            inc = store.get(s, incident_id)
            if p.is_admin or p.has(Role.DISPATCHER, Role.PLANNER):
                return store.board(s, inc)
            if p.facility_id is None:
                raise ForbiddenError("needs the role dispatcher or planner, or a facility's staff")
            out = store.summary(s, inc, p.facility_id)
            if not out["here"]:
                raise NotFoundError(f"no incident {incident_id!r}")  # not one of theirs
            return out

    return await run_in_threadpool(read)


async def _on(
    rt: Runtime, incident_id: str, op: Callable[[Any, Incident, Mapping[str, Any]], object]
) -> dict[str, Any]:
    """One change to an incident, in a worker thread: the live statuses read, the incident loaded,
    ``op`` applied, committed; the board answered (with what ``op`` returns when it is a dict)."""  # noqa: D205, D209

    def write() -> dict[str, Any]:
        statuses = rt.read(rt.statuses)
        with rt.sessions() as s:
            inc = store.get(s, incident_id, for_update=True)
            extra = op(s, inc, statuses)
            s.commit()
            return store.board(s, inc) | (extra if isinstance(extra, dict) else {})

    return await run_in_threadpool(write)


@router.post("/incidents/{incident_id}/casualties", **doc(IncidentOut, 401, 403, 404, 409))
async def add(incident_id: str, body: CasualtiesIn, rt: Rt, p: Commander) -> dict[str, Any]:
    """More casualties, as they are counted (labels K-01, K-02... unless given)."""

    def op(s: Any, inc: Incident, _: Mapping[str, Any]) -> object:  # noqa: ANN401  s: a Session
        return store.add_casualties(s, inc, _new(body.casualties), actor=p.user_id, now=rt.clock())

    return await _on(rt, incident_id, op)


@router.post("/incidents/{incident_id}/plan", **doc(IncidentOut, 401, 403, 404, 409))
async def plan(incident_id: str, rt: Rt, p: Commander) -> dict[str, Any]:
    """Distribute the casualties not sent yet over the hospitals by live free beds and road time from
    the scene (CP-SAT: as much severity placed as the beds allow, then the least triage-weighted
    time); each one unplaced says why. Proposes: nothing is sent yet."""  # noqa: D205, D209

    def op(s: Any, inc: Incident, st: Mapping[str, Any]) -> object:  # noqa: ANN401  s: a Session
        return {"solver": store.plan(s, rt.matcher, inc, statuses=st, actor=p.user_id, now=rt.clock())}

    return await _on(rt, incident_id, op)


@router.patch("/incidents/{incident_id}/casualties/{casualty_id}", **doc(IncidentOut, 401, 403, 404, 409))
async def adjust(
    incident_id: str,
    casualty_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: AdjustIn,
    rt: Rt,
    p: Commander,
) -> dict[str, Any]:
    """Change one casualty's hospital by hand (it must be able to take them, with a bed left), or
    take them out of the plan (``hospital_id: null``)."""  # noqa: D205, D209
    if body.hospital_id is not None and body.hospital_id not in rt.receiving_ids:
        raise InputError(
            "hospital_id", f"{body.hospital_id!r} is not a receiving facility", code="not_receiving"
        )

    def op(s: Any, inc: Incident, st: Mapping[str, Any]) -> object:  # noqa: ANN401  s: a Session
        return store.adjust(s, rt.matcher, inc, casualty_id, body.hospital_id, statuses=st, actor=p.user_id,
                            now=rt.clock())  # fmt: skip

    return await _on(rt, incident_id, op)


@router.post("/incidents/{incident_id}/send", **doc(IncidentOut, 401, 403, 404, 409))
async def send(incident_id: str, rt: Rt, p: Commander) -> dict[str, Any]:
    """Every planned casualty not sent yet becomes a referral, sent to its hospital, in one step:
    each an ordinary referral (accepted, dispatched, arrived), marked as part of the incident."""  # noqa: D205, D209

    def op(s: Any, inc: Incident, st: Mapping[str, Any]) -> object:  # noqa: ANN401  s: a Session
        within = rt.answer_within_min_of(rt.matcher.pack_at(inc.lon, inc.lat))  # the scene's pack
        return store.send(
            s, rt.matcher, inc, principal=p, statuses=st, answer_within_min=within, now=rt.clock()
        )

    return await _on(rt, incident_id, op)


@router.post("/incidents/{incident_id}/close", **doc(IncidentOut, 401, 403, 404, 409))
async def close(incident_id: str, rt: Rt, p: Commander) -> dict[str, Any]:
    """The incident is over; its referrals go on as ordinary referrals."""

    def op(s: Any, inc: Incident, _: Mapping[str, Any]) -> object:  # noqa: ANN401  s: a Session
        return store.close(s, inc, actor=p.user_id, now=rt.clock())

    return await _on(rt, incident_id, op)
