"""The engine's times to a point (a pickup) equal networkx's on the *same* snapped points (Sambas).

Seen by a dispatcher: an ambulance nearer in a straight line to Puskesmas Segarau than RSUD
Sambas got an ETA of 47.7 min against RSUD's 40.9. The engine is right under the model (see
``test_a_nearer_point_on_local_roads_is_farther_by_road``): RSUD sits on the national road,
most of the ground nearer to Segarau is served by local roads only. What was wrong was the
service's use of a parked ambulance's heading (tests/service/tracking/test_nearest_reasons.py).
"""

from __future__ import annotations

import math
import random

import networkx as nx
import pytest

from geodata.dataset import bundled_dataset_path, load_dataset
from routing.engine import HEADING_TOLERANCE_DEG, RoutingEngine
from routing.errors import TooFarFromRoadError
from routing.snapping import Snap

AT_NODE = 1e-9


@pytest.fixture(scope="module")
def engine() -> RoutingEngine:
    ds = load_dataset(bundled_dataset_path("sambas"))
    receiving = {f.id: (f.location.lon, f.location.lat) for f in ds.facilities if f.receiving}
    return RoutingEngine(ds.roads, receiving, max_snap_m=ds.snap_max_m)


def _toward(e: RoutingEngine, u: int, v: int, heading: float) -> bool:
    diff = abs((heading - e.snapper.bearing_deg(u, v) + 180.0) % 360.0 - 180.0)
    return diff <= HEADING_TOLERANCE_DEG


def reference(e: RoutingEngine, g0: nx.DiGraph, o: Snap, t: Snap, heading: float | None) -> float | None:  # noqa: C901
    """Off-road + min over (entry, exit) of partial segment + networkx Dijkstra + off-road."""
    w = "travel_time"
    g = g0.copy()

    def tt(u: int, v: int) -> float | None:
        d = g0.get_edge_data(u, v)
        return None if d is None else d[w]

    def add(u: object, v: object, x: float) -> None:
        if not g.has_edge(u, v) or g[u][v][w] > x:
            g.add_edge(u, v, **{w: x})

    a, b, f = o.node_a, o.node_b, o.fraction
    to_b = to_a = True
    if heading is not None and tt(a, b) is not None and tt(b, a) is not None:
        to_b = _toward(e, a, b, heading)
        to_a = not to_b
    if to_b and tt(a, b) is not None:
        add("O", b, (1 - f) * tt(a, b))
    if to_a and tt(b, a) is not None:
        add("O", a, f * tt(b, a))
    if f <= AT_NODE:
        add("O", a, 0.0)
    if f >= 1 - AT_NODE:
        add("O", b, 0.0)
    ta, tb, ft = t.node_a, t.node_b, t.fraction
    if tt(ta, tb) is not None:
        add(ta, "T", ft * tt(ta, tb))
    if tt(tb, ta) is not None:
        add(tb, "T", (1 - ft) * tt(tb, ta))
    if ft <= AT_NODE:
        add(ta, "T", 0.0)
    if ft >= 1 - AT_NODE:
        add(tb, "T", 0.0)
    if {a, b} == {ta, tb}:  # same segment: straight along it, if driving that way
        fo = f if (a, b) == (ta, tb) else 1 - f
        u, v, span = (ta, tb, ft - fo) if ft >= fo else (tb, ta, fo - ft)
        if tt(u, v) is not None and (heading is None or span <= AT_NODE or _toward(e, u, v, heading)):
            add("O", "T", span * tt(u, v))
    try:
        return o.offroad_s + nx.dijkstra_path_length(g, "O", "T", weight=w) + t.offroad_s
    except nx.NetworkXNoPath:
        return None


def _on_road(rng: random.Random, e: RoutingEngine, edges: list[tuple[int, int]]) -> tuple[float, float]:
    """A point on a random segment, jittered up to ~600 m off it (so off-road legs are exercised)."""
    u, v = rng.choice(edges)
    fr = rng.choice([0.0, 1.0, rng.random(), rng.random()])
    g = e.graph
    lon = float(g.lon[u] + fr * (g.lon[v] - g.lon[u])) + rng.uniform(-0.005, 0.005)
    lat = float(g.lat[u] + fr * (g.lat[v] - g.lat[u])) + rng.uniform(-0.005, 0.005)
    return lon, lat


@pytest.mark.parametrize("seed", range(8))
def test_times_to_point_equal_networkx_on_same_snaps(engine: RoutingEngine, seed: int) -> None:
    rng = random.Random(seed)
    g0 = engine.to_networkx()
    edges = list(g0.edges())
    for _ in range(25):
        tx, ty = _on_road(rng, engine, edges)
        target = engine.snap(tx, ty)
        origins: list[tuple[float, float, float | None]] = []
        for _ in range(12):
            x, y = _on_road(rng, engine, edges)
            origins.append((x, y, rng.choice([None, rng.uniform(0.0, 360.0)])))
        # one origin on the pickup's own segment, on either side of it
        fr = rng.random()
        g = engine.graph
        a, b = target.node_a, target.node_b
        origins.append(
            (
                float(g.lon[a] + fr * (g.lon[b] - g.lon[a])),
                float(g.lat[a] + fr * (g.lat[b] - g.lat[a])),
                rng.choice([None, rng.uniform(0.0, 360.0)]),
            )
        )
        got = engine.times_to_point(origins, tx, ty, with_distance=False)
        want = []
        for (x, y, h), (t, _) in zip(origins, got, strict=True):
            try:
                o = engine.snap(x, y)
            except TooFarFromRoadError:  # off the map: the engine must say None
                assert t is None
                want.append(None)
                continue
            ref = reference(engine, g0, o, target, h)
            want.append(ref)
            assert (t is None) == (ref is None), (x, y, h, tx, ty)
            if ref is not None:
                assert t == pytest.approx(ref, rel=1e-9, abs=1e-6), (x, y, h, tx, ty, o, target)
        for k in (1, 3):
            ranked = engine.nearest_to_point(origins, tx, ty, k=k, with_distance=False)
            expected = sorted(r for r in want if r is not None)[:k]
            assert [t for _, t, _ in ranked] == pytest.approx(expected, rel=1e-9, abs=1e-6)
            for i, t, _ in ranked:
                assert want[i] == pytest.approx(t, rel=1e-9, abs=1e-6)


def test_a_nearer_point_on_local_roads_is_farther_by_road(engine: RoutingEngine) -> None:
    """The reported 47.7 against 40.9 min, worked through with networkx on the same snaps."""
    ds = load_dataset(bundled_dataset_path("sambas"))
    seg = next(f for f in ds.facilities if f.id == "PKM-SEGARAU").location
    rsud = next(f for f in ds.facilities if f.id == "6101022").location
    local = (109.2015, 1.1864)  # on a local road, 14.9 km from Segarau (RSUD: 27.0 km)
    line = [math.dist(p, (seg.lon, seg.lat)) for p in (local, (rsud.lon, rsud.lat))]
    assert line[0] < line[1]
    (t_local, _), (t_rsud, _) = engine.times_to_point(
        [(*local, None), (rsud.lon, rsud.lat, None)], seg.lon, seg.lat, with_distance=False
    )
    assert t_local is not None and t_rsud is not None
    assert round(t_local / 60, 1) == 47.7 and round(t_rsud / 60, 1) == 40.9
    g0 = engine.to_networkx()
    target = engine.snap(seg.lon, seg.lat)
    assert t_local == pytest.approx(reference(engine, g0, engine.snap(*local), target, None), rel=1e-9)
    assert t_rsud == pytest.approx(
        reference(engine, g0, engine.snap(rsud.lon, rsud.lat), target, None), rel=1e-9
    )
