"""Planning benchmark on the bundled Sambas data: 100,000 synthetic referrals through the engine.

    .venv/bin/python scripts/bench_planning.py [--referrals 100000] [--runs 3]

Prints, per run: demand generation, simulation (every referral through Matcher.suggest; no
occupancy dynamics), metrics; then the regionalisation optimiser on that demand.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from geodata.dataset import bundled_dataset_path, load_dataset
from service.matcher import Matcher
from service.planning.demand import synthetic
from service.planning.optimise import optimise
from service.planning.simulate import metrics, simulate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--referrals", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    ds = load_dataset(bundled_dataset_path("sambas"))
    for run in range(a.runs):
        m = Matcher.load(ds)  # a fresh engine each run: nothing cached from the previous one
        t0 = time.perf_counter()
        demand = synthetic(ds, referrals=a.referrals, seed=run)
        t1 = time.perf_counter()
        out = simulate(m, demand)
        t2 = time.perf_counter()
        tables = metrics(out, demand, m)
        t3 = time.perf_counter()
        print(json.dumps({"run": run, "referrals": a.referrals, "demand_s": round(t1 - t0, 2),
                          "simulate_s": round(t2 - t1, 2), "metrics_s": round(t3 - t2, 2),
                          "mean_min": float(tables["overall"].iloc[0]["mean_min"])}))  # fmt: skip
    plan = optimise(m, demand, time_limit_s=30, seed=0)
    s = plan.solution
    print(json.dumps({"optimiser": "sambas, 28 Puskesmas x 3 regional hospitals", "status": s.status,
                      "solve_s": round(s.solve_s, 3), "gap_pct": round(100 * s.gap, 3),
                      "mean_min": round(s.mean_time_s / 60, 2), "regulation_mean_min": round(plan.current_mean_s / 60, 2),
                      "moves": len(plan.scenario.changes)}))  # fmt: skip


if __name__ == "__main__":
    main()
