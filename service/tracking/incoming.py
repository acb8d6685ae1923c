"""Patients on their way to a facility: referrals it accepted that have not arrived yet.

For the receiving ER (SPEC section 1, Pasal 18 ayat (1) huruf b: the handover is prepared): each
with its ambulance, once one is assigned, and the road time from the referring facility as the
estimate until the ambulance reports an ETA.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from service.database import Referral
from service.referrals.lifecycle import Status
from service.referrals.queries import sees_patient
from service.referrals.views import referral_json

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.orm import Session

    from service.auth import Principal

#: accepted and not arrived: the patient is, or will soon be, on the road here
EN_ROUTE = (Status.ACCEPTED.value, Status.DISPATCHED.value, Status.IN_TRANSIT.value)


@dataclass(frozen=True, slots=True)
class OnTheWay:
    """One referral on its way, as JSON, and its ambulance (None: none assigned yet)."""

    referral: dict[str, Any]
    origin_id: str
    ambulance_id: str | None


def on_the_way(s: Session, p: Principal, facility_id: str, limit: int = 100) -> Sequence[OnTheWay]:
    """The facility's accepted referrals not arrived yet, the longest accepted first."""
    rows = s.scalars(
        select(Referral)
        .where(Referral.destination_id == facility_id, Referral.status.in_(EN_ROUTE))
        .order_by(Referral.accepted_at, Referral.id)
        .limit(limit)
    ).all()
    return [
        OnTheWay(referral_json(r, with_patient=sees_patient(p, r)), r.origin_id, r.ambulance_id) for r in rows
    ]
