"""A *modelled* road network for regions with no road map at hand.

No OpenStreetMap extract of Sambas is available offline, so the bundled network is built from
what is known: settlement centroids, facility sites and the main road corridors. Local roads are
the Delaunay triangulation of all points (edges up to ``max_local_edge_m``) plus its minimum
spanning tree (so the network is connected); corridor legs join consecutive corridor waypoints.
Each edge's length is the straight distance times a detour factor, its time that length at the
speed of its road class. Every graph built here has ``modelled=True``.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pyproj import Transformer
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial import Delaunay

from geodata.errors import DatasetError, Problem
from geodata.geo import utm_epsg
from geodata.roadgraph import FloatArray, RoadGraph, from_edge_list

if TYPE_CHECKING:
    from collections.abc import Sequence

    from geodata.models import Facility, Settlement


@dataclass(frozen=True, slots=True)
class Waypoint:
    """A point on a corridor: a facility id, a settlement id, or a named lon/lat."""

    ref: str
    lon: float | None = None
    lat: float | None = None


@dataclass(frozen=True, slots=True)
class Corridor:
    """A main road given as an ordered list of waypoints and a road class."""

    name: str
    road_class: str
    waypoints: tuple[Waypoint, ...]


@dataclass(frozen=True, slots=True)
class NetworkModel:
    """Parameters of the modelled network (documented in the dataset's provenance notes)."""

    speeds_kmh: dict[str, float]
    detour: dict[str, float]
    max_local_edge_m: float
    corridors: tuple[Corridor, ...]


def load_network_model(path: str | Path) -> NetworkModel:
    """Read a network-model JSON file (speeds, detour factors, corridors)."""
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
        corridors = tuple(
            Corridor(
                name=c["name"],
                road_class=c["road_class"],
                waypoints=tuple(Waypoint(w["ref"], w.get("lon"), w.get("lat")) for w in c["waypoints"]),
            )
            for c in raw["corridors"]
        )
        model = NetworkModel(
            speeds_kmh={str(k): float(v) for k, v in raw["speeds_kmh"].items()},
            detour={str(k): float(v) for k, v in raw["detour"].items()},
            max_local_edge_m=float(raw["max_local_edge_m"]),
            corridors=corridors,
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetError([Problem(p.name, f"unreadable network model: {exc!r}")]) from exc
    problems = [
        Problem(p.name, f"corridor {c.name!r}: road class {c.road_class!r} has no speed", field="speeds_kmh")
        for c in model.corridors
        if c.road_class not in model.speeds_kmh or c.road_class not in model.detour
    ]
    if "local" not in model.speeds_kmh or "local" not in model.detour:
        problems.append(Problem(p.name, "road class 'local' needs a speed and a detour factor"))
    if problems:
        raise DatasetError(problems)
    return model


@dataclass(frozen=True, slots=True)
class _Points:
    """The network's points, one node each: co-located points (to 6 decimals) share a node."""

    #: per node: the first reference placed there
    names: list[str]
    #: per node: (lon, lat)
    coords: list[tuple[float, float]]
    #: node of every facility, settlement and named waypoint
    ref_node: dict[str, int]


def _place_points(
    settlements: Sequence[Settlement], facilities: Sequence[Facility], model: NetworkModel
) -> _Points:
    """Settlement centroids, facility sites, then named corridor waypoints (each by id order).

    A corridor waypoint without coordinates must name a settlement or facility; a
    ``DatasetError`` lists every one that does not.
    """
    points = _Points([], [], {})
    index_of_point: dict[tuple[float, float], int] = {}

    def add(ref: str, lon: float, lat: float) -> None:
        key = (round(lon, 6), round(lat, 6))
        if key not in index_of_point:
            index_of_point[key] = len(points.coords)
            points.coords.append((lon, lat))
            points.names.append(ref)
        points.ref_node[ref] = index_of_point[key]

    for s in sorted(settlements, key=lambda s: s.id):
        add(s.id, s.centroid.lon, s.centroid.lat)
    for f in sorted(facilities, key=lambda f: f.id):
        add(f.id, f.location.lon, f.location.lat)
    problems = []
    for c in model.corridors:
        for w in c.waypoints:
            if w.lon is not None and w.lat is not None:
                add(w.ref, w.lon, w.lat)
            elif w.ref not in points.ref_node:
                problems.append(Problem("network model", f"corridor {c.name!r}: unknown waypoint {w.ref!r}"))
    if problems:
        raise DatasetError(problems)
    return points


def _to_utm(lonlat: FloatArray) -> FloatArray:
    """Project lon/lat points to metres, in the UTM zone of their mean point."""
    centre = lonlat.mean(axis=0)
    to_utm = Transformer.from_crs("EPSG:4326", f"EPSG:{utm_epsg(centre[0], centre[1])}", always_xy=True)
    x, y = to_utm.transform(lonlat[:, 0], lonlat[:, 1])
    return np.column_stack([x, y])


def _dist(xy: FloatArray, i: int, j: int) -> float:
    """Straight distance in metres between two projected points."""
    return float(np.hypot(*(xy[i] - xy[j])))


def _local_roads(xy: FloatArray, max_local_edge_m: float) -> set[tuple[int, int]]:
    """Local roads: short Delaunay edges, plus the Euclidean MST (a subgraph of Delaunay) for connectivity."""
    n = len(xy)
    local: set[tuple[int, int]] = set()
    tri = Delaunay(xy)
    cand = {_pair(int(s[a]), int(s[b])) for s in tri.simplices for a, b in ((0, 1), (1, 2), (0, 2))}
    pairs = sorted(cand)
    lengths = np.array([_dist(xy, i, j) for i, j in pairs])
    local.update(p for p, d in zip(pairs, lengths, strict=True) if d <= max_local_edge_m)
    mst = minimum_spanning_tree(
        coo_matrix((lengths, ([p[0] for p in pairs], [p[1] for p in pairs])), shape=(n, n))
    ).tocoo()
    local.update(_pair(int(i), int(j)) for i, j in zip(mst.row, mst.col, strict=True))
    return local


def _fastest_edges(
    xy: FloatArray, local: set[tuple[int, int]], ref_node: dict[str, int], model: NetworkModel
) -> dict[tuple[int, int], tuple[float, float, str]]:
    """Per node pair, the fastest road joining them: (length m, time s, road class).

    Local roads first, then each corridor's legs between consecutive waypoints; a length is the
    straight distance times the class's detour factor, a time that length at the class's speed.
    """
    best: dict[tuple[int, int], tuple[float, float, str]] = {}

    def offer(i: int, j: int, road_class: str) -> None:
        if i == j:
            return
        length = _dist(xy, i, j) * model.detour[road_class]
        time_s = length / (model.speeds_kmh[road_class] / 3.6)
        key = _pair(i, j)
        if key not in best or time_s < best[key][1]:
            best[key] = (length, time_s, road_class)

    for i, j in sorted(local):
        offer(i, j, "local")
    for c in model.corridors:
        nodes = [ref_node[w.ref] for w in c.waypoints]
        for a, b in itertools.pairwise(nodes):
            offer(a, b, c.road_class)
    return best


def _directed_edges(
    best: dict[tuple[int, int], tuple[float, float, str]],
) -> list[tuple[int, int, float, float, str]]:
    """Both directions of every road, by node pair; every edge takes at least a second."""
    edges: list[tuple[int, int, float, float, str]] = []
    for (i, j), (length, time_s, cls) in sorted(best.items()):
        t = max(time_s, 1.0)  # co-located points still take a moment to cross
        edges.append((i, j, length, t, cls))
        edges.append((j, i, length, t, cls))
    return edges


def build_modelled_network(
    settlements: Sequence[Settlement],
    facilities: Sequence[Facility],
    model: NetworkModel,
    *,
    source: str = "modelled",
) -> RoadGraph:
    """Build the modelled network; node ids are 0..n-1, ``meta`` maps facility/settlement ids to nodes.

    The steps: the points (``_place_points``), projected (``_to_utm``); the local roads
    (``_local_roads``); the fastest road per pair, corridors included (``_fastest_edges``); both
    directions of each (``_directed_edges``).
    """
    points = _place_points(settlements, facilities, model)
    lonlat = np.array(points.coords, dtype=np.float64)
    xy = _to_utm(lonlat)
    local = _local_roads(xy, model.max_local_edge_m)
    best = _fastest_edges(xy, local, points.ref_node, model)
    return from_edge_list(
        node_id=np.arange(len(xy)),
        lon=lonlat[:, 0],
        lat=lonlat[:, 1],
        edges=_directed_edges(best),
        modelled=True,
        source=source,
        meta={"ref_node": dict(sorted(points.ref_node.items())), "node_name": points.names},
    )


def _pair(i: int, j: int) -> tuple[int, int]:
    return (i, j) if i < j else (j, i)
