"""Who may read which referral, and the reads: one referral, a box, the live feed, a history.

A referral the caller may not read is answered exactly like one that does not exist (404).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select

from service.auth import Principal, Role
from service.database import Referral, ReferralEvent
from service.errors import NotFoundError
from service.referrals.lifecycle import Side, Status

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Sequence

    from sqlalchemy.orm import Session


def sides_of(p: Principal, r: Referral) -> frozenset[Side]:
    """How this user relates to this referral."""
    sides: set[Side] = set()
    if p.facility_id == r.origin_id and p.has(Role.REFERRER, Role.RECEIVER):
        sides.add(Side.SENDER)
    if p.facility_id == r.destination_id and p.has(Role.RECEIVER) and r.status != Status.CREATED:
        sides.add(Side.RECEIVER)
    if p.has(Role.DISPATCHER):
        sides.add(Side.DISPATCHER)
    return frozenset(sides)


def can_read(p: Principal, r: Referral) -> bool:
    """Staff see their own facility's referrals; dispatchers those past acceptance; admins all."""
    if p.is_admin:
        return True
    sides = sides_of(p, r)
    if Side.SENDER in sides or Side.RECEIVER in sides:
        return True
    return Side.DISPATCHER in sides and r.status not in (Status.CREATED, Status.SENT, Status.DECLINED)


def get_referral(s: Session, p: Principal, referral_id: str) -> Referral:
    """A referral the caller may read; NotFoundError otherwise (no hint that it exists)."""
    r = s.get(Referral, referral_id)
    if r is None or not can_read(p, r):
        raise NotFoundError(f"no referral {referral_id!r}")
    return r


def list_referrals(
    s: Session, p: Principal, *, box: str, status: str | None, limit: int, before: dt.datetime | None
) -> Sequence[Referral]:
    """The caller's outbox (sent by its facility) or inbox (received), newest first."""
    q = select(Referral)
    if box == "inbox":
        if not p.is_admin:
            q = q.where(Referral.destination_id == p.facility_id, Referral.status != Status.CREATED.value)
    elif box == "outbox":
        if not p.is_admin:
            q = q.where(Referral.origin_id == p.facility_id)
    elif box == "transport":
        q = q.where(
            Referral.status.in_([Status.ACCEPTED.value, Status.DISPATCHED.value, Status.IN_TRANSIT.value])
        )
    if status:
        q = q.where(Referral.status == status)
    if before is not None:
        q = q.where(Referral.created_at < before)
    return s.scalars(q.order_by(Referral.created_at.desc(), Referral.id).limit(limit)).all()


def events_after(s: Session, p: Principal, after_id: int, limit: int = 100) -> Sequence[ReferralEvent]:
    """Inbox/outbox events of the caller's facility after ``after_id`` (all for an admin)."""
    q = select(ReferralEvent).where(ReferralEvent.id > after_id)
    if not p.is_admin:
        q = q.where(
            (ReferralEvent.origin_id == p.facility_id)
            | (
                (ReferralEvent.destination_id == p.facility_id)
                & (ReferralEvent.to_status != Status.CREATED.value)
            )
        )
    return s.scalars(q.order_by(ReferralEvent.id).limit(limit)).all()


def history(s: Session, referral_id: str) -> Sequence[ReferralEvent]:
    """Every event of a referral, in order."""
    return s.scalars(
        select(ReferralEvent).where(ReferralEvent.referral_id == referral_id).order_by(ReferralEvent.id)
    ).all()


def latest_event_id(s: Session) -> int:
    """The newest event's id (0 when there is none): a new live-feed client starts after it."""
    return int(s.scalar(select(func.coalesce(func.max(ReferralEvent.id), 0))) or 0)
