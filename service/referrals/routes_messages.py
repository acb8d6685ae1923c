"""HTTP routes of a referral's conversation: read, write, mark read (``service.referrals.messages``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from service.deps import AnyUser, CurrentReferral, Db, Rt
from service.http import doc
from service.referrals import messages
from service.referrals.schemas import ConversationOut, MessageIn, MessageOut, ReadIn, ReadOut

router = APIRouter(prefix="/api", tags=["referrals"])


@router.get("/referrals/{referral_id}/messages", **doc(ConversationOut, 401, 404))
def read_conversation(r: CurrentReferral, rt: Rt, db: Db, p: AnyUser) -> dict[str, Any]:
    """The conversation with the other side (the sender reads every receiving facility's thread)."""
    return messages.conversation(db, p, r, elsewhere=rt.served_elsewhere(r.destination_id))


@router.post("/referrals/{referral_id}/messages", **doc(MessageOut, 401, 403, 404, 409, status=201))
def write_message(r: CurrentReferral, body: MessageIn, rt: Rt, db: Db, p: AnyUser) -> dict[str, Any]:
    """A message to the other side: text, a quick reply, a letter's attachment (from sending to the end)."""
    out = messages.post(db, p, r, text=body.text.strip(), quick=body.quick, attachment_id=body.attachment_id,
                        now=rt.clock(), elsewhere=rt.served_elsewhere(r.destination_id))  # fmt: skip
    db.commit()
    return out


@router.post("/referrals/{referral_id}/messages/read", **doc(ReadOut, 401, 404))
def mark_read(r: CurrentReferral, body: ReadIn, db: Db, p: AnyUser) -> dict[str, Any]:
    """The caller has read the conversation up to a message (the unread counts go down)."""
    out = {"read_up_to": messages.mark_read(db, p, r, body.up_to)}
    db.commit()
    return out
