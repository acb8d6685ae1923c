"""Historic demand: the referrals in the database as the same table as synthetic demand.

Only what planning needs is read: origin, first ICD-10 code, age at the referral (from the date
of birth), sex, emergency flag, service type and time. Nothing else of the patient is read, and
nothing is logged. Cancelled referrals and letters never sent are left out.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import select

from service.database import Referral, aware
from service.planning.demand import DemandRecord
from service.referrals.lifecycle import Status

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from geodata.dataset import Dataset

#: The group of a historic record (its condition is its ICD-10 code).
HISTORIC = "historic"


def _age(dob: str, at: dt.datetime) -> int | None:
    try:
        born = dt.date.fromisoformat(dob)
    except (TypeError, ValueError):
        return None
    d = at.date()
    return max(0, d.year - born.year - ((d.month, d.day) < (born.month, born.day)))


def historic(s: Session, dataset: Dataset, *, since: dt.datetime, until: dt.datetime) -> list[DemandRecord]:
    """Referrals created in ``[since, until)`` from facilities of the dataset, oldest first."""
    kecamatan = {f.id: f.kecamatan for f in dataset.facilities}
    rows = s.execute(
        select(
            Referral.origin_id, Referral.icd10, Referral.patient, Referral.emergency,
            Referral.service_type, Referral.created_at, Referral.status,
        )
        .where(Referral.created_at >= since, Referral.created_at < until)
        .order_by(Referral.created_at, Referral.id)
    ).all()  # fmt: skip
    out: list[DemandRecord] = []
    for origin, icd10, patient, emergency, service_type, created, status in rows:
        at = aware(created)
        if origin not in kecamatan or not icd10 or at is None:
            continue
        if status in (Status.CANCELLED.value, Status.CREATED.value):
            continue
        age = _age(str((patient or {}).get("date_of_birth", "")), at)
        sex = (patient or {}).get("sex")
        if age is None or sex not in ("female", "male"):
            continue
        out.append(
            DemandRecord(
                id=len(out), settlement_id="", kecamatan=kecamatan[origin], origin_id=origin, at=at,
                group=HISTORIC, icd10=str(icd10[0]), age_years=age, sex=str(sex),
                emergency=bool(emergency), service_type=str(service_type),
            )
        )  # fmt: skip
    return out
