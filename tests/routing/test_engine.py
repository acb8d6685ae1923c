"""The routing engine on hand-made graphs and on the bundled Sambas network."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import box

from geodata.dataset import Dataset
from geodata.roadgraph import RoadGraph, from_edge_list
from routing.conditions import RoadCondition
from routing.engine import RoutingEngine
from routing.errors import (
    InvalidConditionError,
    InvalidCoordinateError,
    RoutingError,
    TooFarFromRoadError,
    UnknownConditionError,
    UnknownFacilityError,
)
from routing.snapping import OFFROAD_SPEED_KMH
from routing.trees import compute_trees

# A line of four nodes along the equator-ish, 0.01 degree (~1.1 km) apart:
#   0 <-> 1 <-> 2 -> 3   (2 -> 3 is one-way), 60 s per leg
LON = [109.00, 109.01, 109.02, 109.03]
LAT = [1.0, 1.0, 1.0, 1.0]


def line_graph() -> RoadGraph:
    edges = [
        (0, 1, 1000.0, 60.0, "road"),
        (1, 0, 1000.0, 60.0, "road"),
        (1, 2, 1000.0, 60.0, "road"),
        (2, 1, 1000.0, 60.0, "road"),
        (2, 3, 1000.0, 60.0, "road"),
    ]
    return from_edge_list(node_id=[10, 11, 12, 13], lon=LON, lat=LAT, edges=edges, modelled=False, source="t")


@pytest.fixture
def line() -> RoutingEngine:
    return RoutingEngine(line_graph(), {"A": (LON[0], LAT[0]), "D": (LON[3], LAT[3])}, max_snap_m=2000)


def test_point_on_a_node(line: RoutingEngine) -> None:
    tt = line.travel_times(LON[1], LAT[1])
    assert tt.origin.distance_m == pytest.approx(0, abs=1e-6)
    assert tt.get("A").time_s == pytest.approx(60)
    assert tt.get("D").time_s == pytest.approx(120)
    assert tt.get("A").distance_m == pytest.approx(1000)


def test_point_on_an_edge_counts_the_part_of_the_edge(line: RoutingEngine) -> None:
    tt = line.travel_times(109.005, 1.0)  # half way between 0 and 1
    assert tt.origin.fraction == pytest.approx(0.5)
    assert tt.get("A").time_s == pytest.approx(30)
    assert tt.get("D").time_s == pytest.approx(150)
    assert tt.get("D").distance_m == pytest.approx(2500)


def test_off_road_leg_is_counted_at_the_documented_speed(line: RoutingEngine) -> None:
    tt = line.travel_times(109.005, 1.005)  # ~553 m north of the road
    off = tt.origin.distance_m
    assert 540 < off < 570
    assert tt.get("A").time_s == pytest.approx(30 + off / (OFFROAD_SPEED_KMH / 3.6))
    assert tt.get("A").distance_m == pytest.approx(500 + off)


def test_far_away_point_is_an_error_not_a_wrong_time(line: RoutingEngine) -> None:
    with pytest.raises(
        TooFarFromRoadError, match=r"\(109.5, 1.5\) is \d+ m from the nearest road \(limit 2000 m\)"
    ):
        line.travel_times(109.5, 1.5)


@pytest.mark.parametrize(
    ("lon", "lat", "message"),
    [
        (math.nan, 1.0, "lon nan is not a finite number"),
        (109.0, 91.0, "lat 91.0 is not a finite number"),
        (181.0, 1.0, "lon 181.0"),
        (109.0, math.inf, "lat inf"),
    ],
)
def test_invalid_coordinates_are_rejected(line: RoutingEngine, lon: float, lat: float, message: str) -> None:
    with pytest.raises(InvalidCoordinateError, match=message):
        line.travel_times(lon, lat)


def test_one_way_road_and_no_road_route_is_a_result(line: RoutingEngine) -> None:
    tt = line.travel_times(LON[3], LAT[3])  # at 3: the only road leads into it
    assert tt.get("D").time_s == 0
    a = tt.get("A")
    assert a.time_s is None
    assert a.distance_m is None
    assert not a.reachable
    assert a.reason == "no road route"


def test_closure_by_segment_and_revert(line: RoutingEngine) -> None:
    v0 = line.version
    edges = line.edges_between(11, 12)
    assert len(edges) == 2
    v1 = line.apply_condition(RoadCondition.closure("bridge", edges=edges, reason="bridge out"))
    assert v1 != v0
    assert line.travel_times(LON[0], LAT[0]).get("D").reason == "no road route"
    assert [c.id for c in line.conditions()] == ["bridge"]
    assert line.remove_condition("bridge") == v0
    assert line.travel_times(LON[0], LAT[0]).get("D").time_s == pytest.approx(180)


def test_slowdown_by_polygon(line: RoutingEngine) -> None:
    line.apply_condition(RoadCondition.slowdown("rain", 3.0, polygon=box(109.012, 0.99, 109.018, 1.01)))
    assert line.last_update_trees >= 1
    assert line.travel_times(LON[0], LAT[0]).get("D").time_s == pytest.approx(60 + 180 + 60)


def test_condition_errors(line: RoutingEngine) -> None:
    with pytest.raises(InvalidConditionError, match="no road edge selected"):
        line.apply_condition(RoadCondition.closure("x", polygon=box(110, 2, 110.1, 2.1)))
    with pytest.raises(InvalidConditionError, match=r"factor 0\.5 must be > 1"):
        line.apply_condition(RoadCondition.slowdown("x", 0.5, edges=(0,)))
    with pytest.raises(InvalidConditionError, match="edge index out of range"):
        line.apply_condition(RoadCondition.closure("x", edges=(99,)))
    with pytest.raises(InvalidConditionError, match="no road segment between nodes 10 and 13"):
        line.edges_between(10, 13)
    with pytest.raises(UnknownConditionError):
        line.remove_condition("never")
    with pytest.raises(UnknownFacilityError):
        line.travel_times(LON[0], LAT[0], facility_ids=["nope"])


def test_route_geometry(line: RoutingEngine) -> None:
    r = line.route(109.005, 1.0, "D")
    assert r.time_s == pytest.approx(150)
    assert r.distance_m == pytest.approx(2500)
    assert r.coordinates[0] == (109.005, 1.0)
    assert r.coordinates[-1] == (LON[3], LAT[3])
    assert [c[0] for c in r.coordinates[2:]] == LON[1:]


def test_eta_uses_the_heading(line: RoutingEngine) -> None:
    at = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    east = line.eta(109.015, 1.0, "A", heading=90.0, at=at)  # driving away from A: on to 2, turn back
    west = line.eta(109.015, 1.0, "A", heading=270.0, at=at)
    free = line.eta(109.015, 1.0, "A", at=at)
    assert west.time_s == pytest.approx(90)
    assert free.time_s == pytest.approx(90)
    assert east.time_s == pytest.approx(30 + 120)
    assert east.heading_used
    assert not free.heading_used
    assert west.arrival == datetime(2026, 11, 22, 2, 1, 30, tzinfo=UTC)


def test_matrix(line: RoutingEngine) -> None:
    m = line.matrix({"p0": (LON[0], LAT[0]), "p3": (LON[3], LAT[3])})
    assert m.destination_ids == ("A", "D")
    assert m.time_s[0].tolist() == pytest.approx([0, 180])
    assert m.time_s[1, 0] == math.inf
    assert m.distance_m[0, 1] == pytest.approx(3000)


def test_networkx_view_never_disagrees(line: RoutingEngine) -> None:
    import networkx as nx

    line.apply_condition(RoadCondition.slowdown("s", 2.0, edges=(0,)))
    g = line.to_networkx()
    assert nx.shortest_path_length(g, 0, line.facility_node("D"), weight="travel_time") == pytest.approx(
        line.travel_times(LON[0], LAT[0]).get("D").time_s
    )


def test_graph_without_edges_is_an_error() -> None:
    g = from_edge_list(node_id=[1], lon=[109.0], lat=[1.0], edges=[], modelled=False, source="t")
    with pytest.raises(RoutingError, match="no edges"):
        RoutingEngine(g, {})


def test_facility_far_from_roads_is_an_error() -> None:
    with pytest.raises(TooFarFromRoadError):
        RoutingEngine(line_graph(), {"X": (109.5, 1.5)}, max_snap_m=1000)


def test_trees_in_worker_processes_equal_serial(sambas: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    from routing import trees
    from routing.compiled import CompiledGraph

    c = CompiledGraph(sambas.roads)
    rev = c.reverse_matrix(c.base)
    sources = list(range(0, 40, 5))
    d1, p1 = compute_trees(rev, sources, workers=1)
    monkeypatch.setattr(trees, "MIN_PARALLEL_WORK", 0)  # force worker processes on this small graph
    d2, p2 = compute_trees(rev, sources, workers=2)
    assert isinstance(d2, np.memmap)  # written by the worker processes
    assert np.array_equal(d1, d2)
    assert np.array_equal(p1, p2)


def test_cache_is_keyed_by_graph_version(tmp_path: Path, sambas: Dataset) -> None:
    fac = {f.id: (f.location.lon, f.location.lat) for f in sambas.facilities if f.receiving}
    first = RoutingEngine(sambas.roads, fac, cache_dir=tmp_path)
    files = list(tmp_path.glob("trees-*.json"))
    assert len(files) == 1
    second = RoutingEngine(sambas.roads, fac, cache_dir=tmp_path)
    a = first.travel_times(109.2, 1.45)
    b = second.travel_times(109.2, 1.45)
    assert a == b


def test_sambas_every_puskesmas_reaches_every_receiving_hospital(sambas: Dataset) -> None:
    fac = {f.id: (f.location.lon, f.location.lat) for f in sambas.facilities if f.receiving}
    engine = RoutingEngine(sambas.roads, fac, max_snap_m=sambas.snap_max_m)
    assert engine.modelled
    origins = {f.id: (f.location.lon, f.location.lat) for f in sambas.facilities if not f.receiving}
    m = engine.matrix(origins)
    assert m.time_s.shape == (28, 12)
    assert np.all(np.isfinite(m.time_s))
    assert np.all(m.time_s > 0)
    assert np.all(m.distance_m > 0)
    # a regional hospital is nearer its own Puskesmas than Pontianak is
    row = m.origin_ids.index("PKM-PALOH")
    assert (
        m.time_s[row, m.destination_ids.index("6101137")] < m.time_s[row, m.destination_ids.index("6171011")]
    )
    settlements = {s.id: (s.centroid.lon, s.centroid.lat) for s in sambas.settlements}
    assert np.all(np.isfinite(engine.matrix(settlements, with_distance=False).time_s))


def _line() -> RoutingEngine:
    # A(109.00, 1.0) <-> B(109.01, 1.0), 1,000 s and 1,000 m each way; C only reachable from B
    g = from_edge_list(
        node_id=np.arange(3),
        lon=[109.0, 109.01, 109.02],
        lat=[1.0, 1.0, 1.0],
        edges=[(0, 1, 1000.0, 1000.0, "road"), (1, 0, 1000.0, 1000.0, "road"), (1, 2, 500.0, 500.0, "road")],
        modelled=False,
        source="test",
    )
    return RoutingEngine(g, {"F": (109.0, 1.0)}, max_snap_m=1e6)


def test_times_to_a_point_mid_segment() -> None:
    e = _line()
    mid = (109.005, 1.0)
    (from_a, from_b, from_c) = e.times_to_point(
        [(109.0, 1.0, None), (109.01, 1.0, None), (109.02, 1.0, None)], *mid
    )
    assert from_a[0] == pytest.approx(500.0) and from_a[1] == pytest.approx(500.0)
    assert from_b[0] == pytest.approx(500.0)
    assert from_c == (None, None)  # C has no road out
    # on the same segment, driving towards the point: straight along it
    (ahead,) = e.times_to_point([(109.0025, 1.0, 90.0)], 109.0075, 1.0)
    assert ahead[0] == pytest.approx(500.0) and ahead[1] == pytest.approx(500.0)
    # driving away from it: to the next node and back
    (away,) = e.times_to_point([(109.0025, 1.0, 270.0)], 109.0075, 1.0)
    assert away[0] == pytest.approx(250.0 + 750.0)


def test_times_to_a_point_follow_closures() -> None:
    e = _line()
    before = e.times_to_point([(109.01, 1.0, None)], 109.0, 1.0)[0][0]
    e.apply_condition(RoadCondition.closure("c1", edges=e.edges_between(1, 0, both_ways=False)))
    assert before == pytest.approx(1000.0)
    assert e.times_to_point([(109.01, 1.0, None)], 109.0, 1.0) == [(None, None)]


def test_times_to_a_point_skip_origins_off_the_map() -> None:
    e = _line()
    got = e.times_to_point([(109.0, 1.0, None), (109.0, 20.0, None)], 109.005, 1.0)
    assert got[0][0] == pytest.approx(500.0) and got[1] == (None, None)
    with pytest.raises(TooFarFromRoadError):
        e.times_to_point([(109.0, 1.0, None)], 109.0, 20.0)


def test_snap_many_is_snap_point_by_point(sambas: Dataset) -> None:
    from routing.compiled import CompiledGraph
    from routing.snapping import Snapper

    rng = np.random.default_rng(5)
    snapper = Snapper(CompiledGraph(sambas.roads), max_snap_m=3000)
    lon0, lat0 = float(np.min(sambas.roads.lon)), float(np.min(sambas.roads.lat))
    lon1, lat1 = float(np.max(sambas.roads.lon)), float(np.max(sambas.roads.lat))
    pts = [
        (float(x), float(y))
        for x, y in zip(rng.uniform(lon0, lon1, 400), rng.uniform(lat0, lat1, 400), strict=True)
    ]
    # nodes themselves (ties at nodes) too
    pts += [(float(x), float(y)) for x, y in zip(sambas.roads.lon[:50], sambas.roads.lat[:50], strict=True)]
    fresh = Snapper(CompiledGraph(sambas.roads), max_snap_m=3000)
    many = fresh.snap_many(pts)
    for p, got in zip(pts, many, strict=True):
        try:
            one = snapper.snap(*p)
        except TooFarFromRoadError:
            assert got is None
            continue
        assert got is not None
        assert (got.node_a, got.node_b) == (one.node_a, one.node_b)
        assert got.fraction == pytest.approx(one.fraction, abs=1e-9)
        assert got.distance_m == pytest.approx(one.distance_m, rel=1e-9, abs=1e-6)
    assert any(m is None for m in many) and any(m is not None for m in many)
