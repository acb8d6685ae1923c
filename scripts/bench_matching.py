"""Benchmark the matching engine (rules.suggest) and the end-to-end suggestion path.

    python scripts/bench_matching.py [--candidates 100] [--repeat 2000] [--batch 10000] [--seed 1]

1. One request against N candidate hospitals with travel times given: the Sambas facilities
   plus synthetic hospitals (copies of the real ones with new ids, shuffled services, beds and
   live statuses, some stale, some full, some not accepting) up to N receiving candidates.
   Reports p50/p99/max latency over ``--repeat`` runs of a mix of request kinds (after
   ``gc.freeze()``, as the service does once its data is loaded).
2. A batch of ``--batch`` requests (random Puskesmas origin, ICD-10 code, emergency or not,
   service type) through ``Matcher.suggest`` on the bundled data: road travel from the origin
   (snap + tree lookup) and matching, per request; throughput in requests/s on one core.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np

from geodata.dataset import bundled_dataset_path, load_dataset
from geodata.models import BedType, Facility, Service
from rules.matching import suggest
from rules.model import FacilityStatus, ReferralRequest, ServiceType, Sex
from rules.pack import bundled_pack_path, load_rule_pack
from service.matcher import Matcher

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
CODES = ["O72.1", "P07.3", "I21.9", "S06.5", "R11", "J18.9", "A97.1", "K35.8", "N18.5", "T07", "I10", "O14.1"]


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def requests(rng: np.random.Generator, origins: list[str], n: int) -> list[ReferralRequest]:
    out = []
    for _ in range(n):
        code = str(rng.choice(CODES))
        female = code.startswith("O") or rng.random() < 0.5
        age = 0.01 if code.startswith("P") else float(rng.integers(18, 80))
        emergency = bool(rng.random() < 0.4)
        st = (
            ServiceType.GAWAT_DARURAT if emergency else ServiceType(rng.choice(["rawat_jalan", "rawat_inap"]))
        )
        out.append(
            ReferralRequest(
                str(rng.choice(origins)),
                age,
                Sex.FEMALE if female else Sex.MALE,
                (code,),
                service_type=st,
                emergency=emergency,
            )
        )
    return out


def synthetic_hospitals(base: list[Facility], n: int, rng: np.random.Generator) -> list[Facility]:
    hospitals = [f for f in base if f.is_hospital]
    services = list(Service)
    out = []
    for i in range(n):
        src = hospitals[i % len(hospitals)]
        extra = frozenset(rng.choice(services, size=int(rng.integers(0, 6)), replace=False).tolist())
        beds = {b: int(rng.integers(0, 40)) for b in BedType}
        out.append(
            replace(
                src, id=f"SYN-{i:03d}", name=f"RS Sintetis {i:03d}", services=src.services | extra, beds=beds
            )
        )
    return out


def statuses_for(facilities: Sequence[Facility], rng: np.random.Generator) -> dict[str, FacilityStatus]:
    out = {}
    for f in facilities:
        if not f.receiving or rng.random() < 0.1:
            continue  # some never report
        age = float(rng.choice([5, 20, 60, 300]))  # minutes; some stale
        out[f.id] = FacilityStatus(
            f.id,
            NOW - timedelta(minutes=age),
            beds_available={b: int(rng.integers(0, 4)) for b in f.beds},
            specialists_on_duty=frozenset(s for s in sorted(f.services) if rng.random() < 0.7),
            not_accepting_until=NOW + timedelta(hours=1) if rng.random() < 0.05 else None,
            occupancy=float(rng.random()),
        )
    return out


def bench_single(n_candidates: int, repeat: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ds = load_dataset(bundled_dataset_path())
    base = list(ds.facilities)
    n_real = sum(1 for f in base if f.receiving)
    facilities = tuple(base + synthetic_hospitals(base, max(0, n_candidates - n_real), rng))
    pack = load_rule_pack(bundled_pack_path(), facilities=facilities)
    statuses = statuses_for(facilities, rng)
    origins = [f.id for f in base if not f.is_hospital]
    travel = {
        o: {f.id: (float(rng.uniform(300, 14400)), float(rng.uniform(2e3, 2e5))) for f in facilities}
        for o in origins
    }
    reqs = requests(rng, origins, repeat)
    gc.collect()
    gc.freeze()  # as `rujuk serve` does after loading: start-up objects leave the collector's scans
    for r in reqs[:50]:  # warm up (ICD lookups are cached)
        suggest(r, pack=pack, facilities=facilities, statuses=statuses, travel=travel[r.origin_id], now=NOW)
    lat: list[float] = []
    ranked = 0
    for r in reqs:
        t0 = time.perf_counter()
        s = suggest(
            r, pack=pack, facilities=facilities, statuses=statuses, travel=travel[r.origin_id], now=NOW
        )
        lat.append((time.perf_counter() - t0) * 1000)
        ranked += len(s.candidates)
    n_recv = sum(1 for f in facilities if f.receiving)
    print(f"single request: {len(facilities)} facilities ({n_recv} receiving candidates), {repeat} requests")
    print(
        f"  latency ms: p50 {statistics.median(lat):.3f}  p99 {pct(lat, 99):.3f}  max {max(lat):.3f}"
        f"  (mean ranked {ranked / repeat:.1f})"
    )


def bench_batch(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ds = load_dataset(bundled_dataset_path())
    t0 = time.perf_counter()
    matcher = Matcher.load(ds)
    t1 = time.perf_counter()
    origins = [f.id for f in ds.facilities if not f.is_hospital]
    reqs = requests(rng, origins, n)
    decisions: dict[str, int] = {}
    t2 = time.perf_counter()
    for r in reqs:
        s = matcher.suggest(r, statuses={}, now=NOW)
        decisions[s.decision.value] = decisions.get(s.decision.value, 0) + 1
    t3 = time.perf_counter()
    print(
        f"batch: {n} requests through Matcher.suggest (road travel from the origin + matching), bundled Sambas"
    )
    print(
        f"  matcher load {t1 - t0:.2f} s; batch {t3 - t2:.2f} s = {n / (t3 - t2):.0f} requests/s; decisions {decisions}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--candidates", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    bench_single(a.candidates, a.repeat, a.seed)
    bench_batch(a.batch, a.seed)


if __name__ == "__main__":
    main()
