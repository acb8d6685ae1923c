"""Which road conditions changed a route: the base overlay and the attribution queries."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geodata.dataset import Dataset
from geodata.roadgraph import from_edge_list
from routing.conditions import RoadCondition
from routing.engine import RoutingEngine
from routing.errors import UnknownFacilityError
from routing.trees import NO_NODE
from tests.routing.test_properties import engine_for, on_road, road_graphs

# Hand-made: O=0 at (109.00, 1.00); A=2 reached by 0-1-2 (60 + 60 s) or 0-3-2 (100 + 100 s);
# B=4 just south of O (60 s). Every road both ways.
#
#            3
#          /   \
#   4 --- 0 --- 1 --- 2
LON = [109.00, 109.01, 109.02, 109.01, 109.00]
LAT = [1.00, 1.00, 1.00, 1.01, 0.99]


def diamond() -> RoutingEngine:
    legs = [(0, 1, 60.0), (1, 2, 60.0), (0, 3, 100.0), (3, 2, 100.0), (0, 4, 60.0)]
    edges = []
    for u, v, t in legs:
        edges += [(u, v, t * 10, t, "road"), (v, u, t * 10, t, "road")]
    g = from_edge_list(node_id=np.arange(5), lon=LON, lat=LAT, edges=edges, modelled=False, source="t")
    return RoutingEngine(g, {"A": (LON[2], LAT[2]), "B": (LON[4], LAT[4])}, max_snap_m=5000)


def close(e: RoutingEngine, cid: str, u: int, v: int) -> None:
    e.apply_condition(RoadCondition.closure(cid, edges=e.edges_between(u, v), reason="Jembatan putus"))


def slow(e: RoutingEngine, cid: str, u: int, v: int, factor: float) -> None:
    e.apply_condition(RoadCondition.slowdown(cid, factor, edges=e.edges_between(u, v)))


ORIGIN = (LON[0], LAT[0])


def test_nothing_in_force_nothing_named_and_fast() -> None:
    e = diamond()
    assert e.conditions_on_routes(*ORIGIN, ["A", "B"]) == {}
    assert e.conditions_on_routes_to_point([(*ORIGIN, None)], LON[2], LAT[2]) == [()]
    with pytest.raises(UnknownFacilityError):
        e.conditions_on_routes(*ORIGIN, ["nope"])
    ids = ["A", "B"] * 5
    runs = 2000
    t0 = time.perf_counter()
    for _ in range(runs):
        e.conditions_on_routes(*ORIGIN, ids)
    per_call = (time.perf_counter() - t0) / runs
    assert per_call < 100e-6, f"{per_call * 1e6:.1f} us per call with no condition in force"


def test_closure_on_the_route_is_named_for_that_facility_only() -> None:
    e = diamond()
    close(e, "bridge", 1, 2)
    assert e.conditions_on_routes(*ORIGIN, ["A", "B"]) == {"A": ("bridge",)}
    # a condition off every route changes nothing
    e2 = diamond()
    close(e2, "north", 3, 2)
    assert e2.conditions_on_routes(*ORIGIN, ["A", "B"]) == {}


def test_slowdown_is_named() -> None:
    e = diamond()
    slow(e, "jam", 0, 1, 2.0)  # 120 s -> 180 s, still the fastest way
    assert e.travel_times(*ORIGIN, facility_ids=["A"]).get("A").time_s == pytest.approx(180.0)
    assert e.conditions_on_routes(*ORIGIN, ["A", "B"]) == {"A": ("jam",)}


def test_two_conditions_on_one_route_both_named_in_route_order() -> None:
    e = diamond()
    close(e, "a-bridge", 1, 2)
    slow(e, "z-jam", 0, 1, 1.5)
    assert e.conditions_on_routes(*ORIGIN, ["A"]) == {"A": ("z-jam", "a-bridge")}


def test_a_facility_cut_off_is_named() -> None:
    e = diamond()
    close(e, "flood", 0, 4)
    assert e.travel_times(*ORIGIN, facility_ids=["B"]).get("B").time_s is None
    assert e.conditions_on_routes(*ORIGIN, ["A", "B"]) == {"B": ("flood",)}


def test_the_origins_own_segment_is_named() -> None:
    e = diamond()
    mid = (109.005, 1.0)  # half way along 0-1
    close(e, "slide", 0, 1)
    assert e.conditions_on_routes(*mid, ["A", "B"]) == {"A": ("slide",), "B": ("slide",)}
    # a slowdown of the segment it is on, driving east: both routes start along it
    e2 = diamond()
    slow(e2, "jam", 0, 1, 3.0)
    got = e2.conditions_on_routes(*mid, ["A", "B"], heading=90.0)
    assert got == {"A": ("jam",), "B": ("jam",)}


def test_removing_conditions_names_nothing_and_restores_the_base_trees() -> None:
    e = diamond()
    close(e, "bridge", 1, 2)
    slow(e, "jam", 0, 4, 2.0)
    assert e.conditions_on_routes(*ORIGIN, ["A", "B"]) == {"A": ("bridge",), "B": ("jam",)}
    assert e._trees.replaced.any()  # repaired rows of its own
    e.remove_condition("bridge")
    assert e.conditions_on_routes(*ORIGIN, ["A", "B"]) == {"B": ("jam",)}
    e.remove_condition("jam")
    assert e.conditions_on_routes(*ORIGIN, ["A", "B"]) == {}
    assert e._trees is e._base


def test_to_a_point() -> None:
    e = diamond()
    origins = [(*ORIGIN, None), (LON[3], LAT[3], None), (LON[4], LAT[4], None), (109.0, 20.0, None)]
    close(e, "bridge", 1, 2)
    assert e.conditions_on_routes_to_point(origins, LON[2], LAT[2]) == [("bridge",), (), ("bridge",), ()]
    # along the segment the point is on, straight to it
    e2 = diamond()
    slow(e2, "jam", 1, 2, 2.0)
    got = e2.conditions_on_routes_to_point([(109.0125, 1.0, 90.0), (LON[3], LAT[3], None)], 109.0175, 1.0)
    assert got == [("jam",), ("jam",)]  # from 3: by 2, then back along the last part of 2-1
    e2.remove_condition("jam")
    assert e2.conditions_on_routes_to_point([(109.0125, 1.0, 90.0)], 109.0175, 1.0) == [()]


# ----- the bundled Sambas network ----------------------------------------------------------------


def _facilities(ds: Dataset) -> dict[str, tuple[float, float]]:
    return {f.id: (f.location.lon, f.location.lat) for f in ds.facilities if f.receiving}


@pytest.fixture(scope="module")
def fresh(sambas: Dataset) -> RoutingEngine:
    """An engine no condition is ever applied to: the base trees."""
    return RoutingEngine(sambas.roads, _facilities(sambas), max_snap_m=sambas.snap_max_m)


def _engine(ds: Dataset) -> RoutingEngine:
    return RoutingEngine(ds.roads, _facilities(ds), max_snap_m=ds.snap_max_m)


def _base_trees(e: RoutingEngine) -> tuple[np.ndarray, np.ndarray]:
    """The no-condition trees the engine keeps (and reads routes with no condition from)."""
    return e.tree_arrays(base=True)


def _route_nodes(e: RoutingEngine, lon: float, lat: float, fid: str) -> list[int]:
    coords = e.route(lon, lat, fid).coordinates[2:]
    at = {(float(x), float(y)): i for i, (x, y) in enumerate(zip(e.graph.lon, e.graph.lat, strict=True))}
    return [at[xy] for xy in coords]


def _origins(ds: Dataset) -> list[tuple[float, float]]:
    return [(s.centroid.lon, s.centroid.lat) for s in ds.settlements]


def _times(e: RoutingEngine, lon: float, lat: float) -> dict[str, float | None]:
    return {t.facility_id: t.time_s for t in e.travel_times(lon, lat, with_distance=False).times}


def test_sambas_closure_on_a_route(sambas: Dataset, fresh: RoutingEngine) -> None:
    e = _engine(sambas)
    lon, lat = _origins(sambas)[0]
    fids = list(e.facility_ids)
    target = fids[len(fids) // 2]
    nodes = _route_nodes(e, lon, lat, target)
    u, v = nodes[len(nodes) // 2], nodes[len(nodes) // 2 + 1]
    ids = sambas.roads.node_id
    e.apply_condition(
        RoadCondition.closure(
            "bridge", edges=e.edges_between(int(ids[u]), int(ids[v])), reason="Jembatan putus"
        )
    )
    before, after = _times(fresh, lon, lat), _times(e, lon, lat)
    changed = {f for f in fids if before[f] != after[f]}
    got = e.conditions_on_routes(lon, lat, fids)
    assert target in got
    assert set(got) == changed
    assert all(v == ("bridge",) for v in got.values())
    e.remove_condition("bridge")
    assert e.conditions_on_routes(lon, lat, fids) == {}
    assert e._trees is e._base


def _base_route_pairs(fresh: RoutingEngine, lon: float, lat: float, fid: str) -> set[int]:
    """Pairs of the no-condition route, from the fresh engine's trees (origin segment included)."""
    snap = fresh.snap(lon, lat)
    entries, _ = fresh._entries(snap, fresh.compiled.base, None)
    (i,) = fresh._resolve([fid])
    row = fresh._fac_row[np.array([i])]
    _, start, _ = fresh._best_from_entries(entries, row)
    cur = int(start[0])
    pairs = {fresh._entry_pair(snap, cur)}
    while True:
        nxt = int(fresh._trees.get(row[:1], np.array([cur]))[1][0])
        if nxt == NO_NODE:
            break
        pairs.add(int(fresh.compiled.pair_index(np.array([cur]), np.array([nxt]))[0]))
        cur = nxt
    return pairs


@pytest.mark.parametrize("seed", [7, 11, 19, 23])
def test_sambas_random_conditions_keep_the_base_trees(
    sambas: Dataset, fresh: RoutingEngine, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    e = _engine(sambas)
    origins = _origins(sambas)
    fids = list(e.facility_ids)
    ids = sambas.roads.node_id
    fresh_dist, fresh_pred = fresh.tree_arrays()
    in_force: list[str] = []
    for step in range(12):
        if in_force and (rng.random() < 0.3 or len(in_force) >= 4):
            e.remove_condition(in_force.pop(int(rng.integers(len(in_force)))))
        else:
            # a stretch of some route, so that it matters
            lon, lat = origins[int(rng.integers(len(origins)))]
            nodes = _route_nodes(e, lon, lat, fids[int(rng.integers(len(fids)))])
            if len(nodes) < 2:
                continue
            k = int(rng.integers(len(nodes) - 1))
            edges = e.edges_between(int(ids[nodes[k]]), int(ids[nodes[k + 1]]))
            cid = f"c{step}"
            if rng.random() < 0.5:
                e.apply_condition(RoadCondition.closure(cid, edges=edges))
            else:
                e.apply_condition(RoadCondition.slowdown(cid, float(rng.uniform(1.5, 4.0)), edges=edges))
            in_force.append(cid)
        dist, pred = _base_trees(e)
        np.testing.assert_array_equal(dist, fresh_dist)
        np.testing.assert_array_equal(pred, fresh_pred)
        # only the repaired rows are this engine's own; the others are read from the base
        cur_d, cur_p = e.tree_arrays()
        same = ~e._trees.replaced
        np.testing.assert_array_equal(cur_d[same], fresh_dist[same])
        np.testing.assert_array_equal(cur_p[same], fresh_pred[same])
        # attribution: exactly the facilities whose time changed, named by conditions on the base route
        for o in rng.choice(len(origins), 5, replace=False).tolist():
            lon, lat = origins[o]
            before, after = _times(fresh, lon, lat), _times(e, lon, lat)
            got = e.conditions_on_routes(lon, lat, fids)
            assert set(got) == {f for f in fids if before[f] != after[f]}
            for fid, named in got.items():
                assert named and set(named) <= set(in_force)
                route = _base_route_pairs(fresh, lon, lat, fid)
                for cid in named:
                    cond_pairs = set(e.compiled.edge_pair[e._conditions[cid][1]].tolist())
                    assert route & cond_pairs
    for cid in in_force:
        e.remove_condition(cid)
    assert e._trees is e._base
    np.testing.assert_array_equal(e.tree_arrays()[0], fresh_dist)
    assert all(e.conditions_on_routes(lon, lat, fids) == {} for lon, lat in origins[:20])


def test_sambas_to_a_point(sambas: Dataset, fresh: RoutingEngine) -> None:
    e = _engine(sambas)
    pusk = next(f for f in sambas.facilities if not f.receiving)
    px, py = pusk.location.lon, pusk.location.lat
    rng = np.random.default_rng(3)
    pool = _origins(sambas)
    origins = [(*pool[int(i)], None) for i in rng.choice(len(pool), 40, replace=False)]
    # a closure and a slowdown on stretches of two origins' roads towards the Puskesmas's area
    # (their routes to the hospital nearest it), then every origin checked against a fresh engine
    ids = sambas.roads.node_id
    fid = min(e.facility_ids, key=lambda f: _times(fresh, px, py)[f] or np.inf)
    nodes = _route_nodes(e, *origins[0][:2], fid)
    u, v = nodes[len(nodes) // 3], nodes[len(nodes) // 3 + 1]
    e.apply_condition(RoadCondition.closure("x", edges=e.edges_between(int(ids[u]), int(ids[v]))))
    slow_nodes = _route_nodes(e, *origins[1][:2], fid)
    a, b = slow_nodes[len(slow_nodes) // 2], slow_nodes[len(slow_nodes) // 2 + 1]
    e.apply_condition(RoadCondition.slowdown("y", 3.0, edges=e.edges_between(int(ids[a]), int(ids[b]))))
    before = fresh.times_to_point(origins, px, py, with_distance=False)
    after = e.times_to_point(origins, px, py, with_distance=False)
    got = e.conditions_on_routes_to_point(origins, px, py)
    assert len(got) == len(origins)
    changed = [b_[0] != a_[0] for b_, a_ in zip(before, after, strict=True)]
    assert [bool(g) for g in got] == changed
    assert all(set(g) <= {"x", "y"} for g in got)
    e.remove_condition("x")
    e.remove_condition("y")
    assert e.conditions_on_routes_to_point(origins, px, py) == [()] * len(origins)


def test_reading_while_conditions_change_is_consistent(sambas: Dataset) -> None:
    e = _engine(sambas)
    lon, lat = _origins(sambas)[0]
    fids = list(e.facility_ids)
    nodes = _route_nodes(e, lon, lat, fids[0])
    ids = sambas.roads.node_id
    edges = e.edges_between(int(ids[nodes[len(nodes) // 2]]), int(ids[nodes[len(nodes) // 2 + 1]]))
    e.apply_condition(RoadCondition.closure("c", edges=edges))
    expected = e.conditions_on_routes(lon, lat, fids)
    assert expected
    e.remove_condition("c")
    stop = threading.Event()
    reading = threading.Event()  # the flips start once the reader reads (CI once saw none read)
    errors: list[BaseException] = []

    def flip() -> None:
        try:
            assert reading.wait(timeout=30)
            for _ in range(6):
                e.apply_condition(RoadCondition.closure("c", edges=edges))
                e.remove_condition("c")
        except BaseException as exc:
            errors.append(exc)
        finally:
            stop.set()

    t = threading.Thread(target=flip)
    t.start()
    seen = 0
    while not stop.is_set():
        got = e.conditions_on_routes(lon, lat, fids)
        assert got in ({}, expected)
        seen += 1
        reading.set()
    t.join()
    assert not errors and seen > 0


# ----- random small graphs ---------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_graphs_overlay_and_attribution(data: st.DataObject) -> None:
    graph, facilities = data.draw(road_graphs())
    e, fresh_e = engine_for(graph, facilities), engine_for(graph, facilities)
    in_force: list[str] = []
    for step in range(data.draw(st.integers(1, 5))):
        if in_force and data.draw(st.booleans()):
            e.remove_condition(in_force.pop(data.draw(st.integers(0, len(in_force) - 1))))
        else:
            edges = tuple(
                data.draw(st.lists(st.integers(0, graph.n_edges - 1), min_size=1, max_size=3, unique=True))
            )
            factor = data.draw(st.sampled_from([math.inf, 1.5, 3.0]))
            e.apply_condition(RoadCondition(id=f"c{step}", factor=factor, edges=edges))
            in_force.append(f"c{step}")
        dist, pred = _base_trees(e)
        fresh_dist, fresh_pred = fresh_e.tree_arrays()
        np.testing.assert_array_equal(dist, fresh_dist)
        np.testing.assert_array_equal(pred, fresh_pred)
        for node in on_road(graph):
            lon, lat = float(graph.lon[node]), float(graph.lat[node])
            before, after = _times(fresh_e, lon, lat), _times(e, lon, lat)
            got = e.conditions_on_routes(lon, lat, list(e.facility_ids))
            assert set(got) == {f for f in e.facility_ids if before[f] != after[f]}
            assert all(named and set(named) <= set(in_force) for named in got.values())
        if not in_force:
            assert e._trees is e._base


def test_base_point_trees_are_dropped_with_the_last_condition() -> None:
    e = diamond()
    close(e, "bridge", 1, 2)
    assert e.conditions_on_routes_to_point([(*ORIGIN, None)], LON[2], LAT[2]) == [("bridge",)]
    assert e._base_point_trees and e._base_reverse is not None
    e.remove_condition("bridge")
    assert not e._base_point_trees and e._base_reverse is None
