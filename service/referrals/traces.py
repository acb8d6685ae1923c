"""The traces a referral leaves where it was sent before it moved on.

A facility a referral was sent to keeps a read-only trace of it once it went elsewhere (it
declined, or the sender redirected it after an escalation): in its inbox, and as "received" in
its monthly report (``queries``' rule). ``referral_traces`` holds exactly those pairs: the
facilities a referral was sent to (a ``send`` or ``redirect`` event named them) that are not its
destination now. It is written here, by the redirect that moves the referral, in the same
transaction as its event; migration ``0016`` wrote it for the referrals stored before.

The facility's referrals there now are read from ``referrals`` itself; the traces add the ones
that left, in the lists' order, from their own index (docs/scale.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from service.database import ReferralTrace

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from service.database import Referral


def moved(s: Session, r: Referral, *, left: str) -> None:
    """The referral was just redirected from ``left``: a trace there, none where it is now."""
    if left == r.destination_id:  # asked again where it was (after an escalation): no move
        return
    insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
    s.execute(
        insert(ReferralTrace)
        .values(
            facility_id=left,
            referral_id=r.id,
            created_at=r.created_at,
            back_referral=r.back_referral_of is not None,
        )
        .on_conflict_do_nothing()  # (it was here before, left, came back and leaves again)
    )
    s.execute(
        delete(ReferralTrace).where(
            ReferralTrace.facility_id == r.destination_id, ReferralTrace.referral_id == r.id
        )
    )
