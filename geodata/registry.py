"""Indonesia's hospital registry (Kemenkes), read for national-scale planning and benchmarks.

The registry is a table of hospitals with a 7-digit code (``kode_rs``), a name, beds, a point
and a place ("KAB. SAMBAS, KALIMANTAN BARAT"). It is not the product's bundled data: it is read
from a path the caller gives (a test or a benchmark), and every row that cannot be used is
reported, not guessed at.

A hospital's province is the last part of its place. A coordinate is used only when it is
credible: inside Indonesia's extent, not a placeholder (0, 0, "NA", or one point given to
``SHARED_POINT`` hospitals or more), and not far from its province's other hospitals
(``FAR_FACTOR``; the registry has hospitals placed in another province, or at sea).

Province neighbours (``neighbours``) are derived from the registry, not written by hand: two
provinces are neighbours when a credible hospital of one lies within ``NEIGHBOUR_KM`` of a
credible hospital of the other, and every province has its ``NEAREST`` nearest provinces too.
A patient's candidates come from the origin's province and its neighbours (``shard_of``).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from geodata.errors import Problem
from geodata.geo import haversine_m
from geodata.tables import read_records

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from pathlib import Path

#: Indonesia's extent, with a margin (Sabang to Merauke, Miangas to Rote)
LON_RANGE = (94.5, 141.5)
LAT_RANGE = (-11.5, 6.5)
#: a hospital is misplaced when it lies farther from the median point of its province's
#: hospitals than this many times their median distance from it (and more than ``FAR_MIN_KM``):
#: provinces differ in size, from Jakarta to Papua, and a median is not moved by the misplaced
FAR_FACTOR = 4.0
FAR_MIN_KM = 400.0
#: ... and lies farther than this from its province's nearest other hospital, and more than twice
#: as far as from another province's nearest (an island's hospitals have each other near)
MISPLACED_KM = 100.0
#: a coordinate given to this many hospitals or more is a placeholder (a real building has its own)
SHARED_POINT = 3
#: provinces are neighbours when hospitals of each lie this close (a referral across a border)
NEIGHBOUR_KM = 150.0
#: every province also has its nearest provinces (by their closest hospitals) as neighbours,
#: so that an island province has some (referrals go by sea and air)
NEAREST = 2


@dataclass(frozen=True, slots=True)
class RegistryHospital:
    """One hospital of the registry; ``point`` None where the registry's coordinate is not credible."""

    code: str
    name: str
    province: str
    place: str
    beds: int
    tier: str
    point: tuple[float, float] | None
    #: why the coordinate is not used (None when it is)
    point_problem: str | None


def read_registry(path: Path) -> tuple[list[RegistryHospital], list[Problem]]:
    """The registry's hospitals (``rumah_sakit_indonesia.csv``'s columns) and the problems of its rows.

    A row without a code, a name or a place is a problem and left out; a row whose coordinate is
    not credible is kept with ``point`` None and the reason.
    """
    records, problems = read_records(path)
    file = path.name
    rows: list[tuple[str, str, str, str, int, str, tuple[float, float] | None, str | None]] = []
    for rec in records:
        v = rec.values
        code = str(v.get("kode_rs") or "").strip()
        name = str(v.get("nama") or "").strip()
        place = str(v.get("wilayah") or "").strip()
        missing = [f for f, x in (("kode_rs", code), ("nama", name), ("wilayah", place)) if not x]
        if missing:
            problems.extend(Problem(file, "missing value", row=rec.row, field=f) for f in missing)
            continue
        province = place.rsplit(",", 1)[-1].strip().upper()
        beds = _int(v.get("tempat_tidur"))
        point, why = _point(v.get("lokasi.lon"), v.get("lokasi.lat"))
        rows.append((code, name, province, place, beds, str(v.get("tipe") or "").strip(), point, why))
    # the next checks need every row: a point many hospitals share, a point far from its
    # province's other hospitals
    shared = Counter(point for *_, point, _ in rows if point is not None)
    rows = [
        (*row[:6], None, f"{row[6]} is given to {shared[row[6]]} hospitals")
        if row[6] is not None and shared[row[6]] >= SHARED_POINT
        else row
        for row in rows
    ]
    limit = _far_limits((province, point) for _, _, province, _, _, _, point, _ in rows)
    placed = [(i, row[2], row[6]) for i, row in enumerate(rows) if row[6] is not None]
    lon = np.array([pt[0] for _, _, pt in placed])
    lat = np.array([pt[1] for _, _, pt in placed])
    prov = np.array([p for _, p, _ in placed])
    out = []
    for code, name, province, place, beds, tier, point, why in rows:
        if point is not None:
            centre, limit_km = limit[province]
            km = float(haversine_m(point[0], point[1], *centre)) / 1000
            if km > limit_km:
                # far from its province's middle: an island, or a point in the wrong place? The
                # wrong place is nearer another province's hospitals than any of its own
                d = haversine_m(point[0], point[1], lon, lat) / 1000
                own = d[(prov == province) & (d > 0)]
                d_own = float(own.min()) if len(own) else math.inf
                d_other = float(d[prov != province].min()) if (prov != province).any() else math.inf
                if d_own > MISPLACED_KM and d_own > 2 * d_other:
                    point, why = (  # noqa: PLW2901  the row's point is what is checked
                        None,
                        (
                            f"{km:.0f} km from the other hospitals of {province}, {d_own:.0f} km from "
                            f"the nearest of them and {d_other:.0f} km from another province's"
                        ),
                    )
        out.append(RegistryHospital(code, name, province, place, beds, tier, point, why))
    return out, problems


def _int(raw: object) -> int:
    try:
        return max(0, int(float(str(raw).strip())))
    except ValueError:
        return 0


def _point(lon_raw: object, lat_raw: object) -> tuple[tuple[float, float] | None, str | None]:
    try:
        lon, lat = float(str(lon_raw).strip()), float(str(lat_raw).strip())
    except ValueError:
        return None, f"no coordinate ({lon_raw!r}, {lat_raw!r})"
    if not (math.isfinite(lon) and math.isfinite(lat)) or (lon == 0 and lat == 0):
        return None, f"a placeholder coordinate ({lon}, {lat})"
    if not (LON_RANGE[0] <= lon <= LON_RANGE[1] and LAT_RANGE[0] <= lat <= LAT_RANGE[1]):
        return None, f"({lon}, {lat}) is outside Indonesia"
    return (lon, lat), None


def _far_limits(
    items: Iterable[tuple[str, tuple[float, float] | None]],
) -> dict[str, tuple[tuple[float, float], float]]:
    """Each province's median hospital point and the distance beyond which a hospital is misplaced."""
    pts: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for province, point in items:
        if point is not None:
            pts[province].append(point)
    out = {}
    for p, xs in pts.items():
        centre = (statistics.median(x for x, _ in xs), statistics.median(y for _, y in xs))
        km = haversine_m(np.array([x for x, _ in xs]), np.array([y for _, y in xs]), *centre) / 1000
        out[p] = (centre, max(FAR_MIN_KM, FAR_FACTOR * float(np.median(km))))
    return out


def by_province(hospitals: Sequence[RegistryHospital]) -> dict[str, list[RegistryHospital]]:
    """The hospitals of each province, in the registry's order."""
    out: dict[str, list[RegistryHospital]] = defaultdict(list)
    for h in hospitals:
        out[h.province].append(h)
    return dict(out)


def province_distances(hospitals: Sequence[RegistryHospital]) -> dict[tuple[str, str], float]:
    """For each two provinces, the distance in km between their closest credible hospitals."""
    placed = [(h.province, h.point) for h in hospitals if h.point is not None]
    names = sorted({p for p, _ in placed})
    index = {p: i for i, p in enumerate(names)}
    which = np.array([index[p] for p, _ in placed])
    lon = np.array([pt[0] for _, pt in placed])
    lat = np.array([pt[1] for _, pt in placed])
    best = np.full((len(names), len(names)), np.inf)
    for i in range(len(placed)):  # a row of distances at a time: about 3,000 x 3,000 in all
        km = haversine_m(lon[i], lat[i], lon, lat) / 1000
        np.minimum.at(best[which[i]], which, km)
    return {(a, b): float(best[index[a], index[b]]) for a in names for b in names if a != b}


def neighbours(
    hospitals: Sequence[RegistryHospital], within_km: float = NEIGHBOUR_KM, nearest: int = NEAREST
) -> dict[str, frozenset[str]]:
    """Each province's neighbours: provinces with a credible hospital within ``within_km`` of one
    of its own, and its ``nearest`` nearest provinces; symmetric.
    """  # noqa: D205
    dist = province_distances(hospitals)
    out: dict[str, set[str]] = {h.province: set() for h in hospitals}
    for p in list(out):
        others = sorted((d, q) for (a, q), d in dist.items() if a == p)
        for rank, (d, q) in enumerate(others):
            if d <= within_km or rank < nearest:
                out[p].add(q)
                out[q].add(p)
    return {p: frozenset(qs) for p, qs in out.items()}


def shard_of(province: str, neighbours_of: Mapping[str, frozenset[str]]) -> frozenset[str]:
    """The provinces a patient of ``province`` may be referred to: its own and its neighbours."""
    return frozenset({province, *neighbours_of.get(province, frozenset())})
