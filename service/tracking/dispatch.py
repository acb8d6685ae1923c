"""Which available ambulance should pick up which waiting patient: road ETAs, then OR-Tools.

An emergency's minutes count double; a mass-casualty incident's casualties weigh by triage (red
before yellow before green when ambulances are short), so its waves carry the reds first.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sqlalchemy import select

from routing.dispatch import DispatchAssignment, DispatchProblem
from service.database import IncidentCasualty, Referral
from service.errors import InputError, NotFoundError
from service.referrals.lifecycle import Status
from service.referrals.queries import get_referral

if TYPE_CHECKING:
    from routing.dispatch import DispatchProposal
    from service.auth import Principal
    from service.runtime import Runtime
    from service.tracking.tracker import Latest

#: (referral id, pickup facility, priority: how much its minutes weigh, and who is served first)
Waiting = tuple[str, str, float]
#: a mass-casualty incident's casualties by triage (the reds first), above any single emergency
TRIAGE_PRIORITY = {"red": 6.0, "yellow": 4.0, "green": 2.5}


def priority(r: Referral, triage: str | None) -> float:
    """An incident's casualty by its triage; an emergency's minutes count double; the rest single."""
    if triage is not None:
        return TRIAGE_PRIORITY.get(triage, 2.0)
    return 2.0 if r.emergency else 1.0


def waiting(rt: Runtime, p: Principal, ids: list[str] | None) -> list[Waiting]:
    """The referrals to plan: these (each checked), or every accepted one without an ambulance."""
    with rt.sessions() as s:
        if ids is None:
            unserved = (Referral.status == Status.ACCEPTED.value, Referral.ambulance_id.is_(None))
            rows = s.scalars(select(Referral).where(*unserved).order_by(Referral.created_at).limit(200)).all()
        else:
            rows = []
            for i, rid in enumerate(ids):
                try:
                    r = get_referral(s, p, rid)
                except NotFoundError:
                    raise InputError(f"referral_ids[{i}]", f"no referral {rid!r}") from None
                if r.status != Status.ACCEPTED.value or r.ambulance_id is not None:
                    raise InputError(
                        f"referral_ids[{i}]", f"referral {rid} is {r.status}, not waiting for transport"
                    )
                rows.append(r)
        ids = [r.id for r in rows if r.incident_id is not None]
        triage: dict[str | None, str] = {}
        if ids:
            rows_t = s.execute(
                select(IncidentCasualty.referral_id, IncidentCasualty.triage).where(
                    IncidentCasualty.referral_id.in_(ids)
                )
            ).all()
            triage = dict(rows_t)
        return [(r.id, r.origin_id, priority(r, triage.get(r.id))) for r in rows]


def propose(rt: Runtime, transfers: list[Waiting], fresh: list[Latest]) -> tuple[DispatchProposal, float]:
    """The optimal proposal (emergencies' minutes count double) and the solver's time in ms."""
    origins = [c.position.road_origin for c in fresh]
    eta: list[list[float | None]] = []
    for _, pickup, _ in transfers:
        f = rt.dataset.facility(pickup)
        times = rt.matcher.engine.times_to_point(origins, f.location.lon, f.location.lat, with_distance=False)
        eta.append([t for t, _ in times])
    problem = DispatchProblem.from_matrix(
        eta,
        transfer_ids=[w[0] for w in transfers],
        ambulance_ids=[c.ambulance_id for c in fresh],
        priority=[w[2] for w in transfers],
    )
    started = time.perf_counter()
    result = DispatchAssignment(problem).solve()
    return result, (time.perf_counter() - started) * 1000
