"""The audit log: every state change, who made it and when, in the same transaction as the change."""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.database import AuditEntry

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy.orm import Session


def audit(
    s: Session,
    *,
    actor: int | None,
    action: str,
    entity: str,
    entity_id: str,
    now: dt.datetime,
    **detail: object,
) -> None:
    """Record a state change. ``detail`` must hold no personal data (no name, NIK or phone)."""
    s.add(
        AuditEntry(at=now, actor_id=actor, action=action, entity=entity, entity_id=entity_id, detail=detail)
    )
