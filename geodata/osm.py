"""Import OpenStreetMap road data (``.osm.pbf`` via pyrosm, OSMnx GraphML) into a RoadGraph.

Drivable ways only; one-way handling; speed from ``maxspeed`` where it parses, otherwise from
:data:`DEFAULT_SPEEDS_KMH` by highway class; length in metres; travel time in seconds; only the
largest strongly connected component is kept, and the dropped part is reported.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from geodata.errors import OsmImportError
from geodata.roadgraph import RoadGraph

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

#: Free-flow speeds (km/h) by OSM highway class where ``maxspeed`` is absent or unusable.
#: Chosen for Indonesian roads: mixed traffic, motorcycles and poor surfaces outside cities.
DEFAULT_SPEEDS_KMH: Mapping[str, float] = {
    "motorway": 80,
    "motorway_link": 50,
    "trunk": 60,
    "trunk_link": 40,
    "primary": 50,
    "primary_link": 35,
    "secondary": 40,
    "secondary_link": 30,
    "tertiary": 35,
    "tertiary_link": 25,
    "unclassified": 30,
    "road": 25,
    "residential": 25,
    "living_street": 10,
    "service": 15,
}
#: Speed (km/h) for a drivable class missing from the table.
FALLBACK_SPEED_KMH = 25.0
DRIVABLE = frozenset(DEFAULT_SPEEDS_KMH)
MIN_SPEED_KMH, MAX_SPEED_KMH = 5.0, 130.0
_MPH = 1.609344
_FORWARD = {"yes", "true", "1"}
_BACKWARD = {"-1", "reverse"}


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import kept and dropped."""

    source: str
    nodes_in: int
    edges_in: int
    nodes_kept: int
    edges_kept: int
    components: int
    ways_not_drivable: int

    @property
    def nodes_dropped(self) -> int:
        """Nodes outside the largest strongly connected component."""
        return self.nodes_in - self.nodes_kept

    @property
    def edges_dropped(self) -> int:
        """Directed edges outside the largest strongly connected component."""
        return self.edges_in - self.edges_kept


def parse_maxspeed(raw: object) -> float | None:
    """km/h from an OSM ``maxspeed`` value ('50', '30 mph', "['40', '60']"); None if unusable."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return None
    values = _as_list(raw)
    speeds = []
    for v in values:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?\s*", str(v))
        if m:
            s = float(m.group(1)) * (_MPH if m.group(2) == "mph" else 1.0)
            if MIN_SPEED_KMH <= s <= MAX_SPEED_KMH:
                speeds.append(s)
    return sum(speeds) / len(speeds) if speeds else None


def _as_list(raw: object) -> list[str]:
    """OSMnx writes merged attributes as a Python list literal; pyrosm sometimes ';'-joins."""
    text = str(raw).strip()
    if text.startswith("["):
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            parsed = None
        if isinstance(parsed, list):
            return [str(x) for x in parsed]
    return [t for t in (p.strip() for p in text.split(";")) if t]


def highway_class(raw: object) -> str | None:
    """The first drivable highway class in a value (which may be a list); None if none is drivable."""
    for h in _as_list(raw):
        if h in DRIVABLE:
            return h
    return None


def edge_speed_kmh(highway: str, maxspeed: object) -> float:
    """``maxspeed`` if usable, else the class default."""
    return parse_maxspeed(maxspeed) or DEFAULT_SPEEDS_KMH.get(highway, FALLBACK_SPEED_KMH)


@dataclass(slots=True)
class _Edges:
    u: list[int]
    v: list[int]
    length: list[float]
    time: list[float]
    cls: list[str]

    def add(self, u: int, v: int, length: float, speed_kmh: float, cls: str) -> None:
        if u == v:
            return
        self.u.append(u)
        self.v.append(v)
        self.length.append(length)
        self.time.append(max(length / (speed_kmh / 3.6), 0.01))
        self.cls.append(cls)


def _assemble(
    node_xy: Mapping[int, tuple[float, float]], edges: _Edges, *, source: str, not_drivable: int
) -> tuple[RoadGraph, ImportReport]:
    if not edges.u:
        msg = f"{source}: no drivable road edges found"
        raise OsmImportError(msg)
    used = sorted(set(edges.u) | set(edges.v))
    missing = [n for n in used if n not in node_xy]
    if missing:
        msg = f"{source}: {len(missing)} edge endpoints have no coordinates (e.g. node {missing[0]})"
        raise OsmImportError(msg)
    ids = np.array(used, dtype=np.int64)
    u = np.searchsorted(ids, np.array(edges.u, dtype=np.int64))
    v = np.searchsorted(ids, np.array(edges.v, dtype=np.int64))
    n = len(ids)
    adj = csr_matrix((np.ones(len(u)), (u, v)), shape=(n, n))
    n_comp, labels = connected_components(adj, directed=True, connection="strong")
    biggest = np.bincount(labels).argmax()
    keep_node = labels == biggest
    keep_edge = keep_node[u] & keep_node[v]
    new_index = np.cumsum(keep_node) - 1
    classes = sorted(set(edges.cls))
    cidx = {c: i for i, c in enumerate(classes)}
    kept_ids = ids[keep_node]
    graph = RoadGraph(
        node_id=kept_ids,
        lon=np.array([node_xy[int(i)][0] for i in kept_ids], dtype=np.float64),
        lat=np.array([node_xy[int(i)][1] for i in kept_ids], dtype=np.float64),
        edge_u=new_index[u[keep_edge]].astype(np.int64),
        edge_v=new_index[v[keep_edge]].astype(np.int64),
        length_m=np.array(edges.length, dtype=np.float64)[keep_edge],
        travel_time_s=np.array(edges.time, dtype=np.float64)[keep_edge],
        edge_class=np.array([cidx[c] for c in edges.cls], dtype=np.int64)[keep_edge],
        class_names=tuple(classes),
        modelled=False,
        source=source,
        meta={
            "components": int(n_comp),
            "nodes_dropped": int(n - keep_node.sum()),
            "edges_dropped": int(len(u) - keep_edge.sum()),
        },
    )
    report = ImportReport(
        source=source,
        nodes_in=n,
        edges_in=len(u),
        nodes_kept=graph.n_nodes,
        edges_kept=graph.n_edges,
        components=int(n_comp),
        ways_not_drivable=not_drivable,
    )
    return graph, report


def import_osm_pbf(path: str | Path) -> tuple[RoadGraph, ImportReport]:
    """Read the drivable network of an ``.osm.pbf`` file (pyrosm)."""
    import pyrosm  # noqa: PLC0415  heavy, only needed for imports

    p = Path(path)
    if not p.is_file():
        msg = f"{p}: file not found"
        raise OsmImportError(msg)
    try:
        nodes, ways = pyrosm.OSM(str(p)).get_network(network_type="driving", nodes=True)
    except Exception as exc:  # pyrosm raises assorted errors on bad input
        msg = f"{p}: not a readable OSM PBF file ({exc})"
        raise OsmImportError(msg) from exc
    if ways is None or len(ways) == 0:
        msg = f"{p}: no drivable roads in this file"
        raise OsmImportError(msg)
    node_xy = dict(
        zip(nodes["id"].astype("int64"), zip(nodes["lon"], nodes["lat"], strict=True), strict=True)
    )
    cols = set(ways.columns)
    edges = _Edges([], [], [], [], [])
    not_drivable = 0
    for row in ways.itertuples(index=False):
        cls = highway_class(row.highway)
        if cls is None:
            not_drivable += 1
            continue
        length = float(row.length)
        speed = edge_speed_kmh(cls, getattr(row, "maxspeed", None) if "maxspeed" in cols else None)
        direction = _direction(getattr(row, "oneway", None), _junction(row.tags) if "tags" in cols else None)
        u, v = int(row.u), int(row.v)
        if direction >= 0:
            edges.add(u, v, length, speed, cls)
        if direction <= 0:
            edges.add(v, u, length, speed, cls)
    return _assemble(node_xy, edges, source=f"osm-pbf:{p.name}", not_drivable=not_drivable)


def _junction(tags: object) -> str | None:
    if isinstance(tags, dict):
        j = tags.get("junction")
        return str(j) if j is not None else None
    if isinstance(tags, str) and "roundabout" in tags:
        return "roundabout"
    return None


def _direction(oneway: object, junction: str | None) -> int:
    """1 = forward only, -1 = backward only, 0 = both ways."""
    text = "" if oneway is None or (isinstance(oneway, float) and math.isnan(oneway)) else str(oneway)
    text = text.strip().casefold()
    if text in _FORWARD or (junction in {"roundabout", "circular"} and text not in {"no", "false"}):
        return 1
    if text in _BACKWARD:
        return -1
    return 0


def import_graphml(path: str | Path) -> tuple[RoadGraph, ImportReport]:
    """Read an OSMnx GraphML road network (already directed: a two-way road is two edges)."""
    import networkx as nx  # noqa: PLC0415

    p = Path(path)
    if not p.is_file():
        msg = f"{p}: file not found"
        raise OsmImportError(msg)
    try:
        g = nx.read_graphml(p)
    except Exception as exc:  # networkx raises assorted parse errors
        msg = f"{p}: not a readable GraphML file ({exc})"
        raise OsmImportError(msg) from exc
    crs = str(g.graph.get("crs", "epsg:4326")).casefold()
    if crs not in {"epsg:4326", "wgs84"}:
        msg = f"{p}: graph CRS {crs!r} is not EPSG:4326 (project the graph back to lon/lat first)"
        raise OsmImportError(msg)
    node_xy: dict[int, tuple[float, float]] = {}
    for n, data in g.nodes(data=True):
        try:
            node_xy[int(n)] = (float(data["x"]), float(data["y"]))
        except (KeyError, ValueError) as exc:
            msg = f"{p}: node {n!r} lacks numeric x/y ({exc})"
            raise OsmImportError(msg) from exc
    edges = _Edges([], [], [], [], [])
    not_drivable = 0
    for u, v, data in _edge_iter(g):
        cls = highway_class(data.get("highway"))
        if cls is None:
            not_drivable += 1
            continue
        try:
            length = float(str(data["length"]))
        except (KeyError, ValueError) as exc:
            msg = f"{p}: edge {u}->{v} lacks a numeric length"
            raise OsmImportError(msg) from exc
        edges.add(int(u), int(v), length, edge_speed_kmh(cls, data.get("maxspeed")), cls)
    return _assemble(node_xy, edges, source=f"graphml:{p.name}", not_drivable=not_drivable)


def _edge_iter(g: object) -> Iterable[tuple[str, str, dict[str, object]]]:
    return g.edges(data=True)  # type: ignore[attr-defined, no-any-return]


def import_road_file(path: str | Path) -> tuple[RoadGraph, ImportReport]:
    """Import by file type: ``.osm.pbf`` or ``.graphml``."""
    name = Path(path).name.casefold()
    if name.endswith(".pbf"):
        return import_osm_pbf(path)
    if name.endswith(".graphml"):
        return import_graphml(path)
    msg = f"{path}: unsupported road file (expected .osm.pbf or .graphml)"
    raise OsmImportError(msg)
