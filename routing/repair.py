"""Repairing the facility trees after some pair times change, without recomputing them.

*Slower* pairs (closures, slowdowns) only hurt the nodes whose tree path uses them: the subtrees
below those pairs. Their times are recomputed by Dijkstra on just that part, seeded from the
unaffected nodes around it. *Faster* pairs (a condition reverted) only help the nodes that can
reach them: improvements are propagated outward from the pair until nothing improves.
Both give exactly the times a full Dijkstra gives (the same sums in the same order).

Many trees are repaired at once: an entry of the trees is addressed by its *key*
``row * n_nodes + node``. The subtree walk and the Dijkstra over the damaged parts are compiled
loops (``routing.kernels``, imported with numba at the first repair) that read the trees where
they are stored, sparse (a ``TreeView``: each entry found by binary search), so a repair costs
what the entries it touches cost, never the size of the trees. The trees are only read here;
the new entries are collected in a ``TreeChanges`` for the engine to swap in.
"""

from __future__ import annotations

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
    from routing.kernels import TreeView

    Int32Array = npt.NDArray[np.int32]

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


class TreeChanges:
    """New times and next nodes for some entries of the trees, the trees left untouched.

    Keys are ``row * n_nodes + node``; a later change of an entry overrides an earlier one.
    """

    def __init__(self) -> None:
        self._records: list[tuple[IntArray, FloatArray, Int32Array]] = []

    def set(self, keys: IntArray, dist: FloatArray, pred: Int32Array) -> None:
        """Record new values (``keys`` unique)."""
        if keys.size:
            self._records.append((keys, dist, pred))

    def collect(self) -> tuple[IntArray, FloatArray, Int32Array]:
        """The changed entries: ``(keys sorted, times, next nodes)``, each key's last value."""
        if not self._records:
            return np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.int32)
        if len(self._records) == 1:
            keys, dist, pred = self._records[0]
            order = np.argsort(keys, kind="stable")
            return keys[order], dist[order], pred[order]
        keys = np.concatenate([k for k, _, _ in self._records])[::-1]  # the last value first
        dist = np.concatenate([d for _, d, _ in self._records])[::-1]
        pred = np.concatenate([p for _, _, p in self._records])[::-1]
        keys, first = np.unique(keys, return_index=True)
        return keys, dist[first], pred[first]


def subtrees(c: CompiledGraph, view: TreeView, roots: IntArray, limit: int) -> tuple[IntArray, IntArray]:
    """Entries whose tree path passes through any root entry (roots included, sorted), and rows cut off.

    ``view``: the trees; ``roots`` are keys. A row whose part grows past
    ``limit`` entries is dropped from the walk and returned as cut off (to be recomputed whole).
    """
    from routing.kernels import walk_subtrees  # noqa: PLC0415  numba: loaded at the first repair

    n = c.n_nodes
    chunks = _by_rows(np.unique(roots).astype(np.int64), n, n)
    done = _on_threads(
        lambda r: walk_subtrees(c.reverse_indptr, c.reverse_indices, view, n, r, limit), chunks
    )
    if len(done) == 1:
        return done[0]
    return np.concatenate([r for r, _ in done]), np.concatenate([x for _, x in done])


def repair_slower(
    c: CompiledGraph, w: PairWeights, view: TreeView, a: IntArray
) -> tuple[FloatArray, Int32Array]:
    """Recompute the region ``a`` (sorted keys, whole subtrees): new ``(times, next nodes)``.

    ``view``: the trees (read only); the times around the region are still valid.
    Each tree's part is searched from its seeds (its entries' roads out of the part), so the
    part's entries get exactly the times and next nodes a full Dijkstra would give them.
    """
    if len(a) == 0:
        return np.zeros(0, np.float64), np.zeros(0, np.int32)
    from routing.kernels import repair_region  # noqa: PLC0415  numba: loaded at the first repair

    graph = (c.forward_indptr, c.pair_v, c.reverse_indptr, c.reverse_indices, c.reverse_pair)
    a = np.asarray(a, dtype=np.int64)
    done = _on_threads(
        lambda part: repair_region(graph, w.time_s, view, c.n_nodes, part, NO_NODE),
        _by_rows(a, c.n_nodes, len(a)),
    )
    if len(done) == 1:
        return done[0]
    return np.concatenate([d for d, _ in done]), np.concatenate([p for _, p in done])


def repair_faster(
    c: CompiledGraph,
    w: PairWeights,
    changes: TreeChanges,
    view: TreeView,
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
        lambda part: improve_rows(graph, w.time_s, view, n, part // n, faster, prior, bound),
        _by_rows(rows * n, n, len(rows) * n),
    )
    if len(done) == 1:
        changes.set(*done[0])
    else:  # one record: with no slower pairs, what collect hands back as it is
        changes.set(*(np.concatenate(parts) for parts in zip(*done, strict=True)))
