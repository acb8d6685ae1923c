"""Ambulances and their tracking devices: the registry and per-device tokens.

Each device gets its own random token, shown once when issued and stored only as a SHA-256
hash (a 256-bit random token needs no slow hash: there is nothing to guess). A token identifies
exactly one ambulance; rotating it invalidates the old one, revoking leaves none. Staff tokens
(signed JWTs) and device tokens are never interchangeable. Every change is audited; tokens are
never logged or audited.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from service.audit import audit
from service.database import Ambulance, Referral, Trip, aware
from service.errors import ConflictError, InputError, NotFoundError
from service.referrals import store
from service.referrals.lifecycle import Action
from service.referrals.queries import get_referral
from service.tracking.moves import author, move, start_trip

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Collection

    from sqlalchemy.orm import Session

    from service.auth import Principal
    from service.tracking.schemas import AmbulanceIn

#: Device tokens start with this, so a misplaced one is recognisable (and never taken for a JWT).
TOKEN_PREFIX = "rjk_amb_"  # noqa: S105  a public prefix, not a secret


class AmbulanceKind(StrEnum):
    """What the vehicle is equipped for."""

    EMERGENCY = "emergency"
    TRANSPORT = "transport"


class AmbulanceStatus(StrEnum):
    """Where the ambulance is in its work."""

    AVAILABLE = "available"
    DISPATCHED = "dispatched"
    AT_PICKUP = "at_pickup"
    TRANSPORTING = "transporting"
    AT_HOSPITAL = "at_hospital"
    OUT_OF_SERVICE = "out_of_service"


def token_hash(token: str) -> str:
    """The stored form of a device token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh device token (256 random bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def ambulance_json(a: Ambulance) -> dict[str, Any]:
    """The public form of an ambulance (never its token or hash)."""
    issued = aware(a.token_issued_at)
    return {
        "id": a.id,
        "home_facility_id": a.home_facility_id,
        "kind": a.kind,
        "plate": a.plate,
        "crew": list(a.crew),
        "status": a.status,
        "status_reason": a.status_reason or None,
        "referral_id": a.referral_id,
        "device_token_active": a.token_hash is not None,
        "device_token_issued_at": issued.isoformat() if issued else None,
    }


def register(
    s: Session, body: AmbulanceIn, *, known_facilities: Collection[str], actor: int | None, now: dt.datetime
) -> tuple[Ambulance, str]:
    """A new ambulance and its first device token (returned once, stored hashed)."""
    if body.home_facility_id not in known_facilities:
        raise InputError(
            "home_facility_id", f"unknown facility {body.home_facility_id!r}", code="unknown_facility"
        )
    if s.get(Ambulance, body.id) is not None:
        raise ConflictError(f"ambulance {body.id!r} is already registered")
    token = new_token()
    a = Ambulance(
        id=body.id,
        home_facility_id=body.home_facility_id,
        kind=AmbulanceKind(body.kind).value,
        plate=body.plate,
        crew=list(body.crew),
        status=AmbulanceStatus.AVAILABLE.value,
        token_hash=token_hash(token),
        token_issued_at=now,
        created_at=now,
        updated_at=now,
    )
    s.add(a)
    s.flush()
    audit(s, actor=actor, action="ambulance.register", entity="ambulance", entity_id=a.id, now=now,
          home=body.home_facility_id, kind=a.kind)  # fmt: skip
    return a, token


def get(s: Session, ambulance_id: str) -> Ambulance:
    """One ambulance (NotFoundError if unknown)."""
    a = s.get(Ambulance, ambulance_id)
    if a is None:
        raise NotFoundError(f"no ambulance {ambulance_id!r}")
    return a


def list_all(s: Session, *, home_facility_id: str | None = None) -> list[Ambulance]:
    """Ambulances by id, optionally of one home facility."""
    q = select(Ambulance).order_by(Ambulance.id)
    if home_facility_id is not None:
        q = q.where(Ambulance.home_facility_id == home_facility_id)
    return list(s.scalars(q))


def rotate_token(
    s: Session, ambulance_id: str, *, actor: int | None, now: dt.datetime
) -> tuple[Ambulance, str]:
    """A new token for the device; the old one stops working."""
    a = get(s, ambulance_id)
    token = new_token()
    a.token_hash = token_hash(token)
    a.token_issued_at = now
    a.updated_at = now
    audit(s, actor=actor, action="ambulance.token_rotate", entity="ambulance", entity_id=a.id, now=now)
    return a, token


def revoke_token(s: Session, ambulance_id: str, *, actor: int | None, now: dt.datetime) -> Ambulance:
    """No token works for the device any more (a lost or stolen phone)."""
    a = get(s, ambulance_id)
    a.token_hash = None
    a.token_issued_at = None
    a.updated_at = now
    audit(s, actor=actor, action="ambulance.token_revoke", entity="ambulance", entity_id=a.id, now=now)
    return a


def by_token(s: Session, token: str) -> Ambulance | None:
    """The ambulance whose device holds this token, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    return s.scalar(select(Ambulance).where(Ambulance.token_hash == token_hash(token)))


#: Statuses a dispatcher sets by hand; the others follow the trip (dispatch, pickup, arrival).
MANUAL_STATUSES = frozenset({AmbulanceStatus.AVAILABLE, AmbulanceStatus.OUT_OF_SERVICE})
#: before the patient is aboard: freeing the ambulance sends its referral back to the waiting list
BEFORE_PATIENT = frozenset({AmbulanceStatus.DISPATCHED.value, AmbulanceStatus.AT_PICKUP.value})


def set_status(
    s: Session,
    ambulance_id: str,
    status: AmbulanceStatus,
    *,
    actor: int | None,
    now: dt.datetime,
    reason: str = "",
    by: str | None = None,
) -> Ambulance:
    """Available again or out of service (with a reason); ends its trip.

    At the hospital, the patient is handed over. Before the patient is aboard, the referral goes
    back to waiting for an ambulance (released). Refused (409) while carrying a patient: record
    the arrival first.
    """
    if status not in MANUAL_STATUSES:
        raise InputError(
            "status",
            f"{status.value!r} follows the trip (dispatch, pickup, arrival): set available or out_of_service",
        )
    reason = reason.strip()
    if status is AmbulanceStatus.OUT_OF_SERVICE and len(reason) < 3:
        raise InputError(
            "reason", "say why the ambulance is out of service (at least 3 characters)", code="required"
        )
    a = get(s, ambulance_id)
    if a.status == AmbulanceStatus.TRANSPORTING.value:
        raise ConflictError(
            f"ambulance {a.id} is transporting referral {a.referral_id}: record the arrival first"
        )
    _claim(s, a, now)
    if a.referral_id is not None:
        rid = a.referral_id
        if a.status in BEFORE_PATIENT:
            why = f"ambulans {a.id} dilepas sebelum pasien naik" + (f": {reason}" if reason else "")
            released = store.transport_step(s, rid, a.id, Action.RELEASE, now=now, actor=actor,
                                            by=author(actor, by), note=why)  # fmt: skip
            if released is None:  # the referral moved on meanwhile (e.g. departed by GPS)
                raise ConflictError(f"referral {rid} moved on meanwhile: reload before freeing {a.id}")
        elif a.status == AmbulanceStatus.AT_HOSPITAL.value:
            store.note_event(s, rid, kind="handover", actor=actor, now=now,
                             note=f"pasien diserahterimakan, ambulans {a.id} selesai")  # fmt: skip
    move(s, a, status.value, actor=actor, now=now, by=by, reason=reason)
    return a


def _claim(s: Session, a: Ambulance, now: dt.datetime) -> None:
    """Take the ambulance as read (status and referral) or refuse (409): another worker, a GPS step
    or another dispatcher changed it since."""  # noqa: D205, D209
    claimed = s.execute(
        update(Ambulance)
        .where(Ambulance.id == a.id, Ambulance.status == a.status)
        .where(
            Ambulance.referral_id.is_(None)
            if a.referral_id is None
            else Ambulance.referral_id == a.referral_id
        )
        .values(updated_at=now)
    ).rowcount  # type: ignore[attr-defined]
    if claimed != 1:
        raise ConflictError(f"ambulance {a.id} changed meanwhile: reload")
    s.refresh(a)


class Step(StrEnum):
    """A step of an ambulance's trip, set by the dispatcher, the crew's device or a geofence."""

    AT_PICKUP = "at_pickup"
    TRANSPORTING = "transporting"
    AT_HOSPITAL = "at_hospital"
    HANDED_OVER = "handed_over"


#: the ambulance statuses each step may be taken from
STEP_FROM: dict[Step, frozenset[str]] = {
    Step.AT_PICKUP: frozenset({AmbulanceStatus.DISPATCHED.value}),
    Step.TRANSPORTING: frozenset({AmbulanceStatus.DISPATCHED.value, AmbulanceStatus.AT_PICKUP.value}),
    Step.AT_HOSPITAL: frozenset({AmbulanceStatus.TRANSPORTING.value}),
    Step.HANDED_OVER: frozenset({AmbulanceStatus.AT_HOSPITAL.value}),
}
_STEP_NOTE = {
    Step.AT_PICKUP: "ambulans {a} tiba di titik jemput",
    Step.TRANSPORTING: "ambulans {a} berangkat membawa pasien",
    Step.AT_HOSPITAL: "ambulans {a} tiba di tujuan",
    Step.HANDED_OVER: "pasien diserahterimakan, ambulans {a} selesai",
}
_BY_NOTE = {"gps": " (terdeteksi GPS{d})", "device": " (dicatat dari perangkat kru)"}


def step(
    s: Session,
    ambulance_id: str,
    to: Step,
    *,
    actor: int | None,
    by: str,
    now: dt.datetime,
    distance_m: float | None = None,
    referral_id: str | None = None,
) -> Ambulance | None:
    """Take one step of the ambulance's trip; its referral follows (departed, arrived).

    Claimed by a conditional update of the ambulance's status, so a step is taken once even when
    two workers see the same fix (the second gets None). A step that does not follow from the
    ambulance's status is refused (409).
    """
    a = get(s, ambulance_id)
    if a.referral_id is None or a.status not in STEP_FROM[to]:
        raise ConflictError(f"ambulance {a.id} is {a.status}: cannot record {to.value}")
    if referral_id is not None and a.referral_id != referral_id:
        raise ConflictError(f"ambulance {a.id} is on another referral now")
    frm, rid = a.status, a.referral_id
    claimed = s.execute(
        update(Ambulance)
        .where(Ambulance.id == a.id, Ambulance.status == frm, Ambulance.referral_id == rid)
        .values(updated_at=now)
    ).rowcount  # type: ignore[attr-defined]
    if claimed != 1:
        return None
    s.refresh(a)
    d = f", {distance_m:.0f} m" if distance_m is not None else ""
    note = _STEP_NOTE[to].format(a=a.id) + _BY_NOTE.get(by, "").format(d=d)
    if to is Step.AT_PICKUP:
        move(s, a, AmbulanceStatus.AT_PICKUP.value, actor=actor, now=now, by=by)
        store.note_event(s, rid, kind="at_pickup", actor=actor, now=now, note=note)
    elif to is Step.HANDED_OVER:
        store.note_event(s, rid, kind="handover", actor=actor, now=now, note=note)
        move(s, a, AmbulanceStatus.AVAILABLE.value, actor=actor, now=now, by=by)
    else:
        action = Action.DEPART if to is Step.TRANSPORTING else Action.ARRIVE
        target = AmbulanceStatus.TRANSPORTING if to is Step.TRANSPORTING else AmbulanceStatus.AT_HOSPITAL
        store.transport_step(s, rid, a.id, action, now=now, actor=actor, by=by, note=note)
        if a.status != target.value:  # the referral had moved on (e.g. arrival recorded by hand)
            move(s, a, target.value, actor=actor, now=now, by=by)
    return a


def assign(
    s: Session,
    p: Principal,
    referral_id: str,
    ambulance_id: str,
    *,
    now: dt.datetime,
    answer_within_min: float,
) -> tuple[Referral, Ambulance]:
    """Dispatch an available ambulance for an accepted referral (the lifecycle's dispatch)."""
    a = get(s, ambulance_id)
    if a.status != AmbulanceStatus.AVAILABLE.value:
        raise ConflictError(f"ambulance {a.id} is {a.status}, not available")
    _claim(s, a, now)  # two dispatchers (or an incident's wave) never send one ambulance twice
    note = f"ambulans {a.id}"
    r = store.act(
        s,
        p,
        get_referral(s, p, referral_id),
        Action.DISPATCH,
        now=now,
        terms=store.Terms(answer_within_min),
        note=note,
    )
    r.ambulance_id = a.id
    start_trip(s, a, r, actor=p.user_id, now=now)
    audit(
        s,
        actor=p.user_id,
        action="ambulance.assign",
        entity="ambulance",
        entity_id=a.id,
        now=now,
        referral=r.id,
    )
    return r, a


@dataclass(frozen=True, slots=True)
class AmbulanceInfo:
    """What the tracking path needs to know of an ambulance, read once and kept briefly."""

    id: str
    home_facility_id: str
    kind: str
    status: str
    referral_id: str | None
    destination_id: str | None
    #: where the patient is picked up (the referring facility)
    origin_id: str | None = None
    #: why it is out of service
    status_reason: str = ""
    #: its current trip as JSON (None when not on one)
    trip: dict[str, Any] | None = None


def snapshot(s: Session) -> dict[str, AmbulanceInfo]:
    """Every ambulance with its current referral's destination."""
    rows = s.execute(
        select(Ambulance, Referral.destination_id, Referral.origin_id)
        .outerjoin(Referral, Referral.id == Ambulance.referral_id)
        .order_by(Ambulance.id)
    ).all()
    trips = {t.ambulance_id: trip_json(t) for t in s.scalars(select(Trip).where(Trip.ended_at.is_(None)))}
    return {
        a.id: AmbulanceInfo(
            a.id,
            a.home_facility_id,
            a.kind,
            a.status,
            a.referral_id,
            dest,
            origin,
            a.status_reason or "",
            trips.get(a.id) if a.referral_id else None,
        )
        for a, dest, origin in rows
    }


def trip_json(t: Trip) -> dict[str, Any]:
    """A trip's steps with their times and authors."""

    def iso(x: dt.datetime | None) -> str | None:
        x = aware(x)
        return x.isoformat() if x is not None else None

    return {
        "id": t.id, "ambulance_id": t.ambulance_id, "referral_id": t.referral_id, "pickup_id": t.pickup_id,
        "destination_id": t.destination_id,
        "dispatched_at": iso(t.dispatched_at), "dispatched_by": t.dispatched_by,
        "at_pickup_at": iso(t.at_pickup_at), "at_pickup_by": t.at_pickup_by,
        "transporting_at": iso(t.transporting_at), "transporting_by": t.transporting_by,
        "at_hospital_at": iso(t.at_hospital_at), "at_hospital_by": t.at_hospital_by,
        "ended_at": iso(t.ended_at), "ended_by": t.ended_by, "outcome": t.outcome,
        "end_reason": t.end_reason or None,
    }  # fmt: skip


def trips_of(s: Session, referral_id: str) -> list[Trip]:
    """A referral's trips, the first first."""
    return list(s.scalars(select(Trip).where(Trip.referral_id == referral_id).order_by(Trip.id)))


#: the last snapshot's available ambulances by kind (worked out once per snapshot)
_AVAILABLE: list[tuple[dict[str, AmbulanceInfo], dict[str | None, frozenset[str]]]] = []


def available(registry: dict[str, AmbulanceInfo], kind: str | None) -> frozenset[str]:
    """Ids of the available ambulances (of a kind, or all) in a registry snapshot."""
    memo = _AVAILABLE[0] if _AVAILABLE else None
    if memo is None or memo[0] is not registry:
        by_kind: dict[str | None, set[str]] = {None: set()}
        for a in registry.values():
            if a.status == AmbulanceStatus.AVAILABLE.value:
                by_kind[None].add(a.id)
                by_kind.setdefault(a.kind, set()).add(a.id)
        memo = (registry, {k: frozenset(v) for k, v in by_kind.items()})
        _AVAILABLE[:] = [memo]
    return memo[1].get(kind, frozenset())
