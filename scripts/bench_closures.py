"""Closures on the synthetic graph: how long applying one takes, and how many trees it repairs.

    nice -n 10 python scripts/bench_closures.py [--side 316] [--facilities 100] [--bound-min 600] [--runs 10]

Builds ``bench_routing.synthetic`` and an engine (2 tree workers), then closes ``--runs`` seeded
random road segments (both ways) one at a time, each reopened before the next, and prints the
apply time p50 / max and the trees each closure repaired. ``--bound-min 0``: unbounded trees.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    from bench_routing import git_commit, synthetic  # noqa: PLC0415

    from routing.conditions import RoadCondition  # noqa: PLC0415
    from routing.engine import RoutingEngine  # noqa: PLC0415

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=316)
    ap.add_argument("--facilities", type=int, default=100)
    ap.add_argument("--bound-min", type=float, default=600.0)
    ap.add_argument("--runs", type=int, default=10)
    a = ap.parse_args()
    g = synthetic(a.side)
    rng = np.random.default_rng(7)
    picks = rng.choice(g.n_nodes, a.facilities, replace=False)
    fac = {f"F{i}": (float(g.lon[p]), float(g.lat[p])) for i, p in enumerate(picks)}
    bound = a.bound_min * 60 if a.bound_min > 0 else None
    e = RoutingEngine(g, fac, max_snap_m=5000, workers=2, max_travel_s=bound)
    r = np.random.default_rng(5)
    took, trees = [], []
    for i in range(a.runs):
        edge = int(r.integers(g.n_edges))
        u, v = int(g.node_id[g.edge_u[edge]]), int(g.node_id[g.edge_v[edge]])
        cond = RoadCondition.closure(f"c{i}", edges=e.edges_between(u, v))
        s = time.perf_counter()
        e.apply_condition(cond)
        took.append(time.perf_counter() - s)
        trees.append(e.last_update_trees)
        e.remove_condition(f"c{i}")
    print(
        f"commit {git_commit()}; {g.n_nodes:,} nodes, {a.facilities} facilities, bound {bound}; "
        f"apply p50 {np.median(took) * 1000:.1f} ms, max {max(took) * 1000:.1f} ms; trees repaired {trees}"
    )


if __name__ == "__main__":
    main()
