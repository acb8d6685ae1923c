"""Repairing one facility tree after some pair times change, without recomputing all of it.

*Slower* pairs (closures, slowdowns) only hurt the nodes whose tree path uses them: the subtrees
below those pairs. Their times are recomputed by Dijkstra on just that part, seeded from the
unaffected nodes around it. *Faster* pairs (a condition reverted) only help the nodes that can
reach them: improvements are propagated outward from the pair until nothing improves.
Both give exactly the times a full Dijkstra gives (the same sums in the same order).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from routing.trees import NO_NODE

if TYPE_CHECKING:
    import numpy.typing as npt

    from routing.compiled import CompiledGraph, FloatArray, IntArray, PairWeights


def _ranges(starts: IntArray, counts: IntArray) -> IntArray:
    """Concatenation of ``arange(s, s + c)`` for each (s, c)."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.cumsum(np.r_[0, counts[:-1]]), counts)
    return np.asarray(np.arange(total, dtype=np.int64) + offsets, dtype=np.int64)


def _first_in_group(sorted_keys: IntArray) -> npt.NDArray[np.bool_]:
    """Mask of the first element of each run of equal keys (empty in, empty out)."""
    mask = np.ones(len(sorted_keys), dtype=bool)
    mask[1:] = sorted_keys[1:] != sorted_keys[:-1]
    return mask


def subtree(c: CompiledGraph, pred: npt.NDArray[np.int32], roots: IntArray, limit: int) -> IntArray | None:
    """Nodes whose tree path passes through any root (roots included); None past ``limit`` nodes."""
    seen = np.zeros(c.n_nodes, dtype=bool)
    frontier = np.unique(roots)
    seen[frontier] = True
    parts = [frontier]
    size = len(frontier)
    while frontier.size:
        starts = c.reverse_indptr[frontier]
        counts = c.reverse_indptr[frontier + 1] - starts
        idx = _ranges(starts, counts)
        w = c.reverse_indices[idx]
        z = np.repeat(frontier, counts)
        child = (pred[w] == z) & ~seen[w]
        frontier = np.unique(w[child])
        seen[frontier] = True
        parts.append(frontier)
        size += len(frontier)
        if size > limit:
            return None
    return np.concatenate(parts)


def repair_slower(
    c: CompiledGraph,
    w: PairWeights,
    dist: FloatArray,
    pred: npt.NDArray[np.int32],
    *,
    tails: IntArray,
    limit: int,
) -> IntArray | None:
    """Recompute the subtrees below ``tails`` in place; returns the nodes touched (None: too many)."""
    a = subtree(c, pred, tails, limit)
    if a is None:
        return None
    local = np.full(c.n_nodes, -1, dtype=np.int64)
    local[a] = np.arange(len(a))
    k = len(a)
    # seeds: leave the region by one road to a node whose time is still valid
    starts = c.forward_indptr[a]
    counts = c.forward_indptr[a + 1] - starts
    pairs = _ranges(starts, counts)
    owner = np.repeat(np.arange(k), counts)
    heads = c.pair_v[pairs]
    outside = local[heads] < 0
    cand = w.time_s[pairs] + dist[heads]
    ok = outside & np.isfinite(cand)
    o, h, t = owner[ok], heads[ok], cand[ok]
    order = np.lexsort((h, t, o))
    o, h, t = o[order], h[order], t[order]
    first = _first_in_group(o)
    seed_owner, seed_head, seed_time = o[first], h[first], t[first]
    # inside the region, in the reverse direction (from the facility outward)
    rstarts = c.reverse_indptr[a]
    rcounts = c.reverse_indptr[a + 1] - rstarts
    ridx = _ranges(rstarts, rcounts)
    src = np.repeat(np.arange(k), rcounts)
    dst = local[c.reverse_indices[ridx]]
    wt = w.time_s[c.reverse_pair[ridx]]
    keep = (dst >= 0) & np.isfinite(wt)
    rows = np.r_[src[keep], np.full(len(seed_owner), k)]
    cols = np.r_[dst[keep], seed_owner]
    data = np.r_[wt[keep], seed_time]
    sub = csr_matrix((data, (rows, cols)), shape=(k + 1, k + 1))
    d_sub, p_sub = dijkstra(sub, directed=True, indices=k, return_predecessors=True)
    d_new = d_sub[:k]
    p_loc = p_sub[:k]
    via_seed = np.full(k, NO_NODE, dtype=np.int64)
    via_seed[seed_owner] = seed_head
    inside = a[np.clip(p_loc, 0, k - 1)]  # clipped: only used where 0 <= p_loc < k
    p_new = np.where(p_loc == k, via_seed, np.where(p_loc >= 0, inside, NO_NODE))
    dist[a] = d_new
    pred[a] = np.where(np.isfinite(d_new), p_new, NO_NODE).astype(np.int32)
    return a


def repair_faster(
    c: CompiledGraph, w: PairWeights, dist: FloatArray, pred: npt.NDArray[np.int32], pairs: IntArray
) -> IntArray:
    """Propagate the improvements that faster ``pairs`` bring, in place; returns the nodes improved."""
    x, y = c.pair_u[pairs], c.pair_v[pairs]
    cand = w.time_s[pairs] + dist[y]
    better = cand < dist[x]
    touched = [np.zeros(0, dtype=np.int64)]
    nodes, froms, times = x[better], y[better], cand[better]
    while nodes.size:
        order = np.lexsort((froms, times, nodes))
        nodes, froms, times = nodes[order], froms[order], times[order]
        first = _first_in_group(nodes)
        nodes, froms, times = nodes[first], froms[first], times[first]
        improve = times < dist[nodes]
        nodes, froms, times = nodes[improve], froms[improve], times[improve]
        dist[nodes] = times
        pred[nodes] = froms.astype(np.int32)
        touched.append(nodes)
        # relax the roads into the improved nodes
        starts = c.reverse_indptr[nodes]
        counts = c.reverse_indptr[nodes + 1] - starts
        idx = _ranges(starts, counts)
        z = np.repeat(nodes, counts)
        wn = c.reverse_indices[idx]
        t = dist[z] + w.time_s[c.reverse_pair[idx]]
        ok = t < dist[wn]
        nodes, froms, times = wn[ok], z[ok], t[ok]
    return np.unique(np.concatenate(touched))
