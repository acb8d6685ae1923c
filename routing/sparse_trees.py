"""Facility trees bounded by reach and stored sparse: only the nodes within the bound.

A set of ``k`` trees over ``n`` nodes keeps one *entry* per (tree, node) whose travel time to
the tree's facility is at most ``bound`` seconds: its key ``node * k + row`` (sorted, so the
entries of one node are contiguous and the trees' times from an origin node are one slice),
its time, its next node towards the facility and the road length of its path there (so a road
distance is a lookup, not a walk along the path). A node absent from a tree is not reachable
within the bound: it reads as an infinite time and no next node, as an unreachable node does in
a dense tree. 28 bytes per entry (dense times and next nodes: 12 bytes per node, with the path
walked for a distance), so storing sparse pays in memory when a tree reaches less than about
40% of the graph.

``TreeSet`` is what the engine reads: the trees with no road condition (``base``, usually
memory-mapped from the cache and shared by the processes of a host) with, while conditions are
in force, an overlay of the entries repairs changed (``delta``, this process's own).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import multiprocessing as mp
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from routing.trees import MIN_PARALLEL_WORK, MIN_TREES_PER_WORKER, NO_NODE

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from scipy.sparse import csr_matrix

    from routing.kernels import TreeView

    FloatArray = npt.NDArray[np.float64]
    IntArray = npt.NDArray[np.int64]
    Int32Array = npt.NDArray[np.int32]

#: Bytes per stored entry: key (int64), time (float64), next node (int32), length (float64).
BYTES_PER_ENTRY = 28
#: Entries scanned at once when a whole row is read out of the node-major arrays.
SCAN_CHUNK = 1 << 24
#: Above this many entries asked at once (repairs), they are found by the compiled search
#: through the node index rather than by a binary search of every stored key.
MANY_ENTRIES = 4096
#: Tasks per worker process when trees are computed in parallel (see ``compute_sparse_trees``).
TASKS_PER_WORKER = 8
#: Above this many bytes of entries at most (every tree reaching every node), the computed rows
#: are handed over through files in a scratch directory and placed one task's file at a time,
#: so the build never holds the rows and the node-major arrays in memory together (it peaked at
#: twice what it keeps).
SPILL_BYTES = 256 << 20
#: Tasks the trees are computed in, when spilled, per worker process (or in all, serially).
SPILL_TASKS = 16


@dataclass(frozen=True, slots=True)
class SparseTrees:
    """``k`` trees over ``n`` nodes: sorted keys ``node * k + row`` with their times and next nodes."""

    k: int
    n: int
    bound: float
    keys: IntArray
    dist: FloatArray
    pred: Int32Array
    length: FloatArray

    @property
    def n_entries(self) -> int:
        """How many (tree, node) entries are stored."""
        return len(self.keys)

    @property
    def nbytes(self) -> int:
        """Bytes the entries take up."""
        return int(self.keys.nbytes + self.dist.nbytes + self.pred.nbytes + self.length.nbytes)

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

    def lengths(self, rows: IntArray, nodes: IntArray) -> FloatArray:
        """Road length of the tree path of each ``(row, node)``: nan where not stored."""
        q = np.asarray(nodes, dtype=np.int64) * self.k + np.asarray(rows, dtype=np.int64)
        out = np.full(q.shape, np.nan)
        if not self.keys.size or not q.size:
            return out
        pos = np.minimum(np.searchsorted(self.keys, q), self.keys.size - 1)
        hit = self.keys[pos] == q
        out[hit] = self.length[pos[hit]]
        return out

    def node_slice(self, node: int) -> tuple[IntArray, FloatArray, Int32Array]:
        """The entries of one node: ``(rows, times, next nodes)``, rows ascending."""
        first = node * self.k
        lo = int(self.keys.searchsorted(first))
        hi = int(self.keys.searchsorted(first + self.k))
        return self.keys[lo:hi] - first, self.dist[lo:hi], self.pred[lo:hi]

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


#: One tree's entries: nodes (ascending), times, next nodes, path lengths.
Row = tuple["IntArray", "FloatArray", "Int32Array", "FloatArray"]
#: What path lengths are made of: the graph's forward CSR (``forward_indptr``, ``pair_v``) and
#: its pair lengths.
Lengths = tuple["IntArray", "IntArray", "FloatArray"]


def from_rows(
    k: int,
    n: int,
    bound: float,
    rows: Sequence[int],
    parts: Sequence[Row],
) -> SparseTrees:
    """Trees from per-row entries ``(nodes ascending, times, next nodes, lengths)`` of rows ``rows``
    (ascending): placed node-major by counting, no sort."""  # noqa: D205, D209
    counts = np.zeros(n, np.int64)
    for p in parts:
        counts[p[0]] += 1
    out = _Placer(k, n, bound, counts)
    for r, part in zip(rows, parts, strict=True):
        out.place(r, *part)
    return out.trees()


class _Placer:
    """Node-major arrays filled one row at a time, each node's entries in the order placed."""

    def __init__(self, k: int, n: int, bound: float, counts: IntArray) -> None:
        total = int(counts.sum())
        self.k, self.n, self.bound = k, n, bound
        self.keys = np.empty(total, np.int64)
        self.dist = np.empty(total, np.float64)
        self.pred = np.empty(total, np.int32)
        self.length = np.empty(total, np.float64)
        self.fill = np.cumsum(counts) - counts  # where each node's next entry goes

    def place(self, row: int, nodes: IntArray, d: FloatArray, pr: Int32Array, ln: FloatArray) -> None:
        pos = self.fill[nodes]
        self.fill[nodes] += 1
        self.keys[pos] = nodes * self.k + row
        self.dist[pos], self.pred[pos], self.length[pos] = d, pr, ln

    def trees(self) -> SparseTrees:
        return SparseTrees(self.k, self.n, self.bound, self.keys, self.dist, self.pred, self.length)


def path_lengths(nodes: IntArray, pred: Int32Array, lengths: Lengths, n: int) -> FloatArray:
    """Road length from each of a tree's nodes to its root along the tree (``pred``: next nodes)."""
    from routing.kernels import tree_path_lengths  # noqa: PLC0415  numba: loaded when trees are built

    m = len(nodes)
    if not m:
        return np.zeros(0)
    local = np.full(n, -1, dtype=np.int64)
    local[nodes] = np.arange(m)
    up = pred != NO_NODE
    parent = np.full(m, -1, dtype=np.int64)
    parent[up] = local[pred[up]]
    if np.any(parent[up] < 0):
        msg = "a tree's next node is not in the tree"
        raise ValueError(msg)
    out: FloatArray = tree_path_lengths(np.asarray(nodes, dtype=np.int64), pred, parent, np.zeros(m), lengths)
    return out


def sparse_row(d: FloatArray, p: Int32Array, bound: float, lengths: Lengths) -> Row:
    """The entries of a dense tree row within the bound, with their path lengths."""
    nodes = np.flatnonzero(d <= bound)
    pred = p[nodes]
    return nodes, d[nodes], pred, path_lengths(nodes, pred, lengths, len(d))


def bounded_tree(m: csr_matrix, source: int, bound: float) -> tuple[FloatArray, Int32Array]:
    """One dense tree, searched no farther than ``bound`` (inf / NO_NODE beyond it)."""
    from scipy.sparse.csgraph import dijkstra  # noqa: PLC0415  SciPy's import is 0.2-0.5 s: not on a cached start

    limit = bound if math.isfinite(bound) else np.inf
    d, p = dijkstra(m, directed=True, indices=int(source), return_predecessors=True, limit=limit)
    return d, p.astype(np.int32)


def _rows_of(
    data: FloatArray, indices: IntArray, indptr: IntArray, sources: list[int], bound: float, lengths: Lengths
) -> list[Row]:
    from scipy.sparse import csr_matrix  # noqa: PLC0415  SciPy's import is 0.2-0.5 s: not on a cached start

    n = len(indptr) - 1
    m = csr_matrix((data, indices, indptr), shape=(n, n))
    return [sparse_row(*bounded_tree(m, s, bound), bound, lengths) for s in sources]


_PARTS = ("nodes", "dist", "pred", "length")


def _rows_to_files(
    data: FloatArray,
    indices: IntArray,
    indptr: IntArray,
    sources: list[int],
    bound: float,
    lengths: Lengths,
    stem: str,
) -> tuple[list[int], IntArray]:
    """``_rows_of``, written to ``<stem>.<part>.npy`` (the rows one after the other): each row's
    entry count, and every node's."""  # noqa: D205, D209
    parts = _rows_of(data, indices, indptr, sources, bound, lengths)
    for j, name in enumerate(_PARTS):
        empty = np.zeros(0, dtype=np.int64 if j == 0 else np.int32 if j == 2 else np.float64)
        np.save(f"{stem}.{name}.npy", np.concatenate([p[j] for p in parts]) if parts else empty)
    nodes = [p[0] for p in parts]
    counts = np.bincount(np.concatenate(nodes), minlength=len(indptr) - 1) if nodes else np.zeros(0)
    return [len(x) for x in nodes], counts.astype(np.int64)


def compute_sparse_trees(
    reverse: csr_matrix,
    sources: Sequence[int],
    bound: float,
    lengths: Lengths,
    *,
    workers: int = 1,
    scratch_dir: Path | None = None,
) -> SparseTrees:
    """Bounded Dijkstra from each source on the reverse graph, kept sparse.

    With several workers the rows are computed in worker processes (SciPy holds the GIL) and
    handed back sparse: no process ever holds a dense ``(k, n)`` array. Above
    :data:`SPILL_BYTES` they are handed back through files in ``scratch_dir`` (default: the
    system's temporary directory) and placed a task at a time.
    """
    k, n = len(sources), reverse.shape[0]
    data = np.asarray(reverse.data, dtype=np.float64)
    indices = np.asarray(reverse.indices, dtype=np.int64)
    indptr = np.asarray(reverse.indptr, dtype=np.int64)
    srcs = [int(s) for s in sources]
    n_workers = max(1, min(workers, k // MIN_TREES_PER_WORKER))
    if k * len(data) < MIN_PARALLEL_WORK:
        n_workers = 1
    if k * n * BYTES_PER_ENTRY > SPILL_BYTES:
        return _spilled(data, indices, indptr, srcs, bound, lengths, n_workers, scratch_dir)
    if n_workers == 1:
        parts = _rows_of(data, indices, indptr, srcs, bound, lengths)
    else:
        # several small tasks per worker: a worker holds one task's rows at a time, and each
        # result is handed over (pickled) in a buffer of that size, not one of half the trees
        n_tasks = min(k, n_workers * TASKS_PER_WORKER)
        bounds = np.linspace(0, k, n_tasks + 1).astype(int)
        with ProcessPoolExecutor(n_workers, mp_context=mp.get_context("spawn")) as pool:
            futures = [
                pool.submit(_rows_of, data, indices, indptr, srcs[a:b], bound, lengths)
                for a, b in itertools.pairwise(bounds)
                if b > a
            ]
            parts = [part for f in futures for part in f.result()]
    return from_rows(k, n, bound, range(k), parts)


def _spilled(
    data: FloatArray,
    indices: IntArray,
    indptr: IntArray,
    srcs: list[int],
    bound: float,
    lengths: Lengths,
    n_workers: int,
    scratch_dir: Path | None,
) -> SparseTrees:
    """``compute_sparse_trees`` through files: each task's rows are written by whoever computed
    them; then placed, a task's file at a time, read memory-mapped and deleted."""  # noqa: D205, D209
    k, n = len(srcs), len(indptr) - 1
    n_tasks = min(k, SPILL_TASKS * n_workers)
    bounds = [
        (int(a), int(b)) for a, b in itertools.pairwise(np.linspace(0, k, n_tasks + 1).astype(int)) if b > a
    ]
    if scratch_dir is not None:
        Path(scratch_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".rujuk-trees-", dir=scratch_dir) as tmp:
        stems = [str(Path(tmp) / f"task{i}") for i in range(len(bounds))]
        args = [
            (data, indices, indptr, srcs[a:b], bound, lengths, stem)
            for (a, b), stem in zip(bounds, stems, strict=True)
        ]
        counts = np.zeros(n, np.int64)
        sizes_of: list[list[int]] = []
        with contextlib.ExitStack() as stack:
            if n_workers == 1:
                results: Iterator[tuple[list[int], IntArray]] = itertools.starmap(_rows_to_files, args)
            else:
                pool = stack.enter_context(ProcessPoolExecutor(n_workers, mp_context=mp.get_context("spawn")))
                results = pool.map(_rows_to_files, *zip(*args, strict=True))  # each result dropped once read
            for sizes, c in results:
                counts[: len(c)] += c
                sizes_of.append(sizes)
        out = _Placer(k, n, bound, counts)
        for (first, _), stem, sizes in zip(bounds, stems, sizes_of, strict=True):
            files = [Path(f"{stem}.{name}.npy") for name in _PARTS]
            nodes, d, pr, ln = (np.load(f, mmap_mode="r") for f in files)
            at = 0
            for j, m in enumerate(sizes):
                cut = slice(at, at + m)
                out.place(first + j, np.asarray(nodes[cut]), d[cut], pr[cut], ln[cut])
                at += m
            del nodes, d, pr, ln
            for f in files:
                f.unlink()
    return out.trees()


class TreeSet:
    """The trees the engine reads: the no-condition ``base`` with an overlay of changed entries.

    ``delta`` (while road conditions are in force) holds the entries whose values differ from
    the base's, this process's own: keys ``node * k + row`` like the base's, a time of inf (no
    next node, no length) where an entry the base holds is no longer within the bound. It holds
    only what a repair changed, never a whole tree. Immutable: a repair makes a new set
    (``with_entries``), swapped in by the engine.
    """

    __slots__ = ("_start", "base", "delta", "replaced")

    def __init__(
        self,
        base: SparseTrees,
        delta: SparseTrees | None = None,
        *,
        start: list[IntArray] | None = None,
    ) -> None:
        """``start``: the base's node index (see ``view``), shared by the sets made from one base."""
        self.base = base
        self.delta = delta if delta is not None and delta.n_entries else None
        #: rows with entries in the overlay
        self.replaced = np.zeros(base.k, dtype=bool)
        if self.delta is not None:
            self.replaced[self.delta.keys % base.k] = True
        self._start: list[IntArray] = start if start is not None else []

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

    def _over(self, rows: IntArray, nodes: IntArray) -> tuple[npt.NDArray[np.bool_], IntArray]:
        """Which ``(row, node)`` the overlay holds, and where (valid where held)."""
        assert self.delta is not None
        keys = self.delta.keys
        q = np.asarray(nodes, dtype=np.int64) * self.k + np.asarray(rows, dtype=np.int64)
        pos = np.minimum(np.searchsorted(keys, q), keys.size - 1)
        return keys[pos] == q, pos

    def _stored(self, rows: IntArray, nodes: IntArray) -> tuple[FloatArray, Int32Array, FloatArray]:
        """The base's time, next node and path length of each ``(row, node)``, by the compiled
        search (through the node index: for many entries at once, in repairs)."""  # noqa: D205, D209
        from routing.kernels import entries_at  # noqa: PLC0415  numba: loaded at the first repair

        rows, nodes = np.broadcast_arrays(np.asarray(rows, dtype=np.int64), np.asarray(nodes, dtype=np.int64))
        d, p, ln = entries_at(self.view(), np.asarray(self.base.length), rows.ravel(), nodes.ravel())
        return d.reshape(rows.shape), p.reshape(rows.shape), ln.reshape(rows.shape)

    def get(self, rows: IntArray, nodes: IntArray) -> tuple[FloatArray, Int32Array]:
        """Time and next node of each ``(row, node)`` (inf / NO_NODE: not reachable within the bound)."""
        if np.size(rows) > MANY_ENTRIES:
            d, p, _ = self._stored(rows, nodes)
        else:
            d, p = self.base.get(rows, nodes)
        if self.delta is not None:
            hit, pos = self._over(rows, nodes)
            d[hit], p[hit] = self.delta.dist[pos[hit]], self.delta.pred[pos[hit]]
        return d, p

    def times_at(self, node: int) -> FloatArray:
        """Time from ``node`` in every tree (inf where not held): an array of length k."""
        d = np.full(self.k, np.inf)
        rows, dv, _ = self.base.node_slice(node)
        d[rows] = dv
        if self.delta is not None:
            rows, dv, _ = self.delta.node_slice(node)
            d[rows] = dv
        return d

    def at_node(self, node: int) -> tuple[FloatArray, Int32Array]:
        """Time and next node from ``node`` in every tree: two arrays of length k."""
        d = np.full(self.k, np.inf)
        p = np.full(self.k, NO_NODE, dtype=np.int32)
        rows, dv, pv = self.base.node_slice(node)
        d[rows], p[rows] = dv, pv
        if self.delta is not None:
            rows, dv, pv = self.delta.node_slice(node)
            d[rows], p[rows] = dv, pv
        return d, p

    def lengths(self, rows: IntArray, nodes: IntArray) -> FloatArray:
        """Road length of the tree path of each ``(row, node)`` (nan where not held)."""
        out = self._stored(rows, nodes)[2] if np.size(rows) > MANY_ENTRIES else self.base.lengths(rows, nodes)
        if self.delta is not None:
            hit, pos = self._over(rows, nodes)
            out[hit] = self.delta.length[pos[hit]]
        return out

    def dense_rows(self, rows: IntArray) -> tuple[FloatArray, Int32Array]:
        """Rows as dense ``(len(rows), n)`` arrays (reads every entry: for tests and whole recomputes)."""
        rows = np.asarray(rows, dtype=np.int64)
        d, p = self.base.dense_rows(rows)
        if self.delta is not None and rows.size:
            where = np.full(self.k, -1, dtype=np.int64)
            where[rows] = np.arange(len(rows))
            keys = self.delta.keys
            local = where[keys % self.k]
            sel = np.flatnonzero(local >= 0)
            at = (local[sel], keys[sel] // self.k)
            d[at], p[at] = self.delta.dist[sel], self.delta.pred[sel]
        return d, p

    def dense(self) -> tuple[FloatArray, Int32Array]:
        """Every tree dense, ``(k, n)`` (tests and small graphs only)."""
        return self.dense_rows(np.arange(self.k))

    def view(self) -> TreeView:
        """The trees as the repair kernels read them (``routing.kernels.TreeView``).

        The base's node index (where each node's entries start) is made at the first repair
        and kept for every set made from this one.
        """
        from routing.kernels import node_starts  # noqa: PLC0415  numba: loaded at the first repair

        base = self.base
        if not self._start:
            self._start.append(node_starts(np.asarray(base.keys), base.k, base.n))
        over = self.delta if self.delta is not None else _EMPTY
        return (
            int(base.k),
            NO_NODE,
            self._start[0],
            np.asarray(base.keys),
            np.asarray(base.dist),
            np.asarray(base.pred),
            over.keys,
            over.dist,
            over.pred,
        )

    def with_entries(
        self, keys: IntArray, dist: FloatArray, pred: Int32Array, length: FloatArray, *, prune: bool = True
    ) -> TreeSet:
        """A new set with the entries ``keys`` (``row * n + node``, unique) set to these values.

        A time above the bound is taken as not held. With ``prune`` the overlay keeps only the
        entries that differ from the base.
        """
        keys = np.asarray(keys, dtype=np.int64)
        if not keys.size:
            return self
        dist = np.asarray(dist, dtype=np.float64).copy()
        pred = np.asarray(pred, dtype=np.int32).copy()
        length = np.asarray(length, dtype=np.float64).copy()
        out = ~(dist <= self.bound)
        dist[out], pred[out], length[out] = np.inf, NO_NODE, np.nan
        mine = (keys % self.n) * self.k + keys // self.n  # node-major
        if self.delta is not None:  # the new values override the overlay's; the rest stay
            old = self.delta
            keep = ~np.isin(old.keys, mine)
            mine = np.concatenate([old.keys[keep], mine])
            dist = np.concatenate([old.dist[keep], dist])
            pred = np.concatenate([old.pred[keep], pred])
            length = np.concatenate([old.length[keep], length])
        order = np.argsort(mine, kind="stable")  # a run per tree (and the overlay's): merged, not sorted
        mine, dist, pred, length = mine[order], dist[order], pred[order], length[order]
        if prune:
            bd, bp, bl = self._stored(mine % self.k, mine // self.k)
            same = (bd == dist) & (bp == pred) & ((bl == length) | (np.isnan(bl) & np.isnan(length)))
            mine, dist, pred, length = mine[~same], dist[~same], pred[~same], length[~same]
        delta = SparseTrees(self.k, self.n, self.bound, mine, dist, pred, length)
        return TreeSet(self.base, delta, start=self._start)


_EMPTY = SparseTrees(0, 0, np.inf, np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int32), np.zeros(0))
