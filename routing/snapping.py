"""Snapping a lon/lat onto the road network.

Nodes and points sampled along every road segment go into a KD-tree in a local metric
(equirectangular) projection; the nearest samples give candidate segments, and the point is
projected exactly onto each. The off-network leg from the point to the road is reported as a
distance and counted at :data:`OFFROAD_SPEED_KMH`. A point farther than the limit is an error,
never a silent wrong time.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from geodata.geo import EARTH_RADIUS_M, haversine_m
from routing.errors import InvalidCoordinateError, TooFarFromRoadError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from scipy.spatial import cKDTree

    from routing.compiled import CompiledGraph

#: Speed of the leg between a point and the road it snaps to (a track, a footpath, carrying).
OFFROAD_SPEED_KMH = 10.0
#: Default snapping limit: a point farther than this from any road gets no travel time.
DEFAULT_MAX_SNAP_M = 1000.0
#: Spacing of the points sampled along segments for the candidate search.
SAMPLE_SPACING_M = 100.0
_CANDIDATES = 16
#: Snapped points kept (a few megabytes).
SNAP_CACHE_SIZE = 50_000
#: Up to this many nodes, ``nearest_node`` scans them all (NumPy) instead of asking the KD-tree,
#: so a small graph starts without importing SciPy's spatial package (0.5 s of CPU).
NEAREST_SCAN_NODES = 50_000


def check_lon_lat(lon: float, lat: float) -> None:
    """Raise :class:`InvalidCoordinateError` naming the bad value."""
    if not (isinstance(lon, int | float) and math.isfinite(lon) and -180.0 <= lon <= 180.0):
        msg = f"lon {lon!r} is not a finite number in [-180, 180]"
        raise InvalidCoordinateError(msg)
    if not (isinstance(lat, int | float) and math.isfinite(lat) and -90.0 <= lat <= 90.0):
        msg = f"lat {lat!r} is not a finite number in [-90, 90]"
        raise InvalidCoordinateError(msg)


class _Lazy:
    """A value made by a function when first asked for (once, under a lock), or given made."""

    __slots__ = ("_lock", "_make", "_value")

    def __init__(self, value: cKDTree | Callable[[], cKDTree]) -> None:
        self._value: cKDTree | None = None if callable(value) else value
        self._make = value if callable(value) else None
        self._lock = threading.Lock()

    @property
    def made(self) -> bool:
        return self._value is not None

    def get(self) -> cKDTree:
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:
                    assert self._make is not None
                    self._value = self._make()
                value = self._value
        return value


class SnapIndex:
    """What snapping searches: one undirected segment per connected node pair (``seg_a`` <
    ``seg_b``), points sampled along them (``tree``, each sample's segment in ``sample_seg``)
    and the nodes (``node_tree``), in the graph's local projection. Built from the graph, or
    read from the graph cache (``routing.graph_cache``).

    Each KD-tree may be given as a function that makes it: it is then made when first asked for,
    so a process that reads the index from the cache imports SciPy's spatial package only when
    it first snaps a point (or, on a graph above ``NEAREST_SCAN_NODES``, attaches a facility),
    not while it starts, and makes the samples' tree, the big one, only to snap.
    """  # noqa: D205

    __slots__ = ("_node_tree", "_tree", "sample_seg", "seg_a", "seg_b")

    def __init__(
        self,
        seg_a: np.ndarray,
        seg_b: np.ndarray,
        sample_seg: np.ndarray,
        tree: cKDTree | Callable[[], cKDTree],
        node_tree: cKDTree | Callable[[], cKDTree],
    ) -> None:
        """``tree``, ``node_tree``: the samples' and the nodes' KD-trees, or functions that make them."""
        self.seg_a, self.seg_b, self.sample_seg = seg_a, seg_b, sample_seg
        self._tree, self._node_tree = _Lazy(tree), _Lazy(node_tree)

    @property
    def tree_made(self) -> bool:
        """Whether the samples' KD-tree has been made."""
        return self._tree.made

    @property
    def node_tree_made(self) -> bool:
        """Whether the nodes' KD-tree has been made."""
        return self._node_tree.made

    @property
    def tree(self) -> cKDTree:
        """The KD-tree of the points sampled along the segments."""
        return self._tree.get()

    @property
    def node_tree(self) -> cKDTree:
        """The KD-tree of the nodes."""
        return self._node_tree.get()


@dataclass(frozen=True, slots=True)
class Snap:
    """Where a point meets the network: on segment a-b at ``fraction`` from a."""

    lon: float
    lat: float
    node_a: int
    node_b: int
    fraction: float
    snapped_lon: float
    snapped_lat: float
    distance_m: float
    offroad_s: float


class Snapper:
    """Nearest-segment search over a compiled graph."""

    def __init__(
        self,
        compiled: CompiledGraph,
        *,
        max_snap_m: float = DEFAULT_MAX_SNAP_M,
        offroad_speed_kmh: float = OFFROAD_SPEED_KMH,
        sample_spacing_m: float = SAMPLE_SPACING_M,
        index: SnapIndex | None = None,
    ) -> None:
        """Index the graph's segments (or take ``index``, built for this graph and spacing)."""
        g = compiled.graph
        self.max_snap_m = max_snap_m
        self.offroad_speed_ms = offroad_speed_kmh / 3.6
        self._lon0 = float(np.mean(g.lon))
        self._lat0 = float(np.mean(g.lat))
        self._kx = EARTH_RADIUS_M * math.cos(math.radians(self._lat0)) * math.pi / 180.0
        self._ky = EARTH_RADIUS_M * math.pi / 180.0
        self.node_xy = np.column_stack(self._project(g.lon, g.lat))
        self.lon, self.lat = g.lon, g.lat
        self.index = index if index is not None else self._build_index(compiled, sample_spacing_m)
        self.seg_a, self.seg_b = self.index.seg_a, self.index.seg_b
        self._sample_seg = self.index.sample_seg
        self._cache: dict[tuple[float, float], Snap] = {}

    def _build_index(self, compiled: CompiledGraph, sample_spacing_m: float) -> SnapIndex:
        # one undirected segment per connected node pair
        a = np.minimum(compiled.pair_u, compiled.pair_v)
        b = np.maximum(compiled.pair_u, compiled.pair_v)
        seg = np.unique(a * compiled.n_nodes + b)
        seg_a, seg_b = seg // compiled.n_nodes, seg % compiled.n_nodes
        pa, pb = self.node_xy[seg_a], self.node_xy[seg_b]
        seg_len = np.hypot(*(pb - pa).T)
        k = np.maximum(1, np.ceil(seg_len / sample_spacing_m).astype(np.int64))
        seg_of_sample = np.repeat(np.arange(len(seg)), k + 1)
        starts = np.repeat(np.cumsum(np.r_[0, k[:-1] + 1]), k + 1)
        frac = (np.arange(len(seg_of_sample)) - starts) / k[seg_of_sample]
        samples = pa[seg_of_sample] + (pb - pa)[seg_of_sample] * frac[:, None]
        from scipy.spatial import cKDTree  # noqa: PLC0415  0.5 s to import: only where a tree is made

        return SnapIndex(seg_a, seg_b, seg_of_sample, cKDTree(samples), cKDTree(self.node_xy))

    def _project(self, lon: np.ndarray | float, lat: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        x = (np.asarray(lon, dtype=np.float64) - self._lon0) * self._kx
        y = (np.asarray(lat, dtype=np.float64) - self._lat0) * self._ky
        return x, y

    def _unproject(self, x: float, y: float) -> tuple[float, float]:
        return x / self._kx + self._lon0, y / self._ky + self._lat0

    def snap(self, lon: float, lat: float) -> Snap:
        """Snap a point to the nearest road segment (ties: the lowest segment index).

        Kept for recently snapped points (a vehicle reports the same position until it moves,
        and a dispatcher's queries snap it again): the answer depends only on the geometry.
        """
        key = (lon, lat)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        snap = self._snap(lon, lat)
        if len(self._cache) >= SNAP_CACHE_SIZE:
            self._cache.clear()
        self._cache[key] = snap
        return snap

    def snap_many(self, points: Sequence[tuple[float, float]]) -> list[Snap | None]:
        """``snap`` for many points at once (vectorised); None for a point too far from any road.

        The same answer as ``snap`` point by point, at a fraction of the cost for tens of
        points or more. Invalid coordinates raise as ``snap`` does.
        """
        out: list[Snap | None] = [None] * len(points)
        todo = []
        for i, (p_lon, p_lat) in enumerate(points):
            hit = self._cache.get((p_lon, p_lat))
            if hit is not None:
                out[i] = hit
            else:
                check_lon_lat(p_lon, p_lat)
                todo.append(i)
        if not todo:
            return out
        lon = np.array([points[i][0] for i in todo], dtype=np.float64)
        lat = np.array([points[i][1] for i in todo], dtype=np.float64)
        x, y = self._project(lon, lat)
        p = np.column_stack((x, y))  # (n, 2)
        tree = self.index.tree
        k = min(_CANDIDATES, tree.n)
        _, idx = tree.query(p, k=k)
        seg = self._sample_seg[np.asarray(idx).reshape(len(todo), k)]  # (n, k), repeats allowed
        pa, pb = self.node_xy[self.seg_a[seg]], self.node_xy[self.seg_b[seg]]  # (n, k, 2)
        d = pb - pa
        dd = np.einsum("nkj,nkj->nk", d, d)
        t = np.clip(np.einsum("nkj,nkj->nk", p[:, None, :] - pa, d) / np.where(dd > 0, dd, 1.0), 0.0, 1.0)
        proj = pa + d * t[..., None]
        dist = np.hypot(proj[..., 0] - p[:, None, 0], proj[..., 1] - p[:, None, 1])
        at_node = (t <= 1e-9) | (t >= 1.0 - 1e-9)
        tied = dist <= dist.min(axis=1, keepdims=True) + 1e-3
        # among the tied: meeting the road at a node first, then the lowest segment index
        key = np.where(tied, np.where(at_node, 0, 1) * (len(self.seg_a) + 1) + seg, np.iinfo(np.int64).max)
        best = np.argmin(key, axis=1)
        rows = np.arange(len(todo))
        s_best, t_best = seg[rows, best], t[rows, best]
        sx, sy = proj[rows, best, 0], proj[rows, best, 1]
        slon, slat = sx / self._kx + self._lon0, sy / self._ky + self._lat0
        dist_m = haversine_m(lon, lat, slon, slat)
        for j, i in enumerate(todo):
            if dist_m[j] > self.max_snap_m:
                continue
            snap = Snap(
                lon=points[i][0],
                lat=points[i][1],
                node_a=int(self.seg_a[s_best[j]]),
                node_b=int(self.seg_b[s_best[j]]),
                fraction=float(t_best[j]),
                snapped_lon=float(slon[j]),
                snapped_lat=float(slat[j]),
                distance_m=float(dist_m[j]),
                offroad_s=float(dist_m[j]) / self.offroad_speed_ms,
            )
            out[i] = snap
            if len(self._cache) >= SNAP_CACHE_SIZE:
                self._cache.clear()
            self._cache[points[i]] = snap
        return out

    def _snap(self, lon: float, lat: float) -> Snap:
        check_lon_lat(lon, lat)
        x, y = self._project(lon, lat)
        p = np.array([float(x), float(y)])
        tree = self.index.tree
        k = min(_CANDIDATES, tree.n)
        _, idx = tree.query(p, k=k)
        cand = np.unique(self._sample_seg[np.atleast_1d(idx)])
        pa, pb = self.node_xy[self.seg_a[cand]], self.node_xy[self.seg_b[cand]]
        d = pb - pa
        dd = np.einsum("ij,ij->i", d, d)
        t = np.clip(np.einsum("ij,ij->i", p - pa, d) / np.where(dd > 0, dd, 1.0), 0.0, 1.0)
        proj = pa + d * t[:, None]
        dist = np.hypot(*(proj - p).T)
        # ties (within a millimetre): prefer meeting the road at a node, then the lowest segment index
        at_node = (t <= 1e-9) | (t >= 1.0 - 1e-9)
        tied = np.flatnonzero(dist <= dist.min() + 1e-3)
        best = int(tied[np.argmax(at_node[tied])])
        s = int(cand[best])
        slon, slat = self._unproject(float(proj[best, 0]), float(proj[best, 1]))
        distance = float(haversine_m(lon, lat, slon, slat))
        if distance > self.max_snap_m:
            raise TooFarFromRoadError(lon, lat, distance, self.max_snap_m)
        return Snap(
            lon=lon,
            lat=lat,
            node_a=int(self.seg_a[s]),
            node_b=int(self.seg_b[s]),
            fraction=float(t[best]),
            snapped_lon=slon,
            snapped_lat=slat,
            distance_m=distance,
            offroad_s=distance / self.offroad_speed_ms,
        )

    def nearest_node(self, lon: float, lat: float) -> tuple[int, float]:
        """The nearest node (in the local projection; ties: the lowest index) and its distance in
        metres (haversine). Up to :data:`NEAREST_SCAN_NODES` nodes every node is measured; above,
        the KD-tree gives the nodes as near as its nearest, and the same measure picks one."""  # noqa: D205, D209
        check_lon_lat(lon, lat)
        px, py = self._project(lon, lat)
        x, y = float(px), float(py)
        near: np.ndarray | None = None
        if len(self.node_xy) > NEAREST_SCAN_NODES:
            tree = self.index.node_tree
            d, _ = tree.query([x, y])
            near = np.sort(
                np.asarray(tree.query_ball_point([x, y], r=float(d) * (1 + 1e-9) + 1e-9), dtype=np.int64)
            )
        xy = self.node_xy if near is None else self.node_xy[near]
        d2 = (xy[:, 0] - x) ** 2 + (xy[:, 1] - y) ** 2
        i = int(np.argmin(d2))  # the first of the nearest: the lowest index
        node = i if near is None else int(near[i])
        return node, float(haversine_m(lon, lat, self.lon[node], self.lat[node]))

    def bearing_deg(self, a: int, b: int) -> float:
        """Compass bearing of the segment from node a to node b."""
        dx, dy = self.node_xy[b] - self.node_xy[a]
        return math.degrees(math.atan2(dx, dy)) % 360.0
