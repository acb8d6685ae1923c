"""Storage operations: users, live status, referrals and their lifecycle, events, audit.

Every function takes an open session and the current time; the caller commits. Every state
change writes an audit entry in the same transaction. Nothing here logs personal data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from geodata.models import BedType, Equipment, Service
from rules.model import FacilityStatus
from service.auth import FACILITY_ROLES, Principal, Role, hash_password, verify_password
from service.db import Ambulance, AuditEntry, Referral, ReferralEvent, ServiceVolume, StatusFigure, User
from service.lifecycle import Action, Side, Status, transition

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.orm import Session

    from service.schemas import ReferralIn, StatusUpdateIn


class NotFoundError(LookupError):
    """An id that does not exist, or that the caller may not see (HTTP 404)."""


class ConflictError(Exception):
    """A request that conflicts with what is stored (HTTP 409)."""


class InputError(ValueError):
    """Input that is well-formed but not acceptable; names the field (HTTP 422)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def audit(
    s: Session,
    actor: int | None,
    action: str,
    entity: str,
    entity_id: str,
    now: dt.datetime,
    **detail: object,
) -> None:
    """Record a state change. ``detail`` must hold no personal data."""
    s.add(
        AuditEntry(at=now, actor_id=actor, action=action, entity=entity, entity_id=entity_id, detail=detail)
    )


def aware(t: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives naive datetimes back: they were stored in UTC."""
    if t is None or t.tzinfo is not None:
        return t
    return t.replace(tzinfo=dt.UTC)


# ---------------------------------------------------------------------------------------- users


def create_user(
    s: Session,
    *,
    username: str,
    password: str,
    roles: Sequence[str],
    facility_id: str | None,
    known_facilities: set[str],
    actor: int | None,
    now: dt.datetime,
) -> User:
    """A new account; facility roles need a known facility."""
    rs = {Role(r) for r in roles}
    if rs & FACILITY_ROLES and not facility_id:
        raise InputError("facility_id", "referrer and receiver accounts must be bound to a facility")
    if facility_id is not None and facility_id not in known_facilities:
        raise InputError("facility_id", f"unknown facility {facility_id!r}")
    if s.scalar(select(User.id).where(User.username == username)) is not None:
        raise ConflictError(f"username {username!r} is taken")
    u = User(
        username=username,
        password_hash=hash_password(password),
        roles=sorted(r.value for r in rs),
        facility_id=facility_id,
        active=True,
        created_at=now,
    )
    s.add(u)
    s.flush()
    audit(
        s,
        actor,
        "user.create",
        "user",
        str(u.id),
        now,
        username=username,
        roles=u.roles,
        facility=facility_id,
    )
    return u


def authenticate(s: Session, username: str, password: str) -> Principal | None:
    """The principal for these credentials, or None."""
    u = s.scalar(select(User).where(User.username == username))
    if u is None or not u.active or not verify_password(u.password_hash, password):
        return None
    return principal_of(u)


def principal_of(u: User) -> Principal:
    """The principal of a stored user."""
    return Principal(u.id, u.username, frozenset(Role(r) for r in u.roles), u.facility_id)


# ----------------------------------------------------------------------------------- live status


def update_status(
    s: Session, facility_id: str, upd: StatusUpdateIn, actor: int, now: dt.datetime
) -> list[str]:
    """Write the figures present in the update; returns the keys written."""
    figures: dict[str, Any] = {}
    if upd.beds_available is not None:
        for bed, n in upd.beds_available.items():
            figures[f"beds_available.{bed.value}"] = {"v": n}
    if upd.specialists_on_duty is not None:
        figures["specialists_on_duty"] = {"v": sorted({x.value for x in upd.specialists_on_duty})}
    if upd.specialists_on_call is not None:
        figures["specialists_on_call"] = {
            "v": {k.value: v for k, v in sorted(upd.specialists_on_call.items())}
        }
    if upd.equipment_out_of_order is not None:
        figures["equipment_out_of_order"] = {"v": sorted({x.value for x in upd.equipment_out_of_order})}
    if upd.stockouts is not None:
        figures["stockouts"] = {"v": sorted(set(upd.stockouts))}
    if upd.occupancy is not None:
        figures["occupancy"] = {"v": upd.occupancy}
    if upd.not_accepting_until is not None:
        until = upd.not_accepting_until.astimezone(dt.UTC)
        if until <= now:
            raise InputError("not_accepting_until", "must be in the future")
        if until > now + dt.timedelta(hours=72):
            raise InputError("not_accepting_until", "at most 72 hours ahead; extend it when needed")
        if not upd.not_accepting_reason.strip():
            raise InputError("not_accepting_reason", "say why the facility is not accepting")
        figures["not_accepting_until"] = {"v": until.isoformat(), "reason": upd.not_accepting_reason.strip()}
    elif upd.accepting_again:
        figures["not_accepting_until"] = {"v": None, "reason": ""}
    if not figures:
        raise InputError("body", "no figure to update")
    for key, value in figures.items():
        row = s.get(StatusFigure, (facility_id, key))
        if row is None:
            s.add(
                StatusFigure(facility_id=facility_id, key=key, value=value, updated_at=now, updated_by=actor)
            )
        else:
            row.value, row.updated_at, row.updated_by = value, now, actor
    audit(s, actor, "status.update", "facility", facility_id, now, figures=figures)
    return sorted(figures)


def status_figures(s: Session, facility_id: str | None = None) -> list[tuple[StatusFigure, str]]:
    """Figures with their author's username."""
    q = select(StatusFigure, User.username).join(User, User.id == StatusFigure.updated_by)
    if facility_id is not None:
        q = q.where(StatusFigure.facility_id == facility_id)
    return [(f, name) for f, name in s.execute(q.order_by(StatusFigure.facility_id, StatusFigure.key))]


def engine_statuses(s: Session) -> dict[str, FacilityStatus]:
    """Every facility's live status in the engine's form; ``updated_at`` is its newest figure."""
    by: dict[str, dict[str, Any]] = {}
    for f in s.scalars(select(StatusFigure)):
        d = by.setdefault(f.facility_id, {"beds": {}, "at": None})
        at = aware(f.updated_at)
        if d["at"] is None or (at is not None and at > d["at"]):
            d["at"] = at
        v = f.value.get("v")
        if f.key.startswith("beds_available."):
            d["beds"][BedType(f.key.split(".", 1)[1])] = int(v or 0)
        else:
            d[f.key] = v
    out = {}
    for fid, d in by.items():
        until = d.get("not_accepting_until")
        out[fid] = FacilityStatus(
            facility_id=fid,
            updated_at=d["at"],
            beds_available=d["beds"],
            specialists_on_duty=frozenset(Service(x) for x in d.get("specialists_on_duty") or ()),
            specialists_on_call={Service(k): int(m) for k, m in (d.get("specialists_on_call") or {}).items()},
            equipment_out_of_order=frozenset(Equipment(x) for x in d.get("equipment_out_of_order") or ()),
            stockouts=frozenset(d.get("stockouts") or ()),
            not_accepting_until=dt.datetime.fromisoformat(until) if until else None,
            occupancy=d.get("occupancy"),
        )
    return out


# ------------------------------------------------------------------------------------ referrals


def request_hash(body: ReferralIn) -> str:
    """A digest of a create request, to tell a retry from a different request under the same key."""
    return hashlib.sha256(json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Created:
    """The referral, and whether this call created it (False: an idempotent retry)."""

    referral: Referral
    created: bool


def create_referral(
    s: Session,
    body: ReferralIn,
    *,
    principal: Principal,
    origin_id: str,
    idempotency_key: str | None,
    suggestion: dict[str, Any],
    non_specialist: bool,
    now: dt.datetime,
) -> Created:
    """Store a new referral letter (status created, or as it happened for an offline entry)."""
    digest = request_hash(body)
    if idempotency_key is not None:
        prior = s.scalar(
            select(Referral).where(
                Referral.origin_id == origin_id, Referral.idempotency_key == idempotency_key
            )
        )
        if prior is not None:
            if prior.request_hash != digest:
                msg = "this Idempotency-Key was used for a different referral"
                raise ConflictError(msg)
            return Created(prior, created=False)
    if body.back_referral_of is not None:
        orig = s.get(Referral, body.back_referral_of)
        if orig is None or orig.destination_id != origin_id or orig.origin_id != body.destination_id:
            raise InputError(
                "back_referral_of", "must be a referral this facility received from the destination facility"
            )
    m = body.medical
    created_at = body.offline.occurred_at.astimezone(dt.UTC) if body.offline else now
    r = Referral(
        id=str(uuid.uuid4()),
        idempotency_key=idempotency_key,
        request_hash=digest,
        origin_id=origin_id,
        destination_id=body.destination_id,
        receiving_unit=body.receiving_unit,
        status=Status.CREATED.value,
        service_type=body.service_type.value,
        emergency=body.emergency,
        payer=body.payer.value,
        icd10=[c.strip().upper() for c in m.icd10],
        specialty=body.specialty.value if body.specialty else suggestion.get("specialty"),
        non_specialist=non_specialist,
        tacc=body.tacc,
        patient=body.patient.model_dump(mode="json"),
        medical=m.model_dump(mode="json"),
        reason=body.reason,
        consent=body.consent.model_dump(mode="json"),
        offline=body.offline is not None,
        offline_note=body.offline.note if body.offline else "",
        back_referral_of=body.back_referral_of,
        suggestion=suggestion,
        tried=[body.destination_id],
        proposed_next_id=None,
        created_by=principal.user_id,
        created_at=created_at,
        updated_at=now,
        version=1,
    )
    s.add(r)
    try:
        s.flush()
    except IntegrityError:
        # a concurrent retry with the same key won the race: return its referral
        s.rollback()
        prior = s.scalar(
            select(Referral).where(
                Referral.origin_id == origin_id, Referral.idempotency_key == idempotency_key
            )
        )
        if prior is None or prior.request_hash != digest:
            raise ConflictError("this Idempotency-Key was used for a different referral") from None
        return Created(prior, created=False)
    _event(s, r, "created", None, principal.user_id, now, "offline entry" if r.offline else "")
    audit(
        s,
        principal.user_id,
        "referral.create",
        "referral",
        r.id,
        now,
        origin=origin_id,
        destination=r.destination_id,
        offline=r.offline,
        icd10=r.icd10,
    )
    return Created(r, created=True)


def _event(
    s: Session, r: Referral, kind: str, frm: str | None, actor: int | None, now: dt.datetime, note: str
) -> None:
    s.add(
        ReferralEvent(
            referral_id=r.id,
            at=now,
            actor_id=actor,
            kind=kind,
            from_status=frm,
            to_status=r.status,
            origin_id=r.origin_id,
            destination_id=r.destination_id,
            note=note,
        )
    )


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


def act(
    s: Session,
    p: Principal,
    referral_id: str,
    action: Action,
    *,
    now: dt.datetime,
    answer_within_min: float,
    note: str = "",
    destination_id: str | None = None,
    receiving_unit: str | None = None,
    receiving_ids: set[str] | None = None,
) -> Referral:
    """Apply one lifecycle action, with its timestamps, event and audit entry."""
    r = get_referral(s, p, referral_id)
    frm = Status(r.status)
    outpatient = r.service_type == "rawat_jalan"
    to = transition(action, frm, sides_of(p, r), outpatient=outpatient)
    if action is Action.DECLINE and len(note.strip()) < 3:
        raise InputError("reason", "a decline needs a reason (Pasal 19(4))")
    if action is Action.REDIRECT:
        if not destination_id or (receiving_ids is not None and destination_id not in receiving_ids):
            raise InputError("destination_id", f"{destination_id!r} is not a receiving facility")
        if destination_id == r.destination_id and frm is Status.DECLINED:
            raise InputError("destination_id", "that facility has just declined; choose another")
        if destination_id == r.origin_id:
            raise InputError("destination_id", "a referral cannot go back to its origin")
        r.destination_id = destination_id
        if receiving_unit:
            r.receiving_unit = receiving_unit
        r.tried = [*r.tried, destination_id]
        r.proposed_next_id = None
        r.escalated_at = None
        r.answered_at = None
        r.response_time_s = None
        r.declined_at = None
    r.status = to.value
    if to is Status.SENT or (action in (Action.SEND, Action.REDIRECT) and to is Status.ACCEPTED):
        r.sent_at = now
        r.due_at = now + dt.timedelta(minutes=answer_within_min) if to is Status.SENT else None
        if to is Status.ACCEPTED:  # outpatient: no acceptance needed
            r.accepted_at = now
    elif action is Action.ACCEPT:
        r.accepted_at = r.answered_at = now
        r.response_time_s = (now - aware(r.sent_at)).total_seconds() if r.sent_at else None  # type: ignore[operator]
        r.due_at = None
    elif action is Action.DECLINE:
        r.declined_at = r.answered_at = now
        r.response_time_s = (now - aware(r.sent_at)).total_seconds() if r.sent_at else None  # type: ignore[operator]
        r.decline_reason = note.strip()
        r.decline_count += 1
        r.due_at = None
        r.escalated_at = now  # Pasal 19(4): a decline is escalated
        r.escalation_count += 1
        r.proposed_next_id = next_candidate(r)
    elif action is Action.DISPATCH:
        r.dispatched_at = now
    elif action is Action.DEPART:
        r.in_transit_at = now
    elif action is Action.ARRIVE:
        r.arrived_at = now
    elif action is Action.COMPLETE:
        r.completed_at = now
    elif action is Action.CANCEL:
        r.cancelled_at = now
        r.due_at = None
    r.updated_at = now
    r.version += 1
    _ambulance_follows(s, r, action, now, p.user_id)
    _event(s, r, action.value, frm.value, p.user_id, now, note)
    audit(
        s,
        p.user_id,
        f"referral.{action.value}",
        "referral",
        r.id,
        now,
        frm=frm.value,
        to=r.status,
        destination=r.destination_id,
    )
    return r


#: Where the referral's ambulance is after each action (the referral's transport drives it).
_AMBULANCE_AFTER = {Action.DEPART: "transporting", Action.ARRIVE: "at_hospital", Action.CANCEL: "available"}


def _ambulance_follows(s: Session, r: Referral, action: Action, now: dt.datetime, actor: int | None) -> None:
    status = _AMBULANCE_AFTER.get(action)
    if r.ambulance_id is None or status is None:
        return
    a = s.get(Ambulance, r.ambulance_id)
    if a is None or a.referral_id != r.id:
        return
    a.status = status
    if status == "available":
        a.referral_id = None
    a.updated_at = now
    audit(s, actor, "ambulance.status", "ambulance", a.id, now, status=status, referral=r.id)


def arrive_by_gps(
    s: Session, referral_id: str, ambulance_id: str, *, now: dt.datetime, distance_m: float
) -> Referral | None:
    """The referral's ambulance reached the destination: arrived (no user acts; the GPS did).

    Nothing happens (None) if the referral has moved on already, e.g. another worker saw the
    same position first or staff recorded the arrival by hand.
    """
    r = s.get(Referral, referral_id)
    if r is None or r.ambulance_id != ambulance_id:
        return None
    frm = Status(r.status)
    if frm not in (Status.DISPATCHED, Status.IN_TRANSIT):
        return None
    to = transition(Action.ARRIVE, frm, frozenset({Side.DISPATCHER}))
    # claimed by a conditional update: with several workers seeing the same fix, one records it
    claimed = s.execute(
        update(Referral)
        .where(Referral.id == referral_id, Referral.status == frm.value)
        .values(status=to.value, arrived_at=now, updated_at=now, version=Referral.version + 1)
    ).rowcount  # type: ignore[attr-defined]
    if claimed != 1:
        return None
    s.refresh(r)
    _ambulance_follows(s, r, Action.ARRIVE, now, None)
    note = f"arrival detected by GPS: ambulance {ambulance_id} within {distance_m:.0f} m of the destination"
    _event(s, r, Action.ARRIVE.value, frm.value, None, now, note)
    audit(s, None, "referral.arrive", "referral", r.id, now, frm=frm.value, to=r.status, by="gps")
    return r


def next_candidate(r: Referral) -> str | None:
    """The best-ranked suggested facility not yet asked."""
    for fid in r.suggestion.get("candidates", []):
        if fid not in r.tried and fid != r.origin_id:
            return str(fid)
    return None


def escalate_due(s: Session, now: dt.datetime) -> list[str]:
    """Escalate every referral still unanswered at its due time, exactly once each.

    Safe with several workers: the conditional UPDATE claims a referral only if nobody else did.
    """
    due = s.scalars(
        select(Referral.id).where(
            Referral.status == Status.SENT.value, Referral.due_at <= now, Referral.escalated_at.is_(None)
        )
    ).all()
    done = []
    for rid in due:
        claimed = s.execute(
            update(Referral)
            .where(Referral.id == rid, Referral.status == Status.SENT.value, Referral.escalated_at.is_(None))
            .values(escalated_at=now, escalation_count=Referral.escalation_count + 1, updated_at=now)
        ).rowcount  # type: ignore[attr-defined]
        if claimed != 1:
            continue
        r = s.get(Referral, rid)
        assert r is not None
        s.refresh(r)
        r.proposed_next_id = next_candidate(r)
        _event(
            s, r, "escalated", r.status, None, now, f"unanswered; next candidate {r.proposed_next_id or '-'}"
        )
        audit(
            s,
            None,
            "referral.escalate",
            "referral",
            r.id,
            now,
            destination=r.destination_id,
            proposed_next=r.proposed_next_id,
        )
        done.append(rid)
    return done


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


def set_volume(s: Session, facility_id: str, month: str, served: int, actor: int, now: dt.datetime) -> None:
    """Record the patients served by a facility in a month."""
    row = s.get(ServiceVolume, (facility_id, month))
    if row is None:
        s.add(
            ServiceVolume(
                facility_id=facility_id, month=month, patients_served=served, updated_by=actor, updated_at=now
            )
        )
    else:
        row.patients_served, row.updated_by, row.updated_at = served, actor, now
    audit(s, actor, "volume.set", "facility", facility_id, now, month=month, patients_served=served)
