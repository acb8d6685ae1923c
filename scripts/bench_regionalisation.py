"""Regionalisation optimiser on a synthetic province: 300 Puskesmas x 50 hospitals.

    .venv/bin/python scripts/bench_regionalisation.py [--seeds 3] [--time-limit 30]

Puskesmas and hospitals at random in a 300 x 300 km square; road time = straight line x 1.3 at
50 km/h; yearly referrals 50-500 per Puskesmas; every hospital's capacity 1.25 x the mean load.
Reports, per seed: the splittable lower bound (min-cost flow, all pairs), the solution, the gap
against that bound, the time, and the nearest-hospital-with-room reference it improves on.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from routing.regionalisation import Regionalisation, splittable_bound, synthetic_province


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--origins", type=int, default=300)
    ap.add_argument("--hospitals", type=int, default=50)
    a = ap.parse_args()
    for seed in range(a.seeds):
        p, ref = synthetic_province(a.origins, a.hospitals, seed=seed)
        t0 = time.perf_counter()
        bound = splittable_bound(p)
        flow_ms = (time.perf_counter() - t0) * 1000
        assert bound is not None
        ref_cost = sum(
            p.demand[p.origin_ids.index(o)] * p.time_s[p.origin_ids.index(o), p.hospital_ids.index(h)]
            for o, h in ref.items()
        )
        sol = Regionalisation(p, reference=ref, time_limit_s=a.time_limit, seed=seed).solve()
        print(
            json.dumps(
                {
                    "seed": seed,
                    "size": f"{a.origins}x{a.hospitals}",
                    "flow_bound_ms": round(flow_ms, 1),
                    "status": sol.status,
                    "solve_s": round(sol.solve_s, 2),
                    "gap_vs_bound_pct": round(100 * sol.gap, 3),
                    "mean_min": round(sol.mean_time_s / 60, 2),
                    "bound_mean_min": round(sol.lower_bound_s / sum(p.demand) / 60, 2),
                    "reference_mean_min": round(ref_cost / sum(p.demand) / 60, 2),
                }
            )
        )


if __name__ == "__main__":
    main()
