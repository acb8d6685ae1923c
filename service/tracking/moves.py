"""An ambulance's status changes, audited, with its trip: the one place that moves one.

By hand (dispatcher, crew device), by its referral (depart, arrive, cancel) or by GPS geofences,
every status change of an ambulance goes through :func:`move`, which also stamps the step of its
current trip with the time and who set it. Only shared pieces are imported here, so the referral
lifecycle can move its ambulance without depending on the rest of tracking.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from service.audit import audit
from service.database import Trip

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy.orm import Session

    from service.database import Ambulance, Referral

#: the status in which an ambulance is free for a new referral
AVAILABLE = "available"
OUT_OF_SERVICE = "out_of_service"
#: statuses that end a trip (the ambulance leaves its referral)
FREE = frozenset({AVAILABLE, OUT_OF_SERVICE})
#: statuses that stamp a step of the trip (the first time only)
STEPS = ("at_pickup", "transporting", "at_hospital")
#: a trip ends handed over when the ambulance is freed from these statuses, released otherwise
HANDED_OVER_FROM = frozenset({"at_hospital"})


def author(actor: int | None, by: str | None) -> str:
    """Who set a step: ``user:<id>``, or the device or GPS that did."""
    if by is not None:
        return by
    return f"user:{actor}" if actor is not None else "system"


def current_trip(s: Session, a: Ambulance) -> Trip | None:
    """The ambulance's trip that has not ended (None when it is not on one)."""
    if a.referral_id is None:
        return None
    return s.scalar(
        select(Trip)
        .where(Trip.ambulance_id == a.id, Trip.referral_id == a.referral_id, Trip.ended_at.is_(None))
        .order_by(Trip.id.desc())
        .limit(1)
    )


def start_trip(
    s: Session, a: Ambulance, r: Referral, *, actor: int | None, now: dt.datetime, by: str | None = None
) -> Trip:
    """The ambulance is dispatched for the referral: a new trip begins."""
    trip = Trip(
        ambulance_id=a.id,
        referral_id=r.id,
        pickup_id=r.origin_id,
        destination_id=r.destination_id,
        dispatched_at=now,
        dispatched_by=author(actor, by),
        end_reason="",
    )
    s.add(trip)
    frm = a.status
    a.status = "dispatched"
    a.status_reason = ""
    a.referral_id = r.id
    a.updated_at = now
    audit(s, actor=actor, action="ambulance.status", entity="ambulance", entity_id=a.id, now=now,
          frm=frm, to=a.status, referral=r.id, by=author(actor, by))  # fmt: skip
    return trip


def move(
    s: Session,
    a: Ambulance,
    status: str,
    *,
    actor: int | None,
    now: dt.datetime,
    by: str | None = None,
    reason: str = "",
) -> None:
    """Set the ambulance's status, stamp its trip and write an audit entry.

    Freed (available or out of service), its link to the referral ends and the trip ends: handed
    over if it was at the hospital, released otherwise.
    """
    frm, referral = a.status, a.referral_id
    who = author(actor, by)
    trip = current_trip(s, a)
    if trip is not None:
        if status in STEPS and getattr(trip, f"{status}_at") is None:
            setattr(trip, f"{status}_at", now)
            setattr(trip, f"{status}_by", who)
        elif status in FREE:
            trip.ended_at = now
            trip.ended_by = who
            trip.outcome = "handed_over" if frm in HANDED_OVER_FROM else "released"
            trip.end_reason = reason
    a.status = status
    a.status_reason = reason if status == OUT_OF_SERVICE else ""
    if status in FREE:
        a.referral_id = None
    a.updated_at = now
    audit(s, actor=actor, action="ambulance.status", entity="ambulance", entity_id=a.id, now=now,
          frm=frm, to=status, referral=referral, by=who, reason=reason or None)  # fmt: skip
