"""Repairing the facility trees after some pair times change, without recomputing them.

*Slower* pairs (closures, slowdowns) only hurt the nodes whose tree path uses them: the subtrees
below those pairs. Their times are recomputed by Dijkstra on just that part, seeded from the
unaffected nodes around it. *Faster* pairs (a condition reverted) only help the nodes that can
reach them: improvements are propagated outward from the pair until nothing improves.
Both give exactly the times a full Dijkstra gives (the same sums in the same order).

Many trees are repaired at once: an entry of the ``(trees, nodes)`` arrays is addressed by its
flat *key* ``row * n_nodes + node``, so each level of a subtree walk or of a propagation is one
set of array operations for all trees (not one per tree), and the damaged parts of all trees
are recomputed by one Dijkstra on their disjoint union. The tree arrays are only read here; the
new entries are collected in a ``TreeChanges`` for the engine to swap in.
"""

from __future__ import annotations

import mmap
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from routing.compiled import concat_ranges
from routing.trees import NO_NODE

if TYPE_CHECKING:
    import numpy.typing as npt

    from routing.compiled import CompiledGraph, FloatArray, IntArray, PairWeights

    Int32Array = npt.NDArray[np.int32]

_Scalar = TypeVar("_Scalar", bound=np.generic)

#: Bytes of scratch per tree entry while repairing (a region index, a changed flag, a time and
#: a next node): what a block of trees repaired together may take up at most.
SCRATCH_BYTES_PER_ENTRY = 17
#: Upper bound on that scratch for one block of trees (it is only taken up where written).
BLOCK_SCRATCH_BYTES = 256 * 2**20


#: Tree parts of the region smaller than this are searched together (per-call overhead).
DIJKSTRA_GROUP_NODES = 16_384


def rows_per_block(n_nodes: int) -> int:
    """How many trees to repair together within the scratch bound."""
    return max(1, BLOCK_SCRATCH_BYTES // (SCRATCH_BYTES_PER_ENTRY * max(1, n_nodes)))


def lazy_zeros(size: int, dtype: type[_Scalar]) -> npt.NDArray[_Scalar]:
    """A zero-filled array whose memory is only taken up by the pages written or read.

    A private anonymous mapping (no huge pages): sized for every entry of a block of trees, it
    costs in proportion to the entries a repair touches, with no clearing before or after.
    """
    flags = getattr(mmap, "MAP_PRIVATE", None)
    if flags is None:  # not a POSIX system: an ordinary array (large zeros are lazy there too)
        return np.zeros(size, dtype=dtype)
    buf = mmap.mmap(-1, max(1, size * np.dtype(dtype).itemsize), flags=flags)
    if hasattr(mmap, "MADV_NOHUGEPAGE"):
        buf.madvise(mmap.MADV_NOHUGEPAGE)  # a 2 MB page per scattered write would defeat it
    out: npt.NDArray[_Scalar] = np.frombuffer(buf, dtype=dtype, count=size)
    return out


def _first_in_group(sorted_keys: IntArray) -> npt.NDArray[np.bool_]:
    """Mask of the first element of each run of equal keys (empty in, empty out)."""
    mask = np.ones(len(sorted_keys), dtype=bool)
    mask[1:] = sorted_keys[1:] != sorted_keys[:-1]
    return mask


class TreeChanges:
    """New times and next nodes for some entries of the trees, the tree arrays left untouched.

    ``dist`` and ``pred`` are the flat (``row * n_nodes + node``) views of the tree arrays; keys
    passed in lie in rows ``[first_row, stop_row)``. A later change of an entry overrides an
    earlier one.
    """

    def __init__(
        self, dist: FloatArray, pred: Int32Array, n_nodes: int, first_row: int, stop_row: int
    ) -> None:
        self._dist = dist
        self._pred = pred
        self._offset = first_row * n_nodes
        self._size = (stop_row - first_row) * n_nodes
        self._records: list[tuple[IntArray, FloatArray, Int32Array]] = []
        self._applied = 0  # records copied into the scratch arrays below (made on first read)
        self._scratch: tuple[npt.NDArray[np.bool_], FloatArray, Int32Array] | None = None

    def set(self, keys: IntArray, dist: FloatArray, pred: Int32Array) -> None:
        """Record new values (``keys`` unique)."""
        if keys.size:
            self._records.append((keys, dist, pred))

    def _sync(self) -> tuple[npt.NDArray[np.bool_], FloatArray, Int32Array]:
        if self._scratch is None:
            self._scratch = (
                lazy_zeros(self._size, np.bool_),
                lazy_zeros(self._size, np.float64),
                lazy_zeros(self._size, np.int32),
            )
        changed, new_dist, new_pred = self._scratch
        for keys, dist, pred in self._records[self._applied :]:
            i = keys - self._offset
            changed[i] = True
            new_dist[i] = dist
            new_pred[i] = pred
        self._applied = len(self._records)
        return self._scratch

    def dist(self, keys: IntArray) -> FloatArray:
        """Current time of each entry: the new one if changed, else the tree's."""
        out = self._dist[keys]
        if self._records:
            changed, new_dist, _ = self._sync()
            i = keys - self._offset
            hit = changed[i]
            out[hit] = new_dist[i[hit]]
        return out

    def collect(self) -> tuple[IntArray, FloatArray, Int32Array]:
        """The changed entries: ``(keys, times, next nodes)``, keys sorted unless one record."""
        if not self._records:
            return np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.int32)
        if len(self._records) == 1:
            return self._records[0]
        changed, new_dist, new_pred = self._sync()
        written = sum(len(k) for k, _, _ in self._records)
        if written * 64 > self._size:  # many: scan the flags (untouched pages read as zeros, cheaply)
            i = np.flatnonzero(changed)
        else:
            i = np.unique(np.concatenate([k for k, _, _ in self._records])) - self._offset
        return i + self._offset, new_dist[i], new_pred[i]


def subtrees(c: CompiledGraph, pred: Int32Array, roots: IntArray, limit: int) -> tuple[IntArray, IntArray]:
    """Entries whose tree path passes through any root entry (roots included, sorted), and rows cut off.

    ``pred`` is the flat next-node array; ``roots`` are keys. A row whose part grows past
    ``limit`` entries is dropped from the walk and returned as cut off (to be recomputed whole).
    In a tree every node has one parent, so the walk reaches each entry once; only a root lying
    below another root (several closed pairs in one tree) could be reached twice, and is skipped.
    """
    n = c.n_nodes
    frontier = np.unique(roots)
    nested = len(frontier) > len(np.unique(frontier // n))
    n_rows = int(frontier.max()) // n + 1 if frontier.size else 0
    size = np.bincount(frontier // n, minlength=n_rows)
    parts = [frontier]
    counted, pending = 1, 0  # parts counted in size, entries walked since (counted now and then)
    degree = np.diff(c.reverse_indptr)
    while frontier.size:
        nodes = frontier % n
        counts = degree[nodes]
        idx = concat_ranges(c.reverse_indptr[nodes], counts)
        cand = np.repeat(frontier - nodes, counts) + c.reverse_indices[idx]
        frontier = cand[pred[cand] == np.repeat(nodes, counts)]
        if nested:
            frontier = frontier[~np.isin(frontier, roots)]
        parts.append(frontier)
        pending += len(frontier)
        if not frontier.size or pending > limit // 8:
            size += np.bincount(np.concatenate(parts[counted:]) // n, minlength=n_rows)
            counted, pending = len(parts), 0
            if np.any(size > limit):
                frontier = frontier[size[frontier // n] <= limit]
    region = np.sort(np.concatenate(parts))  # tree by tree, node by node: memory order
    cut = size > limit
    if cut.any():
        region = region[~cut[region // n]]
    return region, np.flatnonzero(cut)


def repair_slower(
    c: CompiledGraph, w: PairWeights, dist: FloatArray, a: IntArray
) -> tuple[FloatArray, Int32Array]:
    """Recompute the region ``a`` (sorted keys, whole subtrees): new ``(times, next nodes)``.

    ``dist`` is the flat time array (read only); the times around the region are still valid.
    """
    n = c.n_nodes
    k = len(a)
    if k == 0:
        return np.zeros(0, np.float64), np.zeros(0, np.int32)
    nodes = a % n
    base = a - nodes
    offset = int(a.min()) // n * n
    # region index + 1 of each entry (0: outside), over the rows the region spans
    span = int(a.max()) // n * n + n - offset
    local: npt.NDArray[np.signedinteger[Any]] = (
        lazy_zeros(span, np.int32) if k < 2**31 - 1 else lazy_zeros(span, np.int64)
    )
    local[a - offset] = np.arange(1, k + 1)
    # seeds: leave the region by one road to an entry whose time is still valid; per entry the
    # fastest, ties to the lowest node (the forward CSR lists each node's heads in order)
    starts = c.forward_indptr[nodes]
    counts = c.forward_indptr[nodes + 1] - starts
    pairs = concat_ranges(starts, counts)
    head_keys = np.repeat(base, counts) + c.pair_v[pairs]
    leaves = local[head_keys - offset] == 0
    owner = np.repeat(np.arange(k), counts)[leaves]  # sorted, and by head within an owner
    pairs, head_keys = pairs[leaves], head_keys[leaves]
    cand = w.time_s[pairs] + dist[head_keys]
    finite = np.isfinite(cand)
    owner, pairs, cand = owner[finite], pairs[finite], cand[finite]
    group = np.flatnonzero(_first_in_group(owner))
    seed_owner = owner[group]
    seed_time, seed_head = np.zeros(0), np.zeros(0, dtype=np.int64)
    if cand.size:
        seed_time = np.minimum.reduceat(cand, group)
        fastest = cand == np.repeat(seed_time, np.diff(np.append(group, len(cand))))
        first = np.minimum.reduceat(np.where(fastest, np.arange(len(cand)), len(cand)), group)
        seed_head = c.pair_v[pairs[first]]
    # inside the region, in the reverse direction (from the facility outward): CSR rows in
    # region order
    rstarts = c.reverse_indptr[nodes]
    rcounts = c.reverse_indptr[nodes + 1] - rstarts
    ridx = concat_ranges(rstarts, rcounts)
    dst = local[np.repeat(base, rcounts) + c.reverse_indices[ridx] - offset] - 1
    wt = w.time_s[c.reverse_pair[ridx]]
    keep = (dst >= 0) & np.isfinite(wt)
    kept_before = np.concatenate([[0], np.cumsum(keep)])
    indptr = kept_before[np.concatenate([[0], np.cumsum(rcounts)])]
    d_new, p_loc = _dijkstra_by_tree(a // n, indptr, dst[keep], wt[keep], seed_owner, seed_time)
    via_seed = np.full(k, NO_NODE, dtype=np.int64)
    via_seed[seed_owner] = seed_head
    inside = nodes[np.clip(p_loc, 0, k - 1)]  # clipped: only used where 0 <= p_loc < k
    p_new = np.where(p_loc == k, via_seed, np.where(p_loc >= 0, inside, NO_NODE))
    p_new = np.where(np.isfinite(d_new), p_new, NO_NODE).astype(np.int32)
    return d_new, p_new


def _dijkstra_by_tree(
    row: IntArray,
    indptr: IntArray,
    indices: IntArray,
    data: FloatArray,
    seed_owner: IntArray,
    seed_time: FloatArray,
) -> tuple[FloatArray, IntArray]:
    """Dijkstra over the region (CSR over region indices, ``row`` sorted), from its seeds.

    Each tree's part is solved on its own (the parts are disjoint; a heap per tree is smaller
    and faster than one for all; small parts are grouped), from a super source whose roads are
    the part's seeds.
    Returns times and predecessors in region indices, ``len(row)`` meaning "via its seed".
    """
    k = len(row)
    d_new = np.empty(k)
    p_loc = np.empty(k, dtype=np.int64)
    bounds = np.concatenate([[0], np.flatnonzero(row[1:] != row[:-1]) + 1, [k]])
    # small parts together (a call each would cost more than their searches)
    keep = np.concatenate([[True], np.diff(bounds // DIJKSTRA_GROUP_NODES) > 0])
    keep[-1] = True
    bounds = bounds[keep]
    seed_bounds = np.searchsorted(seed_owner, bounds)
    for lo, hi, s0, s1 in zip(bounds[:-1], bounds[1:], seed_bounds[:-1], seed_bounds[1:], strict=True):
        m = int(hi - lo)
        e0, e1 = indptr[lo], indptr[hi]
        sub = csr_matrix(  # int32 indices: what scipy would convert them to
            (
                np.concatenate([data[e0:e1], seed_time[s0:s1]]),
                np.concatenate([indices[e0:e1] - lo, seed_owner[s0:s1] - lo], dtype=np.int32),
                np.concatenate([indptr[lo : hi + 1] - e0, [e1 - e0 + s1 - s0]], dtype=np.int32),
            ),
            shape=(m + 1, m + 1),
        )
        d, p = dijkstra(sub, directed=True, indices=m, return_predecessors=True)
        d_new[lo:hi] = d[:m]
        p_loc[lo:hi] = np.where(p[:m] == m, k, np.where(p[:m] >= 0, p[:m] + lo, p[:m]))
    return d_new, p_loc


def repair_faster(
    c: CompiledGraph, w: PairWeights, changes: TreeChanges, rows: IntArray, pairs: IntArray
) -> None:
    """Propagate the improvements that faster ``pairs`` bring to trees ``rows`` into ``changes``."""
    n = c.n_nodes
    x, y = c.pair_u[pairs], c.pair_v[pairs]
    row_base = (rows.astype(np.int64) * n)[:, None]
    xk, yk = (row_base + x).ravel(), (row_base + y).ravel()
    froms = np.tile(y, len(rows))
    cand = np.tile(w.time_s[pairs], len(rows)) + changes.dist(yk)
    better = cand < changes.dist(xk)
    keys, froms, times = xk[better], froms[better], cand[better]
    while keys.size:
        order = np.lexsort((froms, times, keys))
        keys, froms, times = keys[order], froms[order], times[order]
        first = _first_in_group(keys)
        # each candidate beat its entry's time when made (nothing has changed since)
        keys, froms, times = keys[first], froms[first], times[first]
        changes.set(keys, times, froms.astype(np.int32))
        # relax the roads into the improved entries
        nodes = keys % n
        starts = c.reverse_indptr[nodes]
        counts = c.reverse_indptr[nodes + 1] - starts
        idx = concat_ranges(starts, counts)
        t = np.repeat(times, counts) + w.time_s[c.reverse_pair[idx]]
        into = np.repeat(keys - nodes, counts) + c.reverse_indices[idx]
        ok = t < changes.dist(into)
        keys, froms, times = into[ok], np.repeat(nodes, counts)[ok], t[ok]
