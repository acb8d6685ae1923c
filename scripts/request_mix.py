"""The benchmarks' request mix: realistic, seeded, all different.

Every origin in turn; the diagnoses of the planner's synthetic demand
(``service.planning.demand.CONDITION_GROUPS``) weighted by their rates, with their age ranges
(ages drawn to the day), sexes, emergency shares and service types; a few back-referrals and
disaster-status requests. Used by ``bench_matching.py`` and ``loadtest.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from rules.model import ReferralRequest, ServiceType, Sex
from service.planning.demand import CONDITION_GROUPS

if TYPE_CHECKING:
    from collections.abc import Mapping

    from geodata.roadgraph import RoadGraph


def requests(rng: np.random.Generator, origins: list[str], n: int) -> list[ReferralRequest]:
    """``n`` requests of the synthetic demand's mix, from every origin in turn (seeded)."""
    rates = np.array([g.per_1000_year for g in CONDITION_GROUPS])
    groups = rng.choice(len(CONDITION_GROUPS), size=n, p=rates / rates.sum())
    out = []
    for k in range(n):
        g = CONDITION_GROUPS[int(groups[k])]
        code = g.icd10[int(rng.integers(len(g.icd10)))]
        sex = Sex(g.sex) if g.sex else (Sex.FEMALE if rng.random() < 0.5 else Sex.MALE)
        # to the day: no two requests need share a shape
        age = (
            round(float(rng.uniform(g.age_min, g.age_max + 1)) * 365) / 365
            if g.age_max
            else float(rng.integers(0, 28)) / 365
        )
        emergency = bool(rng.random() < g.emergency_share)
        back = bool(rng.random() < 0.02) and not emergency
        out.append(
            ReferralRequest(
                origins[k % len(origins)],
                min(age, 130.0),
                sex,
                (code,),
                service_type=ServiceType.GAWAT_DARURAT if emergency else ServiceType(g.service_type),
                emergency=emergency,
                disaster=bool(rng.random() < 0.01),
                back_referral=back,
            )
        )
    return out


def request_json(r: ReferralRequest, lon: float | None = None, lat: float | None = None) -> dict[str, Any]:
    """The request as the API's body (``POST /api/suggestions``), from a position when given."""
    body: dict[str, Any] = {
        "origin_id": r.origin_id,
        "age_years": r.age_years,
        "sex": r.sex.value,
        "icd10": list(r.icd10),
        "service_type": r.service_type.value,
        "emergency": r.emergency,
        "disaster": r.disaster,
        "back_referral": r.back_referral,
    }
    if lon is not None and lat is not None:
        body |= {"lon": lon, "lat": lat}
    return body


def positions_near(
    roads: RoadGraph, points: Mapping[str, tuple[float, float]], origins: list[str], rng: np.random.Generator
) -> list[tuple[float, float]]:
    """For each origin in turn, a phone's position near it: on a road within about 5 km (a point
    along an edge with an end that close), then up to about 50 m off it."""
    out = []
    for o in origins:
        lon, lat = points[o]
        near = np.flatnonzero((np.abs(roads.lon - lon) < 0.045) & (np.abs(roads.lat - lat) < 0.045))
        edges = np.flatnonzero(np.isin(roads.edge_u, near))
        if len(edges) == 0:
            out.append((lon, lat))
            continue
        e = int(rng.choice(edges))
        t = float(rng.random())
        u, v = roads.edge_u[e], roads.edge_v[e]
        dx, dy = rng.uniform(-0.00045, 0.00045, size=2)
        out.append(
            (
                float(roads.lon[u] + t * (roads.lon[v] - roads.lon[u]) + dx),
                float(roads.lat[u] + t * (roads.lat[v] - roads.lat[u]) + dy),
            )
        )
    return out
