"""Trees bounded by reach and stored sparse: the same answers as dense trees within the bound,
and closures that repair only the trees whose reach holds the road."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from routing.conditions import RoadCondition
from routing.engine import RoutingEngine
from routing.sparse_trees import TreeSet, compute_sparse_trees
from routing.tree_cache import tree_files
from routing.trees import NO_NODE, compute_trees

if TYPE_CHECKING:
    from geodata.dataset import Dataset


def receiving(ds: Dataset) -> dict[str, tuple[float, float]]:
    return {f.id: (f.location.lon, f.location.lat) for f in ds.facilities if f.receiving}


def origins(ds: Dataset) -> dict[str, tuple[float, float]]:
    return {f.id: (f.location.lon, f.location.lat) for f in ds.facilities if not f.receiving}


def test_sparse_trees_equal_dense_trees_cut_at_the_bound(sambas: Dataset) -> None:
    e = RoutingEngine(sambas.roads, receiving(sambas))
    reverse = e.compiled.reverse_matrix(e.compiled.base)
    sources = e._tree_nodes.tolist()
    dist, pred = compute_trees(reverse, sources)
    for bound in (600.0, 1800.0, 36_000.0, math.inf):
        for workers in (1, 2):
            lengths = (e.compiled.forward_indptr, e.compiled.pair_v, e.compiled.base.length_m)
            trees = TreeSet(compute_sparse_trees(reverse, sources, bound, lengths, workers=workers))
            d, p = trees.dense()
            out = dist > bound
            np.testing.assert_array_equal(d, np.where(out, np.inf, dist))
            np.testing.assert_array_equal(p, np.where(out, NO_NODE, pred))
            assert trees.base.n_entries == int((~out).sum())
            node = int(sources[0])
            np.testing.assert_array_equal(trees.at_node(node)[0], d[:, node])


def test_sambas_at_600_min_answers_as_unbounded(sambas: Dataset) -> None:
    """The Sambas pack's reach (600 min) holds every node: bounded answers are the dense ones."""
    bounded = RoutingEngine(sambas.roads, receiving(sambas), max_travel_s=600 * 60.0)
    plain = RoutingEngine(sambas.roads, receiving(sambas))
    a, b = bounded.matrix(origins(sambas)), plain.matrix(origins(sambas))
    np.testing.assert_array_equal(a.time_s, b.time_s)
    np.testing.assert_array_equal(a.distance_m, b.distance_m)
    assert bounded.travel_times(109.2, 1.45) == plain.travel_times(109.2, 1.45)


def test_sambas_short_bound_is_unreachable_beyond_and_exact_within(sambas: Dataset) -> None:
    bound = 30 * 60.0
    bounded = RoutingEngine(sambas.roads, receiving(sambas), max_travel_s=bound)
    plain = RoutingEngine(sambas.roads, receiving(sambas))
    assert bounded.tree_entries() < len(bounded._tree_nodes) * sambas.roads.n_nodes  # some cut off
    a, b = bounded.matrix(origins(sambas)), plain.matrix(origins(sambas))
    # off-road legs come on top of the bound: an answer is given in full or not at all
    given = np.isfinite(a.time_s)
    np.testing.assert_array_equal(a.time_s[given], b.time_s[given])
    np.testing.assert_array_equal(a.distance_m[given], b.distance_m[given])
    assert np.all(b.time_s[~given] > bound)
    assert np.all(np.isinf(a.distance_m[~given]))
    assert given.any() and (~given).any()


def _far_apart(e: RoutingEngine) -> tuple[int, int]:
    """Two trees whose reaches share no node (Sambas at a short bound)."""
    d, _ = e.tree_arrays()
    held = np.isfinite(d)
    for i in range(len(d)):
        for j in range(len(d)):
            if i != j and not np.any(held[i] & held[j]):
                return i, j
    pytest.skip("no two disjoint trees at this bound")


def _closure_near(e: RoutingEngine, row: int) -> RoadCondition:
    """Closures of the roads into a tree's facility node that its paths use."""
    target = int(e._tree_nodes[row])
    users = np.flatnonzero(e.tree_arrays()[1][row] == target)
    edges: list[int] = []
    for u in users.tolist():
        edges.extend(e.edges_between(int(e.graph.node_id[u]), int(e.graph.node_id[target]), both_ways=False))
    return RoadCondition.closure("flood", edges=tuple(edges))


def test_a_closure_repairs_only_the_trees_whose_reach_holds_it(sambas: Dataset, tmp_path: Path) -> None:
    bound = 20 * 60.0
    RoutingEngine(sambas.roads, receiving(sambas), max_travel_s=bound, cache_dir=tmp_path)
    e = RoutingEngine(sambas.roads, receiving(sambas), max_travel_s=bound, cache_dir=tmp_path)
    assert not e.trees_computed
    i, j = _far_apart(e)
    before_d, before_p = e.tree_arrays()
    cond = _closure_near(e, i)
    closed_pairs = np.unique(e.compiled.edge_pair[np.array(cond.edges)])
    holding = {
        r
        for r in range(len(before_d))
        for p in closed_pairs.tolist()
        if before_p[r, e.compiled.pair_u[p]] == e.compiled.pair_v[p]
    }
    assert i in holding and j not in holding
    e.apply_condition(cond)
    repaired = set(np.flatnonzero(e._trees.replaced).tolist())
    assert i in repaired
    assert repaired <= holding  # a tree whose reach does not hold the road is not rebuilt
    assert e.last_update_trees == len(repaired) < len(e._tree_nodes)
    d, p = e.tree_arrays()
    np.testing.assert_array_equal(d[j], before_d[j])
    # the same trees as a fresh build on the changed graph, with the same bound
    factors = np.ones(sambas.roads.n_edges)
    factors[list(cond.edges)] = np.inf
    changed = RoadCondition.closure("flood", edges=cond.edges)
    fresh = RoutingEngine(sambas.roads, receiving(sambas), max_travel_s=bound)
    fresh.apply_condition(changed)  # (its trees repaired: checked against a from-scratch build below)
    w = e.compiled.pair_weights(factors)
    scratch = compute_sparse_trees(
        e.compiled.reverse_matrix(w),
        e._tree_nodes.tolist(),
        bound,
        (e.compiled.forward_indptr, e.compiled.pair_v, w.length_m),
    )
    sd, sp = TreeSet(scratch).dense()
    np.testing.assert_array_equal(d, sd)
    np.testing.assert_array_equal(p, sp)
    # the overlay holds exactly the entries that differ from the base, not whole trees
    over = e._trees.delta
    assert over is not None
    differ = (d != before_d) | (p != before_p)
    r, v = np.nonzero(np.isfinite(d) | np.isfinite(before_d))
    lengths_now, lengths_base = e._trees.lengths(r, v), e._base.lengths(r, v)
    differ[r, v] |= ~((lengths_now == lengths_base) | (np.isnan(lengths_now) & np.isnan(lengths_base)))
    assert over.n_entries == int(differ.sum()) < int(np.isfinite(before_d[sorted(repaired)]).sum())
    assert set((over.keys % over.k).tolist()) == repaired
    # the file is only read; lifting the closure restores the no-condition trees
    assert all(f.is_file() for f in tree_files(tmp_path, e.tree_cache[1]))  # type: ignore[index]
    e.remove_condition("flood")
    assert e._trees is e._base
    np.testing.assert_array_equal(e.tree_arrays()[0], before_d)


def test_the_bound_is_part_of_the_cache_key(sambas: Dataset, tmp_path: Path) -> None:
    a = RoutingEngine(sambas.roads, receiving(sambas), max_travel_s=1800.0, cache_dir=tmp_path)
    b = RoutingEngine(sambas.roads, receiving(sambas), max_travel_s=3600.0, cache_dir=tmp_path)
    assert a.trees_computed and b.trees_computed
    assert a.tree_cache != b.tree_cache
    assert a.tree_entries() < b.tree_entries()
    assert not RoutingEngine(
        sambas.roads, receiving(sambas), max_travel_s=1800.0, cache_dir=tmp_path
    ).trees_computed


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan])
def test_a_bound_must_be_positive(sambas: Dataset, bad: float) -> None:
    with pytest.raises(ValueError, match="max_travel_s"):
        RoutingEngine(sambas.roads, receiving(sambas), max_travel_s=bad)


def test_many_entries_are_found_through_the_node_index_alike(
    sambas: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Repairs ask for many entries at once through the compiled search: the same values as the
    binary search of every key, with a closure's overlay on top, on trees mapped from the cache."""
    import routing.sparse_trees as sparse_module

    RoutingEngine(sambas.roads, receiving(sambas), max_travel_s=1200.0, cache_dir=tmp_path)
    e = RoutingEngine(sambas.roads, receiving(sambas), max_travel_s=1200.0, cache_dir=tmp_path)
    e.apply_condition(_closure_near(e, 0))
    rows, nodes = np.meshgrid(np.arange(e._trees.k), np.arange(e._trees.n), indexing="ij")
    rows, nodes = rows.ravel(), nodes.ravel()
    for trees in (e._base, e._trees):
        monkeypatch.setattr(sparse_module, "MANY_ENTRIES", 10**9)
        d, p = trees.get(rows, nodes)
        ln = trees.lengths(rows, nodes)
        monkeypatch.setattr(sparse_module, "MANY_ENTRIES", 0)
        d2, p2 = trees.get(rows, nodes)
        np.testing.assert_array_equal(d, d2)
        np.testing.assert_array_equal(p, p2)
        np.testing.assert_array_equal(ln, trees.lengths(rows, nodes))
        assert np.isfinite(d).any() and np.isinf(d).any()


def test_the_compiled_search_finds_every_entry_and_no_other() -> None:
    """``find_entry`` (a guess, then a gallop either way) against a plain membership test, on
    node slices from empty to full, for every (row, node)."""
    from routing.kernels import find_entry, node_starts

    rng = np.random.default_rng(3)
    for k, n, share in ((1, 50, 0.5), (7, 40, 0.9), (100, 30, 0.05), (100, 30, 0.97), (300, 10, 0.5)):
        held = rng.random((n, k)) < share
        held[0] = False  # a node no tree holds
        held[1] = True  # a node every tree holds
        keys = np.flatnonzero(held.ravel()).astype(np.int64)  # node * k + row, sorted
        start = node_starts(keys, k, n)
        np.testing.assert_array_equal(start, np.searchsorted(keys, np.arange(n + 1) * k))
        for node in range(n):
            for row in range(k):
                i = find_entry(start, keys, k, row, node)
                if held[node, row]:
                    assert keys[i] == node * k + row
                else:
                    assert i == -1
        for not_a_node in (NO_NODE, -1, n, n + 5):  # no next node, or out of range: not held
            assert find_entry(start, keys, k, 0, not_a_node) == -1


def test_sparse_trees_in_worker_processes_equal_serial(
    sambas: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trees computed in worker processes, several small tasks each, equal the serial ones."""
    import routing.sparse_trees as sparse_module

    e = RoutingEngine(sambas.roads, receiving(sambas))
    reverse = e.compiled.reverse_matrix(e.compiled.base)
    lengths = (e.compiled.forward_indptr, e.compiled.pair_v, e.compiled.base.length_m)
    sources = e._tree_nodes.tolist()
    serial = compute_sparse_trees(reverse, sources, 1800.0, lengths, workers=1)
    monkeypatch.setattr(sparse_module, "MIN_PARALLEL_WORK", 0)  # worker processes on this small graph
    parallel = compute_sparse_trees(reverse, sources, 1800.0, lengths, workers=2)
    for a, b in zip(
        (serial.keys, serial.dist, serial.pred, serial.length),
        (parallel.keys, parallel.dist, parallel.pred, parallel.length),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    assert serial.n_entries > 0


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("bound", [1800.0, math.inf])
def test_trees_handed_over_through_files_equal_those_in_memory(
    sambas: Dataset, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, workers: int, bound: float
) -> None:
    """Above ``SPILL_BYTES`` the rows go through files in the scratch directory, a task's at a
    time: the same trees, and nothing left behind."""
    import routing.sparse_trees as sparse_module

    e = RoutingEngine(sambas.roads, receiving(sambas))
    reverse = e.compiled.reverse_matrix(e.compiled.base)
    lengths = (e.compiled.forward_indptr, e.compiled.pair_v, e.compiled.base.length_m)
    sources = e._tree_nodes.tolist()
    kept = compute_sparse_trees(reverse, sources, bound, lengths, workers=1)
    monkeypatch.setattr(sparse_module, "SPILL_BYTES", 0)
    monkeypatch.setattr(sparse_module, "MIN_PARALLEL_WORK", 0)
    spilled = compute_sparse_trees(
        reverse, sources, bound, lengths, workers=workers, scratch_dir=tmp_path / "s"
    )
    for a, b in zip(
        (kept.keys, kept.dist, kept.pred, kept.length),
        (spilled.keys, spilled.dist, spilled.pred, spilled.length),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    assert kept.n_entries > 0 and (kept.k, kept.n, kept.bound) == (spilled.k, spilled.n, spilled.bound)
    assert list((tmp_path / "s").iterdir()) == []


def test_trees_recomputed_whole_keep_only_what_differs(
    sambas: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the damaged part's limit at one entry, every tree a closure touches is recomputed
    whole: the same trees and path lengths as a fresh build, and an overlay of the differences."""
    import routing.engine as engine_module

    monkeypatch.setattr(engine_module, "REPAIR_LIMIT_DIVISOR", 10**6)
    bound = 1800.0
    e = RoutingEngine(sambas.roads, receiving(sambas), max_travel_s=bound)
    before_d, before_p = e.tree_arrays()
    cond = _closure_near(e, 0)
    e.apply_condition(cond)
    assert e.last_update_full_trees == e.last_update_trees > 0
    factors = np.ones(sambas.roads.n_edges)
    factors[list(cond.edges)] = np.inf
    w = e.compiled.pair_weights(factors)
    fresh = TreeSet(
        compute_sparse_trees(
            e.compiled.reverse_matrix(w),
            e._tree_nodes.tolist(),
            bound,
            (e.compiled.forward_indptr, e.compiled.pair_v, w.length_m),
        )
    )
    d, p = e.tree_arrays()
    fd, fp = fresh.dense()
    np.testing.assert_array_equal(d, fd)
    np.testing.assert_array_equal(p, fp)
    r, v = np.nonzero(np.isfinite(d))
    np.testing.assert_array_equal(e._trees.lengths(r, v), fresh.lengths(r, v))
    over = e._trees.delta
    assert over is not None
    assert over.n_entries <= int(((d != before_d) | (p != before_p)).sum()) + len(r)
    assert over.n_entries < e._trees.k * e._trees.n
    e.remove_condition(cond.id)
    np.testing.assert_array_equal(e.tree_arrays()[0], before_d)


def test_a_route_walked_by_the_compiled_loop_is_the_same(
    sambas: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A route's nodes, walked in NumPy or by the compiled loop, with a closure's overlay in force."""
    import routing.engine as engine_module

    e = RoutingEngine(sambas.roads, receiving(sambas), max_travel_s=3600.0)
    e.apply_condition(_closure_near(e, 0))
    origin = next(iter(origins(sambas).values()))
    for fid in receiving(sambas):
        monkeypatch.setattr(engine_module, "PATH_KERNEL_NODES", 10**9)
        plain = e.route(*origin, fid)
        monkeypatch.setattr(engine_module, "PATH_KERNEL_NODES", 0)
        compiled = e.route(*origin, fid)
        assert compiled == plain
        assert plain.time_s is None or len(plain.coordinates) > 2
