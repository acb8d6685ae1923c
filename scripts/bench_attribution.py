"""Benchmark naming the road conditions that changed a route, on the synthetic province graph.

    python scripts/bench_attribution.py [--side 1000] [--facilities 100] [--rounds 5]

Per round: a random origin, a road segment in the middle of its fastest route to one of 10
facilities closed both ways; then ``conditions_on_routes`` for those 10 facilities (p50 of 50
calls), ``conditions_on_routes_to_point`` for 50 origins to a point (first call, which makes the
no-condition tree to the point, and again), the trees the engine repaired and the entries of
its own overlay (and their bytes; the no-condition trees are kept as they are); then the
closure removed. Also the no-condition call.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_routing import git_commit, rss_mb, synthetic

from routing.conditions import RoadCondition
from routing.engine import RoutingEngine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=1000)
    ap.add_argument("--facilities", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    print(f"commit {git_commit()}")
    rng = np.random.default_rng(7)
    graph = synthetic(args.side)
    picks = rng.choice(graph.n_nodes, args.facilities, replace=False)
    fac = {f"F{i:03d}": (float(graph.lon[p]), float(graph.lat[p])) for i, p in enumerate(picks)}
    t0 = time.perf_counter()
    e = RoutingEngine(graph, fac, workers=args.workers, max_snap_m=5000)
    print(f"{graph.n_nodes:,} nodes, {len(fac)} facilities; engine built in {time.perf_counter() - t0:.1f} s")
    ten = list(e.facility_ids[:10])

    lon0, lat0 = float(graph.lon[0]), float(graph.lat[0])
    t = time.perf_counter()
    for _ in range(10_000):
        e.conditions_on_routes(lon0, lat0, ten)
    print(
        f"no condition in force: conditions_on_routes, 10 facilities: {(time.perf_counter() - t) / 10_000 * 1e6:.2f} us"
    )

    at = {(float(x), float(y)): i for i, (x, y) in enumerate(zip(graph.lon, graph.lat, strict=True))}
    for r in range(args.rounds):
        k = int(rng.integers(graph.n_nodes))
        lon, lat = float(graph.lon[k]), float(graph.lat[k])
        fid = ten[r % len(ten)]
        nodes = [at[xy] for xy in e.route(lon, lat, fid).coordinates[2:]]
        if len(nodes) < 2:
            continue
        u, v = nodes[len(nodes) // 2], nodes[len(nodes) // 2 + 1]
        edges = e.edges_between(int(graph.node_id[u]), int(graph.node_id[v]))
        t = time.perf_counter()
        e.apply_condition(RoadCondition.closure("closed", edges=edges))
        t_apply = time.perf_counter() - t
        times = []
        for _ in range(50):
            t = time.perf_counter()
            got = e.conditions_on_routes(lon, lat, ten)
            times.append(time.perf_counter() - t)
        origins = [
            (float(graph.lon[j]), float(graph.lat[j]), None)
            for j in rng.choice(graph.n_nodes, 50, replace=False)
        ]
        # the point: where the route was going
        px, py = fac[fid]
        t = time.perf_counter()
        named_pt = e.conditions_on_routes_to_point(origins, px, py)
        t_pt_first = time.perf_counter() - t
        t = time.perf_counter()
        e.conditions_on_routes_to_point(origins, px, py)
        t_pt_again = time.perf_counter() - t
        own = e._trees.delta
        print(
            f"round {r}: route of {len(nodes)} nodes to {fid}; apply {t_apply * 1000:.0f} ms, "
            f"{e.last_update_trees} trees repaired ({e.last_update_full_trees} whole); overlay in "
            f"{int(e._trees.replaced.sum())} trees, {own.n_entries if own else 0:,} entries "
            f"({own.nbytes if own else 0:,} bytes)"
        )
        print(
            f"  conditions_on_routes, 10 facilities: p50 {statistics.median(times) * 1000:.2f} ms, "
            f"max {max(times) * 1000:.2f} ms; named {len(got)} ({fid} {'in' if fid in got else 'NOT in'})"
        )
        print(
            f"  conditions_on_routes_to_point, 50 origins: first {t_pt_first * 1000:.0f} ms, "
            f"again {t_pt_again * 1000:.1f} ms; {sum(bool(x) for x in named_pt)} named"
        )
        t = time.perf_counter()
        e.remove_condition("closed")
        print(
            f"  remove {(time.perf_counter() - t) * 1000:.0f} ms; overlay in {int(e._trees.replaced.sum())} trees"
        )
    print(f"peak rss {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
