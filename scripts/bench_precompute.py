"""The precompute matrix: facility trees for 12, 100 and 1,000 facilities on 10k, 100k and 1M nodes.

    nice -n 10 python scripts/bench_precompute.py [--quick] [--bound-min 600] [--json out.json]

For each graph size (``bench_routing.synthetic``: a jittered side x side grid; sides 100, 316,
1000) and facility count (random nodes, seeded), each cell in fresh processes:

* **cold**: a process builds the engine with an empty tree cache (``--tree-workers`` processes
  compute the trees) and writes it: seconds for the engine, bytes on disk, the entries kept
  (nodes within ``--bound-min`` of each facility) as a share of trees x nodes;
* **warm**: another process starts as a service worker does (imports, loads the road-graph
  file, builds the engine from the cached trees, answers one query): seconds to the first
  answer; then ``--lookups`` suggestion-shaped lookups from fresh random points (times to every
  facility, and times with road distances as ``Matcher.travel_from`` asks them), p50/p99;
  then its memory from ``/proc/self/smaps_rollup``: RSS, PSS (a page shared by n processes
  counts 1/n) and anonymous (its own pages; the memory-mapped trees are file pages shared by
  every worker of the host, not in it).

A cell whose upper bound (28 bytes x trees x nodes) would not fit in half the free
memory is skipped with the reason. ``--quick``: the 10k and 100k graphs with 12 and 100
facilities (about two minutes on a quiet 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

SIDES = {"10k": 100, "100k": 316, "1M": 1000}
FACILITIES = (12, 100, 1000)
BYTES_PER_ENTRY = 28


def smaps() -> dict[str, float]:
    """RSS, PSS and anonymous memory of this process (MB), from /proc/self/smaps_rollup.

    Anonymous pages are the process's own (heap, arrays it made); the rest of its RSS is files
    mapped: libraries and the cached trees, whose pages every worker of the host shares.
    """
    kb: dict[str, int] = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        kb[name.strip()] = int(value.split()[0])
    return {"rss_mb": kb["Rss"] / 1024, "pss_mb": kb["Pss"] / 1024, "anon_mb": kb["Anonymous"] / 1024}


def child(mode: str, graph_path: str, fac_path: str, cache_dir: str, args: str) -> None:
    """One process of a cell: ``cold`` (build and write the cache) or ``warm`` (start from it)."""
    t0 = time.perf_counter()
    from geodata.roadgraph import load_road_graph  # noqa: PLC0415  imports are part of the start
    from routing.engine import RoutingEngine  # noqa: PLC0415
    from routing.tree_cache import cache_bytes  # noqa: PLC0415

    opts = json.loads(args)
    graph = load_road_graph(graph_path)
    fac = {k: tuple(v) for k, v in json.loads(Path(fac_path).read_text()).items()}
    t1 = time.perf_counter()
    engine = RoutingEngine(
        graph,
        fac,
        cache_dir=Path(cache_dir),
        workers=opts["tree_workers"],
        max_snap_m=5000,
        max_travel_s=opts["bound_s"],
        warm=False,
    )
    t2 = time.perf_counter()
    lon, lat = next(iter(fac.values()))
    engine.travel_times(lon + 0.001, lat + 0.001, with_distance=False)
    first = time.perf_counter() - t0
    out: dict[str, object] = {"computed": engine.trees_computed, "engine_s": t2 - t1, "first_s": first}
    if mode == "cold":
        assert engine.tree_cache is not None
        out["cache_bytes"] = cache_bytes(*engine.tree_cache)
        out["entries"] = engine.tree_entries()
        out["share"] = engine.tree_entries() / (len(engine._tree_nodes) * graph.n_nodes)
    else:
        rng = np.random.default_rng(opts["seed"])
        lo_lon, hi_lon = float(graph.lon.min()), float(graph.lon.max())
        lo_lat, hi_lat = float(graph.lat.min()), float(graph.lat.max())
        points = np.column_stack(
            [rng.uniform(lo_lon, hi_lon, opts["lookups"]), rng.uniform(lo_lat, hi_lat, opts["lookups"])]
        )
        for key, dist in (("times", False), ("with_distance", True)):
            took = []
            for x, y in points.tolist():
                s = time.perf_counter()
                engine.travel_times(x, y, with_distance=dist)
                took.append(time.perf_counter() - s)
            ms = np.array(took) * 1000
            out[f"{key}_p50_ms"] = float(np.percentile(ms, 50))
            out[f"{key}_p99_ms"] = float(np.percentile(ms, 99))
        out.update(smaps())
    print(json.dumps(out), flush=True)


def run_child(mode: str, *args: str, timeout: float) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", mode, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode:
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def free_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:7])
        return
    from bench_routing import git_commit, synthetic  # noqa: PLC0415

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10k and 100k nodes, 12 and 100 facilities")
    ap.add_argument("--sizes", nargs="+", choices=list(SIDES), default=list(SIDES))
    ap.add_argument("--facilities", type=int, nargs="+", default=list(FACILITIES))
    ap.add_argument(
        "--bound-min", type=float, default=600.0, help="reach of a tree (the pack's max_travel_min)"
    )
    ap.add_argument("--tree-workers", type=int, default=2)
    ap.add_argument("--lookups", type=int, default=300)
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--json", type=Path, help="write the rows here too")
    a = ap.parse_args()
    sizes, facilities = (["10k", "100k"], [12, 100]) if a.quick else (a.sizes, a.facilities)
    opts = {"tree_workers": a.tree_workers, "bound_s": a.bound_min * 60.0, "lookups": a.lookups, "seed": 11}
    started = time.time()
    print(
        f"commit {git_commit()}; bound {a.bound_min:g} min; tree workers {a.tree_workers}; load {os.getloadavg()}"
    )
    print(
        "| nodes | facilities | entries kept | cold build s | cache on disk MB | warm start s "
        "| RSS MB | PSS MB | own (anon) MB | times p50/p99 ms | with distances p50/p99 ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    with tempfile.TemporaryDirectory(prefix="rujuk-precompute-") as tmp:
        for size in sizes:
            graph = synthetic(SIDES[size])
            graph_path = Path(tmp) / f"roads-{size}.npz"
            graph.save(graph_path)
            for k in facilities:
                row: dict[str, object] = {"size": size, "nodes": graph.n_nodes, "facilities": k}
                dense = BYTES_PER_ENTRY * k * graph.n_nodes
                if dense > free_bytes() // 2:
                    row["skipped"] = (
                        f"up to {dense / 2**30:.0f} GB of trees; {free_bytes() / 2**30:.0f} GB free"
                    )
                    rows.append(row)
                    print(f"| {graph.n_nodes:,} | {k} | skipped: {row['skipped']} |", flush=True)
                    continue
                rng = np.random.default_rng(7)
                picks = rng.choice(graph.n_nodes, k, replace=False)
                fac = {f"F{i:04d}": (float(graph.lon[p]), float(graph.lat[p])) for i, p in enumerate(picks)}
                fac_path = Path(tmp) / f"fac-{size}-{k}.json"
                fac_path.write_text(json.dumps(fac))
                cache = Path(tmp) / f"cache-{size}-{k}"
                args = (str(graph_path), str(fac_path), str(cache), json.dumps(opts))
                row["cold"] = run_child("cold", *args, timeout=a.timeout)
                row["warm"] = run_child("warm", *args, timeout=a.timeout)
                rows.append(row)
                c, w = row["cold"], row["warm"]
                assert isinstance(c, dict) and isinstance(w, dict)
                if "error" in c or "error" in w:
                    print(
                        f"| {graph.n_nodes:,} | {k} | error: {c.get('error') or w.get('error')} |", flush=True
                    )
                    continue
                print(
                    f"| {graph.n_nodes:,} | {k} | {c['share']:.0%} | {c['engine_s']:.1f} "
                    f"| {c['cache_bytes'] / 2**20:.0f} | {w['first_s']:.2f} "
                    f"| {w['rss_mb']:.0f} | {w['pss_mb']:.0f} | {w['anon_mb']:.0f} "
                    f"| {w['times_p50_ms']:.2f} / {w['times_p99_ms']:.2f} "
                    f"| {w['with_distance_p50_ms']:.2f} / {w['with_distance_p99_ms']:.2f} |",
                    flush=True,
                )
                import shutil  # noqa: PLC0415

                shutil.rmtree(cache, ignore_errors=True)
    print(f"whole run {time.time() - started:.0f} s")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
