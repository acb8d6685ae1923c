"""How fast does a road-graph cache file load? (regency scale: 10^4-10^5 nodes)

    python scripts/bench_roadgraph_io.py [--nodes 100000] [--repeat 5]

Builds a synthetic grid-like road graph (each node linked both ways to its east and north
neighbours), saves it in rujuk's format and times save and load.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from geodata.roadgraph import RoadGraph, load_road_graph


def synthetic(n_nodes: int) -> RoadGraph:
    side = int(np.sqrt(n_nodes))
    n = side * side
    idx = np.arange(n).reshape(side, side)
    east = np.column_stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()])
    north = np.column_stack([idx[:-1, :].ravel(), idx[1:, :].ravel()])
    pairs = np.vstack([east, north])
    u = np.concatenate([pairs[:, 0], pairs[:, 1]])
    v = np.concatenate([pairs[:, 1], pairs[:, 0]])
    rng = np.random.default_rng(0)
    length = rng.uniform(50, 500, len(u))
    return RoadGraph(
        node_id=np.arange(n, dtype=np.int64),
        lon=109.0 + (idx % side).ravel() * 0.001,
        lat=1.0 + (idx // side).ravel() * 0.001,
        edge_u=u.astype(np.int64),
        edge_v=v.astype(np.int64),
        length_m=length,
        travel_time_s=length / (30 / 3.6),
        edge_class=np.zeros(len(u), dtype=np.int64),
        class_names=("residential",),
        modelled=False,
        source="synthetic",
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    g = synthetic(args.nodes)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "g.npz"
        t0 = time.perf_counter()
        g.save(path)
        save_s = time.perf_counter() - t0
        loads = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            load_road_graph(path)
            loads.append(time.perf_counter() - t0)
        size_mb = path.stat().st_size / 1e6
    print(f"{g.n_nodes} nodes, {g.n_edges} directed edges, file {size_mb:.1f} MB")
    print(
        f"save {save_s:.3f} s; load median {statistics.median(loads):.3f} s, max {max(loads):.3f} s "
        f"over {args.repeat} runs"
    )


if __name__ == "__main__":
    main()
