"""Benchmark the routing engine against plain networkx Dijkstra on the same graph, in one run.

    python scripts/bench_routing.py sambas
    python scripts/bench_routing.py synthetic [--side 1000] [--facilities 100] [--workers 2]
        [--closures 20] [--closure-seed 11]

``synthetic`` is a province-scale road-like graph: a jittered side x side grid over West
Kalimantan's extent (~400 m spacing), 15 % of local links missing, every 25th row and column a
primary road (60 km/h, the rest 25 km/h), 5 % of local links one-way, lengths = straight distance
x U(1.0, 1.3); only the largest strongly connected part is kept. Reports build time, peak memory
(before networkx is loaded), snapping and query latency p50/p99, road closures (``--closures``
seeded random primary-road segments, each closed both ways and reopened: apply and revert
p50/p99/max; then a ~2 km flood polygon), and the same origin->all-facilities query with networkx
(ratio reported). The first line names the commit measured.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import networkx as nx
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from shapely.geometry import box

from geodata.dataset import bundled_dataset_path, load_dataset
from geodata.geo import haversine_m
from geodata.roadgraph import RoadGraph
from routing.conditions import RoadCondition
from routing.engine import RoutingEngine


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic(side: int, seed: int = 1) -> RoadGraph:
    rng = np.random.default_rng(seed)
    n = side * side
    r, c = np.divmod(np.arange(n), side)
    step = 4.0 / side
    lon = 108.5 + c * step * 0.75 + rng.uniform(-0.3, 0.3, n) * step
    lat = -2.0 + r * step + rng.uniform(-0.3, 0.3, n) * step
    idx = np.arange(n).reshape(side, side)
    east = np.column_stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()])
    north = np.column_stack([idx[:-1, :].ravel(), idx[1:, :].ravel()])
    pairs = np.vstack([east, north])
    pr, pc = np.divmod(pairs[:, 0], side)
    qr, qc = np.divmod(pairs[:, 1], side)
    primary = ((pr == qr) & (pr % 25 == 0)) | ((pc == qc) & (pc % 25 == 0))
    keep = primary | (rng.random(len(pairs)) > 0.15)
    pairs, primary = pairs[keep], primary[keep]
    one_way = ~primary & (rng.random(len(pairs)) < 0.05)
    u = np.concatenate([pairs[:, 0], pairs[~one_way, 1]])
    v = np.concatenate([pairs[:, 1], pairs[~one_way, 0]])
    cls = np.concatenate([primary, primary[~one_way]]).astype(np.int64)
    length = haversine_m(lon[u], lat[u], lon[v], lat[v]) * rng.uniform(1.0, 1.3, len(u))
    speed = np.where(cls == 1, 60.0, 25.0) / 3.6
    _, label = connected_components(csr_matrix((np.ones(len(u)), (u, v)), shape=(n, n)), connection="strong")
    big = np.bincount(label).argmax()
    node_keep = label == big
    e_keep = node_keep[u] & node_keep[v]
    new = np.cumsum(node_keep) - 1
    return RoadGraph(
        node_id=np.flatnonzero(node_keep).astype(np.int64),
        lon=lon[node_keep],
        lat=lat[node_keep],
        edge_u=new[u[e_keep]],
        edge_v=new[v[e_keep]],
        length_m=length[e_keep],
        travel_time_s=(length / speed)[e_keep],
        edge_class=cls[e_keep],
        class_names=("residential", "primary"),
        modelled=False,
        source=f"synthetic:{side}x{side}",
    )


def git_commit() -> str:
    """Short hash of the checked-out commit (with "+dirty" when the tree has changes), or "unknown"."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs) * 1000, q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("graph", choices=["sambas", "synthetic"])
    ap.add_argument("--side", type=int, default=1000)
    ap.add_argument("--facilities", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--queries", type=int, default=10_000)
    ap.add_argument("--nx-queries", type=int, default=5)
    ap.add_argument(
        "--closures", type=int, default=20, help="road segments closed (and reopened) one at a time"
    )
    ap.add_argument("--closure-seed", type=int, default=11)
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    print(f"commit {git_commit()}")

    t0 = time.perf_counter()
    if args.graph == "sambas":
        ds = load_dataset(bundled_dataset_path())
        graph = ds.roads
        fac = {f.id: (f.location.lon, f.location.lat) for f in ds.facilities if f.receiving}
    else:
        graph = synthetic(args.side)
        picks = rng.choice(graph.n_nodes, args.facilities, replace=False)
        fac = {f"F{i:03d}": (float(graph.lon[p]), float(graph.lat[p])) for i, p in enumerate(picks)}
    t_graph = time.perf_counter() - t0
    print(
        f"graph: {graph.source}: {graph.n_nodes:,} nodes, {graph.n_edges:,} directed edges, "
        f"{len(fac)} facilities (made in {t_graph:.1f} s); rss {rss_mb():.0f} MB"
    )

    t0 = time.perf_counter()
    engine = RoutingEngine(graph, fac, workers=args.workers, max_snap_m=5000)
    t_build = time.perf_counter() - t0
    print(f"engine build (compile + snap index + {len(fac)} trees, {args.workers} workers): {t_build:.1f} s")
    print(f"peak memory (engine, before networkx): {rss_mb():.0f} MB")

    # origins: random points within 300 m of random nodes; each measurement has points of its
    # own, never snapped before (the engine keeps recent snaps: a repeated point measures a hit)
    def fresh_points(n: int) -> list[tuple[float, float]]:
        nodes = rng.choice(graph.n_nodes, n)
        return [
            (
                float(graph.lon[k] + rng.uniform(-0.0027, 0.0027)),
                float(graph.lat[k] + rng.uniform(-0.0027, 0.0027)),
            )
            for k in nodes
        ]

    pts = fresh_points(args.queries)
    snaps = []
    snap_t = []
    for p in pts:
        t1 = time.perf_counter()
        snaps.append(engine.snap(*p))
        snap_t.append(time.perf_counter() - t1)
    allfac = np.arange(len(engine.facility_ids))
    look_t = []
    for s in snaps:
        t1 = time.perf_counter()
        engine._times_from_snap(s, allfac, heading=None, with_distance=False)
        look_t.append(time.perf_counter() - t1)
    it = iter(fresh_points(args.queries))
    full_t = timed(lambda: engine.travel_times(*next(it), with_distance=False), args.queries)
    it2 = iter(fresh_points(min(500, args.queries)))
    dist_t = timed(lambda: engine.travel_times(*next(it2), with_distance=True), min(500, args.queries))
    print(f"snap: p50 {pct(snap_t, 50):.3f} ms, p99 {pct(snap_t, 99):.3f} ms ({len(snap_t)} points)")
    print(
        f"origin->all facilities, lookup after snapping: p50 {pct(look_t, 50):.4f} ms, p99 {pct(look_t, 99):.4f} ms"
    )
    print(
        f"origin->all facilities, snap + lookup: p50 {pct(full_t, 50):.3f} ms, p99 {pct(full_t, 99):.3f} ms"
    )
    print(
        f"origin->all facilities with road distances: p50 {pct(dist_t, 50):.2f} ms, p99 {pct(dist_t, 99):.2f} ms"
    )

    # road closures: seeded random primary (or any) road segments, both ways, each applied then
    # reverted; then a ~2 km flood polygon
    cls_primary = graph.class_names.index("primary") if "primary" in graph.class_names else None
    cand = (
        np.flatnonzero(graph.edge_class == cls_primary)
        if cls_primary is not None
        else np.arange(graph.n_edges)
    )
    crng = np.random.default_rng(args.closure_seed)
    apply_t, revert_t, trees = [], [], []
    for k in range(args.closures):
        e = int(crng.choice(cand))
        edges = engine.edges_between(int(graph.node_id[graph.edge_u[e]]), int(graph.node_id[graph.edge_v[e]]))
        t1 = time.perf_counter()
        engine.apply_condition(RoadCondition.closure(f"seg{k}", edges=edges))
        apply_t.append(time.perf_counter() - t1)
        trees.append(engine.last_update_trees)
        t1 = time.perf_counter()
        engine.remove_condition(f"seg{k}")
        revert_t.append(time.perf_counter() - t1)
    print(
        f"closure of one road segment ({len(apply_t)} segments, seed {args.closure_seed}): "
        f"apply p50 {pct(apply_t, 50):.1f} ms, p99 {pct(apply_t, 99):.1f} ms, max {max(apply_t) * 1000:.1f} ms; "
        f"revert p50 {pct(revert_t, 50):.1f} ms, p99 {pct(revert_t, 99):.1f} ms, max {max(revert_t) * 1000:.1f} ms; "
        f"trees repaired per apply {min(trees)}-{max(trees)}"
    )
    print("  apply ms: " + " ".join(f"{t * 1000:.0f}" for t in apply_t))
    print("  revert ms: " + " ".join(f"{t * 1000:.0f}" for t in revert_t))
    k = int(rng.choice(graph.n_nodes))
    poly = box(graph.lon[k] - 0.01, graph.lat[k] - 0.01, graph.lon[k] + 0.01, graph.lat[k] + 0.01)
    t1 = time.perf_counter()
    engine.apply_condition(RoadCondition.closure("flood", polygon=poly))
    t_poly = time.perf_counter() - t1
    n_poly_trees = engine.last_update_trees
    t1 = time.perf_counter()
    engine.remove_condition("flood")
    print(
        f"closure of a ~2.2 km square (flood polygon): apply {t_poly * 1000:.1f} ms ({n_poly_trees} trees), "
        f"revert {(time.perf_counter() - t1) * 1000:.1f} ms"
    )
    print(f"peak memory after closures (every tree page touched): {rss_mb():.0f} MB")

    # networkx on the same graph
    t1 = time.perf_counter()
    g = engine.to_networkx()
    t_nx_build = time.perf_counter() - t1
    nx_t, ours_t = [], []
    fac_nodes = [engine.facility_node(f) for f in engine.facility_ids]
    for s, p in list(zip(snaps, pts, strict=True))[: args.nx_queries]:
        t1 = time.perf_counter()
        dist = nx.single_source_dijkstra_path_length(g, s.node_a, weight="travel_time")
        [dist.get(fn) for fn in fac_nodes]
        nx_t.append(time.perf_counter() - t1)
        t1 = time.perf_counter()
        engine.travel_times(*p, with_distance=False)
        ours_t.append(time.perf_counter() - t1)
    # correctness spot check: from a node, engine == networkx
    o = fac_nodes[0]
    ref = nx.single_source_dijkstra_path_length(g, o, weight="travel_time")
    got = engine.travel_times(float(graph.lon[o]), float(graph.lat[o]), with_distance=False)
    worst = max(
        abs((t.time_s or 0) - (ref.get(fn, 0) + 0))
        for t, fn in zip(got.times, fac_nodes, strict=True)
        if t.time_s is not None and fn in ref
    )
    print(
        f"networkx: graph built in {t_nx_build:.1f} s; origin->all facilities (single-source Dijkstra) "
        f"median {statistics.median(nx_t) * 1000:.3f} ms over {len(nx_t)} origins; "
        f"rujuk snap+lookup median {statistics.median(ours_t) * 1000:.3f} ms; "
        f"ratio {statistics.median(nx_t) / statistics.median(ours_t):,.0f}x; "
        f"max |rujuk - networkx| from a facility node {worst:.2e} s (facility off-road legs excluded)"
    )
    print(f"peak memory with networkx graph loaded: {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
