"""The routing engine: how long by road from here to there, fast, correct and live.

Built once from a RoadGraph and the receiving facilities: the graph is compiled to CSR, a
snapping index is built, and a reverse shortest-path tree is computed from every facility, so
"this origin to all facilities" is a snap plus an array lookup. A tree holds only the nodes
within the reach bound (``max_travel_s``), stored sparse (``routing.sparse_trees``); a node
beyond it reads as unreachable. Road conditions (closures, slowdowns) produce a new graph
version; only the trees whose reach holds a changed road are repaired, where they are stored
(the entries that change go into an overlay of this process's own), and lifting the last
condition restores the trees with none.
"""

from __future__ import annotations

import hashlib
import math
import threading
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from geodata.geo import haversine_m
from routing.compiled import CompiledGraph, PairWeights
from routing.conditions import RoadCondition, condition_edges, multipliers
from routing.errors import (
    InvalidConditionError,
    TooFarFromRoadError,
    UnknownConditionError,
    UnknownFacilityError,
)
from routing.graph_cache import load_or_build
from routing.repair import TreeChanges, repair_faster, repair_slower, subtrees
from routing.results import Eta, FacilityTime, Matrix, Route, TravelTimes
from routing.snapping import DEFAULT_MAX_SNAP_M, OFFROAD_SPEED_KMH, Snap, Snapper
from routing.sparse_trees import SparseTrees, TreeSet, bounded_tree, compute_sparse_trees, sparse_row
from routing.tree_cache import load_or_compute, tree_key
from routing.trees import NO_NODE

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    import networkx as nx
    import numpy.typing as npt
    from scipy.sparse import csr_matrix

    from geodata.roadgraph import RoadGraph
    from routing.compiled import FloatArray, IntArray

#: Headings within this many degrees of a segment's direction count as driving along it.
HEADING_TOLERANCE_DEG = 90.0
_AT_NODE = 1e-9
#: Origins snapped together when looking for the nearest to a point.
SNAP_CHUNK = 32
#: Trees to arbitrary points (pickups) kept per engine.
POINT_TREES_KEPT = 64
#: A tree whose damaged part exceeds 1/this of the nodes is recomputed whole (faster then).
REPAIR_LIMIT_DIVISOR = 4
#: Above this many nodes a route's path is walked by the compiled loop (``routing.kernels``).
PATH_KERNEL_NODES = 5000


def _named(pairs: IntArray, affected: IntArray, by_pair: Mapping[int, tuple[str, ...]]) -> tuple[str, ...]:
    """The conditions on a route's pairs (in route order, each once)."""
    ids: list[str] = []
    for p in pairs[np.isin(pairs, affected)].tolist():
        ids.extend(cid for cid in by_pair[p] if cid not in ids)
    return tuple(ids)


class RoutingEngine:
    """Travel times on one road graph to a fixed set of receiving facilities."""

    def __init__(
        self,
        graph: RoadGraph,
        facilities: Mapping[str, tuple[float, float]],
        *,
        max_snap_m: float = DEFAULT_MAX_SNAP_M,
        offroad_speed_kmh: float = OFFROAD_SPEED_KMH,
        workers: int = 1,
        cache_dir: Path | None = None,
        warm: bool = True,
        max_travel_s: float | None = None,
    ) -> None:
        """Compile the graph and build (or load from ``cache_dir``) it and the facility trees.

        ``facilities`` maps an id to its lon/lat; each is attached to its nearest road node, the
        gap counted as an off-road leg. A facility farther than ``max_snap_m`` is an error.
        ``max_travel_s``: the reach of a tree (road time to its facility node, off-road legs not
        counted); a node beyond it is answered as unreachable. None: no bound.
        With ``warm`` the repair kernels are compiled (or loaded) now; else call ``warm_up``
        later (the service does, once it answers), or the first road condition pays for it.
        """
        if max_travel_s is not None and not max_travel_s > 0:
            msg = f"max_travel_s must be positive, not {max_travel_s!r}"
            raise ValueError(msg)
        #: the reach of every tree (s); inf: unbounded
        self.bound = math.inf if max_travel_s is None else float(max_travel_s)
        self.graph = graph
        self._graph_version = graph.version  # a hash of every array: computed once
        #: whether the compiled graph and snapping index were built here (False: read from the cache)
        self.graph_built = True
        if cache_dir is not None:
            self.compiled, self.snapper, self.graph_built = load_or_build(
                Path(cache_dir),
                graph,
                max_snap_m=max_snap_m,
                offroad_speed_kmh=offroad_speed_kmh,
                graph_version=self._graph_version,
            )
        else:
            self.compiled = CompiledGraph(graph)
            self.snapper = Snapper(self.compiled, max_snap_m=max_snap_m, offroad_speed_kmh=offroad_speed_kmh)
        self.workers = workers
        self.facility_ids: tuple[str, ...] = tuple(sorted(facilities))
        nodes, offroad_m = [], []
        for fid in self.facility_ids:
            lon, lat = facilities[fid]
            node, d = self.snapper.nearest_node(lon, lat)
            if d > max_snap_m:
                raise TooFarFromRoadError(lon, lat, d, max_snap_m)
            nodes.append(node)
            offroad_m.append(d)
        self._fac_index = {fid: i for i, fid in enumerate(self.facility_ids)}
        self._fac_offroad_m: FloatArray = np.array(offroad_m, dtype=np.float64)
        self._fac_offroad_s: FloatArray = self._fac_offroad_m / self.snapper.offroad_speed_ms
        # one tree per distinct facility node
        self._tree_nodes, fac_row = np.unique(np.array(nodes, dtype=np.int64), return_inverse=True)
        self._fac_row: IntArray = fac_row.astype(np.int64)
        self._lock = threading.RLock()  # readers and the final swap of an update
        self._update_lock = threading.Lock()  # one update at a time
        self._conditions: dict[str, tuple[RoadCondition, IntArray]] = {}
        self._weights: PairWeights = self.compiled.base
        self._multipliers: FloatArray = np.ones(graph.n_edges)  # per edge, of the conditions in force
        self._version = self._compute_version()
        #: how many trees the last condition update repaired, and how many of them from scratch
        self.last_update_trees = 0
        self.last_update_full_trees = 0
        #: the tree cache's directory and this set's key (None: trees not cached)
        self._tree_cache: tuple[Path, str] | None = None
        #: whether the trees were computed by this engine (False: read from the cache)
        self.trees_computed = False
        #: the trees with no condition (memory-mapped when cached), and the trees now
        self._base = TreeSet(self._load_or_compute_trees(cache_dir))
        self._trees = self._base
        if warm:
            self.warm_up()
        self._reverse: tuple[str, csr_matrix] | None = None
        self._top_speed: tuple[str, float] | None = None
        self._point_trees: dict[
            tuple[int, int, float, str], tuple[FloatArray, npt.NDArray[np.int32], FloatArray]
        ] = {}
        self._base_reverse: csr_matrix | None = None
        self._base_point_trees: dict[
            tuple[int, int, float, str], tuple[FloatArray, npt.NDArray[np.int32], FloatArray]
        ] = {}
        self._attribution: tuple[str, IntArray, dict[int, tuple[str, ...]]] | None = None

    def warm_up(self) -> None:
        """Compile (or load from numba's disk cache) the repair kernels for this engine's arrays,
        and index its trees for them, not at the first road closure; make the snapping index's
        KD-trees (SciPy's import), not at the first point snapped."""  # noqa: D205, D209
        from scipy.sparse.csgraph import dijkstra  # noqa: F401, PLC0415  imported here, not by the first request

        from routing.kernels import warm_up, warm_up_on  # noqa: PLC0415  numba takes a quarter of a second to import

        _ = self.snapper.index.tree
        warm_up()
        c = self.compiled
        graph = (c.forward_indptr, c.pair_v, c.reverse_indptr, c.reverse_indices, c.reverse_pair)
        length_m = self._weights.length_m
        tree_length = np.asarray(self._base.base.length)
        warm_up_on(graph, self._base.view(), c.n_nodes, (length_m, length_m.copy()), tree_length)

    # ----- identity -------------------------------------------------------------------------

    @property
    def version(self) -> str:
        """Graph version: the base graph's hash plus the road conditions in force."""
        return self._version

    @property
    def modelled(self) -> bool:
        """True when the road graph is modelled rather than surveyed."""
        return self.graph.modelled

    def _compute_version(self) -> str:
        if not self._conditions:
            return self._graph_version
        h = hashlib.sha256(self._graph_version.encode())
        for cid in sorted(self._conditions):
            cond, edges = self._conditions[cid]
            h.update(f"{cid}\x1f{cond.factor!r}\x1f".encode())
            h.update(edges.tobytes())
        return h.hexdigest()[:16]

    def _load_or_compute_trees(self, cache_dir: Path | None) -> SparseTrees:
        """The facility trees: computed here, or (with ``cache_dir``) memory-mapped read-only from
        the cache, computed and written there first when missing (``routing.tree_cache``)."""  # noqa: D205, D209

        def compute() -> SparseTrees:
            return compute_sparse_trees(
                self.compiled.reverse_matrix(self._weights),
                self._tree_nodes.tolist(),
                self.bound,
                (self.compiled.forward_indptr, self.compiled.pair_v, self._weights.length_m),
                workers=self.workers,
                scratch_dir=None if cache_dir is None else Path(cache_dir),  # beside the cache it fills
            )

        if cache_dir is None:
            self.trees_computed = True
            return compute()
        self._tree_cache = (
            Path(cache_dir),
            tree_key(self._graph_version, self._tree_nodes, self.graph.n_nodes, self.bound),
        )
        trees, self.trees_computed = load_or_compute(
            *self._tree_cache, self._tree_nodes, self.graph.n_nodes, compute, self.bound
        )
        return trees

    @property
    def tree_cache(self) -> tuple[Path, str] | None:
        """The tree cache's directory and this set's key (None: trees not cached)."""
        return self._tree_cache

    def tree_entries(self) -> int:
        """How many (tree, node) entries the no-condition trees hold (nodes within the bound)."""
        return self._base.base.n_entries

    def tree_arrays(self, *, base: bool = False) -> tuple[FloatArray, npt.NDArray[np.int32]]:
        """The trees now (or with no condition) as dense ``(trees, nodes)`` arrays of times and next
        nodes, inf / NO_NODE beyond the bound: a copy, for tests and small graphs."""  # noqa: D205, D209
        with self._lock:
            return (self._base if base else self._trees).dense()

    # ----- queries ----------------------------------------------------------------------------

    def snap(self, lon: float, lat: float) -> Snap:
        """Where a point meets the network (InvalidCoordinateError, TooFarFromRoadError)."""
        return self.snapper.snap(lon, lat)

    def _entries(
        self, snap: Snap, w: PairWeights, heading: float | None
    ) -> tuple[list[tuple[int, float, float]], bool]:
        """Nodes the origin can drive to first: ``(node, time_s, distance_m)``, off-road leg included."""
        a, b, f = snap.node_a, snap.node_b, snap.fraction
        pairs = self.compiled.pair_index(np.array([a, b]), np.array([b, a]))
        options: dict[int, tuple[int, float, float]] = {}
        for direction, (p, frac, target) in enumerate(((pairs[0], 1.0 - f, b), (pairs[1], f, a))):
            if p >= 0 and math.isfinite(w.time_s[p]):
                options[direction] = (
                    target,
                    snap.offroad_s + frac * float(w.time_s[p]),
                    snap.distance_m + frac * float(w.length_m[p]),
                )
        used_heading = False
        if heading is not None and math.isfinite(heading) and len(options) == 2:
            diff = abs((heading - self.snapper.bearing_deg(a, b) + 180.0) % 360.0 - 180.0)
            options = {0: options[0]} if diff <= HEADING_TOLERANCE_DEG else {1: options[1]}
            used_heading = True
        entries = list(options.values())
        # a point at a node may leave by any of the node's roads
        if f <= _AT_NODE:
            entries.append((a, snap.offroad_s, snap.distance_m))
        elif f >= 1.0 - _AT_NODE:
            entries.append((b, snap.offroad_s, snap.distance_m))
        return entries, used_heading

    def _best_from_entries(
        self, entries: list[tuple[int, float, float]], rows: IntArray, trees: TreeSet | None = None
    ) -> tuple[FloatArray, IntArray, FloatArray]:
        """For each tree row: best time, the entry node used, and that entry's distance offset.

        An entry node a tree does not hold is beyond the bound (or has no route): by it the
        time would exceed ``t0 + bound``. A best time above that is not known to be the fastest
        and is answered as unreachable, so an answer is always the one unbounded trees give.
        """
        tree_set = self._trees if trees is None else trees
        best_t = np.full(len(rows), np.inf)
        best_node = np.full(len(rows), NO_NODE, dtype=np.int64)
        best_off = np.zeros(len(rows))
        floor = np.full(len(rows), np.inf)  # no entry beyond the bound can beat this
        for node, t0, d0 in entries:
            d = tree_set.times_at(node)[rows]
            t = t0 + d
            better = t < best_t
            best_t = np.where(better, t, best_t)
            best_node = np.where(better, node, best_node)
            best_off = np.where(better, d0, best_off)
            floor = np.where(np.isinf(d), np.minimum(floor, t0 + self.bound), floor)
        unsure = best_t > floor
        if unsure.any():
            best_t = np.where(unsure, np.inf, best_t)
            best_node = np.where(unsure, NO_NODE, best_node)
        return best_t, best_node, best_off

    def _resolve(self, facility_ids: Sequence[str] | None) -> IntArray:
        if facility_ids is None:
            return np.arange(len(self.facility_ids))
        try:
            return np.array([self._fac_index[f] for f in facility_ids], dtype=np.int64)
        except KeyError as exc:
            raise UnknownFacilityError(exc.args[0]) from None

    def _times_from_snap(
        self, snap: Snap, fac: IntArray, *, heading: float | None, with_distance: bool
    ) -> tuple[FloatArray, FloatArray, bool]:
        entries, used_heading = self._entries(snap, self._weights, heading)
        rows = self._fac_row[fac]
        t, start, off = self._best_from_entries(entries, rows)
        t = t + self._fac_offroad_s[fac]
        d = np.full(len(fac), np.nan)
        if with_distance:
            ok = np.isfinite(t)
            d[ok] = off[ok] + self._trees.lengths(rows[ok], start[ok]) + self._fac_offroad_m[fac][ok]
        d[~np.isfinite(t)] = np.inf
        return t, d, used_heading

    def travel_times(
        self,
        lon: float,
        lat: float,
        *,
        facility_ids: Sequence[str] | None = None,
        heading: float | None = None,
        with_distance: bool = True,
    ) -> TravelTimes:
        """Time (and road distance) from a point to every facility (or the ones named)."""
        fac = self._resolve(facility_ids)
        snap = self.snapper.snap(lon, lat)
        with self._lock:
            t, d, _ = self._times_from_snap(snap, fac, heading=heading, with_distance=with_distance)
            version = self._version
        times = tuple(
            FacilityTime(
                facility_id=self.facility_ids[i],
                time_s=float(ti) if math.isfinite(ti) else None,
                distance_m=float(di) if with_distance and math.isfinite(ti) else None,
            )
            for i, ti, di in zip(fac, t, d, strict=True)
        )
        return TravelTimes(origin=snap, times=times, graph_version=version, modelled=self.modelled)

    def route(self, lon: float, lat: float, facility_id: str, *, heading: float | None = None) -> Route:
        """The fastest route with its geometry: origin, snapped point, road nodes, facility."""
        (i,) = self._resolve([facility_id])
        snap = self.snapper.snap(lon, lat)
        with self._lock:
            entries, _ = self._entries(snap, self._weights, heading)
            row = self._fac_row[np.array([i])]
            t, start, off = self._best_from_entries(entries, row)
            version = self._version
            if not math.isfinite(t[0]):
                return Route(facility_id, None, None, (), version, self.modelled)
            target = int(self._tree_nodes[row[0]])
            nodes = self._path(int(row[0]), int(start[0]), target)
            d = self._trees.lengths(row, start)
        coords = [(lon, lat), (snap.snapped_lon, snap.snapped_lat)]
        coords += [(float(self.graph.lon[n]), float(self.graph.lat[n])) for n in nodes]
        return Route(
            facility_id=facility_id,
            time_s=float(t[0] + self._fac_offroad_s[i]),
            distance_m=float(off[0] + d[0] + self._fac_offroad_m[i]),
            coordinates=tuple(coords),
            graph_version=version,
            modelled=self.modelled,
        )

    def _path(self, row: int, node: int, target: int) -> list[int]:
        """Nodes of the current tree path from ``node`` (reachable) to ``target``, row ``row``.

        Walked step by step in NumPy on a small graph (no compiled loop loaded for one route);
        by the compiled walk once the graph is larger than a few thousand nodes.
        """
        if self.compiled.n_nodes > PATH_KERNEL_NODES:
            from routing.kernels import tree_path  # noqa: PLC0415  numba: loaded on the first long route

            out: list[int] = tree_path(self._trees.view(), row, node, target, self.compiled.n_nodes).tolist()
            if out[-1] == NO_NODE:  # not reachable after all (not asked for then)
                out.pop()
            return out
        at_row = np.array([row], dtype=np.int64)
        nodes = [node]
        while nodes[-1] != target:
            nodes.append(int(self._trees.get(at_row, np.array(nodes[-1:]))[1][0]))
        return nodes

    def eta(
        self,
        lon: float,
        lat: float,
        facility_id: str,
        *,
        heading: float | None = None,
        at: datetime | None = None,
    ) -> Eta:
        """ETA of a vehicle at a GPS position (driving along ``heading`` if given) to a facility."""
        (i,) = self._resolve([facility_id])
        snap = self.snapper.snap(lon, lat)
        with self._lock:
            t, d, used = self._times_from_snap(snap, np.array([i]), heading=heading, with_distance=True)
            version = self._version
        ok = math.isfinite(t[0])
        return Eta(
            facility_id=facility_id,
            time_s=float(t[0]) if ok else None,
            distance_m=float(d[0]) if ok else None,
            arrival=(at + timedelta(seconds=float(t[0]))) if ok and at is not None else None,
            snap=snap,
            heading_used=used,
            graph_version=version,
            modelled=self.modelled,
        )

    def matrix(
        self,
        origins: Mapping[str, tuple[float, float]],
        *,
        facility_ids: Sequence[str] | None = None,
        with_distance: bool = True,
    ) -> Matrix:
        """Origins (settlements, facilities, points) x facilities: times and distances."""
        fac = self._resolve(facility_ids)
        oids = tuple(origins)
        snaps = [self.snapper.snap(*origins[o]) for o in oids]
        times = np.empty((len(oids), len(fac)))
        dists = np.empty((len(oids), len(fac)))
        with self._lock:
            for k, snap in enumerate(snaps):
                times[k], dists[k], _ = self._times_from_snap(
                    snap, fac, heading=None, with_distance=with_distance
                )
            version = self._version
        return Matrix(
            origin_ids=oids,
            destination_ids=tuple(self.facility_ids[i] for i in fac),
            time_s=times,
            distance_m=dists,
            graph_version=version,
            modelled=self.modelled,
        )

    def _tree_to_point(self, snap: Snap) -> tuple[FloatArray, npt.NDArray[np.int32], FloatArray]:
        """Time from every node to a snapped point: ``(time, next node, time at the entry node)``.

        The point is reached from node a (driving the fraction f of a->b) or from node b (the
        rest of b->a); both are sources of one reverse Dijkstra. Kept for a few recent points
        per graph version (pickups at the same facility repeat).
        """
        key = (snap.node_a, snap.node_b, round(snap.fraction, 6), self._version)
        hit = self._point_trees.get(key)
        if hit is not None:
            return hit
        out = self._point_tree(snap, self._weights, self._reverse_matrix())
        if len(self._point_trees) >= POINT_TREES_KEPT:
            self._point_trees.pop(next(iter(self._point_trees)))
        self._point_trees[key] = out
        return out

    def _base_tree_to_point(self, snap: Snap) -> tuple[FloatArray, npt.NDArray[np.int32], FloatArray]:
        """``_tree_to_point`` on the base weights (no condition), kept per point like it."""
        if not self._conditions:
            return self._tree_to_point(snap)
        key = (snap.node_a, snap.node_b, round(snap.fraction, 6), self._graph_version)
        hit = self._base_point_trees.get(key)
        if hit is not None:
            return hit
        if self._base_reverse is None:
            self._base_reverse = self.compiled.reverse_matrix(self.compiled.base)
        out = self._point_tree(snap, self.compiled.base, self._base_reverse)
        if len(self._base_point_trees) >= POINT_TREES_KEPT:
            self._base_point_trees.pop(next(iter(self._base_point_trees)))
        self._base_point_trees[key] = out
        return out

    def _point_tree(
        self, snap: Snap, w: PairWeights, reverse: csr_matrix
    ) -> tuple[FloatArray, npt.NDArray[np.int32], FloatArray]:
        a, b, f = snap.node_a, snap.node_b, snap.fraction
        pairs = self.compiled.pair_index(np.array([a, b]), np.array([b, a]))
        last = np.full(self.graph.n_nodes, np.inf)
        last[a] = f * float(w.time_s[pairs[0]]) if pairs[0] >= 0 else np.inf
        last[b] = min(last[b], (1.0 - f) * float(w.time_s[pairs[1]]) if pairs[1] >= 0 else np.inf)
        if f <= _AT_NODE:
            last[a] = 0.0
        elif f >= 1.0 - _AT_NODE:
            last[b] = 0.0
        sources = [n for n in (a, b) if math.isfinite(last[n])]
        if not sources:
            return np.full(self.graph.n_nodes, np.inf), np.full(self.graph.n_nodes, NO_NODE, np.int32), last
        from scipy.sparse.csgraph import dijkstra  # noqa: PLC0415  SciPy's import is 0.2-0.5 s: not on a cached start

        d, p = dijkstra(reverse, directed=True, indices=sources, return_predecessors=True)
        total = d + last[sources][:, None]
        best = np.argmin(total, axis=0)
        cols = np.arange(self.graph.n_nodes)
        return total[best, cols], p[best, cols].astype(np.int32), last

    def _reverse_matrix(self) -> csr_matrix:
        if self._reverse is None or self._reverse[0] != self._version:
            self._reverse = (self._version, self.compiled.reverse_matrix(self._weights))
        return self._reverse[1]

    def times_to_point(
        self,
        origins: Sequence[tuple[float, float, float | None]],
        lon: float,
        lat: float,
        *,
        with_distance: bool = True,
    ) -> list[tuple[float | None, float | None]]:
        """Time and road distance from each origin ``(lon, lat, heading)`` to one point.

        For "which vehicle reaches this pickup first": one reverse search from the point, then a
        lookup per origin (driving along its heading when given). ``(None, None)`` where there is
        no road route, and for an origin farther from any road than the snapping limit (a vehicle
        off the map is not a candidate; it does not spoil the others). The point itself too far
        from any road raises as ``snap`` does.
        """
        target = self.snapper.snap(lon, lat)
        origin_snaps = self.snapper.snap_many([(x, y) for x, y, _ in origins])  # None: off the map
        with self._lock:
            tree = self._tree_to_point(target)
            w = self._weights
            return [
                (None, None)
                if snap is None
                else self._one_to_point(snap, heading, tree, target, w, with_distance)
                for snap, (_, _, heading) in zip(origin_snaps, origins, strict=True)
            ]

    def nearest_to_point(
        self,
        origins: Sequence[tuple[float, float, float | None]],
        lon: float,
        lat: float,
        *,
        k: int,
        with_distance: bool = True,
    ) -> list[tuple[int, float, float | None]]:
        """The ``k`` origins that reach the point first by road: ``(index, time_s, distance_m)``.

        Exact, and usually fast for many origins: they are examined in order of straight-line
        distance, and the search stops once no farther origin could beat the k-th found (no
        route is faster than the straight line at the network's top speed). Origins off the map
        or with no road route are left out; the point too far from any road raises.
        """
        target = self.snapper.snap(lon, lat)
        if not origins or k < 1:
            return []
        o = np.asarray([(x, y) for x, y, _ in origins], dtype=np.float64)
        line = haversine_m(o[:, 0], o[:, 1], lon, lat)
        found: list[tuple[float, int]] = []
        with self._lock:
            tree = self._tree_to_point(target)
            w = self._weights
            # a margin for the projection the snapper measures in
            vmax = self.top_speed_ms() * 1.01
            order = np.argsort(line, kind="stable").tolist()
            snaps: dict[int, Snap | None] = {}
            for pos, i in enumerate(order):
                if len(found) >= k and line[i] / vmax > found[k - 1][0]:
                    break
                if i not in snaps:  # snap the next stretch of origins together (vectorised)
                    chunk = order[pos : pos + SNAP_CHUNK]
                    snaps.update(
                        zip(chunk, self.snapper.snap_many([origins[j][:2] for j in chunk]), strict=True)
                    )
                snap = snaps[i]
                if snap is None:  # off the map
                    continue
                t, _ = self._one_to_point(snap, origins[i][2], tree, target, w, with_distance=False)
                if t is not None:
                    found.append((t, i))
                    found.sort()
            out = []
            for t, i in found[:k]:
                d = None
                if with_distance:
                    snap = snaps[i]
                    assert snap is not None
                    _, d = self._one_to_point(snap, origins[i][2], tree, target, w, with_distance=True)
                out.append((i, t, d))
        return out

    def top_speed_ms(self) -> float:
        """The fastest straight-line speed any road stretch allows (and the off-road speed)."""
        if self._top_speed is None or self._top_speed[0] != self._version:
            c, g, w = self.compiled, self.graph, self._weights
            chord = haversine_m(g.lon[c.pair_u], g.lat[c.pair_u], g.lon[c.pair_v], g.lat[c.pair_v])
            ok = np.isfinite(w.time_s) & (w.time_s > 0)
            top = float(np.max(chord[ok] / w.time_s[ok], initial=0.0))
            if np.any(np.isfinite(w.time_s) & (w.time_s <= 0) & (chord > 0)):
                top = math.inf  # a zero-time stretch: no bound
            self._top_speed = (self._version, max(top, self.snapper.offroad_speed_ms))
        return self._top_speed[1]

    def _one_to_point(
        self,
        snap: Snap,
        heading: float | None,
        tree: tuple[FloatArray, npt.NDArray[np.int32], FloatArray],
        target: Snap,
        w: PairWeights,
        with_distance: bool,
    ) -> tuple[float | None, float | None]:
        t_node, nxt, _ = tree
        entries, _ = self._entries(snap, w, heading)
        best_t, best = math.inf, (-1, 0.0)
        for node, t0, d0 in entries:
            t = t0 + float(t_node[node])
            if t < best_t:
                best_t, best = t, (node, d0)
        direct = self._along_same_segment(snap, target, w, heading)
        if direct is not None and direct[0] <= best_t + target.offroad_s:
            return direct[0], (direct[1] if with_distance else None)
        if not math.isfinite(best_t):
            return None, None
        dist = None
        if with_distance:
            dist = best[1] + self._length_to_point(best[0], nxt, target, w) + target.distance_m
        return best_t + target.offroad_s, dist

    def _along_same_segment(
        self, origin: Snap, target: Snap, w: PairWeights, heading: float | None
    ) -> tuple[float, float] | None:
        """(time, distance) straight along the segment the origin shares with the point, or None."""
        a, b = target.node_a, target.node_b
        if (origin.node_a, origin.node_b) == (a, b):
            fo = origin.fraction
        elif (origin.node_a, origin.node_b) == (b, a):
            fo = 1.0 - origin.fraction
        else:
            return None
        ft = target.fraction
        u, v, span = (a, b, ft - fo) if ft >= fo else (b, a, fo - ft)
        p = int(self.compiled.pair_index(np.array([u]), np.array([v]))[0])
        if p < 0 or not math.isfinite(w.time_s[p]):
            return None
        if heading is not None and math.isfinite(heading) and span > _AT_NODE:
            diff = abs((heading - self.snapper.bearing_deg(u, v) + 180.0) % 360.0 - 180.0)
            if diff > HEADING_TOLERANCE_DEG:
                return None  # driving the other way
        time = origin.offroad_s + span * float(w.time_s[p]) + target.offroad_s
        return time, origin.distance_m + span * float(w.length_m[p]) + target.distance_m

    def _length_to_point(self, node: int, nxt: npt.NDArray[np.int32], target: Snap, w: PairWeights) -> float:
        """Road length from ``node`` along the tree to the snapped point (off-road leg excluded)."""
        acc = 0.0
        cur = node
        for _ in range(self.graph.n_nodes):
            step = int(nxt[cur])
            if step == NO_NODE:  # at the source the tree ends at: node a or node b
                break
            acc += float(w.length_m[self.compiled.pair_index(np.array([cur]), np.array([step]))[0]])
            cur = step
        a, b, f = target.node_a, target.node_b, target.fraction
        if cur == a and f > _AT_NODE:
            acc += f * float(w.length_m[self.compiled.pair_index(np.array([a]), np.array([b]))[0]])
        elif cur == b and f < 1.0 - _AT_NODE:
            acc += (1.0 - f) * float(w.length_m[self.compiled.pair_index(np.array([b]), np.array([a]))[0]])
        return acc

    # ----- live road conditions ---------------------------------------------------------------

    @property
    def has_conditions(self) -> bool:
        """Whether any road condition is in force, read without the lock (a search in another
        thread holds it; an event loop must not wait for it)."""  # noqa: D205, D209
        return bool(self._conditions)

    def conditions(self) -> tuple[RoadCondition, ...]:
        """The road conditions in force, by id."""
        with self._lock:
            return tuple(self._conditions[c][0] for c in sorted(self._conditions))

    def apply_condition(self, condition: RoadCondition) -> str:
        """Put a closure or slowdown in force (replacing one with the same id); returns the new version."""
        edges = condition_edges(condition, self.graph)
        with self._update_lock:
            new = dict(self._conditions)
            new[condition.id] = (condition, edges)
            return self._update(new)

    def remove_condition(self, condition_id: str) -> str:
        """Revert a condition; returns the new version."""
        with self._update_lock:
            if condition_id not in self._conditions:
                raise UnknownConditionError(condition_id)
            new = dict(self._conditions)
            del new[condition_id]
            return self._update(new)

    def _update(self, new: dict[str, tuple[RoadCondition, IntArray]]) -> str:
        """Move to a new set of conditions: repair only the trees the changed pairs touch, then swap.

        The trees whose bounded reach does not hold a changed pair are left as they are. The
        others are repaired where they are stored and the entries that change kept in an
        overlay of this process's own; the cached (memory-mapped) trees are never written. With
        no condition left the trees are the no-condition ones again.
        """
        c = self.compiled
        w_old = self._weights
        m_new = multipliers(list(new.values()), self.graph.n_edges)
        changed = np.unique(c.edge_pair[np.flatnonzero(m_new != self._multipliers)])
        w_new = c.pair_weights_update(w_old, m_new, changed)
        slower = changed[w_new.time_s[changed] > w_old.time_s[changed]]
        faster = changed[w_new.time_s[changed] < w_old.time_s[changed]]
        # another of a pair's parallel roads now its fastest: its paths' lengths change
        relength = changed[w_new.length_m[changed] != w_old.length_m[changed]]
        trees, n_trees, n_full = self._base, int(self._trees.replaced.sum()), 0
        if new:
            # first only the slower pairs, then the faster ones on top
            w_mid = w_new
            if slower.size and faster.size:
                mid_time = w_new.time_s.copy()
                mid_time[faster] = w_old.time_s[faster]
                w_mid = PairWeights(time_s=mid_time, length_m=w_new.length_m)
            rows = self._rows_touched(np.union1d(slower, relength), faster, w_new)
            trees, n_trees, n_full = self._repair_rows(rows, (w_mid, w_new), (slower, faster, relength))
        with self._lock:
            if not new:  # the current trees are the base again: no base point trees needed
                self._base_point_trees = {}
                self._base_reverse = None
            self._trees = trees
            self._weights = w_new
            self._multipliers = m_new
            self._conditions = new
            self._version = self._compute_version()
            self.last_update_trees = n_trees
            self.last_update_full_trees = n_full
            return self._version

    def _rows_touched(self, slower: IntArray, faster: IntArray, w_new: PairWeights) -> IntArray:
        """Trees a change can alter: those whose paths use a ``slower`` pair (or one whose length
        changes), and those within whose reach a faster pair gives a node a time no later than it
        has (and within the bound)."""  # noqa: D205, D209
        c, cur = self.compiled, self._trees
        hit = np.zeros(cur.k, dtype=bool)
        for p in slower.tolist():
            hit |= cur.at_node(int(c.pair_u[p]))[1] == c.pair_v[p]
        for p in faster.tolist():
            via = cur.at_node(int(c.pair_v[p]))[0] + w_new.time_s[p]
            hit |= (via <= self.bound) & (via <= cur.at_node(int(c.pair_u[p]))[0])
        return np.flatnonzero(hit)

    def _repair_rows(
        self,
        rows: IntArray,
        weights: tuple[PairWeights, PairWeights],
        pairs: tuple[IntArray, IntArray, IntArray],
    ) -> tuple[TreeSet, int, int]:
        """The trees with rows ``rows`` repaired: ``(new trees, trees changed, trees recomputed whole)``.

        The subtrees below the slower pairs are searched again (``routing.repair``), then the
        improvements the faster pairs bring spread (no farther than the bound); a tree whose
        damaged part is too large is recomputed whole. The trees are read where they are stored
        (sparse, by the compiled kernels) and only the entries that change are written, into
        the overlay of this process; their path lengths are summed again, and those of the
        entries below them (a path whose next node's path changed, or that uses a pair whose
        length changed).
        """
        c = self.compiled
        n = c.n_nodes
        cur = self._trees
        w_mid, w_new = weights
        slower, faster, relength = pairs
        view = cur.view()
        region, cut = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        if slower.size:
            roots = self._entries_using(cur, rows, slower)
            region, cut = subtrees(c, view, roots, max(1, n // REPAIR_LIMIT_DIVISOR))
        changes = TreeChanges()
        changes.set(region, *repair_slower(c, w_mid, view, region))
        if faster.size:
            repair_faster(c, w_new, changes, view, rows[~np.isin(rows, cut)], faster, self.bound)
        keys, d, p = changes.collect()
        if faster.size or relength.size:
            # the entries below the changed ones, and below the pairs whose length changed
            mid = cur.with_entries(keys, d, p, np.full(len(keys), np.nan), prune=False)
            roots = np.union1d(keys, self._entries_using(mid, rows[~np.isin(rows, cut)], relength))
            keys, _ = subtrees(c, mid.view(), roots, n + 1)
            d, p = mid.get(keys // n, keys % n)
        length = self._entry_lengths(cur, keys, d, p, w_new)
        if cut.size:  # recomputed whole: the entries that differ
            reverse = c.reverse_matrix(w_new)
            whole = [self._whole_row(cur, int(r), w_new, reverse) for r in cut.tolist()]
            parts = [(keys, d, p, length), *whole]
            keys, d, p, length = (np.concatenate(x) for x in zip(*parts, strict=True))
        trees = cur.with_entries(keys, d, p, length)
        return trees, int(np.unique(keys // n).size), int(cut.size)

    def _whole_row(
        self, trees: TreeSet, row: int, w: PairWeights, reverse: csr_matrix
    ) -> tuple[IntArray, FloatArray, npt.NDArray[np.int32], FloatArray]:
        """Tree ``row`` computed again on weights ``w`` (``reverse``: the reverse graph of them): the
        entries (keys ``row * n + node``, times, next nodes, path lengths) that differ from ``trees``."""  # noqa: D205, D209
        c = self.compiled
        n = c.n_nodes
        d, p = bounded_tree(reverse, int(self._tree_nodes[row]), self.bound)
        nodes, dn, pn, ln = sparse_row(d, p, self.bound, (c.forward_indptr, c.pair_v, w.length_m))
        new_d, new_p, new_l = np.full(n, np.inf), np.full(n, NO_NODE, dtype=np.int32), np.full(n, np.nan)
        new_d[nodes], new_p[nodes], new_l[nodes] = dn, pn, ln
        every, at_row = np.arange(n, dtype=np.int64), np.full(n, row, dtype=np.int64)
        old_d, old_p = trees.get(at_row, every)
        old_l = trees.lengths(at_row, every)
        same = (new_d == old_d) & (new_p == old_p) & ((new_l == old_l) | (np.isnan(new_l) & np.isnan(old_l)))
        at = np.flatnonzero(~same)
        return row * n + at, new_d[at], new_p[at], new_l[at]

    def _entries_using(self, trees: TreeSet, rows: IntArray, pairs: IntArray) -> IntArray:
        """Keys (``row * n + node``, sorted) of the entries of trees ``rows`` whose next road is
        one of ``pairs``."""  # noqa: D205, D209
        c = self.compiled
        if not rows.size or not pairs.size:
            return np.zeros(0, dtype=np.int64)
        r = np.repeat(rows, len(pairs))
        u = np.tile(c.pair_u[pairs], len(rows))
        _, nxt = trees.get(r, u)
        hit = nxt == np.tile(c.pair_v[pairs], len(rows))
        return np.unique(r[hit] * c.n_nodes + u[hit])

    def _entry_lengths(
        self, trees: TreeSet, keys: IntArray, d: FloatArray, p: npt.NDArray[np.int32], w: PairWeights
    ) -> FloatArray:
        """Path lengths of the entries ``keys`` (sorted, with new times ``d`` and next nodes ``p``):
        summed along the new next nodes, from the length ``trees`` holds where a path leaves them."""  # noqa: D205, D209
        from routing.kernels import entry_parents, tree_path_lengths  # noqa: PLC0415  numba: at the first repair

        n = self.compiled.n_nodes
        out = np.full(len(keys), np.nan)
        held = np.flatnonzero(d <= self.bound)
        if not held.size:
            return out
        k_held, p_held = keys[held], p[held].astype(np.int64)
        rows = k_held // n
        up = p_held != NO_NODE
        parent = entry_parents(k_held, p[held], n)
        offset = np.zeros(len(held))
        outside = np.flatnonzero(up & (parent < 0))
        offset[outside] = trees.lengths(rows[outside], p_held[outside])
        forward = (self.compiled.forward_indptr, self.compiled.pair_v, w.length_m)
        out[held] = tree_path_lengths(k_held % n, p[held], parent, offset, forward)
        return out

    # ----- which conditions changed a route -------------------------------------------------

    def conditions_on_routes(
        self, lon: float, lat: float, facility_ids: Sequence[str], *, heading: float | None = None
    ) -> dict[str, tuple[str, ...]]:
        """Which road conditions changed the travel time from a point to each facility.

        For every facility named whose time now differs from its time with no condition in
        force (slower, or no road route any more where there was one): the ids of the
        conditions on its *no-condition* fastest route (the origin's own segment included),
        in route order from the origin. A facility whose time did not change is absent.

        The no-condition route is read from the facility trees with the base overlay (the
        no-condition values of the entries conditions changed); it always passes over a
        changed stretch when the time changed, since a slowdown or closure can only change a
        time through a route that uses it. With no condition in force this is an empty dict
        at once (the point is not even snapped); unknown facility ids still raise.
        """
        fac = self._resolve(facility_ids)
        if not self._conditions:
            return {}
        snap = self.snapper.snap(lon, lat)
        c = self.compiled
        with self._lock:
            if not self._conditions:
                return {}
            rows = self._fac_row[fac]
            entries, _ = self._entries(snap, self._weights, heading)
            now_t, _, _ = self._best_from_entries(entries, rows)
            base_entries, _ = self._entries(snap, c.base, heading)
            base_t, start, _ = self._best_from_entries(base_entries, rows, self._base)
            hit = np.flatnonzero(np.isfinite(base_t) & (now_t != base_t))
            if not hit.size:
                return {}
            affected, by_pair = self._affected_pairs()
            out: dict[str, tuple[str, ...]] = {}
            walked: dict[tuple[int, int], tuple[str, ...]] = {}  # facilities sharing a tree node
            for i in hit.tolist():
                key = (int(rows[i]), int(start[i]))
                if key not in walked:
                    nodes = self._base_path(*key)
                    pairs = c.pair_index(
                        np.array(nodes[:-1], dtype=np.int64), np.array(nodes[1:], dtype=np.int64)
                    )
                    pairs = np.concatenate(
                        [np.array([self._entry_pair(snap, key[1])], dtype=np.int64), pairs]
                    )
                    walked[key] = _named(pairs, affected, by_pair)
                out[self.facility_ids[fac[i]]] = walked[key]
        return out

    def conditions_on_routes_to_point(
        self, origins: Sequence[tuple[float, float, float | None]], lon: float, lat: float
    ) -> list[tuple[str, ...]]:
        """Per origin ``(lon, lat, heading)``: the conditions that changed its time to the point.

        Like :meth:`conditions_on_routes` for a point target (a pickup): for each origin whose
        time to the point (as :meth:`times_to_point` gives it) differs from its time with no
        condition in force, the ids of the conditions on its no-condition fastest route, in
        route order; an empty tuple otherwise, and for an origin off the map. The no-condition
        route comes from a reverse search from the point on the base weights, kept per point
        like the current one, and only made while a condition is in force. With none in force
        every tuple is empty at once (nothing is snapped).
        """
        if not self._conditions:
            return [() for _ in origins]
        target = self.snapper.snap(lon, lat)
        snaps = self.snapper.snap_many([(x, y) for x, y, _ in origins])  # None: off the map
        out: list[tuple[str, ...]] = []
        with self._lock:
            if not self._conditions:
                return [() for _ in origins]
            tree, w = self._tree_to_point(target), self._weights
            base_tree, base_w = self._base_tree_to_point(target), self.compiled.base
            affected, by_pair = self._affected_pairs()
            for snap, (_, _, heading) in zip(snaps, origins, strict=True):
                if snap is None:
                    out.append(())
                    continue
                now, _ = self._one_to_point(snap, heading, tree, target, w, with_distance=False)
                base, _ = self._one_to_point(snap, heading, base_tree, target, base_w, with_distance=False)
                if base is None or now == base:
                    out.append(())
                    continue
                out.append(
                    _named(
                        self._point_route_pairs(snap, heading, base_tree, target, base_w), affected, by_pair
                    )
                )
        return out

    def _base_path(self, row: int, node: int) -> list[int]:
        """Nodes of the no-condition tree path from ``node`` to row ``row``'s facility node."""
        from routing.kernels import tree_path  # noqa: PLC0415  numba: loaded by now (a condition is in force)

        target = int(self._tree_nodes[row])
        nodes: list[int] = tree_path(self._base.view(), row, node, target, self.compiled.n_nodes).tolist()
        if nodes[-1] == NO_NODE:  # not reachable in the base tree (not asked for then)
            nodes.pop()
        return nodes

    def _affected_pairs(self) -> tuple[IntArray, dict[int, tuple[str, ...]]]:
        """Pairs whose time the conditions in force change (sorted), and the conditions on each.

        A condition is named on a pair when it selects one of the pair's edges; kept per version.
        """
        if self._attribution is None or self._attribution[0] != self._version:
            base, now = self.compiled.base.time_s, self._weights.time_s
            by_pair: dict[int, list[str]] = {}
            for cid in sorted(self._conditions):
                pairs = np.unique(self.compiled.edge_pair[self._conditions[cid][1]])
                for p in pairs[now[pairs] != base[pairs]].tolist():
                    by_pair.setdefault(p, []).append(cid)
            keys = np.array(sorted(by_pair), dtype=np.int64)
            self._attribution = (self._version, keys, {p: tuple(v) for p, v in by_pair.items()})
        return self._attribution[1], self._attribution[2]

    def _entry_pair(self, snap: Snap, node: int) -> int:
        """The pair an origin drives part of to reach its entry ``node``; -1 when it starts there."""
        a, b, f = snap.node_a, snap.node_b, snap.fraction
        if node == b and f < 1.0 - _AT_NODE:
            u, v = a, b
        elif node == a and f > _AT_NODE:
            u, v = b, a
        else:
            return -1
        return int(self.compiled.pair_index(np.array([u]), np.array([v]))[0])

    def _point_route_pairs(
        self,
        snap: Snap,
        heading: float | None,
        tree: tuple[FloatArray, npt.NDArray[np.int32], FloatArray],
        target: Snap,
        w: PairWeights,
    ) -> IntArray:
        """The pairs of the fastest route from an origin to a point, in order (as ``_one_to_point``)."""
        t_node, nxt, _ = tree
        entries, _ = self._entries(snap, w, heading)
        best_t, best_node = math.inf, -1
        for node, t0, _ in entries:
            t = t0 + float(t_node[node])
            if t < best_t:
                best_t, best_node = t, node
        a, b, f = target.node_a, target.node_b, target.fraction
        direct = self._along_same_segment(snap, target, w, heading)
        us: list[int] = []
        vs: list[int] = []
        if direct is not None and direct[0] <= best_t + target.offroad_s:
            fo = snap.fraction if (snap.node_a, snap.node_b) == (a, b) else 1.0 - snap.fraction
            us, vs = ([a], [b]) if f >= fo else ([b], [a])
        elif math.isfinite(best_t):
            lead = self._entry_pair(snap, best_node)
            cur = best_node
            for _ in range(self.graph.n_nodes):
                step = int(nxt[cur])
                if step == NO_NODE:
                    break
                us.append(cur)
                vs.append(step)
                cur = step
            if cur == a and f > _AT_NODE:
                us.append(a)
                vs.append(b)
            elif cur == b and f < 1.0 - _AT_NODE:
                us.append(b)
                vs.append(a)
            pairs = self.compiled.pair_index(np.array(us, dtype=np.int64), np.array(vs, dtype=np.int64))
            return np.concatenate([np.array([lead], dtype=np.int64), pairs])
        return np.asarray(
            self.compiled.pair_index(np.array(us, dtype=np.int64), np.array(vs, dtype=np.int64)),
            dtype=np.int64,
        )

    def to_networkx(self) -> nx.DiGraph[int]:
        """The current graph (conditions applied, closed roads left out) as a networkx DiGraph."""
        with self._lock:
            return self.compiled.to_networkx(self._weights)

    def facility_node(self, facility_id: str) -> int:
        """Index of the road node a facility is attached to."""
        (i,) = self._resolve([facility_id])
        return int(self._tree_nodes[self._fac_row[i]])

    def edges_between(self, u_node_id: int, v_node_id: int, *, both_ways: bool = True) -> tuple[int, ...]:
        """Edge indices of the road segment between two node ids (for closures by segment)."""
        ids = self.graph.node_id
        order = np.argsort(ids)
        pos = np.searchsorted(ids[order], [u_node_id, v_node_id])
        if np.any(pos >= len(ids)) or np.any(
            ids[order][np.minimum(pos, len(ids) - 1)] != [u_node_id, v_node_id]
        ):
            msg = f"no node with id {u_node_id} or {v_node_id}"
            raise InvalidConditionError(msg)
        u, v = order[pos]
        g = self.graph
        sel = (g.edge_u == u) & (g.edge_v == v)
        if both_ways:
            sel |= (g.edge_u == v) & (g.edge_v == u)
        found = tuple(int(e) for e in np.flatnonzero(sel))
        if not found:
            msg = f"no road segment between nodes {u_node_id} and {v_node_id}"
            raise InvalidConditionError(msg)
        return found
