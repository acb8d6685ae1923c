"""A digest of every answer of bench_matching's part 1 mix: to check that a change to the engine
changes no result.

    python scripts/matching_digest.py [--candidates 100] [--repeat 5000] [--statuses plain|rich]

The same facilities, requests, road times and live statuses as ``bench_matching.py`` part 1
(the same seed), run through ``rules.suggest``; every decision, candidate, rank, score, travel
time, status age and reason text (both languages), and every exclusion with its reasons, goes
into one SHA-256. Run it at two commits: the digests are equal when no answer changed.
``--statuses rich`` gives every status per-figure times, specialists on call, broken equipment
and some without occupancy, which the benchmark's statuses lack.
"""

from __future__ import annotations

import argparse
import hashlib
from dataclasses import replace
from datetime import timedelta

import numpy as np
from bench_matching import NOW, jittered, statuses_for, synthetic_hospitals
from request_mix import requests

from geodata.dataset import bundled_dataset_path, load_dataset
from geodata.models import BedType, Equipment, Service
from rules.matching import suggest
from rules.model import FacilityStatus, Reason, Suggestion
from rules.pack import bundled_pack_path, load_rule_pack


def rich(statuses: dict[str, FacilityStatus], rng: np.random.Generator) -> dict[str, FacilityStatus]:
    figures = [
        "specialists_on_duty",
        "specialists_on_call",
        "equipment_out_of_order",
        "occupancy",
        *(f"beds_available.{b.value}" for b in BedType),
    ]
    out = {}
    for fid, st in statuses.items():
        times = {
            k: NOW - timedelta(minutes=float(rng.choice([1, 30, 90, 400])))
            for k in figures
            if rng.random() < 0.6
        }
        out[fid] = replace(
            st,
            specialists_on_duty=st.specialists_on_duty if rng.random() < 0.7 else frozenset(),
            specialists_on_call={s: int(rng.integers(5, 90)) for s in Service if rng.random() < 0.2},
            equipment_out_of_order=frozenset(e for e in Equipment if rng.random() < 0.15),
            occupancy=None if rng.random() < 0.2 else st.occupancy,
            figure_times=times,
        )
    return out


def said(reasons: tuple[Reason, ...]) -> list[object]:
    return [(r.rule_id, r.effect, r.text_id, r.text_en, r.references) for r in reasons]


def canonical(s: Suggestion) -> str:
    return repr(
        (
            s.decision,
            s.referral_type,
            s.need,
            s.pack_id,
            s.pack_version,
            said(s.reasons),
            said(s.warnings),
            [
                (
                    c.facility_id,
                    c.name,
                    c.rank,
                    c.score,
                    c.travel_time_s,
                    c.distance_m,
                    c.referral_type,
                    said(c.reasons),
                    c.status_age_s,
                    c.stale,
                )
                for c in s.candidates
            ],
            [(x.facility_id, x.name, said(x.reasons)) for x in s.excluded],
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--candidates", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--statuses", choices=["plain", "rich"], default="plain")
    a = ap.parse_args()
    # the draws in bench_matching.bench_single's order, so that the inputs are its inputs
    rng = np.random.default_rng(a.seed)
    ds = load_dataset(bundled_dataset_path())
    base = list(ds.facilities)
    n_real = sum(1 for f in base if f.receiving)
    facilities = tuple(base + synthetic_hospitals(base, max(0, a.candidates - n_real), rng))
    pack = load_rule_pack(bundled_pack_path(), facilities=facilities)
    origins = [f.id for f in base if not f.is_hospital]
    travel = {
        o: {f.id: (float(rng.uniform(300, 14400)), float(rng.uniform(2e3, 2e5))) for f in facilities}
        for o in origins
    }
    reqs = requests(rng, origins, a.repeat + 50)

    def draw() -> dict[str, FacilityStatus]:
        st = statuses_for(facilities, rng)
        return rich(st, rng) if a.statuses == "rich" else st

    statuses = draw()
    digest = hashlib.sha256()
    for k, r in enumerate(reqs):
        if k >= 50 and (k - 50) % 50 == 0:
            statuses = draw()
        tr = jittered(travel[r.origin_id], rng)
        s = suggest(r, pack=pack, facilities=facilities, statuses=statuses, travel=tr, now=NOW)
        digest.update(canonical(s).encode())
    print(f"{digest.hexdigest()}  {len(reqs)} answers, {a.statuses} statuses")


if __name__ == "__main__":
    main()
