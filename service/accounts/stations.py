"""Stations: a receiving facility's screen keeps alerting when no one is signed in on it.

A staff token lives minutes (``token_minutes``), but an ER's screen must sound for a new
referral at 3 a.m. whoever signed in last. A receiver registers the screen as a *station*: a
random secret (``rjk_stn_`` and 256 bits), shown once, stored only as a SHA-256 hash (there is
nothing to guess, so no slow hash), bound to the receiver's facility, living ``station_days``,
revocable at once by the facility's receivers or an admin (no cache: every use reads the row).

Sent in ``X-Station-Key``, it opens exactly two things, both under ``/api/stations``: the
facility's live feed as its receivers see it (without the events' free-text notes), and the
referrals waiting for the facility's answer (id, origin, emergency, sent time, status): never
anything of the patient. It is not a sign-in: staff routes read ``Authorization: Bearer`` signed
tokens only, and no route turns a station into a staff token. Every registration, revocation and
refused use is audited; the secret never is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from service.audit import audit
from service.auth import Principal, Role
from service.database import Referral, Station, aware
from service.errors import ConflictError, ForbiddenError, NotFoundError, UnauthorizedError
from service.referrals import queries
from service.referrals.lifecycle import Status
from service.referrals.views import event_json, iso

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.orm import Session

#: Station secrets start with this, so a misplaced one is recognisable (and never taken for a JWT).
SECRET_PREFIX = "rjk_stn_"  # noqa: S105  a public prefix, not a secret
#: active stations one facility may have (a screen registers once; more is a runaway client)
MAX_ACTIVE = 50
#: referrals listed by the inbox (the count is exact)
INBOX_LIMIT = 100
#: a refused use of one station (or of unknown secrets) from one address is audited once per this
#: many seconds: a revoked screen retrying every few seconds must not fill the audit log
REFUSAL_AUDIT_EVERY_S = 60.0
#: a station's last use is written at most this often (a read should rarely write)
USE_MARK_EVERY_S = 300.0
#: the event fields a station sees: the free-text note (a reason, a remark) is left out
_EVENT_FIELDS = ("id", "referral_id", "at", "kind", "from", "to", "origin_id", "destination_id")


class Refusal(StrEnum):
    """Why a station secret was refused."""

    MISSING = "missing"
    UNKNOWN = "unknown"
    REVOKED = "revoked"
    EXPIRED = "expired"


_DETAIL = {
    Refusal.MISSING: "a station key is needed (X-Station-Key)",
    Refusal.UNKNOWN: "unknown station key",
    Refusal.REVOKED: "this station was revoked: sign in on it again to register it",
    Refusal.EXPIRED: "this station has expired: sign in on it again to register it",
}


class StationRefusedError(UnauthorizedError):
    """A station secret that opens nothing (401, ``WWW-Authenticate: Station error="<reason>"``)."""

    def __init__(self, reason: Refusal, station_id: int | None = None) -> None:
        self.reason = reason
        self.station_id = station_id
        super().__init__(_DETAIL[reason], challenge=f'Station error="{reason.value}"')


@dataclass(frozen=True, slots=True)
class StationAccess:
    """A verified station: its facility's alert screen, nothing more."""

    id: int
    name: str
    facility_id: str
    expires_at: dt.datetime


def secret_hash(secret: str) -> str:
    """The stored form of a station secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    """A fresh station secret (256 random bits)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def state_of(st: Station, now: dt.datetime) -> str:
    """``active``, ``revoked`` or ``expired``."""
    if st.revoked_at is not None:
        return "revoked"
    expires = aware(st.expires_at)
    return "expired" if expires is None or expires <= now else "active"


def station_json(st: Station, now: dt.datetime) -> dict[str, Any]:
    """The public form of a station (never its secret nor the hash)."""
    return {
        "id": st.id,
        "name": st.name,
        "facility_id": st.facility_id,
        "state": state_of(st, now),
        "created_by": st.created_by,
        "created_at": iso(st.created_at),
        "expires_at": iso(st.expires_at),
        "revoked_at": iso(st.revoked_at),
        "last_used_at": iso(st.last_used_at),
    }


def register(s: Session, p: Principal, *, name: str, days: int, now: dt.datetime) -> tuple[Station, str]:
    """A new station of the staff member's facility, and its secret (to show once).

    Any of a facility's staff may register one: a hospital's receivers for its ER, a Puskesmas's
    referring staff for the answers to its referrals and the back-referrals it receives.
    """
    if p.facility_id is None or not p.has(Role.RECEIVER, Role.REFERRER):
        raise ForbiddenError("a station belongs to a facility: only its staff register one")
    active = s.scalar(
        select(func.count())
        .select_from(Station)
        .where(Station.facility_id == p.facility_id, Station.revoked_at.is_(None), Station.expires_at > now)
    )
    if (active or 0) >= MAX_ACTIVE:
        raise ConflictError(
            f"this facility has {MAX_ACTIVE} active stations already: revoke unused ones first"
        )
    secret = new_secret()
    st = Station(
        name=name,
        facility_id=p.facility_id,
        secret_hash=secret_hash(secret),
        created_by=p.user_id,
        created_at=now,
        expires_at=now + dt.timedelta(days=days),
    )
    s.add(st)
    s.flush()
    audit(
        s,
        actor=p.user_id,
        action="station.create",
        entity="station",
        entity_id=str(st.id),
        now=now,
        facility=st.facility_id,
        name=name,
        expires_at=iso(st.expires_at),
    )
    return st, secret


def list_for(s: Session, p: Principal, *, facility_id: str | None) -> Sequence[Station]:
    """The stations of the caller's facility (an admin: of ``facility_id``, or all), newest first."""
    q = select(Station)
    scope = facility_id if p.is_admin else p.facility_id
    if scope is not None:
        q = q.where(Station.facility_id == scope)
    return s.scalars(q.order_by(Station.created_at.desc(), Station.id.desc()).limit(200)).all()


def revoke(s: Session, p: Principal, station_id: int, *, now: dt.datetime) -> Station:
    """Revoke a station of the caller's facility (any, for an admin): its secret opens nothing from now.

    Revoking a revoked station changes nothing. Another facility's station is answered like one
    that does not exist (404).
    """
    st = s.get(Station, station_id)
    staff = p.has(Role.RECEIVER, Role.REFERRER) and p.facility_id == st.facility_id if st else False
    if st is None or not (p.is_admin or staff):
        raise NotFoundError(f"no station {station_id}")
    if st.revoked_at is None:
        st.revoked_at = now
        st.revoked_by = p.user_id
        audit(
            s,
            actor=p.user_id,
            action="station.revoke",
            entity="station",
            entity_id=str(st.id),
            now=now,
            facility=st.facility_id,
            name=st.name,
        )
    return st


def _refusal(st: Station, now: dt.datetime) -> Refusal | None:
    if st.revoked_at is not None:
        return Refusal.REVOKED
    expires = aware(st.expires_at)
    if expires is None or expires <= now:
        return Refusal.EXPIRED
    return None


def verify(s: Session, secret: str | None, *, now: dt.datetime) -> StationAccess:
    """The station of this secret (StationRefusedError otherwise); its last use is marked now and
    then (the caller commits)."""  # noqa: D205, D209
    if not secret:
        raise StationRefusedError(Refusal.MISSING)
    st = s.scalar(select(Station).where(Station.secret_hash == secret_hash(secret)))
    if st is None:
        raise StationRefusedError(Refusal.UNKNOWN)
    refusal = _refusal(st, now)
    if refusal is not None:
        raise StationRefusedError(refusal, st.id)
    used = aware(st.last_used_at)
    if used is None or (now - used).total_seconds() >= USE_MARK_EVERY_S:
        st.last_used_at = now
    expires = aware(st.expires_at)
    assert expires is not None
    return StationAccess(st.id, st.name, st.facility_id, expires)


def still_valid(s: Session, access: StationAccess, *, now: dt.datetime) -> Refusal | None:
    """Why a station verified earlier opens nothing any more (revoked, expired), or None."""
    st = s.get(Station, access.id)
    return Refusal.REVOKED if st is None else _refusal(st, now)


def first_refusal(seen: dict[tuple[str, str, str], float], exc: StationRefusedError, *, client: str,
                  now: dt.datetime) -> bool:  # fmt: skip
    """True if this refusal (station, reason, client address) was not audited in the last minute.

    ``seen`` is the worker's memory of audited refusals (``Runtime.station_refusals``).
    """
    key = (str(exc.station_id or "-"), exc.reason.value, client)
    t = now.timestamp()
    last = seen.get(key)
    if last is not None and 0 <= t - last < REFUSAL_AUDIT_EVERY_S:
        return False
    if len(seen) > 10_000:
        seen.clear()
    seen[key] = t
    return True


def audit_refusal(s: Session, exc: StationRefusedError, *, client: str, path: str, now: dt.datetime) -> None:
    """Audit a refused station secret: why, from where, on which route (never the secret)."""
    audit(
        s,
        actor=None,
        action="station.fail",
        entity="station",
        entity_id=str(exc.station_id or "-"),
        now=now,
        reason=exc.reason.value,
        client=client,
        route=path,
    )


def waiting(s: Session, access: StationAccess) -> dict[str, Any]:
    """The referrals waiting for the facility's answer: how many, and each without its patient.

    Only plain columns are read: the sealed patient block is never even opened here.
    """
    where = (
        Referral.destination_id == access.facility_id,
        Referral.status == Status.SENT.value,
        Referral.sent_at.is_not(None),
    )
    count = s.scalar(select(func.count()).select_from(Referral).where(*where)) or 0
    rows = s.execute(
        select(Referral.id, Referral.origin_id, Referral.emergency, Referral.sent_at, Referral.status)
        .where(*where)
        .order_by(Referral.sent_at, Referral.id)
        .limit(INBOX_LIMIT)
    ).all()
    return {
        "station": {
            "id": access.id,
            "name": access.name,
            "facility_id": access.facility_id,
            "expires_at": iso(access.expires_at),
        },
        "count": int(count),
        "referrals": [
            {
                "id": r.id,
                "origin_id": r.origin_id,
                "emergency": bool(r.emergency),
                "sent_at": iso(r.sent_at),
                "status": r.status,
            }
            for r in rows
        ],
    }


def _receiver(access: StationAccess) -> Principal:
    """The station as its facility's receiver, for the feed's filter only (no user behind it).

    Never returned to a route: nothing but ``events`` below sees it, so no other route can take it.
    """
    return Principal(0, f"station:{access.id}", frozenset({Role.RECEIVER}), access.facility_id)


def feed_start(s: Session) -> int:
    """Where a new feed starts: after the newest event."""
    return queries.latest_event_id(s)


def events(s: Session, access: StationAccess, after_id: int) -> list[dict[str, Any]]:
    """The facility's feed after ``after_id``, as its receivers see it, without the free-text notes."""
    out = []
    for e in queries.events_after(s, _receiver(access), after_id):
        full = event_json(e)
        out.append({k: full[k] for k in _EVENT_FIELDS})
    return out
