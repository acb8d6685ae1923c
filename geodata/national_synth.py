"""A synthetic Indonesia for national-scale benchmarks: per-province road graphs and Puskesmas.

Nothing here is real data: the hospitals are the registry's (``geodata.registry``), the roads and
the Puskesmas are generated around them, seeded, sized by a rule calibrated on the two road
networks at hand (docs/national.md, "The synthetic country"):

- **road nodes** of a province = ``RURAL_NODES_PER_KM2`` x its land area (``LAND_KM2``)
  + ``URBAN_NODES_PER_HOSPITAL`` x its hospitals with a credible point. The rural density is the
  bundled Sambas network's (nodes per km² of its villages' area), the urban part Balikpapan Kota's
  OpenStreetMap drive graph (nodes per registry hospital inside its extent). Rural nodes are
  spread uniformly over the land near the province's hospitals (within ``LAND_KM``), urban nodes
  in a square around each hospital at Balikpapan Kota's density.
- **roads**: the Delaunay triangulation of a shard's nodes (all its provinces together, so roads
  cross borders) up to ``MAX_ROAD_KM``, plus its minimum spanning tree so that every node is
  reached (a longer link is a crossing: a ferry or a track), as ``geodata.modelled`` builds the
  bundled network; lengths are the straight distance x U(1.0, 1.3), as ``bench_routing.synthetic``.
- **Puskesmas**: ``PUSKESMAS`` nationally, half spread by the provinces' share of hospitals
  (where people live), half by their share of land area (the remote ones); each at a road node
  of its province.

Every generator is deterministic: a province's nodes depend only on the seed and the province's
name and hospitals, not on which shard asks for them.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial import Delaunay, cKDTree

from geodata.geo import haversine_m
from geodata.roadgraph import RoadGraph

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from geodata.registry import RegistryHospital
    from geodata.roadgraph import FloatArray

#: Land area per province in km², the 34 provinces of the 2021 registry (BPS, Statistik Indonesia:
#: "Luas Daerah Menurut Provinsi"; they add up to Indonesia's 1,913,579 km²)
LAND_KM2: Mapping[str, float] = {
    "ACEH": 57_956,
    "SUMATERA UTARA": 72_981,
    "SUMATERA BARAT": 42_013,
    "RIAU": 87_024,
    "JAMBI": 50_058,
    "SUMATERA SELATAN": 91_592,
    "BENGKULU": 19_919,
    "LAMPUNG": 34_624,
    "KEPULAUAN BANGKA BELITUNG": 16_424,
    "KEPULAUAN RIAU": 8_202,
    "DKI JAKARTA": 664,
    "JAWA BARAT": 35_378,
    "JAWA TENGAH": 32_801,
    "DAERAH ISTIMEWA YOGYAKARTA": 3_133,
    "JAWA TIMUR": 47_800,
    "BANTEN": 9_663,
    "BALI": 5_780,
    "NUSA TENGGARA BARAT": 18_572,
    "NUSA TENGGARA TIMUR": 48_718,
    "KALIMANTAN BARAT": 147_307,
    "KALIMANTAN TENGAH": 153_565,
    "KALIMANTAN SELATAN": 38_744,
    "KALIMANTAN TIMUR": 129_067,
    "KALIMANTAN UTARA": 75_468,
    "SULAWESI UTARA": 13_852,
    "SULAWESI TENGAH": 61_841,
    "SULAWESI SELATAN": 46_717,
    "SULAWESI TENGGARA": 38_068,
    "GORONTALO": 11_257,
    "SULAWESI BARAT": 16_787,
    "MALUKU": 46_914,
    "MALUKU UTARA": 31_983,
    "PAPUA BARAT": 99_671,
    "PAPUA": 319_036,
}
#: rural road nodes per km² of land: the bundled Sambas network's 230 nodes over its 193 villages'
#: 5,959.8 km² (a modelled network of settlements and main corridors: a lower bound)
RURAL_NODES_PER_KM2 = 230 / 5_959.787
#: urban road nodes per hospital: Balikpapan Kota's OpenStreetMap drive graph (1,182 nodes once
#: imported) over the 7 registry hospitals inside its extent
URBAN_NODES_PER_HOSPITAL = 1_182 / 7
#: ... at its density: 1,182 nodes over the 13.26 km² of their convex hull
URBAN_NODES_PER_KM2 = 1_182 / 13.26
#: rural nodes lie within this distance of one of the province's hospitals (its land, roughly)
LAND_KM = 60.0
#: Delaunay links longer than this are not roads, unless the spanning tree needs them (crossings)
MAX_ROAD_KM = 15.0
#: Puskesmas in the country (Kemenkes counts about 10,000)
PUSKESMAS = 10_000
#: km/h by road class: a street (both ends in a town), a road, a crossing
SPEEDS_KMH: Mapping[str, float] = {"street": 25.0, "road": 50.0, "crossing": 20.0}
_CLASSES = ("street", "road", "crossing")
_KM_PER_DEG_LAT = 110.57
_KM_PER_DEG_LON = 111.32


@dataclass(frozen=True, slots=True)
class ProvincePlan:
    """How big a province's synthetic network is, and how many Puskesmas it has."""

    province: str
    land_km2: float
    #: hospitals with a credible point (the ones routed to)
    hospitals: int
    rural_nodes: int
    urban_nodes: int
    puskesmas: int

    @property
    def nodes(self) -> int:
        """Road nodes in all."""
        return self.rural_nodes + self.urban_nodes


@dataclass(frozen=True, slots=True)
class ProvincePoints:
    """A province's generated road nodes (urban ones first, each hospital's square in turn)."""

    province: str
    lon: FloatArray
    lat: FloatArray
    urban: np.ndarray[tuple[int], np.dtype[np.bool_]]


@dataclass(frozen=True, slots=True)
class Puskesmas:
    """A generated Puskesmas: an id, its province and its point (a road node of the province)."""

    id: str
    province: str
    lon: float
    lat: float


def node_counts(land_km2: float, hospitals: int, *, scale: float = 1.0) -> tuple[int, int]:
    """The rule: (rural, urban) road nodes of a province of this land area and hospitals."""
    return (
        round(RURAL_NODES_PER_KM2 * land_km2 * scale),
        round(URBAN_NODES_PER_HOSPITAL * scale) * hospitals,
    )


def plan_provinces(
    hospitals: Sequence[RegistryHospital], *, scale: float = 1.0, puskesmas: int = PUSKESMAS
) -> dict[str, ProvincePlan]:
    """Every province's plan (``node_counts``; Puskesmas by hospital and land shares, largest remainders)."""
    placed: dict[str, int] = dict.fromkeys(sorted({h.province for h in hospitals}), 0)
    for h in hospitals:
        if h.point is not None:
            placed[h.province] += 1
    unknown = sorted(p for p in placed if p not in LAND_KM2)
    if unknown:
        msg = f"no land area for province(s) {unknown}"
        raise ValueError(msg)
    total_h = sum(placed.values()) or 1
    total_a = sum(LAND_KM2[p] for p in placed)
    share = {p: 0.5 * placed[p] / total_h + 0.5 * LAND_KM2[p] / total_a for p in placed}
    quota = {p: share[p] * puskesmas for p in placed}
    counts = {p: math.floor(q) for p, q in quota.items()}
    for p in sorted(placed, key=lambda p: (counts[p] - quota[p], p))[: puskesmas - sum(counts.values())]:
        counts[p] += 1
    out = {}
    for p, n in placed.items():
        rural, urban = node_counts(LAND_KM2[p], n, scale=scale)
        out[p] = ProvincePlan(p, LAND_KM2[p], n, rural, urban, counts[p])
    return out


def _rng(seed: int, province: str, what: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(f"{province}\x1f{what}".encode())])


def province_points(
    plan: ProvincePlan, hospitals: Sequence[RegistryHospital], *, seed: int = 1
) -> ProvincePoints:
    """The province's road nodes: a square of urban nodes around each hospital, rural ones on its land.

    ``hospitals`` are the province's (those without a credible point are skipped). Rural nodes
    are drawn uniformly over the hospitals' extent, padded by ``LAND_KM``, keeping those within
    ``LAND_KM`` of a hospital, until there are ``plan.rural_nodes``.
    """
    pts = np.array([h.point for h in hospitals if h.point is not None and h.province == plan.province])
    if len(pts) != plan.hospitals:
        msg = f"{plan.province}: {len(pts)} hospitals with a point, the plan has {plan.hospitals}"
        raise ValueError(msg)
    rng = _rng(seed, plan.province, "nodes")
    per = plan.urban_nodes // max(1, plan.hospitals)
    half_km = math.sqrt(per / URBAN_NODES_PER_KM2) / 2
    cos = np.cos(np.radians(pts[:, 1]))
    du = rng.uniform(-half_km, half_km, size=(len(pts), per))
    dv = rng.uniform(-half_km, half_km, size=(len(pts), per))
    u_lon = (pts[:, 0:1] + du / (_KM_PER_DEG_LON * cos[:, None])).ravel()
    u_lat = (pts[:, 1:2] + dv / _KM_PER_DEG_LAT).ravel()
    lat0 = float(np.mean(pts[:, 1]))
    kx = _KM_PER_DEG_LON * math.cos(math.radians(lat0))
    tree = cKDTree(np.column_stack([pts[:, 0] * kx, pts[:, 1] * _KM_PER_DEG_LAT]))
    pad_lon, pad_lat = LAND_KM / kx, LAND_KM / _KM_PER_DEG_LAT
    pad = np.array([pad_lon, pad_lat])
    lo, hi = pts.min(axis=0) - pad, pts.max(axis=0) + pad
    r_lon: list[FloatArray] = []
    r_lat: list[FloatArray] = []
    have = 0
    while have < plan.rural_nodes:
        n = max(1024, 2 * (plan.rural_nodes - have))
        x = rng.uniform(lo[0], hi[0], n)
        y = rng.uniform(lo[1], hi[1], n)
        d, _ = tree.query(np.column_stack([x * kx, y * _KM_PER_DEG_LAT]))
        ok = np.flatnonzero(d <= LAND_KM)[: plan.rural_nodes - have]
        r_lon.append(x[ok])
        r_lat.append(y[ok])
        have += len(ok)
    lon = np.concatenate([u_lon, *r_lon])
    lat = np.concatenate([u_lat, *r_lat])
    urban = np.zeros(len(lon), dtype=bool)
    urban[: len(u_lon)] = True
    return ProvincePoints(plan.province, lon, lat, urban)


def place_puskesmas(plan: ProvincePlan, points: ProvincePoints, *, seed: int = 1) -> list[Puskesmas]:
    """The province's Puskesmas, each at a distinct road node drawn uniformly (seeded)."""
    if plan.puskesmas > len(points.lon):
        msg = f"{plan.province}: {plan.puskesmas} Puskesmas for {len(points.lon)} road nodes"
        raise ValueError(msg)
    rng = _rng(seed, plan.province, "puskesmas")
    at = np.sort(rng.choice(len(points.lon), size=plan.puskesmas, replace=False))
    slug = "".join(w[0] for w in plan.province.split())
    return [
        Puskesmas(f"PKM-{slug}-{k:04d}", plan.province, float(points.lon[i]), float(points.lat[i]))
        for k, i in enumerate(at.tolist())
    ]


def shard_graph(parts: Sequence[ProvincePoints], *, seed: int = 1) -> RoadGraph:
    """One road graph over several provinces' nodes (a shard): Delaunay links up to ``MAX_ROAD_KM``
    and the minimum spanning tree, both ways; node ids are the nodes' order in ``parts``."""  # noqa: D205, D209
    lon = np.concatenate([p.lon for p in parts])
    lat = np.concatenate([p.lat for p in parts])
    urban = np.concatenate([p.urban for p in parts])
    kx = _KM_PER_DEG_LON * math.cos(math.radians(float(lat.mean())))
    xy = np.column_stack([lon * kx, lat * _KM_PER_DEG_LAT])
    tri = Delaunay(xy)
    s = tri.simplices
    # a node qhull left out of the triangles (too near another) is linked to its nearest vertex
    left = np.asarray(tri.coplanar, dtype=np.int64).reshape(-1, 3)[:, [0, 2]]
    pairs = np.sort(np.vstack([s[:, [0, 1]], s[:, [1, 2]], s[:, [0, 2]], left]).astype(np.int64), axis=1)
    n = len(lon)
    key = np.unique(pairs[:, 0] * n + pairs[:, 1])
    a, b = np.divmod(key, n)
    straight = haversine_m(lon[a], lat[a], lon[b], lat[b])
    mst = minimum_spanning_tree(coo_matrix((straight + 1e-3, (a, b)), shape=(n, n))).tocoo()
    mst_key = np.minimum(mst.row, mst.col).astype(np.int64) * n + np.maximum(mst.row, mst.col)
    in_mst = np.isin(key, mst_key)
    keep = (straight <= MAX_ROAD_KM * 1000) | in_mst
    a, b, straight = a[keep], b[keep], straight[keep]
    cls = np.where(straight > MAX_ROAD_KM * 1000, 2, np.where(urban[a] & urban[b], 0, 1)).astype(np.int64)
    rng = np.random.default_rng([seed, zlib.crc32("\x1f".join(p.province for p in parts).encode())])
    length = straight * rng.uniform(1.0, 1.3, len(a))
    speed = np.array([SPEEDS_KMH[c] for c in _CLASSES])[cls] / 3.6
    time_s = np.maximum(length / speed, 1.0)
    return RoadGraph(
        node_id=np.arange(n, dtype=np.int64),
        lon=lon,
        lat=lat,
        edge_u=np.concatenate([a, b]).astype(np.int64),
        edge_v=np.concatenate([b, a]).astype(np.int64),
        length_m=np.concatenate([length, length]),
        travel_time_s=np.concatenate([time_s, time_s]),
        edge_class=np.concatenate([cls, cls]),
        class_names=_CLASSES,
        modelled=True,
        source="synthetic-national:" + "+".join(p.province for p in parts),
    )
