"""Compiled loops for repairing facility trees: the subtree walk and the region Dijkstra.

Both are written as plain, typed Python over NumPy arrays and compiled with numba (``nogil``,
cached on disk next to this module). A subtree walk or a heap is a loop of tiny steps, one
per tree entry: as NumPy calls their per-call overhead dominated (about 1,000 levels of a
breadth-first walk per closure on a province graph), compiled they cost what the entries cost.

Keys address an entry of the trees as ``row * n + node``. The trees are read where they are
stored, sparse (``routing.sparse_trees``): a ``TreeView`` is the stored entries (node-major keys
``node * k + row``, with an index of where each node's entries start) and an overlay of entries
changed by road conditions; ``entry_at`` finds one entry by binary search (the overlay first).
Nothing dense of size ``trees x nodes`` is ever made.
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


#: What a repair reads of the trees: ``(k, no_node, start, keys, dist, pred, over_keys,
#: over_dist, over_pred)``. ``keys`` (sorted, ``node * k + row``) with their times and next nodes
#: are the stored entries, ``start[v]`` the first of node ``v``'s (length n + 1); the ``over_*``
#: arrays (sorted keys likewise) override them (a time of inf: the entry is not held).
TreeView = tuple[
    int, int, "IntArray", "IntArray", "FloatArray", "Int32Array", "IntArray", "FloatArray", "Int32Array"
]


@_compiled
def _lower_bound(keys: IntArray, lo: int, hi: int, q: int) -> int:
    """The first index in ``[lo, hi)`` whose key is at least ``q`` (``hi`` if none)."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if keys[mid] < q:
            lo = mid + 1
        else:
            hi = mid
    return lo


@_compiled
def _locate(keys: IntArray, lo: int, hi: int, q: int) -> int:
    """Index of ``q`` in the sorted ``keys[lo:hi]``, or -1."""
    i = _lower_bound(keys, lo, hi, q)
    if i < hi and keys[i] == q:
        return i
    return -1


@_compiled
def node_starts(keys: IntArray, k: int, n: int) -> IntArray:
    """Where each node's entries start in ``keys`` (sorted ``node * k + row``; length n + 1).

    A node has at most ``k`` entries, so each start is searched within ``k`` of the last.
    """
    start = np.empty(n + 1, np.int64)
    pos = 0
    for v in range(n):
        start[v] = pos
        pos = _lower_bound(keys, pos, min(pos + k, len(keys)), (v + 1) * k)
    start[n] = len(keys)
    return start


@_compiled
def find_entry(start: IntArray, keys: IntArray, k: int, row: int, node: int) -> int:
    """Index of tree ``row``'s entry at ``node`` in ``keys``, or -1.

    A node's entries are its trees in row order, most of them there when a reach is wide: the
    search starts where row ``row`` would be if the node's entries were spread evenly, and
    gallops out from there (a few probes in one or two cache lines, not a whole binary search).
    """
    if node < 0 or node + 1 >= len(start):  # not a node (no next node: NO_NODE)
        return -1
    lo, hi = int(start[node]), int(start[node + 1])
    if lo >= hi:
        return -1
    q = node * k + row
    g = lo + (row * (hi - lo)) // k
    kg = keys[g]
    if kg == q:
        return g
    step = 1
    if kg < q:  # every key before a is below q
        a = g + 1
        b = a
        while b < hi and keys[b] < q:
            a = b + 1
            b = a + step
            step *= 2
        return _locate(keys, a, min(b + 1, hi), q)
    b = g  # every key from b on is above q
    a = b - 1
    while a >= lo and keys[a] > q:
        b = a
        a = b - step
        step *= 2
    return _locate(keys, max(a, lo), b, q)


@_compiled
def entry_at(view: TreeView, row: int, node: int) -> tuple[float, int]:
    """Time and next node of tree ``row`` at ``node``: ``(inf, no_node)`` where not held."""
    k, no_node, start, keys, dist, pred, over_keys, over_dist, over_pred = view
    if len(over_keys):
        i = _locate(over_keys, 0, len(over_keys), node * k + row)
        if i >= 0:
            return over_dist[i], int(over_pred[i])
    i = find_entry(start, keys, k, row, node)
    if i >= 0:
        return dist[i], int(pred[i])
    return np.inf, no_node


@_compiled
def entries_at(
    view: TreeView, length: FloatArray, rows: IntArray, nodes: IntArray
) -> tuple[FloatArray, Int32Array, FloatArray]:
    """Times, next nodes and path lengths (``length``: the stored entries') of the stored
    entries ``(rows, nodes)``, the overlay left aside: ``(inf, no_node, nan)`` where not held."""  # noqa: D205, D209
    k, no_node, start, keys, dist, pred = view[0], view[1], view[2], view[3], view[4], view[5]
    m = len(rows)
    d = np.full(m, np.inf)
    p = np.full(m, no_node, np.int32)
    ln = np.full(m, np.nan)
    for j in range(m):
        i = find_entry(start, keys, k, rows[j], nodes[j])
        if i >= 0:
            d[j], p[j], ln[j] = dist[i], pred[i], length[i]
    return d, p, ln


@_compiled
def entry_parents(keys: IntArray, pred: Int32Array, n: int) -> IntArray:
    """For entries ``keys`` (sorted ``row * n + node``) with next nodes ``pred``: the index of
    each one's next node's entry among them, -1 where it is not among them."""  # noqa: D205, D209
    m = len(keys)
    parent = np.full(m, -1, np.int64)
    local = np.full(n, -1, np.int64)
    lo = 0
    while lo < m:
        row = keys[lo] // n
        hi = _row_end(keys, lo, n)
        for i in range(lo, hi):
            local[keys[i] - row * n] = i
        for i in range(lo, hi):
            if pred[i] >= 0:
                parent[i] = local[pred[i]]
        for i in range(lo, hi):
            local[keys[i] - row * n] = -1
        lo = hi
    return parent


@_compiled
def tree_path(view: TreeView, row: int, node: int, target: int, max_steps: int) -> IntArray:
    """Nodes of tree ``row``'s path from ``node`` to ``target`` (its facility node), following
    next nodes; it ends early at a node with none (not reachable: ``no_node`` last)."""  # noqa: D205, D209
    out = np.empty(64, np.int64)
    out[0] = node
    m = 1
    while node not in (target, view[1]) and m <= max_steps:
        node = entry_at(view, row, node)[1]
        if m == len(out):
            out = _grow(out, m)
        out[m] = node
        m += 1
    return out[:m].copy()


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
    view: TreeView,
    n: int,
    roots: IntArray,
    limit: int,
) -> tuple[IntArray, IntArray]:
    """Entries whose tree path passes through a root entry (roots included), and rows cut off.

    ``indptr``/``indices``: the reverse CSR (for each node, the nodes with a road into it);
    ``view``: the trees; ``roots``: sorted, unique keys. A row whose part grows past ``limit``
    entries is left out of the region and returned as cut off. The region comes sorted (row by
    row, each row's entries ascending). In a tree every node has one parent, so the walk reaches
    each entry once; a root lying below another root is left to its own walk.

    The walk goes level by level for all trees at once, each level in node order: the entries
    of a node's roads in are looked up for every tree walking through it one after the other,
    where they lie together in the stored arrays (node-major), not one tree at a time across
    the whole of them.
    """
    k = view[0]
    n_roots = len(roots)
    out = np.empty(max(1024, 2 * n_roots), np.int64)
    count = np.zeros(k, np.int64)
    cut = np.zeros(k, np.bool_)
    used = 0
    level = np.empty(n_roots, np.int64)  # node * k + row: sorted, a node's trees together
    for i in range(n_roots):
        row, node = roots[i] // n, roots[i] % n
        level[i] = node * k + row
        if count[row] >= limit:
            cut[row] = True
        else:
            count[row] += 1
        if used == len(out):
            out = _grow(out, used)
        out[used] = roots[i]
        used += 1
    level.sort()
    while len(level):
        nxt = np.empty(max(16, len(level)), np.int64)
        m = 0
        for i in range(len(level)):
            v, row = level[i] // k, level[i] % k
            if cut[row]:
                continue
            for e in range(indptr[v], indptr[v + 1]):
                u = indices[e]
                if entry_at(view, row, u)[1] != v:
                    continue
                key = row * n + u
                if _locate(roots, 0, n_roots, key) >= 0:  # a root below: walked as its own
                    continue
                if count[row] >= limit:
                    cut[row] = True
                    break
                count[row] += 1
                if used == len(out):
                    out = _grow(out, used)
                out[used] = key
                used += 1
                if m == len(nxt):
                    nxt = _grow(nxt, m)
                nxt[m] = u * k + row
                m += 1
        level = nxt[:m].copy()
        level.sort()
    region = out[:used]
    keep = np.empty(used, np.bool_)
    for i in range(used):
        keep[i] = not cut[region[i] // n]
    region = region[keep].copy()
    region.sort()
    return region, np.flatnonzero(cut).astype(np.int64)


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
    view: TreeView,
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
    row = part[0] // len(local)
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
                t = time_s[p] + entry_at(view, row, h)[0]
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
    g: Csr, time_s: FloatArray, view: TreeView, n: int, region: IntArray, no_node: int
) -> tuple[FloatArray, Int32Array]:
    """New times and next nodes of the region's entries (keys grouped by row), by Dijkstra.

    ``view``: the trees, valid outside the region. Each row's part is searched on
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
        _search_part(g, time_s, view, region[lo:hi], local, (d_new[lo:hi], p_new[lo:hi]))
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
    view: TreeView,
    row: int,
    x: int,
    y: int,
    t: float,
    size: int,
    n_touched: int,
    bound: float,
) -> tuple[int, int]:
    """Take time ``t`` via next node ``y`` for node ``x`` if it beats its current time (within the bound)."""
    d_row, p_row, state, pos, heap_d, heap_i, touched = work
    if t > bound or t >= (d_row[x] if state[x] else entry_at(view, row, x)[0]):
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
    view: TreeView,
    n: int,
    rows: IntArray,
    faster: tuple[IntArray, IntArray, FloatArray],
    prior: tuple[IntArray, FloatArray, Int32Array],
    bound: float,
) -> tuple[IntArray, FloatArray, Int32Array]:
    """The entries of trees ``rows`` that faster roads improve: ``(keys, times, next nodes)``.

    ``faster``: the faster pairs' tails, heads and new times (``time_s`` holds the new times of
    every pair). ``prior``: entries already changed in these trees (keys sorted by row, times,
    next nodes), the current values there; ``view`` elsewhere. In each tree the improvements
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
            t = new_t[k] + (d_row[y] if state[y] else entry_at(view, r, y)[0])
            size, n_touched = _relax(work, view, r, tails[k], y, t, size, n_touched, bound)
        while size > 0:
            d, y = heap_d[0], heap_i[0]
            size = _pop(heap_d, heap_i, pos, size)
            for e in range(reverse_indptr[y], reverse_indptr[y + 1]):
                t = time_s[reverse_pair[e]] + d
                size, n_touched = _relax(work, view, r, reverse_indices[e], y, t, size, n_touched, bound)
        for i in range(n_touched):
            v = touched[i]
            if state[v] == 2:
                if used == len(out_k):
                    out_k, out_d, out_p = _double(out_k), _double(out_d), _double(out_p)
                out_k[used], out_d[used], out_p[used] = base + v, d_row[v], p_row[v]
                used += 1
            state[v] = 0
    return out_k[:used].copy(), out_d[:used].copy(), out_p[:used].copy()


@_compiled
def tree_path_lengths(
    nodes: IntArray,
    pred: Int32Array,
    parent: IntArray,
    offset: FloatArray,
    forward: tuple[IntArray, IntArray, FloatArray],
) -> FloatArray:
    """Road length from each node of a tree to its root: its road to its parent plus its parent's.

    ``parent``: local index of each node's parent, -1 where the parent is not among ``nodes``
    (at the root, or above a part of a tree), whose length is then ``offset``; ``forward``: the
    forward CSR (``forward_indptr``, ``pair_v``) and the pair lengths, where the road to the
    next node is found. Each node is summed once: a walk up to the first node done, then back
    down, in the order a whole tree is summed (so a part gives the whole tree's values exactly).
    """
    indptr, heads, length_m = forward
    m = len(nodes)
    step = np.zeros(m, np.float64)
    for i in range(m):
        if pred[i] >= 0:
            v, to = nodes[i], pred[i]
            for p in range(indptr[v], indptr[v + 1]):
                if heads[p] == to:
                    step[i] = length_m[p]
                    break
    acc = np.empty(m, np.float64)
    done = np.zeros(m, np.bool_)
    stack = np.empty(m, np.int64)
    for i in range(m):
        if done[i]:
            continue
        sp = 0
        j = i
        while j >= 0 and not done[j]:
            stack[sp] = j
            sp += 1
            j = parent[j]
        total = acc[j] if j >= 0 else offset[stack[sp - 1]]
        while sp > 0:
            sp -= 1
            v = stack[sp]
            total = step[v] + total
            acc[v] = total
            done[v] = True
    return acc


def warm_up() -> None:
    """Compile (or load from the disk cache) the kernels now, on a two-node graph.

    The first compile takes seconds; done when an engine is built, so that the first road
    closure a dispatcher puts in does not pay for it.
    """
    for writeable in (True, False):  # arrays in memory, or mapped read-only from the caches
        one_way = np.array([0, 1, 1], np.int64)  # node 0 -> node 1, one road
        heads = np.array([1], np.int64)
        rev = (np.array([0, 0, 1], np.int64), np.array([0], np.int64), np.array([0], np.int64))
        # one tree (k = 1) over the two nodes, both held
        keys, dist, pred = np.array([0, 1], np.int64), np.array([1.0, 0.0]), np.array([1, -1], np.int32)
        for a in (one_way, heads, *rev, keys, dist, pred):
            a.flags.writeable = writeable
        graph = (one_way, heads, *rev)
        time_s = np.array([1.0])
        over = (np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.int32))
        view = (1, -1, node_starts(keys, 1, 2), keys, dist, pred, *over)
        entries_at(view, dist, np.array([0], np.int64), np.array([1], np.int64))
        tree_path(view, 0, 0, 1, 2)
        region, _ = walk_subtrees(graph[2], graph[3], view, 2, np.array([0], np.int64), 2)
        d, p = repair_region(graph, time_s, view, 2, region, -1)
        faster = (np.array([0], np.int64), np.array([1], np.int64), time_s)
        improve_rows(graph, time_s, view, 2, np.array([0], np.int64), faster, (region, d, p), np.inf)
        entry_parents(keys, pred.copy(), 2)
        tree_path_lengths(
            keys.copy(), pred.copy(), np.array([1, -1], np.int64), np.zeros(2), (one_way, heads, time_s)
        )


def warm_up_on(
    graph: Csr, view: TreeView, n: int, lengths: tuple[FloatArray, FloatArray], tree_length: FloatArray
) -> None:
    """Compile (or load) the kernels for the types of these arrays, on no entries.

    numba compiles a kernel for each combination of array types it is called with, and an array
    mapped read-only from a cache is a type of its own: called with an engine's own arrays
    (``lengths``: its pair lengths, as they are and writable), the first closure compiles nothing.
    """
    none, none_f, none_p = np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.int32)
    time_s = np.zeros(len(graph[1]))
    node_starts(view[3][:0], view[0], 0)
    entries_at(view, tree_length, none, none)
    tree_path(view, 0, 0, 0, 0)
    walk_subtrees(graph[2], graph[3], view, n, none, 1)
    repair_region(graph, time_s, view, n, none, view[1])
    improve_rows(graph, time_s, view, n, none, (none, none, none_f), (none, none_f, none_p), np.inf)
    entry_parents(none, none_p, 0)
    for length_m in lengths:
        tree_path_lengths(none, none_p, none, none_f, (graph[0], graph[1], length_m))
