"""The conversation of a referral: its sender and the receiving facility talk before and after the answer.

SISRUTE's purpose is this talk between facilities before a referral is accepted (can you take
the patient, what is missing, which room). A referral has one thread per receiving facility it
was sent to: the sender reads and writes in all of them; a receiving facility reads and writes
only in its own, while the referral is with it (after a redirect the next facility starts its
own thread; the one that declined keeps no access to the patient, so none to the talk). Admins
read everything, write nothing. Dispatchers and planners see none.

Every message is an event of the referral (``msg_sender`` / ``msg_receiver``, no text in the
event: the live feed and the alerts of the inbox carry it to the other side) and an audit entry;
its text is personal data, sealed at rest (``Message.content``), never logged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from service.audit import audit
from service.database import Attachment, Message, MessageRead, Referral, User
from service.errors import ConflictError, ForbiddenError, InputError, NotFoundError
from service.referrals.lifecycle import Side, Status
from service.referrals.queries import sides_of
from service.referrals.store import record_event
from service.referrals.views import iso

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable

    from sqlalchemy import ColumnElement
    from sqlalchemy.orm import Session

    from service.auth import Principal

#: the quick replies staff use every night (their words are the pages' catalogue: ``chat.quick.*``)
QUICK = (
    "can_accept",  # Bisa diterima, siapkan ...
    "send_lab",  # Mohon kirim hasil lab
    "room_full",  # Ruang penuh, coba ...
    "call_us",  # Mohon telepon IGD kami
    "patient_worse",  # Kondisi pasien memburuk
    "on_the_way",  # Pasien sedang dalam perjalanan
)
#: a conversation is open from the moment the letter is sent until the referral is over
CLOSED = frozenset({Status.CREATED.value, Status.COMPLETED.value, Status.CANCELLED.value})
#: the event kind of a message, by its author's side
EVENT_KINDS = {Side.SENDER: "msg_sender", Side.RECEIVER: "msg_receiver"}


def _side(p: Principal, r: Referral) -> Side | None:
    """The caller's side in the conversation (sender first: a facility referring to itself cannot)."""
    sides = sides_of(p, r)
    if Side.SENDER in sides:
        return Side.SENDER
    if Side.RECEIVER in sides:
        return Side.RECEIVER
    return None


def _visible(p: Principal, r: Referral) -> ColumnElement[bool] | None:
    """The messages of this referral the caller reads (None: all; NotFoundError: none)."""
    side = _side(p, r)
    if p.is_admin or side is Side.SENDER:
        return None
    if side is Side.RECEIVER:
        return Message.destination_id == p.facility_id
    raise NotFoundError(f"no referral {r.id!r}")


def _json(m: Message, names: dict[int, str], p: Principal) -> dict[str, Any]:
    c = m.content or {}
    return {
        "id": m.id,
        "at": iso(m.at),
        "side": m.side,
        "facility_id": m.facility_id,
        "destination_id": m.destination_id,
        "author": names.get(m.author_id, ""),
        "mine": m.author_id == p.user_id,
        "text": c.get("text", ""),
        "quick": c.get("quick"),
        "attachment_id": c.get("attachment_id"),
    }


def conversation(s: Session, p: Principal, r: Referral, *, elsewhere: bool = False) -> dict[str, Any]:
    """The messages the caller reads, oldest first, and how far they have read them.

    ``elsewhere``: the facility the referral is with answers on another rujuk deployment, so there
    is no conversation here (its staff are not on this one).
    """
    q = select(Message).where(Message.referral_id == r.id)
    where = _visible(p, r)
    if where is not None:
        q = q.where(where)
    rows = s.scalars(q.order_by(Message.id)).all()
    authors = {m.author_id for m in rows}
    names = {
        u.id: u.full_name or u.username
        for u in s.scalars(select(User).where(User.id.in_(authors))).all()
    } if authors else {}  # fmt: skip
    read = s.get(MessageRead, (p.user_id, r.id))
    side = _side(p, r)
    return {
        "messages": [_json(m, names, p) for m in rows],
        "read_up_to": read.last_read_id if read else 0,
        "can_write": side is not None and r.status not in CLOSED and not elsewhere,
        "elsewhere": elsewhere,
        "side": side.value if side else None,
        "quick": list(QUICK),
    }


def post(
    s: Session,
    p: Principal,
    r: Referral,
    *,
    text: str,
    quick: str | None,
    attachment_id: int | None,
    now: dt.datetime,
    elsewhere: bool = False,
) -> dict[str, Any]:
    """A message from the caller's side: stored sealed, an event for the other side, audited."""
    side = _side(p, r)
    if side is None:
        if p.is_admin:
            raise ForbiddenError("only the two facilities write in a referral's conversation")
        raise NotFoundError(f"no referral {r.id!r}")
    if r.status == Status.CREATED.value:
        raise ConflictError("the letter is not sent yet: the conversation opens when it is")
    if r.status in CLOSED:
        raise ConflictError(f"the referral is {r.status}: its conversation is closed")
    if elsewhere:
        raise ConflictError("the facility answers on its own rujuk deployment: call or phone it")
    if (
        attachment_id is not None
        and s.scalar(
            select(Attachment.id).where(Attachment.id == attachment_id, Attachment.referral_id == r.id)
        )
        is None
    ):
        raise InputError("attachment_id", "is not an attachment of this referral", code="unknown_attachment")
    content: dict[str, Any] = {"text": text}
    if quick:
        content["quick"] = quick
    if attachment_id is not None:
        content["attachment_id"] = attachment_id
    assert p.facility_id is not None  # a side is a facility's
    m = Message(referral_id=r.id, at=now, author_id=p.user_id, side=side.value, facility_id=p.facility_id,
                destination_id=r.destination_id, content=content)  # fmt: skip
    s.add(m)
    s.flush()
    record_event(s, r, kind=EVENT_KINDS[side], frm=r.status, actor=p.user_id, now=now, note="")
    audit(s, actor=p.user_id, action="referral.message", entity="referral", entity_id=r.id, now=now,
          message=m.id, side=side.value, quick=quick, attachment=attachment_id)  # fmt: skip
    _mark(s, p.user_id, r.id, m.id)
    return _json(m, {p.user_id: p.username}, p)


def _mark(s: Session, user_id: int, referral_id: str, up_to: int) -> None:
    read = s.get(MessageRead, (user_id, referral_id))
    if read is None:
        s.add(MessageRead(user_id=user_id, referral_id=referral_id, last_read_id=up_to))
    elif up_to > read.last_read_id:
        read.last_read_id = up_to


def mark_read(s: Session, p: Principal, r: Referral, up_to: int) -> int:
    """The caller has read the conversation up to message ``up_to`` (at most the newest they see)."""
    q = select(func.max(Message.id)).where(Message.referral_id == r.id)
    where = _visible(p, r)
    if where is not None:
        q = q.where(where)
    newest = s.scalar(q) or 0
    _mark(s, p.user_id, r.id, min(up_to, newest))
    read = s.get(MessageRead, (p.user_id, r.id))
    return read.last_read_id if read else 0


def unread_counts(s: Session, p: Principal, referral_ids: Iterable[str]) -> dict[str, int]:
    """For each referral: the messages from the other side the caller has not read (their threads only)."""
    ids = list(set(referral_ids))
    if not ids or p.facility_id is None:
        return {}
    mine = (Referral.origin_id == p.facility_id) | (Message.destination_id == p.facility_id)
    q = (
        select(Message.referral_id, func.count())
        .join(Referral, Referral.id == Message.referral_id)
        .outerjoin(
            MessageRead, (MessageRead.referral_id == Message.referral_id) & (MessageRead.user_id == p.user_id)
        )
        .where(
            Message.referral_id.in_(ids),
            Message.facility_id != p.facility_id,
            Message.id > func.coalesce(MessageRead.last_read_id, 0),
            mine,
        )
        .group_by(Message.referral_id)
    )
    return {rid: int(n) for rid, n in s.execute(q).all()}
