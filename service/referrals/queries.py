"""Who may read which referral, and the reads: one referral, the live feed, a history.

The boxes (the lists of sent and received referrals) are ``lists``, on this rule.

The rule (UU 27/2022: personal data only to those who need it):

- the referring facility's staff see their referrals, drafts included, with the patient;
- the receiving facility's staff see a referral only once it was sent to them, with the patient
  (for a back-referral, any of the receiving facility's staff: a Puskesmas receives its patients
  back);
  a draft, even a cancelled one, is not theirs to see;
- a receiving facility the referral was sent to before it went elsewhere (it declined, or the
  sender redirected it after an escalation) keeps a read-only trace of it: the clinical part of
  the letter and the history, never the patient's identity;
- dispatchers see a referral only once it was accepted (it needs transport), and then only its
  transport data: no patient identity, no letter, no attachments;
- another rujuk deployment (role ``peer``) sees the referrals it sent here, as their sender;
- admins see everything; anyone else sees nothing.

A referral the caller may not read is answered exactly like one that does not exist (404).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import exists, func, select
from sqlalchemy.orm import aliased

from service.auth import Principal, Role
from service.database import Delivery, Referral, ReferralEvent
from service.errors import NotFoundError
from service.referrals.lifecycle import Side, Status

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Select
    from sqlalchemy.orm import Session


def receives(p: Principal, back_referral: bool) -> bool:
    """Whether this user answers referrals sent to their facility: receiving staff; for a
    back-referral, any of the facility's staff (a Puskesmas receives its patients back)."""  # noqa: D205, D209
    return p.has(Role.RECEIVER) or (back_referral and p.has(Role.REFERRER))


#: events that send a referral to a facility (the event names the facility it went to)
SENT_KINDS = ("send", "redirect")


def ever_sent_to(facility_id: str | None) -> Select[str]:
    """The ids of referrals ever sent to a facility, including those that have moved on since (from
    the events: the facility's whole history; the lists and reports read ``referral_traces``).
    """  # noqa: D205
    return select(ReferralEvent.referral_id).where(
        ReferralEvent.destination_id == facility_id, ReferralEvent.kind.in_(SENT_KINDS)
    )


def sides_of(p: Principal, r: Referral) -> frozenset[Side]:
    """How this user relates to this referral."""
    sides: set[Side] = set()
    if p.facility_id == r.origin_id and p.has(Role.REFERRER, Role.RECEIVER):
        sides.add(Side.SENDER)
    if p.has(Role.PEER) and r.created_by == p.user_id:  # another deployment, for the referral it sent
        sides.add(Side.SENDER)
    back = r.back_referral_of is not None
    if p.facility_id == r.destination_id and r.sent_at is not None and receives(p, back):
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


def was_asked(p: Principal, r: Referral) -> bool:
    """A facility asked before the current one (it declined, or the referral was escalated away):
    its receiving staff keep a read-only trace, without the patient's identity."""  # noqa: D205, D209
    return (
        p.facility_id is not None
        and p.facility_id != r.destination_id
        and p.facility_id in r.tried
        and receives(p, r.back_referral_of is not None)
    )


def can_read(p: Principal, r: Referral) -> bool:
    """Staff see their own facility's referrals; a facility asked before, a trace; dispatchers
    those ever accepted; admins all."""  # noqa: D205, D209
    return (
        sees_patient(p, r)
        or was_asked(p, r)
        or (Side.DISPATCHER in sides_of(p, r) and r.accepted_at is not None)
    )


def get_referral(s: Session, p: Principal, referral_id: str) -> Referral:
    """A referral the caller may read; NotFoundError otherwise (no hint that it exists)."""
    r = s.get(Referral, referral_id)
    if r is None or not can_read(p, r):
        raise NotFoundError(f"no referral {referral_id!r}")
    return r


def events_after(s: Session, p: Principal, after_id: int, limit: int = 100) -> Sequence[ReferralEvent]:
    """Inbox/outbox events of the caller's facility after ``after_id`` (all for an admin).

    A receiving facility gets the events of a referral addressed to it once it was sent, never
    those of a draft (nor of a draft cancelled before it was sent).
    """
    q = select(ReferralEvent).where(ReferralEvent.id > after_id)
    if not p.is_admin:
        mine = ReferralEvent.origin_id == p.facility_id
        if receives(p, back_referral=True):
            # sent here now (a paper referral too), or sent here once and moved on since (its
            # events from when it was here: the trace of Side.RECEIVER's answer); asked of each
            # event read (EXISTS by the referral's id), never of all the facility's referrals
            once = aliased(ReferralEvent)
            ever_here = exists().where(
                once.referral_id == Referral.id,
                once.destination_id == p.facility_id,
                once.kind.in_(SENT_KINDS),
            )
            here = (Referral.destination_id == p.facility_id) & Referral.sent_at.is_not(None)
            sent_to_me = here | ever_here
            if not receives(p, back_referral=False):
                sent_to_me = sent_to_me & Referral.back_referral_of.is_not(None)
            mine = mine | (
                (ReferralEvent.destination_id == p.facility_id)
                & (ReferralEvent.to_status != Status.CREATED.value)
                & exists().where(Referral.id == ReferralEvent.referral_id, sent_to_me)
            )
        if p.has(Role.DISPATCHER):
            # the transport of every accepted referral: what waits for an ambulance, and each move
            needs_transport = select(Referral.id).where(Referral.accepted_at.is_not(None))
            transport = ReferralEvent.kind.in_(TRANSPORT_EVENTS) | (
                ReferralEvent.to_status == Status.ACCEPTED.value
            )
            mine = mine | (transport & ReferralEvent.referral_id.in_(needs_transport))
        q = q.where(mine)
    return s.scalars(q.order_by(ReferralEvent.id).limit(limit)).all()


#: the events a dispatcher follows (of accepted referrals): answers, cancellations, the trip (and
#: any event that makes a referral accepted: an outpatient referral is accepted when sent)
TRANSPORT_EVENTS = ("accept", "cancel", "dispatch", "depart", "arrive", "release", "at_pickup", "handover")
#: of these, the ones whose note speaks of the ambulance only, written by the service (an answer's,
#: a departure's or an arrival's note may be staff's free text: for the two facilities)
AMBULANCE_NOTES = frozenset({"dispatch", "release", "at_pickup", "handover"})


def sees_note(p: Principal, e: ReferralEvent) -> bool:
    """Whether the caller may read an event's note: its facilities, admins; dispatchers the
    ambulance's notes only."""  # noqa: D205, D209
    return p.is_admin or p.facility_id in (e.origin_id, e.destination_id) or e.kind in AMBULANCE_NOTES


def back_referrals_of(s: Session, p: Principal, referral_id: str) -> list[str]:
    """The ids of the back-referrals of a referral that this user may read, oldest first."""
    rows = s.scalars(
        select(Referral).where(Referral.back_referral_of == referral_id).order_by(Referral.created_at)
    ).all()
    return [r.id for r in rows if can_read(p, r)]


def history(s: Session, referral_id: str) -> Sequence[ReferralEvent]:
    """Every event of a referral, in order."""
    return s.scalars(
        select(ReferralEvent).where(ReferralEvent.referral_id == referral_id).order_by(ReferralEvent.id)
    ).all()


def latest_event_id(s: Session) -> int:
    """The newest event's id (0 when there is none): a new live-feed client starts after it."""
    return int(s.scalar(select(func.coalesce(func.max(ReferralEvent.id), 0))) or 0)


def delivery_of(s: Session, referral_id: str) -> Delivery | None:
    """The referral's latest hand-over to another deployment (None: never handed over)."""
    q = select(Delivery).where(Delivery.referral_id == referral_id).order_by(Delivery.id.desc()).limit(1)
    return s.scalars(q).first()
