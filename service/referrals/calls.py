"""Video calls inside a referral: its two facilities see and hear each other; rujuk carries the signalling.

The browsers connect to each other (WebRTC, through the STUN/TURN servers the operator
configures: ``RUJUK_ICE_SERVERS``, ``RUJUK_TURN_SECRET``; docs/telemedicine.md); rujuk carries
only what they must tell each other (offer, answer, ICE candidates), over its own signed-in API,
between the same two sides as the conversation (``messages``): the sender and the facility the
referral is with. A call rings (event ``call_from_sender`` / ``call_from_receiver``: the other
page rings), is answered (``call_start``, its participants) and ends (``call_end``, its length);
each is in the referral's history and audited. One call at a time per referral; one not
answered within ``RING_S`` is missed.

No media passes through rujuk and nothing of a call's content is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from service.audit import audit
from service.database import Call, CallSignal, Referral, User, aware
from service.errors import ConflictError, ForbiddenError, InputError, NotFoundError
from service.referrals import queries
from service.referrals.lifecycle import Side, Status
from service.referrals.store import record_event
from service.referrals.views import iso

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy.orm import Session

    from service.auth import Principal
    from service.settings import Settings

#: how long a call rings before it is missed
RING_S = 60
#: what the browsers tell each other
SIGNAL_KINDS = ("offer", "answer", "candidate", "audio_only")
#: a call's signalling messages are small (an SDP offer is a few kB)
MAX_SIGNAL_BYTES = 20_000
#: a call is possible while the referral is being answered or carried out
CLOSED = frozenset({Status.CREATED.value, Status.COMPLETED.value, Status.CANCELLED.value})
#: the event of a ringing call, by the caller's side (the other page rings)
RING_KINDS = {Side.SENDER: "call_from_sender", Side.RECEIVER: "call_from_receiver"}
#: how long the TURN credentials given for a call stay valid
TURN_TTL_S = 6 * 3600


def _side(p: Principal, r: Referral) -> Side | None:
    sides = queries.sides_of(p, r)
    if Side.SENDER in sides:
        return Side.SENDER
    if Side.RECEIVER in sides:
        return Side.RECEIVER
    return None


def _name(s: Session, p: Principal) -> str:
    u = s.get(User, p.user_id)
    return (u.full_name or u.username) if u else p.username


def ice_servers(settings: Settings, user: str, now: dt.datetime) -> list[dict[str, Any]]:
    """The STUN/TURN servers for a call; TURN entries without credentials get time-limited ones
    from the shared secret (coturn's ``use-auth-secret``: username ``expiry:user``, credential
    base64 HMAC-SHA1 of it)."""  # noqa: D205, D209
    out = []
    expiry = int(now.timestamp()) + TURN_TTL_S
    for server in settings.ice_server_list():
        entry = dict(server)
        urls = entry.get("urls")
        turn = any(
            str(u).startswith(("turn:", "turns:")) for u in (urls if isinstance(urls, list) else [urls])
        )
        if turn and "username" not in entry and settings.turn_secret:
            username = f"{expiry}:{user}"
            digest = hmac.new(settings.turn_secret.encode(), username.encode(), hashlib.sha1).digest()
            entry |= {"username": username, "credential": base64.b64encode(digest).decode()}
        out.append(entry)
    return out


def call_json(c: Call, side: Side | None) -> dict[str, Any]:
    """A call as the caller of the API sees it."""
    return {
        "id": c.id,
        "referral_id": c.referral_id,
        "state": c.state,
        "caller_side": c.caller_side,
        "my_side": side.value if side else None,
        "started_at": iso(c.started_at),
        "answered_at": iso(c.answered_at),
        "ended_at": iso(c.ended_at),
        "participants": [{k: v for k, v in x.items() if k != "user_id"} for x in c.participants or ()],
        "audio_only": c.audio_only,
    }


def _expire(s: Session, c: Call, r: Referral, now: dt.datetime) -> None:
    """A call that rang too long is missed."""
    started = aware(c.started_at)
    if c.state == "ringing" and started is not None and (now - started).total_seconds() > RING_S:
        _finish(s, c, r, now, actor=None, how="missed")


def _finish(s: Session, c: Call, r: Referral, now: dt.datetime, *, actor: int | None, how: str) -> None:
    answered = aware(c.answered_at)
    c.state, c.ended_at = "ended", now
    length = round((now - answered).total_seconds()) if answered else None
    note = str(length) if length is not None else how  # seconds of the call, or why it never began
    record_event(s, r, kind="call_end", frm=r.status, actor=actor, now=now, note=note)
    audit(s, actor=actor, action="referral.call_end", entity="referral", entity_id=r.id, now=now,
          call=c.id, seconds=length, how=how, audio_only=c.audio_only)  # fmt: skip


def start(
    s: Session, p: Principal, r: Referral, now: dt.datetime, *, elsewhere: bool = False
) -> tuple[Call, Side]:
    """Ring the other side (one call at a time per referral; none to a facility on another deployment)."""
    side = _side(p, r)
    if side is None:
        if p.is_admin:
            raise ForbiddenError("only the two facilities call each other")
        raise NotFoundError(f"no referral {r.id!r}")
    if r.status in CLOSED:
        raise ConflictError(f"the referral is {r.status}: no call")
    if elsewhere:
        raise ConflictError("the facility answers on its own rujuk deployment: phone it")
    for c in s.scalars(select(Call).where(Call.referral_id == r.id, Call.state != "ended")).all():
        _expire(s, c, r, now)
        if c.state != "ended":
            raise ConflictError("a call of this referral is already ringing or going on")
    name = _name(s, p)
    me = {"user_id": p.user_id, "name": name, "facility_id": p.facility_id, "side": side.value,
          "at": now.isoformat()}  # fmt: skip
    c = Call(id=str(uuid.uuid4()), referral_id=r.id, state="ringing", caller_side=side.value,
             destination_id=r.destination_id, started_by=p.user_id, started_at=now, answered_at=None,
             ended_at=None, participants=[me], audio_only=False)  # fmt: skip
    s.add(c)
    s.flush()
    record_event(s, r, kind=RING_KINDS[side], frm=r.status, actor=p.user_id, now=now, note=name)
    audit(
        s, actor=p.user_id, action="referral.call_ring", entity="referral", entity_id=r.id, now=now, call=c.id
    )
    return c, side


def get(s: Session, p: Principal, call_id: str, now: dt.datetime) -> tuple[Call, Referral, Side | None]:
    """A call of a referral the caller is a side of (admins read it); 404 otherwise."""
    c = s.get(Call, call_id)
    if c is None:
        raise NotFoundError(f"no call {call_id!r}")
    try:
        r = queries.get_referral(s, p, c.referral_id)
    except NotFoundError:
        raise NotFoundError(f"no call {call_id!r}") from None
    side = _side(p, r)
    if side is Side.RECEIVER and p.facility_id != c.destination_id:
        side = None  # the facility the referral was with when the call was made is the one called
    if side is None and not p.is_admin:
        raise NotFoundError(f"no call {call_id!r}")
    _expire(s, c, r, now)
    return c, r, side


def answer(s: Session, p: Principal, call_id: str, now: dt.datetime) -> tuple[Call, Side]:
    """The other side picks up: the call begins."""
    c, r, side = get(s, p, call_id, now)
    if side is None:
        raise ForbiddenError("only the two facilities call each other")
    if side.value == c.caller_side:
        raise ConflictError("this side is calling: the other side answers")
    if c.state != "ringing":
        raise ConflictError(f"the call is {c.state}")
    me = {"user_id": p.user_id, "name": _name(s, p), "facility_id": p.facility_id, "side": side.value,
          "at": now.isoformat()}  # fmt: skip
    c.state, c.answered_at, c.participants = "active", now, [*c.participants, me]
    names = ", ".join(str(x["name"]) for x in c.participants)
    record_event(s, r, kind="call_start", frm=r.status, actor=p.user_id, now=now, note=names)
    audit(s, actor=p.user_id, action="referral.call_start", entity="referral", entity_id=r.id, now=now,
          call=c.id, participants=[x["user_id"] for x in c.participants])  # fmt: skip
    return c, side


def signal(
    s: Session, p: Principal, call_id: str, kind: str, payload: dict[str, Any], now: dt.datetime
) -> int:
    """A signalling message for the other side of a call not ended."""
    c, _, side = get(s, p, call_id, now)
    if side is None:
        raise ForbiddenError("only the two facilities call each other")
    if c.state == "ended":
        raise ConflictError("the call has ended")
    if len(json.dumps(payload)) > MAX_SIGNAL_BYTES:
        raise InputError("payload", f"at most {MAX_SIGNAL_BYTES} bytes", code="too_long")
    if kind == "audio_only":
        c.audio_only = True
    sig = CallSignal(call_id=c.id, at=now, side=side.value, kind=kind, payload=payload)
    s.add(sig)
    s.flush()
    return sig.id


def signals_after(
    s: Session, p: Principal, call_id: str, after: int, now: dt.datetime
) -> tuple[list[dict[str, Any]], bool]:
    """The other side's signals after ``after``, and whether the call has ended."""
    c, _, side = get(s, p, call_id, now)
    q = select(CallSignal).where(CallSignal.call_id == c.id, CallSignal.id > after)
    if side is not None:
        q = q.where(CallSignal.side != side.value)
    rows = s.scalars(q.order_by(CallSignal.id).limit(200)).all()
    out = [{"id": x.id, "kind": x.kind, "side": x.side, "payload": x.payload, "state": c.state} for x in rows]
    return out, c.state == "ended"


def end(
    s: Session, p: Principal, call_id: str, now: dt.datetime, *, declined: bool = False
) -> tuple[Call, Side | None]:
    """Hang up (or decline a ringing call); ending an ended call changes nothing."""
    c, r, side = get(s, p, call_id, now)
    if side is None:
        raise ForbiddenError("only the two facilities call each other")
    if c.state != "ended":
        how = (
            "declined"
            if declined and c.state == "ringing"
            else "cancelled"
            if c.state == "ringing"
            else "hangup"
        )
        _finish(s, c, r, now, actor=p.user_id, how=how)
    return c, side


def history(s: Session, p: Principal, r: Referral, now: dt.datetime) -> list[dict[str, Any]]:
    """The referral's calls the caller may see (the sender all, a receiving facility its own)."""
    side = _side(p, r)
    if side is None and not p.is_admin:
        raise NotFoundError(f"no referral {r.id!r}")
    q = select(Call).where(Call.referral_id == r.id)
    if side is Side.RECEIVER:
        q = q.where(Call.destination_id == p.facility_id)
    rows = s.scalars(q.order_by(Call.started_at)).all()
    for c in rows:
        _expire(s, c, r, now)
    return [call_json(c, side) for c in rows]
