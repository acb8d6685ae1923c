"""An ambulance's status changes, audited: the one place that moves one (by hand or by its referral).

Only shared pieces are imported here, so the referral lifecycle can move its ambulance without
depending on the rest of tracking.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.audit import audit

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy.orm import Session

    from service.database import Ambulance

#: the status in which an ambulance is free for a new referral
AVAILABLE = "available"


def move(s: Session, a: Ambulance, status: str, *, actor: int | None, now: dt.datetime) -> None:
    """Set the ambulance's status (free again: its link to the referral ends), with an audit entry."""
    frm, referral = a.status, a.referral_id
    a.status = status
    if status in (AVAILABLE, "out_of_service"):
        a.referral_id = None
    a.updated_at = now
    audit(s, actor=actor, action="ambulance.status", entity="ambulance", entity_id=a.id, now=now,
          frm=frm, to=status, referral=referral)  # fmt: skip
