"""A RoadGraph compiled for queries: CSR adjacency (forward and reverse) over node indices.

Parallel edges collapse to one *pair* (u, v) carrying the fastest edge's time and that edge's
length. Per-edge time multipliers (road conditions) give new pair times without rebuilding
the structure; an infinite time means closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from routing.errors import RoutingError

if TYPE_CHECKING:
    from collections.abc import Mapping

    import networkx as nx
    from scipy.sparse import csr_matrix

    from geodata.roadgraph import RoadGraph

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def concat_ranges(starts: IntArray, counts: IntArray) -> IntArray:
    """Concatenation of ``arange(s, s + c)`` for each (s, c)."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    return np.asarray(np.arange(total, dtype=np.int64) + offsets, dtype=np.int64)


@dataclass(frozen=True)
class PairWeights:
    """Time and length of each (u, v) pair under some edge multipliers."""

    time_s: FloatArray
    length_m: FloatArray


#: The arrays a compiled graph is made of (what the graph cache keeps).
ARRAYS = (
    "edge_order",
    "pair_start",
    "pair_key",
    "pair_u",
    "pair_v",
    "edge_pair",
    "base_time_s",
    "base_length_m",
    "forward_indptr",
    "reverse_pair",
    "reverse_indptr",
    "reverse_indices",
)


class CompiledGraph:
    """CSR structure of a road graph; immutable once built."""

    def __init__(self, graph: RoadGraph, arrays: Mapping[str, npt.NDArray[np.generic]] | None = None) -> None:
        """Compile ``graph``, or take ``arrays`` (``to_arrays`` of this same graph, e.g. from the cache)."""
        if graph.n_edges == 0:
            msg = "the road graph has no edges"
            raise RoutingError(msg)
        self.graph = graph
        n = graph.n_nodes
        self.n_nodes = n
        if arrays is not None:
            self._take(arrays)
            return
        key = graph.edge_u * n + graph.edge_v
        # order edges by pair, fastest first, edge index last (deterministic)
        order = np.lexsort((np.arange(graph.n_edges), graph.travel_time_s, key))
        sorted_key = key[order]
        starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
        self.edge_order: IntArray = order  # edges sorted by pair
        self.pair_start: IntArray = starts  # index into edge_order where each pair's edges begin
        self.pair_key: IntArray = sorted_key[starts]
        self.pair_u: IntArray = self.pair_key // n
        self.pair_v: IntArray = self.pair_key % n
        #: pair index of every edge
        self.edge_pair: IntArray = np.empty(graph.n_edges, dtype=np.int64)
        self.edge_pair[order] = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(order)]))
        self.n_pairs = len(starts)
        base = self.pair_weights(np.ones(graph.n_edges))
        self.base = base
        # CSR rows sorted by column == pairs sorted by key, so CSR data order == pair order.
        self.forward_indptr: IntArray = np.searchsorted(self.pair_u, np.arange(n + 1)).astype(np.int64)
        rev_order = np.lexsort((self.pair_u, self.pair_v))
        self.reverse_pair: IntArray = rev_order  # pair index of each reverse-CSR entry
        self.reverse_indptr: IntArray = np.searchsorted(self.pair_v[rev_order], np.arange(n + 1)).astype(
            np.int64
        )
        self.reverse_indices: IntArray = self.pair_u[rev_order]

    def to_arrays(self) -> dict[str, npt.NDArray[np.generic]]:
        """The arrays this graph is made of, by name (``ARRAYS``)."""
        out: dict[str, npt.NDArray[np.generic]] = {
            name: getattr(self, name) for name in ARRAYS if not name.startswith("base_")
        }
        out["base_time_s"], out["base_length_m"] = self.base.time_s, self.base.length_m
        return out

    def _take(self, arrays: Mapping[str, npt.NDArray[np.generic]]) -> None:
        g = self.graph
        missing = [name for name in ARRAYS if name not in arrays]
        if missing:
            msg = f"compiled graph arrays missing: {missing}"
            raise ValueError(msg)
        if len(arrays["edge_order"]) != g.n_edges or len(arrays["forward_indptr"]) != g.n_nodes + 1:
            msg = "compiled graph arrays are not for this graph"
            raise ValueError(msg)
        for name in ARRAYS:
            if not name.startswith("base_"):
                setattr(self, name, np.asarray(arrays[name]))
        self.n_pairs = len(self.pair_start)
        self.base = PairWeights(
            time_s=np.asarray(arrays["base_time_s"], dtype=np.float64),
            length_m=np.asarray(arrays["base_length_m"], dtype=np.float64),
        )

    def pair_weights(self, multipliers: FloatArray) -> PairWeights:
        """Pair times/lengths when each edge's time is multiplied (inf = closed)."""
        g = self.graph
        t = g.travel_time_s * multipliers
        t_sorted = t[self.edge_order]
        # the fastest edge of each pair under these multipliers
        best = np.minimum.reduceat(t_sorted, self.pair_start)
        is_best = t_sorted == np.repeat(best, np.diff(np.r_[self.pair_start, len(t_sorted)]))
        positions = np.where(is_best, np.arange(len(t_sorted)), len(t_sorted))
        first = np.minimum.reduceat(positions, self.pair_start)  # first fastest edge of each pair
        length = g.length_m[self.edge_order[first]]
        return PairWeights(time_s=best.astype(np.float64), length_m=length.astype(np.float64))

    def pair_weights_update(self, w: PairWeights, multipliers: FloatArray, pairs: IntArray) -> PairWeights:
        """``pair_weights(multipliers)`` when only ``pairs`` can differ from ``w`` (new arrays; same values).

        Recomputes just those pairs' edges, the same way: the fastest edge under the multipliers,
        the first such edge's length.
        """
        g = self.graph
        time_s, length_m = w.time_s.copy(), w.length_m
        if pairs.size == 0:
            return PairWeights(time_s=time_s, length_m=length_m)
        ends = np.r_[self.pair_start[1:], len(self.edge_order)]
        counts = ends[pairs] - self.pair_start[pairs]
        pos = concat_ranges(self.pair_start[pairs], counts)  # positions in edge_order, pair by pair
        edges = self.edge_order[pos]
        t = g.travel_time_s[edges] * multipliers[edges]
        group = np.r_[0, np.cumsum(counts)[:-1]]
        best = np.minimum.reduceat(t, group)
        is_best = t == np.repeat(best, counts)
        first = np.minimum.reduceat(np.where(is_best, np.arange(len(t)), len(t)), group)
        length = g.length_m[edges[first]].astype(np.float64)
        time_s[pairs] = best
        if np.any(length != length_m[pairs]):
            length_m = length_m.copy()
            length_m[pairs] = length
        return PairWeights(time_s=time_s, length_m=length_m)

    def reverse_matrix(self, w: PairWeights) -> csr_matrix:
        """Reverse graph (v -> u) with pair times: Dijkstra on it gives times *to* a source."""
        from scipy.sparse import csr_matrix  # noqa: PLC0415  SciPy's import is 0.2-0.5 s: not on a cached start

        return csr_matrix(
            (w.time_s[self.reverse_pair], self.reverse_indices, self.reverse_indptr),
            shape=(self.n_nodes, self.n_nodes),
        )

    def pair_index(self, u: IntArray, v: IntArray) -> IntArray:
        """Pair index of each (u, v); -1 where there is no such pair."""
        key = np.asarray(u, dtype=np.int64) * self.n_nodes + np.asarray(v, dtype=np.int64)
        pos = np.searchsorted(self.pair_key, key)
        pos = np.minimum(pos, self.n_pairs - 1)
        return np.where(self.pair_key[pos] == key, pos, -1)

    def to_networkx(self, w: PairWeights | None = None) -> nx.DiGraph[int]:
        """A DiGraph over node indices with ``travel_time`` and ``length`` (closed pairs left out)."""
        import networkx as nx  # noqa: PLC0415  heavy, and only for this

        weights = w or self.base
        g: nx.DiGraph[int] = nx.DiGraph()
        g.add_nodes_from(range(self.n_nodes))
        ok = np.isfinite(weights.time_s)
        g.add_edges_from(
            (int(u), int(v), {"travel_time": float(t), "length": float(length)})
            for u, v, t, length in zip(
                self.pair_u[ok], self.pair_v[ok], weights.time_s[ok], weights.length_m[ok], strict=True
            )
        )
        return g
