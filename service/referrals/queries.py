"""Who may read which referral, and the reads: one referral, a box, the live feed, a history.

The rule (UU 27/2022: personal data only to those who need it):

- the referring facility's staff see their referrals, drafts included, with the patient;
- the receiving facility's staff see a referral only once it was sent to them, with the patient;
  a draft, even a cancelled one, is not theirs to see;
- dispatchers see a referral only once it was accepted (it needs transport), and then only its
  transport data: no patient identity, no letter, no attachments;
- admins see everything; anyone else sees nothing.

A referral the caller may not read is answered exactly like one that does not exist (404).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select

from service.auth import Principal, Role
from service.database import Referral, ReferralEvent, keyring_of
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
    if p.facility_id == r.destination_id and p.has(Role.RECEIVER) and r.sent_at is not None:
        sides.add(Side.RECEIVER)
    if p.has(Role.DISPATCHER):
        sides.add(Side.DISPATCHER)
    return frozenset(sides)


def sees_patient(p: Principal, r: Referral) -> bool:
    """The two facilities (once it was sent, for the receiver) and admins: identity, letter, attachments."""
    if p.is_admin:
        return True
    sides = sides_of(p, r)
    return Side.SENDER in sides or Side.RECEIVER in sides


def can_read(p: Principal, r: Referral) -> bool:
    """Staff see their own facility's referrals; dispatchers those ever accepted; admins all."""
    return sees_patient(p, r) or (Side.DISPATCHER in sides_of(p, r) and r.accepted_at is not None)


def get_referral(s: Session, p: Principal, referral_id: str) -> Referral:
    """A referral the caller may read; NotFoundError otherwise (no hint that it exists)."""
    r = s.get(Referral, referral_id)
    if r is None or not can_read(p, r):
        raise NotFoundError(f"no referral {referral_id!r}")
    return r


def list_referrals(
    s: Session,
    p: Principal,
    *,
    box: str,
    status: str | None,
    limit: int,
    before: dt.datetime | None,
    nik: str | None = None,
) -> Sequence[Referral]:
    """The caller's outbox (sent by its facility) or inbox (received), newest first."""
    q = select(Referral)
    if nik is not None:
        q = q.where(Referral.nik_hash == keyring_of(s.get_bind().dialect).lookup_hash(nik))
    if box == "inbox":
        if not p.is_admin:
            q = q.where(Referral.destination_id == p.facility_id, Referral.sent_at.is_not(None))
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
    """Inbox/outbox events of the caller's facility after ``after_id`` (all for an admin).

    A receiving facility gets the events of a referral addressed to it once it was sent, never
    those of a draft (nor of a draft cancelled before it was sent).
    """
    q = select(ReferralEvent).where(ReferralEvent.id > after_id)
    if not p.is_admin:
        mine = ReferralEvent.origin_id == p.facility_id
        if p.has(Role.RECEIVER):
            sent_to_me = select(Referral.id).where(
                Referral.destination_id == p.facility_id, Referral.sent_at.is_not(None)
            )
            mine = mine | (
                (ReferralEvent.destination_id == p.facility_id)
                & (ReferralEvent.to_status != Status.CREATED.value)
                & ReferralEvent.referral_id.in_(sent_to_me)
            )
        q = q.where(mine)
    return s.scalars(q.order_by(ReferralEvent.id).limit(limit)).all()


def history(s: Session, referral_id: str) -> Sequence[ReferralEvent]:
    """Every event of a referral, in order."""
    return s.scalars(
        select(ReferralEvent).where(ReferralEvent.referral_id == referral_id).order_by(ReferralEvent.id)
    ).all()


def latest_event_id(s: Session) -> int:
    """The newest event's id (0 when there is none): a new live-feed client starts after it."""
    return int(s.scalar(select(func.coalesce(func.max(ReferralEvent.id), 0))) or 0)
