"""Benchmark the matching engine (rules.suggest) and the end-to-end suggestion path.

    python scripts/bench_matching.py [--candidates 100] [--repeat 5000] [--batch 3000] [--seed 1]

The requests are a realistic, seeded mix, all different: every Puskesmas origin; the diagnoses
of the planner's synthetic demand (``service.planning.demand.CONDITION_GROUPS``) weighted by
their rates, with their age ranges (ages drawn to the day), sexes, emergency shares and service
types; a few back-referrals and disaster-status requests. Each request has road times of its own,
as a request sent from a phone's position has (the origin's times, each drawn within +-15 %),
and live statuses change as they do in service (re-drawn every 50 requests).

1. One request against N candidate hospitals with travel times given: the Sambas facilities
   plus synthetic hospitals (copies of the real ones with new ids, shuffled services, beds and
   live statuses, some stale, some full, some not accepting) up to N receiving candidates.
   Reports p50/p99/max latency over ``--repeat`` requests (after ``gc.freeze()`` and with the
   collector's thresholds at ``service.GC_THRESHOLD``, as the service has once its data is
   loaded; ``--gc-default`` keeps Python's 700, 10, 10), and the garbage collector's runs and
   pauses during them.
2. A batch of ``--batch`` requests through ``Matcher.suggest`` on the bundled data, each from a
   phone's position near its Puskesmas (on a road within about 5 km, then up to 50 m off it):
   snapping, road travel and matching,
   per request; p50/p99/max and throughput on one core.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Self

import numpy as np
from request_mix import positions_near, requests

from geodata.dataset import bundled_dataset_path, load_dataset
from geodata.models import BedType, Facility, Service
from routing.errors import RoutingError
from rules.errors import RulesError
from rules.matching import suggest
from rules.model import FacilityStatus
from rules.pack import bundled_pack_path, load_rule_pack
from service import GC_THRESHOLD
from service.matcher import Matcher

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "-uno"], capture_output=True, text=True, check=False
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip() + ("+changes" if dirty.strip() else "")


class GcWatch:
    """The garbage collector's runs and pauses (``gc.callbacks``), per generation."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.pauses.append((int(info["generation"]), (time.perf_counter() - self._t0) * 1000))

    def __enter__(self) -> Self:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self)

    def report(self) -> str:
        if not self.pauses:
            return "gc: no collection"
        ms = [p for _, p in self.pauses]
        by_gen = {g: sum(1 for gg, _ in self.pauses if gg == g) for g in (0, 1, 2)}
        return (
            f"gc: {len(ms)} collections (gen0/1/2 {by_gen[0]}/{by_gen[1]}/{by_gen[2]}), "
            f"{sum(ms):.1f} ms in all, max {max(ms):.2f} ms"
        )


def jittered(travel: dict[str, tuple[float, float] | None], rng: np.random.Generator) -> dict[str, Any]:
    """The road times from a point near the origin: each time and distance within +-15 %.

    Python floats, as the routing engine gives them (``routing.engine``): a numpy scalar would
    make every score's ``round`` numpy's, ten times slower and not the service's.
    """
    f = rng.uniform(0.85, 1.15, size=len(travel)).tolist()
    return {
        k: (v[0] * x, v[1] * x) if v is not None else None
        for (k, v), x in zip(travel.items(), f, strict=True)
    }


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


def bench_single(n_candidates: int, repeat: int, seed: int, threshold: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(seed)
    ds = load_dataset(bundled_dataset_path())
    base = list(ds.facilities)
    n_real = sum(1 for f in base if f.receiving)
    facilities = tuple(base + synthetic_hospitals(base, max(0, n_candidates - n_real), rng))
    pack = load_rule_pack(bundled_pack_path(), facilities=facilities)
    origins = [f.id for f in base if not f.is_hospital]
    travel = {
        o: {f.id: (float(rng.uniform(300, 14400)), float(rng.uniform(2e3, 2e5))) for f in facilities}
        for o in origins
    }
    reqs = requests(rng, origins, repeat + 50)
    gc.collect()
    gc.freeze()  # as `rujuk serve` does after loading: start-up objects leave the collector's scans
    gc.set_threshold(*threshold)
    statuses = statuses_for(facilities, rng)
    for r in reqs[:50]:  # warm up (ICD lookups are cached)
        tr = jittered(travel[r.origin_id], rng)
        suggest(r, pack=pack, facilities=facilities, statuses=statuses, travel=tr, now=NOW)
    lat: list[float] = []
    ranked = 0
    with GcWatch() as watch:
        # each request's road times and, every 50 requests, the live statuses are made as the
        # service makes them (per request, then dropped), outside the time measured
        for k, r in enumerate(reqs[50:]):
            if k % 50 == 0:
                statuses = statuses_for(facilities, rng)
            tr = jittered(travel[r.origin_id], rng)
            t0 = time.perf_counter()
            s = suggest(r, pack=pack, facilities=facilities, statuses=statuses, travel=tr, now=NOW)
            lat.append((time.perf_counter() - t0) * 1000)
            ranked += len(s.candidates)
    n_recv = sum(1 for f in facilities if f.receiving)
    shapes = len({(r.origin_id, r.icd10, r.age_years, r.sex, r.emergency, r.service_type) for r in reqs[50:]})
    print(
        f"single request: {len(facilities)} facilities ({n_recv} receiving candidates), {repeat} requests "
        f"({shapes} distinct request shapes, every one with its own road times) at {commit()}"
    )
    print(
        f"  latency ms: p50 {statistics.median(lat):.3f}  p99 {pct(lat, 99):.3f}  max {max(lat):.3f}"
        f"  (mean ranked {ranked / repeat:.1f})"
    )
    print(f"  {watch.report()}")


def bench_batch(n: int, seed: int, threshold: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(seed)
    ds = load_dataset(bundled_dataset_path())
    t0 = time.perf_counter()
    matcher = Matcher.load(ds)
    t1 = time.perf_counter()
    origins = [f.id for f in ds.facilities if not f.is_hospital]
    reqs = requests(rng, origins, n)
    points = {f.id: (f.location.lon, f.location.lat) for f in ds.facilities}
    where = positions_near(ds.roads, points, [r.origin_id for r in reqs], rng)
    decisions: dict[str, int] = {}
    lat: list[float] = []
    gc.collect()
    gc.freeze()
    gc.set_threshold(*threshold)
    with GcWatch() as watch:
        t2 = time.perf_counter()
        for r, (lon, la) in zip(reqs, where, strict=True):
            a = time.perf_counter()
            try:
                s = matcher.suggest(r, statuses={}, now=NOW, lon=lon, lat=la)
            except (RulesError, RoutingError) as e:  # the service answers 422 (too far from a road)
                decisions[type(e).__name__] = decisions.get(type(e).__name__, 0) + 1
                continue
            lat.append((time.perf_counter() - a) * 1000)
            decisions[s.decision.value] = decisions.get(s.decision.value, 0) + 1
        t3 = time.perf_counter()
    print(
        f"batch: {n} requests through Matcher.suggest from a position near the origin (snap, road "
        f"travel, matching), bundled Sambas, at {commit()}"
    )
    print(
        f"  matcher load {t1 - t0:.2f} s; latency ms p50 {statistics.median(lat):.3f}  p99 {pct(lat, 99):.3f}"
        f"  max {max(lat):.3f}; {n / (t3 - t2):.0f} requests/s; decisions {decisions}"
    )
    print(f"  {watch.report()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--candidates", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--gc-default", action="store_true", help="Python's collector thresholds, not the service's"
    )
    a = ap.parse_args()
    threshold = (700, 10, 10) if a.gc_default else GC_THRESHOLD
    print(f"collector thresholds {threshold}")
    bench_single(a.candidates, a.repeat, a.seed, threshold)
    bench_batch(a.batch, a.seed, threshold)


if __name__ == "__main__":
    main()
