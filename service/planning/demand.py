"""Referral demand as one table: synthetic (from settlement population) or historic.

Synthetic demand draws referrals in proportion to each settlement's population times the
referral rate of each condition group, with the group's ages, sexes, ICD-10 code, emergency
share and service type, at a time of day from a diurnal profile, with a seed. The rates are
planning assumptions (documented here and in ``docs/planning.md``), meant to be replaced by
the regency's own figures once its historic referrals are in the database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    from geodata.dataset import Dataset
    from geodata.models import Facility, Settlement


@dataclass(frozen=True, slots=True)
class ConditionGroup:
    """Referrals of one kind per 1,000 people a year, and who they are."""

    id: str
    icd10: tuple[str, ...]
    per_1000_year: float
    age_min: int
    age_max: int
    sex: str | None  # "female", "male" or either
    emergency_share: float
    service_type: str  # when not an emergency


#: Planning assumptions (about 13 referrals per 1,000 people a year in all).
CONDITION_GROUPS: tuple[ConditionGroup, ...] = (
    ConditionGroup("obstetric-emergency", ("O72.1", "O14.1"), 2.0, 15, 49, "female", 1.0, "gawat_darurat"),
    ConditionGroup("neonatal", ("P07.3",), 0.8, 0, 0, None, 1.0, "gawat_darurat"),
    ConditionGroup("acute-coronary", ("I21.9",), 1.0, 40, 85, None, 1.0, "gawat_darurat"),
    ConditionGroup("head-injury", ("S06.5",), 0.7, 5, 70, None, 1.0, "gawat_darurat"),
    ConditionGroup("polytrauma", ("T07",), 0.3, 15, 70, None, 1.0, "gawat_darurat"),
    ConditionGroup("appendicitis", ("K35.8",), 1.0, 10, 60, None, 1.0, "gawat_darurat"),
    ConditionGroup("pneumonia", ("J18.9",), 3.0, 0, 85, None, 0.3, "rawat_inap"),
    ConditionGroup("dengue", ("A97.1",), 2.0, 2, 60, None, 0.5, "rawat_inap"),
    ConditionGroup("non-specialist", ("R11",), 1.5, 1, 80, None, 0.0, "rawat_jalan"),
)

#: Share of referrals by hour of day (more by day; emergencies come at night too).
HOURLY = np.array([2, 2, 2, 2, 2, 3, 4, 5, 6, 7, 7, 7, 6, 6, 6, 5, 5, 4, 4, 4, 3, 3, 2, 2], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class DemandRecord:
    """One referral to plan for: where it starts, who, what, when."""

    id: int
    settlement_id: str
    kecamatan: str
    origin_id: str  # the Puskesmas (or facility) the patient is referred from
    at: datetime
    group: str
    icd10: str
    age_years: int
    sex: str
    emergency: bool
    service_type: str


def first_contact(settlements: Sequence[Settlement], facilities: Sequence[Facility]) -> dict[str, str]:
    """Each settlement's Puskesmas: the nearest one in its kecamatan, else the nearest."""
    pkm = [f for f in facilities if f.kind.value == "puskesmas"]
    if not pkm:
        return {}
    xy = np.array([(f.location.lon, f.location.lat) for f in pkm])
    out = {}
    for s in settlements:
        d = np.hypot(
            (xy[:, 0] - s.centroid.lon) * math.cos(math.radians(s.centroid.lat)), xy[:, 1] - s.centroid.lat
        )
        same = [i for i, f in enumerate(pkm) if f.kecamatan.casefold() == s.kecamatan.casefold()]
        i = min(same, key=lambda k: d[k]) if same else int(np.argmin(d))
        out[s.id] = pkm[i].id
    return out


def synthetic(
    dataset: Dataset,
    *,
    referrals: int,
    seed: int,
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC),
    days: int = 365,
    groups: Sequence[ConditionGroup] = CONDITION_GROUPS,
) -> list[DemandRecord]:
    """``referrals`` records spread over settlements and groups in proportion to population x rate."""
    if referrals < 0:
        msg = f"referrals: {referrals} must be >= 0"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    settlements = [s for s in dataset.settlements if s.population > 0]
    origin = first_contact(settlements, dataset.facilities)
    pop = np.array([s.population for s in settlements], dtype=np.float64)
    rate = np.array([g.per_1000_year for g in groups], dtype=np.float64)
    weight = np.outer(pop, rate).ravel()
    cells = rng.choice(len(weight), size=referrals, p=weight / weight.sum())
    hours = rng.choice(24, size=referrals, p=HOURLY / HOURLY.sum())
    day = rng.integers(0, days, size=referrals)
    minute = rng.integers(0, 60, size=referrals)
    u = rng.random((referrals, 4))
    out = []
    for k in range(referrals):
        si, gi = divmod(int(cells[k]), len(groups))
        s, g = settlements[si], groups[gi]
        sex = g.sex or ("female" if u[k, 0] < 0.5 else "male")
        age = g.age_min + int(u[k, 1] * (g.age_max - g.age_min + 1))
        emergency = bool(u[k, 2] < g.emergency_share)
        out.append(
            DemandRecord(
                id=k,
                settlement_id=s.id,
                kecamatan=s.kecamatan,
                origin_id=origin[s.id],
                at=start + timedelta(days=int(day[k]), hours=int(hours[k]), minutes=int(minute[k])),
                group=g.id,
                icd10=g.icd10[int(u[k, 3] * len(g.icd10))],
                age_years=min(age, g.age_max),
                sex=sex,
                emergency=emergency,
                service_type="gawat_darurat" if emergency else g.service_type,
            )
        )
    return out
