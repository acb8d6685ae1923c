"""Time each query path on the national database (``seed_national.py``) with EXPLAIN (ANALYZE, BUFFERS).

    python scripts/bench_national_queries.py --url postgresql://postgres@127.0.0.1:5432/rujuk_national

For busy hospitals (the most-referred-to) and small Puskesmas (the least-sending), one facility
per run and a different page depth each run (the lists' pages 1 to 5): each path's statements
are captured from the service's own functions (``national_queries``), then run once more under
EXPLAIN (ANALYZE, BUFFERS); a run's time is the sum of its statements' planning and execution
times (the server's, warm cache: the capture ran them just before). Prints p50/p99/max per path
and kind of facility, the most rows any run read from the big tables, and the most buffers.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
from collections import defaultdict
from pathlib import Path

from scripts.national_queries import cases, examined, explain, nodes
from scripts.seed_national import DEFAULT_END, DEFAULT_URL, SYNTHETIC_KEYRING, Facilities
from service.database import make_engine


def _quantile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--url", default=DEFAULT_URL)
    ap.add_argument("--runs", type=int, default=50, help="runs per kind of facility (one facility each)")
    ap.add_argument("--seed", type=int, default=1, help="the seed the database was made with")
    ap.add_argument(
        "--jit", choices=("server", "on", "off"), default="server", help="the session's jit setting"
    )
    args = ap.parse_args()
    fac = Facilities.make(random.Random(args.seed))
    busy = [fac.hospitals[i] for i in fac.ranked(fac.receive_cum)[: args.runs]]
    small = [fac.puskesmas[i] for i in fac.ranked(fac.send_cum[: len(fac.puskesmas)])[-args.runs :]]
    engine = make_engine(args.url, keyring=SYNTHETIC_KEYRING)
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    rows: dict[tuple[str, str], int] = defaultdict(int)
    buffers: dict[tuple[str, str], int] = defaultdict(int)
    jitted: dict[tuple[str, str], int] = defaultdict(int)  # statements JIT-compiled
    jit = None if args.jit == "server" else args.jit == "on"
    for kind, facilities in (("busy hospital", busy), ("small Puskesmas", small)):
        for run, f in enumerate(facilities):
            for case in cases(engine, f, now=DEFAULT_END, page=run % 5):
                ms, n, b = 0.0, 0, 0
                for st in case.statements:
                    out = explain(args.url, st, analyze=True, jit=jit)
                    ms += out["Planning Time"] + out["Execution Time"]  # (JIT's compiling is in the latter)
                    jitted[case.name, kind] += "JIT" in out
                    n += examined(out["Plan"])
                    top = out["Plan"]
                    b += top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)
                    assert not any(
                        x["Node Type"] == "Seq Scan" and x.get("Relation Name") == "referrals"
                        for x in nodes(top)
                    )
                key = (case.name, kind)
                times[key].append(ms)
                rows[key] = max(rows[key], n)
                buffers[key] = max(buffers[key], b)
            print(f"{kind}: {run + 1}/{len(facilities)}", flush=True)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False,
        cwd=Path(__file__).parent,
    ).stdout.strip()  # fmt: skip
    print(
        f"\ncommit {commit}, {args.runs} runs per kind, jit {args.jit}, times in ms (planning + execution,"
        " server side)"
    )
    print("| query path | facility | p50 | p99 | max | most rows read | most buffers | JIT-compiled |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for (name, kind), xs in times.items():
        print(
            f"| {name} | {kind} | {statistics.median(xs):.2f} | {_quantile(xs, 0.99):.2f} | {max(xs):.2f}"
            f" | {rows[name, kind]:,} | {buffers[name, kind]:,} | {jitted[name, kind]} |"
        )


if __name__ == "__main__":
    main()
