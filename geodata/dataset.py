"""A dataset directory: a region's boundaries, facilities, settlements and road network.

The directory holds a ``dataset.json`` manifest naming its files::

    {"name": "Kabupaten Sambas", "region_id": "6101", "regions": "regions.geojson",
     "facilities": "facilities.csv", "settlements": "settlements.csv",
     "road_network": "roads.npz", "snap_max_m": 1000}

:func:`check_dataset` lists every problem of every file; :func:`load_dataset` loads it or
raises :class:`DatasetError` with that list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from shapely import prepared
from shapely.geometry import Point

from geodata.errors import DatasetError, Problem, RoadGraphError
from geodata.loaders import REGION_TOLERANCE_M, parse_facilities, parse_regions, parse_settlements
from geodata.roadgraph import RoadGraph, load_road_graph
from geodata.timezones import zone_of_region

if TYPE_CHECKING:
    from geodata.models import Facility, Region, Settlement

MANIFEST = "dataset.json"
_REQUIRED = ("name", "region_id", "regions", "facilities", "settlements", "road_network")
_M_PER_DEGREE = 111_320.0
DEFAULT_SNAP_MAX_M = 1000.0


@dataclass(frozen=True)
class Dataset:
    """Everything rujuk knows about one region, loaded and validated."""

    name: str
    path: Path
    region: Region
    subregions: tuple[Region, ...]
    facilities: tuple[Facility, ...]
    settlements: tuple[Settlement, ...]
    roads: RoadGraph
    snap_max_m: float
    #: the jurisdiction's time zone (IANA): report months, letters and pages are in it
    timezone: str = "Asia/Jakarta"
    #: every regency of the regions layer (the dataset's own first): where a position lies, for
    #: the rule pack that governs a suggestion from it (``rules.jurisdiction``)
    regencies: tuple[Region, ...] = ()

    def facility(self, facility_id: str) -> Facility:
        """The facility with this id (KeyError if none)."""
        for f in self.facilities:
            if f.id == facility_id:
                return f
        raise KeyError(facility_id)


def bundled_dataset_path(name: str = "sambas") -> Path:
    """Directory of a dataset shipped inside the package (``geodata/data/<name>``)."""
    return Path(str(resources.files("geodata") / "data" / name))


def check_dataset(path: str | Path) -> list[Problem]:
    """Every problem of a dataset directory (empty when it is sound)."""
    _, problems = _read(Path(path))
    return problems


def load_dataset(path: str | Path) -> Dataset:
    """Load a dataset directory or raise :class:`DatasetError` listing every problem."""
    ds, problems = _read(Path(path))
    if problems or ds is None:
        raise DatasetError(problems)
    return ds


def _read(root: Path) -> tuple[Dataset | None, list[Problem]]:
    problems: list[Problem] = []
    mpath = root / MANIFEST
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, [Problem(MANIFEST, f"not found in {root}")]
    except (OSError, json.JSONDecodeError) as exc:
        return None, [Problem(MANIFEST, f"unreadable: {exc}")]
    if not isinstance(manifest, dict):
        return None, [Problem(MANIFEST, "must be a JSON object")]
    problems.extend(
        Problem(MANIFEST, "missing or not a string", field=key)
        for key in _REQUIRED
        if not isinstance(manifest.get(key), str) or not manifest[key]
    )
    snap_max_m = manifest.get("snap_max_m", DEFAULT_SNAP_MAX_M)
    if not isinstance(snap_max_m, int | float) or snap_max_m <= 0:
        problems.append(Problem(MANIFEST, f"{snap_max_m!r} is not a positive number", field="snap_max_m"))
        snap_max_m = DEFAULT_SNAP_MAX_M
    timezone = _timezone(manifest, problems)
    if problems:
        return None, problems

    regions, p = parse_regions(root / manifest["regions"])
    problems += p
    region = next((r for r in regions if r.id == manifest["region_id"]), None)
    if regions and region is None:
        problems.append(
            Problem(
                MANIFEST,
                f"region {manifest['region_id']!r} is not in {manifest['regions']}",
                field="region_id",
            )
        )
    subregions = tuple(r for r in regions if region is not None and r.parent == region.id)

    facilities, p = parse_facilities(root / manifest["facilities"], region=region)
    problems += p
    settlements, p = parse_settlements(root / manifest["settlements"], region=region)
    problems += p
    if region is not None:
        problems += _check_kecamatan(facilities, region, subregions, manifest["facilities"])

    roads: RoadGraph | None = None
    try:
        roads = load_road_graph(root / manifest["road_network"])
    except RoadGraphError as exc:
        problems.append(Problem(manifest["road_network"], str(exc)))
    if roads is not None:
        problems += _check_roads(roads, facilities, float(snap_max_m), manifest["road_network"])

    if problems or region is None or roads is None:
        return None, problems
    return (
        Dataset(
            name=manifest["name"],
            path=root,
            region=region,
            subregions=subregions,
            facilities=tuple(facilities),
            settlements=tuple(settlements),
            roads=roads,
            snap_max_m=float(snap_max_m),
            timezone=timezone,
            regencies=(region, *(r for r in regions if r.level == "regency" and r.id != region.id)),
        ),
        [],
    )


def _timezone(manifest: dict[str, Any], problems: list[Problem]) -> str:
    """The manifest's ``timezone``, else the zone of its Indonesian region code (Keppres 41/1987)."""
    given = manifest.get("timezone")
    if given is None:
        zone = zone_of_region(str(manifest.get("region_id", "")))
        if zone is None:
            msg = "no time zone: set it (e.g. Asia/Makassar) outside Indonesia"
            problems.append(Problem(MANIFEST, msg, field="timezone"))
            return "UTC"
        return zone
    try:
        ZoneInfo(str(given))
    except (ZoneInfoNotFoundError, ValueError):
        msg = f"{given!r} is not a time zone of the tz database"
        problems.append(Problem(MANIFEST, msg, field="timezone"))
        return "UTC"
    return str(given)


def _check_kecamatan(
    facilities: list[Facility], region: Region, subregions: tuple[Region, ...], file: str
) -> list[Problem]:
    """A facility of the region must name one of its kecamatan and lie inside it."""
    by_name = {
        r.name.casefold(): prepared.prep(r.boundary.buffer(REGION_TOLERANCE_M / _M_PER_DEGREE))
        for r in subregions
    }
    out = []
    for f in facilities:
        if f.regency.casefold() != region.name.casefold() or not by_name:
            continue
        inside = by_name.get(f.kecamatan.casefold())
        if inside is None:
            known = ", ".join(sorted(r.name for r in subregions))
            out.append(
                Problem(
                    file,
                    f"facility {f.id}: unknown kecamatan {f.kecamatan!r} (known: {known})",
                    field="kecamatan",
                )
            )
        elif not inside.contains(Point(f.location.lon, f.location.lat)):
            out.append(
                Problem(
                    file, f"facility {f.id} lies outside its kecamatan {f.kecamatan!r}", field="kecamatan"
                )
            )
    return out


#: Up to this many road nodes (and node-point pairs for the distances) the road checks run in
#: NumPy; above, in SciPy, which takes 0.5 s to import: a small dataset starts without it.
SCAN_NODES = 50_000
SCAN_PAIRS = 5_000_000


def _check_roads(roads: RoadGraph, facilities: list[Facility], snap_max_m: float, file: str) -> list[Problem]:
    out = []
    if roads.n_nodes == 0 or roads.n_edges == 0:
        return [Problem(file, "road network has no edges")]
    n_comp = strong_components(roads)
    if n_comp > 1:
        out.append(Problem(file, f"road network is not strongly connected ({n_comp} components)"))
    if facilities:
        dist = nearest_node_distance_m(roads, [(f.location.lon, f.location.lat) for f in facilities])
        out.extend(
            Problem(file, f"facility {f.id} is {d:.0f} m from the nearest road node (max {snap_max_m:.0f} m)")
            for f, d in zip(facilities, dist, strict=True)
            if d > snap_max_m
        )
    return out


def strong_components(roads: RoadGraph) -> int:
    """How many strongly connected components the road network has (1: every node reaches every
    other). A small network that is strongly connected is shown so by two breadth-first searches
    from node 0 (forward and backward) in NumPy; otherwise SciPy counts."""  # noqa: D205, D209
    n = roads.n_nodes
    if (
        n <= SCAN_NODES
        and _reaches_all(n, roads.edge_u, roads.edge_v)
        and _reaches_all(n, roads.edge_v, roads.edge_u)
    ):
        return 1
    from scipy.sparse import csr_matrix  # noqa: PLC0415  see SCAN_NODES
    from scipy.sparse.csgraph import connected_components  # noqa: PLC0415

    adj = csr_matrix((np.ones(roads.n_edges), (roads.edge_u, roads.edge_v)), shape=(n, n))
    n_comp, _ = connected_components(adj, directed=True, connection="strong")
    return int(n_comp)


def _reaches_all(n: int, src: np.ndarray, dst: np.ndarray) -> bool:
    """Whether every node is reached from node 0 along the edges ``src[i] -> dst[i]``."""
    order = np.argsort(src, kind="stable")
    heads = np.asarray(dst)[order]
    indptr = np.searchsorted(np.asarray(src)[order], np.arange(n + 1))
    seen = np.zeros(n, dtype=bool)
    seen[0] = True
    frontier = np.zeros(1, dtype=np.int64)
    while frontier.size:
        starts, counts = indptr[frontier], indptr[frontier + 1] - indptr[frontier]
        offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        nxt = heads[np.repeat(starts, counts) + offsets]
        frontier = np.unique(nxt[~seen[nxt]])
        seen[frontier] = True
    return bool(seen.all())


def nearest_node_distance_m(roads: RoadGraph, points: list[tuple[float, float]]) -> list[float]:
    """Distance (chord on the sphere, metres) from each lon/lat point to its nearest road node."""

    def unit(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        lo, la = np.radians(lon), np.radians(lat)
        return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])

    nodes = unit(roads.lon, roads.lat)
    pts = np.array(points, dtype=np.float64).reshape(-1, 2)
    q = unit(pts[:, 0], pts[:, 1])
    if len(nodes) * len(q) <= SCAN_PAIRS:
        d = np.array([np.sqrt(np.min(((nodes - p) ** 2).sum(axis=1))) for p in q])
    else:
        from scipy.spatial import cKDTree  # noqa: PLC0415  see SCAN_NODES

        d, _ = cKDTree(nodes).query(q)
    return [float(x) * 6_371_008.8 for x in d]
