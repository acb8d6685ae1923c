"""Which available ambulance should pick up which waiting patient: road ETAs, then OR-Tools."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sqlalchemy import select

from routing.dispatch import DispatchAssignment, DispatchProblem
from service.database import Referral
from service.errors import InputError, NotFoundError
from service.referrals.lifecycle import Status
from service.referrals.queries import get_referral

if TYPE_CHECKING:
    from routing.dispatch import DispatchProposal
    from service.auth import Principal
    from service.runtime import Runtime
    from service.tracking.tracker import Latest

#: (referral id, pickup facility, emergency)
Waiting = tuple[str, str, bool]


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
        return [(r.id, r.origin_id, r.emergency) for r in rows]


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
        priority=[2.0 if w[2] else 1.0 for w in transfers],
    )
    started = time.perf_counter()
    result = DispatchAssignment(problem).solve()
    return result, (time.perf_counter() - started) * 1000
