"""Patients served by a facility per month: the denominator of Pasal 23(2)a."""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.audit import audit
from service.database import ServiceVolume

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy.orm import Session


def set_volume(
    s: Session, facility_id: str, *, month: str, served: int, actor: int, now: dt.datetime
) -> None:
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
    audit(
        s,
        actor=actor,
        action="volume.set",
        entity="facility",
        entity_id=facility_id,
        now=now,
        month=month,
        patients_served=served,
    )
