"""Repairing the facility trees after some pair times change, without recomputing them.

*Slower* pairs (closures, slowdowns) only hurt the nodes whose tree path uses them: the subtrees
below those pairs. Their times are recomputed by Dijkstra on just that part, seeded from the
unaffected nodes around it. *Faster* pairs (a condition reverted) only help the nodes that can
reach them: improvements are propagated outward from the pair until nothing improves.
Both give exactly the times a full Dijkstra gives (the same sums in the same order).

Many trees are repaired at once: an entry of the ``(trees, nodes)`` arrays is addressed by its
flat *key* ``row * n_nodes + node``. The subtree walk and the Dijkstra over the damaged parts
are compiled loops (``routing.kernels``, imported with numba at the first repair); each level
of a propagation is one set of array operations for all trees (not one per tree). The tree
arrays are only read here; the new entries are collected in a ``TreeChanges`` for the engine to
swap in.
"""

from __future__ import annotations

import mmap
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from routing.trees import NO_NODE

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt

    from routing.compiled import CompiledGraph, FloatArray, IntArray, PairWeights

    Int32Array = npt.NDArray[np.int32]

_Scalar = TypeVar("_Scalar", bound=np.generic)

#: Bytes of scratch per tree entry while repairing (a changed flag, a time and a next node,
#: with room to spare): what a block of trees repaired together may take up at most.
SCRATCH_BYTES_PER_ENTRY = 17
#: Upper bound on that scratch for one block of trees (it is only taken up where written).
BLOCK_SCRATCH_BYTES = 256 * 2**20
#: Threads a repair may spread its trees over (the compiled loops run without the GIL).
REPAIR_THREADS = max(1, min(4, os.cpu_count() or 1))
#: Below this many entries (region entries, or graph nodes for the walk) one thread does it:
#: starting a second would cost more than it saves.
PARALLEL_MIN_ENTRIES = 10_000

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()

_T = TypeVar("_T")


def _on_threads(fn: Callable[[IntArray], _T], chunks: list[IntArray]) -> list[_T]:
    """``fn`` on each chunk, the chunks spread over the repair threads."""
    global _pool  # noqa: PLW0603 (one pool for the process, made on first use)
    if len(chunks) == 1:
        return [fn(chunks[0])]
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(REPAIR_THREADS, thread_name_prefix="repair")
    return list(_pool.map(fn, chunks))


def _by_rows(keys: IntArray, n: int, size: int) -> list[IntArray]:
    """``keys`` (grouped by row) in up to ``REPAIR_THREADS`` chunks, cut between rows.

    The chunks are of about equal length; one chunk when ``size`` (the work they stand for)
    is small.
    """
    if REPAIR_THREADS < 2 or size < PARALLEL_MIN_ENTRIES or len(keys) < 2:
        return [keys]
    starts = np.flatnonzero(np.diff(keys // n)) + 1
    if not starts.size:
        return [keys]
    targets = np.arange(1, REPAIR_THREADS) * len(keys) / REPAIR_THREADS
    cuts = np.unique(starts[np.minimum(np.searchsorted(starts, targets), len(starts) - 1)])
    return np.split(keys, cuts)


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

    @property
    def tree_dist(self) -> FloatArray:
        """The flat time array of the trees (read only)."""
        return self._dist

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
    """
    from routing.kernels import walk_subtrees  # noqa: PLC0415  numba: loaded at the first repair

    n = c.n_nodes
    chunks = _by_rows(np.unique(roots).astype(np.int64), n, n)
    done = _on_threads(
        lambda r: walk_subtrees(c.reverse_indptr, c.reverse_indices, pred, n, r, limit), chunks
    )
    if len(done) == 1:
        return done[0]
    return np.concatenate([r for r, _ in done]), np.concatenate([x for _, x in done])


def repair_slower(
    c: CompiledGraph, w: PairWeights, dist: FloatArray, a: IntArray
) -> tuple[FloatArray, Int32Array]:
    """Recompute the region ``a`` (sorted keys, whole subtrees): new ``(times, next nodes)``.

    ``dist`` is the flat time array (read only); the times around the region are still valid.
    Each tree's part is searched from its seeds (its entries' roads out of the part), so the
    part's entries get exactly the times and next nodes a full Dijkstra would give them.
    """
    if len(a) == 0:
        return np.zeros(0, np.float64), np.zeros(0, np.int32)
    from routing.kernels import repair_region  # noqa: PLC0415  numba: loaded at the first repair

    graph = (c.forward_indptr, c.pair_v, c.reverse_indptr, c.reverse_indices, c.reverse_pair)
    a = np.asarray(a, dtype=np.int64)
    done = _on_threads(
        lambda part: repair_region(graph, w.time_s, dist, c.n_nodes, part, NO_NODE),
        _by_rows(a, c.n_nodes, len(a)),
    )
    if len(done) == 1:
        return done[0]
    return np.concatenate([d for d, _ in done]), np.concatenate([p for _, p in done])


def repair_faster(
    c: CompiledGraph,
    w: PairWeights,
    changes: TreeChanges,
    rows: IntArray,
    pairs: IntArray,
    bound: float = np.inf,
) -> None:
    """Propagate the improvements that faster ``pairs`` bring to trees ``rows`` into ``changes``
    (no farther than ``bound`` seconds from the trees' facilities)."""  # noqa: D205, D209
    n = c.n_nodes
    if not rows.size or not pairs.size:
        return
    from routing.kernels import improve_rows  # noqa: PLC0415  numba: loaded at the first repair

    graph = (c.forward_indptr, c.pair_v, c.reverse_indptr, c.reverse_indices, c.reverse_pair)
    faster = (c.pair_u[pairs], c.pair_v[pairs], w.time_s[pairs])
    prior = changes.collect()  # what the slower pairs changed in these trees, sorted by row
    rows = np.asarray(rows, dtype=np.int64)
    done = _on_threads(
        lambda part: improve_rows(graph, w.time_s, changes.tree_dist, n, part // n, faster, prior, bound),
        _by_rows(rows * n, n, len(rows) * n),
    )
    if len(done) == 1:
        changes.set(*done[0])
    else:  # one record: with no slower pairs, what collect hands back as it is
        changes.set(*(np.concatenate(parts) for parts in zip(*done, strict=True)))
