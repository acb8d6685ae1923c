"""How long does a worker take to start on a province-scale graph, with and without cached trees?

    nice python scripts/bench_tree_cache.py [--side 1000] [--facilities 100] [--processes 1 2] [--bound-min 600]

Builds ``bench_routing.synthetic`` (a jittered side x side grid, about 1M nodes at side 1000) and
saves it as a road-graph file. Then, for each process count, starts that many fresh Python
processes together, each doing what a service worker does at start: load the road-graph file,
build the routing engine with the tree cache (``routing.tree_cache``, trees bounded at
``--bound-min``; ``--tree-workers`` processes compute missing trees) and the graph cache
(``routing.graph_cache``: compiled graph and snapping index), answer one travel-time query. First with an empty cache
(one process computes and writes, the others wait for it), then again (every process reads
the cache). Reports per process the seconds from its start to its first answer, whether it
computed the trees, and its RSS and PSS (PSS counts a page shared by n processes as 1/n).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def child(
    graph_path: str, fac_path: str, cache_dir: str, tree_workers: int, bound_s: float, start_at: float
) -> None:
    """One worker's start: import, load, build the engine (cached trees), answer a query."""
    time.sleep(max(0.0, start_at - time.time()))
    t0 = time.perf_counter()
    import psutil  # noqa: PLC0415  what a worker imports is part of its start

    from geodata.roadgraph import load_road_graph  # noqa: PLC0415
    from routing.engine import RoutingEngine  # noqa: PLC0415

    graph = load_road_graph(graph_path)
    fac = {k: tuple(v) for k, v in json.loads(Path(fac_path).read_text()).items()}
    t_graph = time.perf_counter()
    engine = RoutingEngine(
        graph, fac, cache_dir=Path(cache_dir), workers=tree_workers, max_snap_m=5000, max_travel_s=bound_s
    )
    t_engine = time.perf_counter() - t_graph
    lon, lat = next(iter(fac.values()))
    tt = engine.travel_times(lon + 0.001, lat + 0.001)
    first = time.perf_counter() - t0
    assert any(t.time_s is not None for t in tt.times)
    info = psutil.Process().memory_full_info()
    out = {
        "first_s": first,
        "computed": engine.trees_computed,
        "graph_built": engine.graph_built,
        "load_s": t_graph - t0,
        "engine_s": t_engine,
        "rss": info.rss / 2**20,
        "pss": info.pss / 2**20,
    }
    print(json.dumps(out), flush=True)


def start(n: int, args: tuple[str, ...]) -> list[dict[str, float]]:
    start_at = time.time() + 1.0
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--child", *args, str(start_at)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(n)
    ]
    out = []
    for p in procs:
        stdout, _ = p.communicate()
        if p.returncode:
            msg = f"a worker failed ({p.returncode})"
            raise SystemExit(msg)
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        g, f, c, w, b, s = sys.argv[2:8]
        child(g, f, c, int(w), float(b), float(s))
        return
    from bench_routing import git_commit, synthetic  # noqa: PLC0415

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=1000)
    ap.add_argument("--facilities", type=int, default=100)
    ap.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--tree-workers", type=int, default=2, help="processes computing missing trees")
    ap.add_argument(
        "--bound-min", type=float, default=600.0, help="reach of a tree (the pack's max_travel_min)"
    )
    a = ap.parse_args()
    print(f"commit {git_commit()}")
    with tempfile.TemporaryDirectory(prefix="rujuk-treecache-") as tmp:
        graph = synthetic(a.side)
        rng = np.random.default_rng(7)
        picks = rng.choice(graph.n_nodes, a.facilities, replace=False)
        fac = {f"F{i:03d}": (float(graph.lon[p]), float(graph.lat[p])) for i, p in enumerate(picks)}
        graph_path, fac_path = Path(tmp) / "roads.npz", Path(tmp) / "facilities.json"
        graph.save(graph_path)
        fac_path.write_text(json.dumps(fac))
        print(
            f"graph {graph.source}: {graph.n_nodes:,} nodes, {graph.n_edges:,} edges, {len(fac)} facilities"
        )
        for n in a.processes:
            cache = Path(tmp) / f"cache-{n}"
            for label in ("empty cache", "cached"):
                args = (
                    str(graph_path),
                    str(fac_path),
                    str(cache),
                    str(a.tree_workers),
                    str(a.bound_min * 60),
                )
                res = start(n, args)
                per = "; ".join(
                    f"{r['first_s']:.1f} s (graph file {r['load_s']:.1f} s, engine {r['engine_s']:.1f} s)"
                    f"{' (computed)' if r['computed'] else ''}, "
                    f"RSS {r['rss']:.0f} MB, PSS {r['pss']:.0f} MB"
                    for r in res
                )
                print(f"{n} worker(s), {label}: {per}", flush=True)


if __name__ == "__main__":
    main()
