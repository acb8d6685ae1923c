"""Facility trees bounded by reach and stored sparse: only the nodes within the bound.

A set of ``k`` trees over ``n`` nodes keeps one *entry* per (tree, node) whose travel time to
the tree's facility is at most ``bound`` seconds: its key ``node * k + row`` (sorted, so the
entries of one node are contiguous and the trees' times from an origin node are one slice),
its time and its next node towards the facility. A node absent from a tree is not reachable
within the bound: it reads as an infinite time and no next node, as an unreachable node does in
a dense tree. 20 bytes per entry (dense trees: 12 bytes per node), so storing sparse pays when a
tree reaches less than about 60% of the graph.

``TreeSet`` is what the engine reads: the trees with no road condition (``base``, usually
memory-mapped from the cache and shared by the processes of a host) with, while conditions are
in force, some rows replaced by repaired ones (``delta``, this process's own).
"""

from __future__ import annotations

import itertools
import math
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from routing.trees import MIN_PARALLEL_WORK, MIN_TREES_PER_WORKER, NO_NODE

if TYPE_CHECKING:
    from collections.abc import Sequence

    FloatArray = npt.NDArray[np.float64]
    IntArray = npt.NDArray[np.int64]
    Int32Array = npt.NDArray[np.int32]

#: Bytes per stored entry: key (int64), time (float64), next node (int32).
BYTES_PER_ENTRY = 20
#: Entries scanned at once when a whole row is read out of the node-major arrays.
SCAN_CHUNK = 1 << 24


@dataclass(frozen=True, slots=True)
class SparseTrees:
    """``k`` trees over ``n`` nodes: sorted keys ``node * k + row`` with their times and next nodes."""

    k: int
    n: int
    bound: float
    keys: IntArray
    dist: FloatArray
    pred: Int32Array

    @property
    def n_entries(self) -> int:
        """How many (tree, node) entries are stored."""
        return len(self.keys)

    @property
    def nbytes(self) -> int:
        """Bytes the entries take up."""
        return int(self.keys.nbytes + self.dist.nbytes + self.pred.nbytes)

    def get(self, rows: IntArray, nodes: IntArray) -> tuple[FloatArray, Int32Array]:
        """Time and next node of each ``(row, node)``: ``(inf, NO_NODE)`` where not stored."""
        q = np.asarray(nodes, dtype=np.int64) * self.k + np.asarray(rows, dtype=np.int64)
        d = np.full(q.shape, np.inf)
        p = np.full(q.shape, NO_NODE, dtype=np.int32)
        if not self.keys.size or not q.size:
            return d, p
        pos = np.minimum(np.searchsorted(self.keys, q), self.keys.size - 1)
        hit = self.keys[pos] == q
        d[hit] = self.dist[pos[hit]]
        p[hit] = self.pred[pos[hit]]
        return d, p

    def node_slice(self, node: int) -> tuple[IntArray, FloatArray, Int32Array]:
        """The entries of one node: ``(rows, times, next nodes)``, rows ascending."""
        lo, hi = np.searchsorted(self.keys, [node * self.k, (node + 1) * self.k])
        return self.keys[lo:hi] - node * self.k, self.dist[lo:hi], self.pred[lo:hi]

    def dense_rows(self, rows: IntArray) -> tuple[FloatArray, Int32Array]:
        """Rows ``rows`` as dense ``(len(rows), n)`` arrays (inf / NO_NODE where not stored).

        Reads every entry (the arrays are node-major): for repairs, not for queries.
        """
        rows = np.asarray(rows, dtype=np.int64)
        d = np.full((len(rows), self.n), np.inf)
        p = np.full((len(rows), self.n), NO_NODE, dtype=np.int32)
        if not rows.size:
            return d, p
        where = np.full(self.k, -1, dtype=np.int64)
        where[rows] = np.arange(len(rows))
        for lo in range(0, self.n_entries, SCAN_CHUNK):
            keys = np.asarray(self.keys[lo : lo + SCAN_CHUNK])
            local = where[keys % self.k]
            sel = np.flatnonzero(local >= 0)
            if sel.size:
                at = (local[sel], keys[sel] // self.k)
                d[at] = self.dist[lo + sel]
                p[at] = self.pred[lo + sel]
        return d, p

    def rows_sparse(self, rows: IntArray) -> list[tuple[IntArray, FloatArray, Int32Array]]:
        """Rows ``rows`` (unique) as ``(nodes ascending, times, next nodes)`` each, in one pass."""
        rows = np.asarray(rows, dtype=np.int64)
        where = np.full(self.k, -1, dtype=np.int64)
        where[rows] = np.arange(len(rows))
        got: list[tuple[IntArray, IntArray, FloatArray, Int32Array]] = []
        for lo in range(0, self.n_entries if rows.size else 0, SCAN_CHUNK):
            keys = np.asarray(self.keys[lo : lo + SCAN_CHUNK])
            local = where[keys % self.k]
            sel = np.flatnonzero(local >= 0)
            got.append((local[sel], keys[sel] // self.k, self.dist[lo + sel], self.pred[lo + sel]))
        if not got:
            return [(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int32)) for _ in rows]
        local, nodes, d, p = (np.concatenate(x) for x in zip(*got, strict=True))
        order = np.argsort(local, kind="stable")  # by row; nodes stay ascending within a row
        cuts = np.searchsorted(local[order], np.arange(len(rows) + 1))
        nodes, d, p = nodes[order], d[order], p[order]
        return [(nodes[a:b], d[a:b], p[a:b]) for a, b in itertools.pairwise(cuts.tolist())]

    def without_rows(self, drop: npt.NDArray[np.bool_]) -> SparseTrees:
        """The same trees with the rows marked in ``drop`` (length k) left empty."""
        keep = ~drop[self.keys % self.k]
        return SparseTrees(self.k, self.n, self.bound, self.keys[keep], self.dist[keep], self.pred[keep])


def from_rows(
    k: int,
    n: int,
    bound: float,
    rows: Sequence[int],
    parts: Sequence[tuple[IntArray, FloatArray, Int32Array]],
) -> SparseTrees:
    """Trees from per-row entries ``(nodes ascending, times, next nodes)`` of rows ``rows``."""
    if not parts:
        empty = np.zeros(0, np.int64)
        return SparseTrees(k, n, bound, empty, np.zeros(0), np.zeros(0, np.int32))
    nodes = np.concatenate([p[0] for p in parts]).astype(np.int64)
    row_of = np.repeat(np.asarray(rows, dtype=np.int64), [len(p[0]) for p in parts])
    keys = nodes * k + row_of
    order = np.argsort(keys, kind="stable")
    return SparseTrees(
        k,
        n,
        bound,
        keys[order],
        np.concatenate([p[1] for p in parts]).astype(np.float64)[order],
        np.concatenate([p[2] for p in parts]).astype(np.int32)[order],
    )


def sparse_row(d: FloatArray, p: Int32Array, bound: float) -> tuple[IntArray, FloatArray, Int32Array]:
    """The entries of a dense tree row within the bound."""
    nodes = np.flatnonzero(d <= bound)
    return nodes, d[nodes], p[nodes]


def bounded_tree(m: csr_matrix, source: int, bound: float) -> tuple[FloatArray, Int32Array]:
    """One dense tree, searched no farther than ``bound`` (inf / NO_NODE beyond it)."""
    limit = bound if math.isfinite(bound) else np.inf
    d, p = dijkstra(m, directed=True, indices=int(source), return_predecessors=True, limit=limit)
    return d, p.astype(np.int32)


def _rows_of(
    data: FloatArray, indices: IntArray, indptr: IntArray, sources: list[int], bound: float
) -> list[tuple[IntArray, FloatArray, Int32Array]]:
    n = len(indptr) - 1
    m = csr_matrix((data, indices, indptr), shape=(n, n))
    return [sparse_row(*bounded_tree(m, s, bound), bound) for s in sources]


def compute_sparse_trees(
    reverse: csr_matrix, sources: Sequence[int], bound: float, *, workers: int = 1
) -> SparseTrees:
    """Bounded Dijkstra from each source on the reverse graph, kept sparse.

    With several workers the rows are computed in worker processes (SciPy holds the GIL) and
    handed back sparse: no process ever holds a dense ``(k, n)`` array.
    """
    k, n = len(sources), reverse.shape[0]
    data = np.asarray(reverse.data, dtype=np.float64)
    indices = np.asarray(reverse.indices, dtype=np.int64)
    indptr = np.asarray(reverse.indptr, dtype=np.int64)
    srcs = [int(s) for s in sources]
    n_workers = max(1, min(workers, k // MIN_TREES_PER_WORKER))
    if k * len(data) < MIN_PARALLEL_WORK:
        n_workers = 1
    if n_workers == 1:
        parts = _rows_of(data, indices, indptr, srcs, bound)
    else:
        bounds = np.linspace(0, k, n_workers + 1).astype(int)
        with ProcessPoolExecutor(n_workers, mp_context=mp.get_context("spawn")) as pool:
            futures = [
                pool.submit(_rows_of, data, indices, indptr, srcs[a:b], bound)
                for a, b in itertools.pairwise(bounds)
                if b > a
            ]
            parts = [part for f in futures for part in f.result()]
    return from_rows(k, n, bound, range(k), parts)


class TreeSet:
    """The trees the engine reads: the no-condition ``base``, some rows replaced by ``delta``.

    Immutable: a repair makes a new set (``with_rows``), swapped in by the engine.
    """

    __slots__ = ("base", "delta", "replaced")

    def __init__(
        self,
        base: SparseTrees,
        delta: SparseTrees | None = None,
        replaced: npt.NDArray[np.bool_] | None = None,
    ) -> None:
        """``replaced`` marks the rows ``delta`` holds (length k); the base is read for the others."""
        self.base = base
        self.delta = delta
        self.replaced = replaced if replaced is not None else np.zeros(base.k, dtype=bool)

    @property
    def k(self) -> int:
        """How many trees."""
        return self.base.k

    @property
    def n(self) -> int:
        """How many nodes each tree is over."""
        return self.base.n

    @property
    def bound(self) -> float:
        """The reach (s) beyond which a node is not stored."""
        return self.base.bound

    def get(self, rows: IntArray, nodes: IntArray) -> tuple[FloatArray, Int32Array]:
        """Time and next node of each ``(row, node)`` (inf / NO_NODE: not reachable within the bound)."""
        d, p = self.base.get(rows, nodes)
        if self.delta is not None:
            rows = np.asarray(rows, dtype=np.int64)
            mine = self.replaced[rows]
            if mine.any():
                d[mine], p[mine] = self.delta.get(rows[mine], np.asarray(nodes)[mine])
        return d, p

    def at_node(self, node: int) -> tuple[FloatArray, Int32Array]:
        """Time and next node from ``node`` in every tree: two arrays of length k."""
        d = np.full(self.k, np.inf)
        p = np.full(self.k, NO_NODE, dtype=np.int32)
        rows, dv, pv = self.base.node_slice(node)
        d[rows], p[rows] = dv, pv
        if self.delta is not None:
            d[self.replaced], p[self.replaced] = np.inf, NO_NODE
            rows, dv, pv = self.delta.node_slice(node)
            d[rows], p[rows] = dv, pv
        return d, p

    def rows_sparse(self, rows: IntArray) -> list[tuple[IntArray, FloatArray, Int32Array]]:
        """Rows ``rows`` (unique) as ``(nodes ascending, times, next nodes)`` each."""
        rows = np.asarray(rows, dtype=np.int64)
        mine = self.replaced[rows]
        out = [(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int32))] * len(rows)
        for sel, src in ((np.flatnonzero(~mine), self.base), (np.flatnonzero(mine), self.delta)):
            if sel.size and src is not None:
                for i, part in zip(sel.tolist(), src.rows_sparse(rows[sel]), strict=True):
                    out[i] = part
        return out

    def dense_rows(self, rows: IntArray) -> tuple[FloatArray, Int32Array]:
        """Rows as dense ``(len(rows), n)`` arrays (for repairs and tests)."""
        rows = np.asarray(rows, dtype=np.int64)
        d, p = self.base.dense_rows(rows)
        if self.delta is not None:
            mine = np.flatnonzero(self.replaced[rows])
            if mine.size:
                d[mine], p[mine] = self.delta.dense_rows(rows[mine])
        return d, p

    def with_rows(self, rows: IntArray, dist: FloatArray, pred: Int32Array) -> TreeSet:
        """A new set with rows ``rows`` replaced by the dense ``dist``/``pred`` (kept within the bound)."""
        rows = np.asarray(rows, dtype=np.int64)
        if not rows.size:
            return self
        replaced = self.replaced.copy()
        replaced[rows] = True
        fresh = np.zeros(self.k, dtype=bool)
        fresh[rows] = True
        parts = [sparse_row(dist[i], pred[i], self.bound) for i in range(len(rows))]
        new = from_rows(self.k, self.n, self.bound, rows.tolist(), parts)
        if self.delta is not None:
            kept = self.delta.without_rows(fresh)
            order = np.argsort(np.concatenate([kept.keys, new.keys]), kind="stable")
            new = SparseTrees(
                self.k,
                self.n,
                self.bound,
                np.concatenate([kept.keys, new.keys])[order],
                np.concatenate([kept.dist, new.dist])[order],
                np.concatenate([kept.pred, new.pred])[order],
            )
        return TreeSet(self.base, new, replaced)

    def dense(self) -> tuple[FloatArray, Int32Array]:
        """Every tree dense, ``(k, n)`` (tests and small graphs only)."""
        return self.dense_rows(np.arange(self.k))
