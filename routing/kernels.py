"""Compiled loops for repairing facility trees: the subtree walk and the region Dijkstra.

Both are written as plain, typed Python over NumPy arrays and compiled with numba (``nogil``,
cached on disk next to this module). A subtree walk or a heap is a loop of tiny steps, one
per tree entry: as NumPy calls their per-call overhead dominated (about 1,000 levels of a
breadth-first walk per closure on a province graph), compiled they cost what the entries cost.

Keys address an entry of the ``(trees, nodes)`` arrays as ``row * n + node``; ``pred`` holds
each entry's next node towards the tree's facility (``no_node`` where none).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np
from numba import njit

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt

    IntArray = npt.NDArray[np.int64]
    Int32Array = npt.NDArray[np.int32]
    FloatArray = npt.NDArray[np.float64]

_F = TypeVar("_F", bound="Callable[..., Any]")


def _compiled(fn: _F) -> _F:
    """Compile ``fn`` without the GIL, cached on disk (its types stay as written)."""
    return cast("_F", njit(cache=True, nogil=True)(fn))


@_compiled
def _grow(a: IntArray, used: int) -> IntArray:
    bigger = np.empty(2 * len(a), np.int64)
    bigger[:used] = a[:used]
    return bigger


@_compiled
def _row_end(keys: IntArray, i: int, n: int) -> int:
    """End of the run of ``keys`` (grouped by row) in the row of ``keys[i]``."""
    row = keys[i] // n
    j = i
    while j < len(keys) and keys[j] // n == row:
        j += 1
    return j


@_compiled
def walk_subtrees(
    indptr: IntArray,
    indices: IntArray,
    pred: Int32Array,
    n: int,
    roots: IntArray,
    limit: int,
) -> tuple[IntArray, IntArray]:
    """Entries whose tree path passes through a root entry (roots included), and rows cut off.

    ``indptr``/``indices``: the reverse CSR (for each node, the nodes with a road into it);
    ``roots``: sorted, unique keys. A row whose part grows past ``limit`` entries is left out
    of the region and returned as cut off. The region comes row by row (rows ascending), each
    row's entries sorted. In a tree every node has one parent, so a depth-first walk reaches
    each entry once; a root lying below another root is left to its own walk.
    """
    n_roots = len(roots)
    out = np.empty(max(1024, 64 * n_roots), np.int64)
    cut = np.empty(n_roots, np.int64)
    stack = np.empty(1024, np.int64)
    n_cut = 0
    used = 0
    i = 0
    while i < n_roots:
        row = roots[i] // n
        j = _row_end(roots, i, n)
        base = row * n
        row_roots = roots[i:j]
        start = used
        over = False
        for r in range(i, j):
            stack[0] = roots[r] - base
            sp = 1
            while sp > 0:
                sp -= 1
                v = stack[sp]
                if used - start >= limit:
                    over = True
                    break
                if used == len(out):
                    out = _grow(out, used)
                out[used] = base + v
                used += 1
                for e in range(indptr[v], indptr[v + 1]):
                    u = indices[e]
                    if pred[base + u] != v:
                        continue
                    if j - i > 1:  # several roots in this tree: one may lie below another
                        p = np.searchsorted(row_roots, base + u)
                        if p < j - i and row_roots[p] == base + u:
                            continue
                    if sp == len(stack):
                        stack = _grow(stack, sp)
                    stack[sp] = u
                    sp += 1
            if over:
                break
        if over:
            used = start
            cut[n_cut] = row
            n_cut += 1
        else:
            out[start:used].sort()
        i = j
    return out[:used].copy(), cut[:n_cut].copy()


@_compiled
def _sift_up(heap_d: FloatArray, heap_i: Int32Array, pos: Int32Array, k: int, d: float, i: int) -> None:
    """Put item ``i`` with key ``d`` at slot ``k`` of the 4-ary min-heap and move it up."""
    while k > 0:
        parent = (k - 1) >> 2
        if heap_d[parent] <= d:
            break
        heap_d[k] = heap_d[parent]
        heap_i[k] = heap_i[parent]
        pos[heap_i[k]] = k
        k = parent
    heap_d[k] = d
    heap_i[k] = i
    pos[i] = k


@_compiled
def _pop(heap_d: FloatArray, heap_i: Int32Array, pos: Int32Array, size: int) -> int:
    """Remove the top of the heap of ``size`` items (read it first); returns the new size."""
    pos[heap_i[0]] = -2  # settled
    size -= 1
    if size == 0:
        return 0
    d, i = heap_d[size], heap_i[size]
    k = 0
    while True:
        first = 4 * k + 1
        if first >= size:
            break
        best, best_d = first, heap_d[first]
        for c in range(first + 1, min(first + 4, size)):
            if heap_d[c] < best_d:
                best, best_d = c, heap_d[c]
        if best_d >= d:
            break
        heap_d[k] = best_d
        heap_i[k] = heap_i[best]
        pos[heap_i[k]] = k
        k = best
    heap_d[k] = d
    heap_i[k] = i
    pos[i] = k
    return size


#: The compiled graph's arrays a repair reads: forward CSR (``forward_indptr``, ``pair_v``:
#: each node's roads out, heads ascending) and reverse CSR (``reverse_indptr``,
#: ``reverse_indices``, ``reverse_pair``: each node's roads in).
Csr = tuple["IntArray", "IntArray", "IntArray", "IntArray", "IntArray"]


@_compiled
def _search_part(
    g: Csr,
    time_s: FloatArray,
    dist: FloatArray,
    part: IntArray,
    local: Int32Array,
    out: tuple[FloatArray, Int32Array],
) -> None:
    """Dijkstra over one tree's part (keys ``part``; ``local``: node -> index in the part).

    An indexed 4-ary heap: an entry found faster moves up in place (no stale items).
    """
    forward_indptr, pair_v, reverse_indptr, reverse_indices, reverse_pair = g
    d_new, p_new = out
    m = len(part)
    base = part[0] - part[0] % len(local)
    heap_d = np.empty(m, np.float64)
    heap_i = np.empty(m, np.int32)
    pos = np.full(m, -1, np.int32)  # slot in the heap; -1 never queued, -2 settled
    size = 0
    for x in range(m):  # seeds: each entry's fastest road out of the part
        v = part[x] - base
        best, head = np.inf, -1
        for p in range(forward_indptr[v], forward_indptr[v + 1]):
            h = pair_v[p]
            if local[h] < 0:
                t = time_s[p] + dist[base + h]
                if t < best:
                    best, head = t, h
        if best < np.inf:
            d_new[x] = best
            p_new[x] = head
            _sift_up(heap_d, heap_i, pos, size, best, x)
            size += 1
    while size > 0:
        d, x = heap_d[0], heap_i[0]
        size = _pop(heap_d, heap_i, pos, size)
        v = part[x] - base
        for e in range(reverse_indptr[v], reverse_indptr[v + 1]):
            y = local[reverse_indices[e]]
            if y >= 0:
                t = time_s[reverse_pair[e]] + d
                if t < d_new[y]:
                    d_new[y] = t
                    p_new[y] = v
                    if pos[y] >= 0:
                        _sift_up(heap_d, heap_i, pos, pos[y], t, y)
                    else:
                        _sift_up(heap_d, heap_i, pos, size, t, y)
                        size += 1


@_compiled
def repair_region(
    g: Csr, time_s: FloatArray, dist: FloatArray, n: int, region: IntArray, no_node: int
) -> tuple[FloatArray, Int32Array]:
    """New times and next nodes of the region's entries (keys grouped by row), by Dijkstra.

    ``dist`` is the flat time array, valid outside the region. Each row's part is searched on
    its own: an entry's first tentative time is its fastest road out of the part to an entry
    outside it (ties to the lowest next node), then times spread inside the part along the
    roads into its entries. Times are the same sums a full Dijkstra makes (a road's time plus
    the next node's time), so they are equal bit for bit.
    """
    k = len(region)
    d_new = np.full(k, np.inf)
    p_new = np.full(k, no_node, np.int32)
    local = np.full(n, -1, np.int32)
    lo = 0
    while lo < k:
        row = region[lo] // n
        hi = _row_end(region, lo, n)
        for x in range(lo, hi):
            local[region[x] - row * n] = x - lo
        _search_part(g, time_s, dist, region[lo:hi], local, (d_new[lo:hi], p_new[lo:hi]))
        for x in range(lo, hi):
            local[region[x] - row * n] = -1
        lo = hi
    return d_new, p_new


@_compiled
def _double(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    return np.concatenate((a, np.empty_like(a)))


#: A tree's scratch while improving it: current times, next nodes, state (0 the tree's
#: value, 1 changed before, 2 improved here), heap slots (set once improved), the heap, and
#: the entries touched.
Work = tuple[
    "FloatArray", "Int32Array", "npt.NDArray[np.int8]", "Int32Array", "FloatArray", "Int32Array", "Int32Array"
]


@_compiled
def _relax(  # noqa: PLR0913  a compiled helper: its state passed in
    work: Work,
    dist: FloatArray,
    base: int,
    x: int,
    y: int,
    t: float,
    size: int,
    n_touched: int,
    bound: float,
) -> tuple[int, int]:
    """Take time ``t`` via next node ``y`` for node ``x`` if it beats its current time (within the bound)."""
    d_row, p_row, state, pos, heap_d, heap_i, touched = work
    if t > bound or t >= (d_row[x] if state[x] else dist[base + x]):
        return size, n_touched
    if state[x] == 0:
        touched[n_touched] = x
        n_touched += 1
    if state[x] == 2 and pos[x] >= 0:  # in the heap already (pos is only set for state 2)
        _sift_up(heap_d, heap_i, pos, pos[x], t, x)
    else:
        _sift_up(heap_d, heap_i, pos, size, t, x)
        size += 1
    d_row[x], p_row[x], state[x] = t, y, 2
    return size, n_touched


@_compiled
def improve_rows(
    g: Csr,
    time_s: FloatArray,
    dist: FloatArray,
    n: int,
    rows: IntArray,
    faster: tuple[IntArray, IntArray, FloatArray],
    prior: tuple[IntArray, FloatArray, Int32Array],
    bound: float,
) -> tuple[IntArray, FloatArray, Int32Array]:
    """The entries of trees ``rows`` that faster roads improve: ``(keys, times, next nodes)``.

    ``faster``: the faster pairs' tails, heads and new times (``time_s`` holds the new times of
    every pair). ``prior``: entries already changed in these trees (keys sorted by row, times,
    next nodes), the current values there; ``dist`` elsewhere. In each tree the improvements
    start at the faster pairs and spread, in Dijkstra order, along the roads into improved
    entries; each improved entry is settled once, with the same sums a full Dijkstra makes.
    Times above ``bound`` are not taken (trees bounded by reach: the search stops there).
    """
    _, _, reverse_indptr, reverse_indices, reverse_pair = g
    tails, heads, new_t = faster
    prior_keys, prior_d, prior_p = prior
    work = (
        np.empty(n, np.float64),
        np.empty(n, np.int32),
        np.zeros(n, np.int8),
        np.empty(n, np.int32),  # read only where state is 2
        np.empty(n, np.float64),
        np.empty(n, np.int32),
        np.empty(n, np.int32),
    )
    _, _, state, pos, heap_d, heap_i, touched = work
    d_row, p_row = work[0], work[1]
    out_k = np.empty(1024, np.int64)
    out_d = np.empty(1024, np.float64)
    out_p = np.empty(1024, np.int32)
    used = 0
    j = 0
    for r in rows:
        base = r * n
        n_touched = 0
        while j < len(prior_keys) and prior_keys[j] < base:
            j += 1
        while j < len(prior_keys) and prior_keys[j] < base + n:
            v = prior_keys[j] - base
            d_row[v], p_row[v], state[v] = prior_d[j], prior_p[j], 1
            touched[n_touched] = v
            n_touched += 1
            j += 1
        size = 0
        for k in range(len(tails)):
            y = heads[k]
            t = new_t[k] + (d_row[y] if state[y] else dist[base + y])
            size, n_touched = _relax(work, dist, base, tails[k], y, t, size, n_touched, bound)
        while size > 0:
            d, y = heap_d[0], heap_i[0]
            size = _pop(heap_d, heap_i, pos, size)
            for e in range(reverse_indptr[y], reverse_indptr[y + 1]):
                t = time_s[reverse_pair[e]] + d
                size, n_touched = _relax(work, dist, base, reverse_indices[e], y, t, size, n_touched, bound)
        for i in range(n_touched):
            v = touched[i]
            if state[v] == 2:
                if used == len(out_k):
                    out_k, out_d, out_p = _double(out_k), _double(out_d), _double(out_p)
                out_k[used], out_d[used], out_p[used] = base + v, d_row[v], p_row[v]
                used += 1
            state[v] = 0
    return out_k[:used].copy(), out_d[:used].copy(), out_p[:used].copy()


def warm_up() -> None:
    """Compile (or load from the disk cache) the kernels now, on a two-node graph.

    The first compile takes seconds; done when an engine is built, so that the first road
    closure a dispatcher puts in does not pay for it.
    """
    one_way = np.array([0, 1, 1], np.int64)  # node 0 -> node 1, one road
    heads = np.array([1], np.int64)
    graph = (one_way, heads, np.array([0, 0, 1], np.int64), np.array([0], np.int64), np.array([0], np.int64))
    pred = np.array([1, -1], np.int32)
    region, _ = walk_subtrees(graph[2], graph[3], pred, 2, np.array([0], np.int64), 2)
    time_s, dist = np.array([1.0]), np.array([1.0, 0.0])
    d, p = repair_region(graph, time_s, dist, 2, region, -1)
    faster = (np.array([0], np.int64), np.array([1], np.int64), time_s)
    improve_rows(graph, time_s, dist, 2, np.array([0], np.int64), faster, (region, d, p), np.inf)
