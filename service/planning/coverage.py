"""Coverage: which settlements are within 30 / 60 / 120 minutes by road of each kind of care.

A view is a set of facilities (those that offer a service, have a bed type or a piece of
equipment); each desa's time is its fastest road time to any of them (from its centroid,
off-road leg included). Tables per view and per desa, with the population covered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from geodata.models import BedType, Equipment, Service

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from geodata.models import Facility
    from service.matcher import Matcher

THRESHOLDS_MIN = (30, 60, 120)


@dataclass(frozen=True, slots=True)
class View:
    """A kind of care and how to tell a facility that gives it."""

    id: str
    label: str
    gives: Callable[[Facility], bool]


VIEWS: tuple[View, ...] = (
    View("emergency-obstetric", "Emergency obstetric care (Obgyn with maternity beds)",
         lambda f: Service.OBGYN in f.services and f.beds.get(BedType.MATERNITY, 0) > 0),
    View("icu", "Intensive care (ICU beds)", lambda f: f.beds.get(BedType.ICU, 0) > 0),
    View("nicu", "Neonatal intensive care (NICU beds)", lambda f: f.beds.get(BedType.NICU, 0) > 0),
    View("cath-lab", "Cardiac catheterisation (cath lab)", lambda f: Equipment.CATH_LAB in f.equipment),
    View("dialysis", "Haemodialysis",
         lambda f: Service.HEMODIALISA in f.services or Equipment.DIALYSIS in f.equipment),
    View("any-hospital", "Any hospital emergency department", lambda f: f.is_hospital),
)  # fmt: skip


def coverage(
    matcher: Matcher, *, views: Sequence[View] = VIEWS, thresholds: Sequence[int] = THRESHOLDS_MIN
) -> dict[str, pd.DataFrame]:
    """``summary`` (per view: population and share within each threshold) and ``by_desa``."""
    ds = matcher.dataset
    engine = matcher.engine
    settlements = list(ds.settlements)
    receiving = [f for f in ds.facilities if f.receiving and f.id in engine.facility_ids]
    m = engine.matrix(
        {s.id: (s.centroid.lon, s.centroid.lat) for s in settlements},
        facility_ids=[f.id for f in receiving],
        with_distance=False,
    )
    col = {fid: j for j, fid in enumerate(m.destination_ids)}
    pop = np.array([s.population for s in settlements], dtype=np.float64)
    total = float(pop.sum())
    summary = []
    by_desa = pd.DataFrame(
        {"desa_id": [s.id for s in settlements], "name": [s.name for s in settlements],
         "kecamatan": [s.kecamatan for s in settlements], "population": pop.astype(int),
         "lon": [s.centroid.lon for s in settlements], "lat": [s.centroid.lat for s in settlements]}
    )  # fmt: skip
    for v in views:
        cols = [col[f.id] for f in receiving if v.gives(f)]
        best = np.min(m.time_s[:, cols], axis=1) / 60 if cols else np.full(len(settlements), np.inf)
        by_desa[f"{v.id}_min"] = np.where(np.isfinite(best), np.round(best, 1), np.nan)
        row: dict[str, object] = {"view": v.id, "label": v.label, "facilities": len(cols)}
        for t in thresholds:
            covered = float(pop[best <= t].sum())
            row[f"population_within_{t}_min"] = int(covered)
            row[f"share_within_{t}_min"] = round(covered / total, 4) if total else math.nan
        summary.append(row)
    return {"summary": pd.DataFrame(summary), "by_desa": by_desa}
