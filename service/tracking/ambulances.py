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

from sqlalchemy import select

from service.audit import audit
from service.database import Ambulance, Referral, aware
from service.errors import ConflictError, InputError, NotFoundError
from service.referrals import store
from service.referrals.lifecycle import Action
from service.referrals.queries import get_referral
from service.tracking.moves import move

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
        "device_token_active": a.token_hash is not None,
        "device_token_issued_at": issued.isoformat() if issued else None,
    }


def register(
    s: Session, body: AmbulanceIn, *, known_facilities: Collection[str], actor: int | None, now: dt.datetime
) -> tuple[Ambulance, str]:
    """A new ambulance and its first device token (returned once, stored hashed)."""
    if body.home_facility_id not in known_facilities:
        raise InputError("home_facility_id", f"unknown facility {body.home_facility_id!r}")
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


#: Statuses a dispatcher sets by hand; the others follow the referral (dispatch, depart, arrive).
MANUAL_STATUSES = frozenset({AmbulanceStatus.AVAILABLE, AmbulanceStatus.OUT_OF_SERVICE})


def set_status(
    s: Session, ambulance_id: str, status: AmbulanceStatus, *, actor: int | None, now: dt.datetime
) -> Ambulance:
    """Available again (after a hand-over) or out of service; ends its link to a referral.

    Refused (409) while the ambulance is carrying a patient: record the arrival first.
    """
    if status not in MANUAL_STATUSES:
        raise InputError(
            "status",
            f"{status.value!r} follows the referral (dispatch, depart, arrive): "
            "set available or out_of_service",
        )
    a = get(s, ambulance_id)
    if a.status == AmbulanceStatus.TRANSPORTING.value:
        raise ConflictError(
            f"ambulance {a.id} is transporting referral {a.referral_id}: record the arrival first"
        )
    move(s, a, status.value, actor=actor, now=now)
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
    note = f"ambulance {a.id}"
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
    a.status = AmbulanceStatus.DISPATCHED.value
    a.referral_id = r.id
    a.updated_at = now
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


def snapshot(s: Session) -> dict[str, AmbulanceInfo]:
    """Every ambulance with its current referral's destination."""
    rows = s.execute(
        select(Ambulance, Referral.destination_id)
        .outerjoin(Referral, Referral.id == Ambulance.referral_id)
        .order_by(Ambulance.id)
    ).all()
    return {
        a.id: AmbulanceInfo(a.id, a.home_facility_id, a.kind, a.status, a.referral_id, dest)
        for a, dest in rows
    }


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
