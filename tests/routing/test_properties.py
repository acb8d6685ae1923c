"""Property tests: the engine against an independent networkx Dijkstra on random graphs."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geodata.roadgraph import RoadGraph, from_edge_list
from routing.conditions import RoadCondition
from routing.engine import RoutingEngine


@st.composite
def road_graphs(draw: st.DrawFn) -> tuple[RoadGraph, list[int]]:
    n = draw(st.integers(2, 25))
    # distinct node positions on a jittered 0.01-degree grid around (109, 1)
    cells = draw(st.lists(st.integers(0, 99), min_size=n, max_size=n, unique=True))
    lon = [109.0 + (c % 10) * 0.01 for c in cells]
    lat = [1.0 + (c // 10) * 0.01 for c in cells]
    pairs = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda p: p[0] != p[1]),
            min_size=1,
            max_size=4 * n,
        )
    )
    edges = []
    for u, v in pairs:
        t = draw(st.floats(1.0, 1000.0))
        edges.append((u, v, t * 10.0, t, "road"))
        if draw(st.booleans()):
            edges.append((v, u, t * 10.0, t, "road"))
    graph = from_edge_list(node_id=np.arange(n), lon=lon, lat=lat, edges=edges, modelled=False, source="test")
    facilities = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=4, unique=True))
    return graph, facilities


def reference(graph: RoadGraph) -> nx.MultiDiGraph:
    return graph.to_networkx()


def engine_for(graph: RoadGraph, facilities: list[int], bound: float | None = None) -> RoutingEngine:
    fac = {f"F{i}": (float(graph.lon[i]), float(graph.lat[i])) for i in facilities}
    return RoutingEngine(graph, fac, max_snap_m=1e7, max_travel_s=bound)


def masked(dist: np.ndarray, pred: np.ndarray, bound: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Dense unbounded trees cut at the bound: what bounded trees must hold exactly."""
    if bound is None:
        return dist, pred
    out = dist > bound
    return np.where(out, np.inf, dist), np.where(out, -9999, pred).astype(np.int32)


def on_road(graph: RoadGraph) -> list[int]:
    """Nodes with a road: a point at an isolated node snaps to some other road."""
    return sorted(set(graph.edge_u.tolist()) | set(graph.edge_v.tolist()))


def times_from_node(engine: RoutingEngine, graph: RoadGraph, node: int) -> dict[str, float | None]:
    tt = engine.travel_times(float(graph.lon[node]), float(graph.lat[node]))
    return {t.facility_id: t.time_s for t in tt.times}


PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(road_graphs())
def test_times_equal_networkx_dijkstra_and_are_non_negative(case: tuple[RoadGraph, list[int]]) -> None:
    graph, facilities = case
    engine = engine_for(graph, facilities)
    ref = reference(graph)
    for origin in on_road(graph):
        got = times_from_node(engine, graph, origin)
        for f in facilities:
            try:
                expected: float | None = nx.shortest_path_length(ref, origin, f, weight="travel_time")
            except nx.NetworkXNoPath:
                expected = None
            t = got[f"F{f}"]
            if expected is None:
                assert t is None
            else:
                assert t is not None
                assert t >= 0
                assert t == pytest.approx(expected, rel=1e-9, abs=1e-9)


@PROPS
@given(road_graphs(), st.sampled_from([100.0, 600.0, 1500.0]))
def test_bounded_trees_answer_as_networkx_within_the_bound(
    case: tuple[RoadGraph, list[int]], bound: float
) -> None:
    """Within the bound: the plain Dijkstra time and distance; beyond it: unreachable, like no road.

    The bound is on the trees (road time from a node to the facility node): an origin whose
    entry node is within it is answered in full, its leg to that node on top, so a time a little
    over the bound may be answered; one whose every entry node is beyond it is unreachable.
    """
    graph, facilities = case
    engine, plain = engine_for(graph, facilities, bound), engine_for(graph, facilities)
    ref = reference(graph)
    for origin in on_road(graph):
        got = engine.travel_times(float(graph.lon[origin]), float(graph.lat[origin])).times
        full = plain.travel_times(float(graph.lon[origin]), float(graph.lat[origin])).times
        for ft, pt in zip(got, full, strict=True):
            f = int(ft.facility_id[1:])
            try:
                expected: float | None = nx.shortest_path_length(ref, origin, f, weight="travel_time")
            except nx.NetworkXNoPath:
                expected = None
            if expected is not None and expected <= bound:
                assert ft.time_s is not None
            if ft.time_s is None:  # unreachable, or (only) beyond the bound
                assert ft.distance_m is None
                assert expected is None or expected > bound * (1 - 1e-12)
            else:  # identical to the unbounded trees, distance included
                assert ft == pt
                assert ft.time_s == pytest.approx(expected, rel=1e-9, abs=1e-9)
    d, p = plain.tree_arrays()
    bd, bp = engine.tree_arrays()
    md, mp = masked(d, p, bound)
    np.testing.assert_array_equal(bd, md)
    np.testing.assert_array_equal(bp, mp)


@PROPS
@given(road_graphs())
def test_distance_is_the_length_of_the_fastest_path(case: tuple[RoadGraph, list[int]]) -> None:
    graph, facilities = case
    engine = engine_for(graph, facilities)
    origin = on_road(graph)[0]
    tt = engine.travel_times(float(graph.lon[origin]), float(graph.lat[origin]))
    for ft in tt.times:
        if ft.time_s is None:
            assert ft.distance_m is None
            continue
        # lengths are 10 x times on every edge here, so the fastest path is 10 x its time long
        assert ft.distance_m == pytest.approx(10 * ft.time_s, rel=1e-9, abs=1e-6)


@PROPS
@given(road_graphs())
def test_triangle_inequality(case: tuple[RoadGraph, list[int]]) -> None:
    graph, facilities = case
    engine = engine_for(graph, facilities)
    ref = reference(graph)
    lengths = dict(nx.all_pairs_dijkstra_path_length(ref, weight="travel_time"))
    nodes = on_road(graph)
    per_node = {v: times_from_node(engine, graph, v) for v in nodes}
    for a in nodes:
        for b, t_ab in lengths[a].items():
            for fid, t_bf in per_node[b].items():
                t_af = per_node[a][fid]
                if t_bf is not None:
                    assert t_af is not None
                    assert t_af <= t_ab + t_bf + 1e-6


@PROPS
@given(road_graphs(), st.data())
def test_closure_never_makes_a_trip_faster_and_revert_restores(
    case: tuple[RoadGraph, list[int]], data: st.DataObject
) -> None:
    graph, facilities = case
    engine = engine_for(graph, facilities)
    nodes = on_road(graph)
    before = [times_from_node(engine, graph, v) for v in nodes]
    v0 = engine.version
    closed = data.draw(st.lists(st.integers(0, graph.n_edges - 1), min_size=1, max_size=5, unique=True))
    factor = data.draw(st.sampled_from([math.inf, 1.5, 4.0]))
    v1 = engine.apply_condition(RoadCondition(id="c", factor=factor, edges=tuple(closed)))
    assert v1 != v0
    after = [times_from_node(engine, graph, v) for v in nodes]
    # incremental update == a fresh engine on the edited graph
    keep = np.ones(graph.n_edges, dtype=bool)
    tt = graph.travel_time_s.copy()
    if math.isinf(factor):
        keep[closed] = False
    else:
        tt[closed] *= factor
    edited = RoadGraph(
        node_id=graph.node_id,
        lon=graph.lon,
        lat=graph.lat,
        edge_u=graph.edge_u[keep],
        edge_v=graph.edge_v[keep],
        length_m=graph.length_m[keep],
        travel_time_s=tt[keep],
        edge_class=graph.edge_class[keep],
        class_names=graph.class_names,
        modelled=False,
        source="edited",
    )
    fresh = engine_for(edited, facilities) if edited.n_edges else None
    for k, v in enumerate(nodes):
        assert after[k].keys() == before[k].keys()
        for fid, t_after in after[k].items():
            t_before = before[k][fid]
            if t_after is not None:
                assert t_before is not None
                assert t_after >= t_before - 1e-9
            if fresh is not None and v in on_road(edited):
                expected = times_from_node(fresh, edited, v)[fid]
            else:  # every road at v is closed: only a point at the facility itself gets there
                expected = 0.0 if fid == f"F{v}" else None
            assert (t_after is None) == (expected is None)
            if expected is not None:
                assert t_after == pytest.approx(expected, rel=1e-9)
    assert engine.remove_condition("c") == v0
    assert [times_from_node(engine, graph, v) for v in nodes] == before


def edited_graph(graph: RoadGraph, factors: np.ndarray) -> RoadGraph:
    keep = np.isfinite(factors)
    return RoadGraph(
        node_id=graph.node_id,
        lon=graph.lon,
        lat=graph.lat,
        edge_u=graph.edge_u[keep],
        edge_v=graph.edge_v[keep],
        length_m=graph.length_m[keep],
        travel_time_s=(graph.travel_time_s * factors)[keep],
        edge_class=graph.edge_class[keep],
        class_names=graph.class_names,
        modelled=False,
        source="edited",
    )


@PROPS
@given(road_graphs(), st.data())
def test_repaired_trees_equal_fresh_trees_after_a_sequence_of_changes(
    case: tuple[RoadGraph, list[int]], data: st.DataObject
) -> None:
    """Apply, replace and revert conditions in random order; repairs (never whole recomputes) stay exact."""
    import routing.engine as engine_module

    graph, facilities = case
    old = engine_module.REPAIR_LIMIT_DIVISOR
    engine_module.REPAIR_LIMIT_DIVISOR = 1  # repair however large the damaged part
    try:
        engine = engine_for(graph, facilities)
        in_force: dict[str, tuple[tuple[int, ...], float]] = {}
        for _ in range(data.draw(st.integers(1, 5))):
            cid = data.draw(st.sampled_from(["a", "b", "c"]))
            if cid in in_force and data.draw(st.booleans()):
                engine.remove_condition(cid)
                del in_force[cid]
            else:
                edges = tuple(
                    data.draw(
                        st.lists(st.integers(0, graph.n_edges - 1), min_size=1, max_size=4, unique=True)
                    )
                )
                factor = data.draw(st.sampled_from([math.inf, 1.5, 3.0]))
                engine.apply_condition(RoadCondition(id=cid, factor=factor, edges=edges))
                in_force[cid] = (edges, factor)
            assert engine.last_update_full_trees == 0
            factors = np.ones(graph.n_edges)
            for edges, factor in in_force.values():
                factors[list(edges)] = np.maximum(factors[list(edges)], factor)
            edited = edited_graph(graph, factors)
            fresh = engine_for(edited, facilities) if edited.n_edges else None
            for v in on_road(graph):
                got = times_from_node(engine, graph, v)
                for fid, t in got.items():
                    if fresh is not None and v in on_road(edited):
                        expected = times_from_node(fresh, edited, v)[fid]
                    else:
                        expected = 0.0 if fid == f"F{v}" else None
                    assert (t is None) == (expected is None)
                    if expected is not None:
                        assert t == pytest.approx(expected, rel=1e-12)
    finally:
        engine_module.REPAIR_LIMIT_DIVISOR = old


@PROPS
@given(road_graphs(), st.data())
def test_repaired_tree_arrays_are_bit_identical_to_fresh_ones(
    case: tuple[RoadGraph, list[int]], data: st.DataObject
) -> None:
    """Every tree entry after applies, replacements (slower and faster pairs at once) and reverts,
    repaired on one thread or several, equals a fresh build
    exactly; each next node is on a fastest path (its time is that road's plus the next node's)."""
    import routing.engine as engine_module
    import routing.repair as repair_module

    graph, facilities = case
    saved = (
        engine_module.REPAIR_LIMIT_DIVISOR,
        repair_module.REPAIR_THREADS,
        repair_module.PARALLEL_MIN_ENTRIES,
    )
    # split across threads between trees even for tiny regions, or never
    repair_module.REPAIR_THREADS = data.draw(st.sampled_from([1, 2, 3]))
    repair_module.PARALLEL_MIN_ENTRIES = data.draw(st.sampled_from([1, 100_000]))
    engine_module.REPAIR_LIMIT_DIVISOR = data.draw(st.sampled_from([1, 4]))
    bound = data.draw(st.sampled_from([None, 300.0, 1500.0]))  # trees bounded by reach, or not
    try:
        engine = engine_for(graph, facilities, bound)
        in_force: dict[str, tuple[tuple[int, ...], float]] = {}
        for _ in range(data.draw(st.integers(1, 6))):
            cid = data.draw(st.sampled_from(["a", "b"]))
            if cid in in_force and data.draw(st.booleans()):
                engine.remove_condition(cid)
                del in_force[cid]
            else:  # new, or replacing one in force (some of its pairs get slower, some faster)
                edges = tuple(
                    data.draw(
                        st.lists(st.integers(0, graph.n_edges - 1), min_size=1, max_size=6, unique=True)
                    )
                )
                factor = data.draw(st.sampled_from([math.inf, 1.5, 3.0]))
                engine.apply_condition(RoadCondition(id=cid, factor=factor, edges=edges))
                in_force[cid] = (edges, factor)
            factors = np.ones(graph.n_edges)
            for edges, factor in in_force.values():
                factors[list(edges)] = np.maximum(factors[list(edges)], factor)
            w = engine.compiled.pair_weights(factors)
            assert np.array_equal(engine._weights.time_s, w.time_s)
            assert np.array_equal(engine._weights.length_m, w.length_m)
            edited = edited_graph(graph, factors)
            dist, pred = engine.tree_arrays()
            if edited.n_edges:
                fresh = engine_for(edited, facilities, bound)
                assert np.array_equal(fresh._tree_nodes, engine._tree_nodes)
                fresh_dist, fresh_pred = fresh.tree_arrays()
                np.testing.assert_array_equal(dist, fresh_dist)
                np.testing.assert_array_equal(pred, fresh_pred)
                # the road lengths of the paths too (a pair's length can change with its fastest road)
                r, v = np.nonzero(np.isfinite(dist))
                np.testing.assert_array_equal(engine._trees.lengths(r, v), fresh._trees.lengths(r, v))
                # and the unbounded fresh trees, cut at the bound
                np.testing.assert_array_equal(
                    (dist, pred), masked(*engine_for(edited, facilities).tree_arrays(), bound)
                )
            c = engine.compiled
            for row, facility in enumerate(engine._tree_nodes):
                reached = np.flatnonzero(np.isfinite(dist[row]))
                assert np.all(
                    (pred[row] == -9999) == ~np.isfinite(dist[row]) | (np.arange(graph.n_nodes) == facility)
                )
                v = reached[reached != facility]
                nxt = pred[row, v].astype(np.int64)
                p = c.pair_index(v, nxt)
                assert np.all(p >= 0)
                assert np.array_equal(dist[row, v], w.time_s[p] + dist[row, nxt])
    finally:
        (
            engine_module.REPAIR_LIMIT_DIVISOR,
            repair_module.REPAIR_THREADS,
            repair_module.PARALLEL_MIN_ENTRIES,
        ) = saved


def test_slowdowns_one_below_the_other_on_a_tree_path() -> None:
    """Two slower roads on one fastest path: the lower subtree lies inside the upper one."""
    n = 6
    edges = [(i + 1, i, 100.0, 10.0 + i, "road") for i in range(n - 1)]  # a line towards node 0
    edges += [(i, i + 1, 100.0, 10.0 + i, "road") for i in range(n - 1)]
    edges += [(n - 1, 0, 100.0, 200.0, "road")]  # a slow bypass
    graph = from_edge_list(
        node_id=np.arange(n), lon=[109.0 + 0.01 * i for i in range(n)], lat=[1.0] * n,
        edges=edges, modelled=False, source="test",
    )  # fmt: skip
    engine = engine_for(graph, [0])
    before = engine.tree_arrays()[0]
    slow = tuple(int(e) for e in np.flatnonzero((graph.edge_u == 2) & (graph.edge_v == 1)))
    slow += tuple(int(e) for e in np.flatnonzero((graph.edge_u == 4) & (graph.edge_v == 3)))
    engine.apply_condition(RoadCondition.slowdown("s", 3.0, edges=slow))
    factors = np.ones(graph.n_edges)
    factors[list(slow)] = 3.0
    assert np.array_equal(
        engine.tree_arrays()[0], engine_for(edited_graph(graph, factors), [0]).tree_arrays()[0]
    )
    engine.remove_condition("s")
    assert np.array_equal(engine.tree_arrays()[0], before)


@PROPS
@given(road_graphs(), st.data())
def test_times_to_a_point_equal_networkx(case: tuple[RoadGraph, list[int]], data: st.DataObject) -> None:
    # many origins (vehicles) to one point (a pickup), against networkx from each origin
    graph, facilities = case
    engine = engine_for(graph, facilities)
    ref = reference(graph)
    nodes = on_road(graph)
    target = data.draw(st.sampled_from(nodes))
    origins = [(float(graph.lon[v]), float(graph.lat[v]), None) for v in nodes]
    got = engine.times_to_point(origins, float(graph.lon[target]), float(graph.lat[target]))
    for v, (t, d) in zip(nodes, got, strict=True):
        try:
            expected: float | None = nx.shortest_path_length(ref, v, target, weight="travel_time")
        except nx.NetworkXNoPath:
            expected = None
        if expected is None:
            assert t is None and d is None
        else:
            assert t is not None and d is not None
            assert t == pytest.approx(expected, rel=1e-9, abs=1e-9)
            assert d == pytest.approx(10 * t, rel=1e-9, abs=1e-6)


@PROPS
@given(road_graphs(), st.data())
def test_nearest_to_a_point_is_the_brute_force_top_k(
    case: tuple[RoadGraph, list[int]], data: st.DataObject
) -> None:
    graph, facilities = case
    engine = engine_for(graph, facilities)
    nodes = on_road(graph)
    target = data.draw(st.sampled_from(nodes))
    # vehicles on and between nodes
    origins = []
    for _ in range(data.draw(st.integers(1, 12))):
        a, b = data.draw(st.sampled_from(nodes)), data.draw(st.sampled_from(nodes))
        f = data.draw(st.floats(0, 1))
        origins.append((float(graph.lon[a] + f * (graph.lon[b] - graph.lon[a])),
                        float(graph.lat[a] + f * (graph.lat[b] - graph.lat[a])), None))  # fmt: skip
    k = data.draw(st.integers(1, 4))
    tx, ty = float(graph.lon[target]), float(graph.lat[target])
    got = engine.nearest_to_point(origins, tx, ty, k=k)
    every = engine.times_to_point(origins, tx, ty)
    brute = sorted((t, i) for i, (t, _) in enumerate(every) if t is not None)[:k]
    assert [t for _, t, _ in got] == pytest.approx([t for t, _ in brute], rel=1e-9, abs=1e-9)
    for i, t, d in got:
        assert every[i][0] == pytest.approx(t) and every[i][1] == pytest.approx(d)
