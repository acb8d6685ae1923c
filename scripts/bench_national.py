"""The national synthetic benchmark: routing partitioned by province, shard by shard.

    nice -n 10 python scripts/bench_national.py [--provinces N | --province NAME ...]
        [--requests 400] [--seed 1] [--scale 1.0] [--workers 1] [--start-workers 2]
        [--max-travel-min 0] [--budget-gb 8] [--registry PATH] [--classes PATH] [--cache-dir DIR]

Indonesia's hospitals from the 2021 registry (``geodata.registry``; ``--registry``, default
``$RUJUK_SHARED_DATA/hospitals/rumah_sakit_indonesia.csv``, ``RUJUK_SHARED_DATA`` defaulting to
``../shared/data`` from the repository), generated road graphs and Puskesmas sized by the rule of
``geodata.national_synth`` (``--scale`` multiplies the road nodes). For each origin province
chosen (``--provinces N``: Kalimantan Barat first, then the others in a seeded order; default all
34; or ``--province`` by name), its shard (the province and its neighbours,
``routing.shards``) is built in a fresh process:

1. **build**: registry, plan, the shard's road graph, the routing engine computing its facility
   trees and writing them to the tree cache (seconds of each, and the process's RSS and PSS from
   ``/proc/self/smaps_rollup``);
2. **suggestions**: ``--requests`` requests of the realistic mix (``request_mix.requests``) from
   the origin province's generated Puskesmas, every other one from a random position in the
   province instead (a road node, then up to ~300 m off it): travel times by road to every
   hospital of the shard, then ``rules.matching.suggest`` over them with the Sambas rule pack
   (its regions name Sambas' facilities, so for these origins only its general rules apply:
   clinical needs, capability, beds, live status, ranking) and synthetic capabilities (services,
   equipment and bed types drawn by the registry's hospital class, ``synthetic_facility``) and live
   statuses (re-drawn every 50 requests). p50/p99/max of the routing, the matching and both;
3. **start-up**: ``--start-workers`` fresh processes together (a shard's workers on a host) load
   the saved graph, open the cached trees (memory-mapped, shared) and answer one suggestion each;
   the slowest one's seconds from its process's creation to that answer, and RSS and PSS per
   worker (mean), read once all have answered (PSS counts a page n workers share as 1/n).

The trees are unbounded by default (an entry per node per hospital, ``routing.sparse_trees``:
20 bytes each); ``--max-travel-min`` bounds their reach. A shard whose trees could exceed
``--budget-gb`` is skipped and said so. Prints the commit, one line per shard, then the totals.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import astuple, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from bench_routing import git_commit
from request_mix import requests

from geodata.models import (
    BedType,
    CareLevel,
    Equipment,
    Facility,
    FacilityKind,
    HospitalClass,
    LonLat,
    Service,
)
from geodata.national_synth import Puskesmas, plan_provinces
from geodata.registry import RegistryHospital, neighbours, read_registry
from geodata.roadgraph import load_road_graph
from routing.shards import ShardSpec, shard_engine, shard_network, shard_spec
from routing.sparse_trees import BYTES_PER_ENTRY
from rules.matching import suggest
from rules.model import FacilityStatus
from rules.pack import bundled_pack_path, load_rule_pack

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
HOME = "KALIMANTAN BARAT"
REPO = Path(__file__).resolve().parent.parent


def shared_data() -> Path:
    return Path(os.environ.get("RUJUK_SHARED_DATA", REPO.parent / "shared" / "data"))


def memory_mb() -> dict[str, float]:
    """RSS and PSS of this process in MB (``/proc/self/smaps_rollup``)."""
    out = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in {"Rss", "Pss"}:
            out[key.lower()] = int(rest.split()[0]) / 1024
    return out


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def slug(province: str) -> str:
    return province.lower().replace(" ", "-")


# ----- synthetic capabilities ------------------------------------------------------------------


def synthetic_facility(
    hid: str, h: Any, klass: str | None, kind: str | None, rng: np.random.Generator
) -> Any:
    """A registry hospital as a matching candidate, its capabilities SYNTHETIC (the registry has
    none): services and equipment drawn by class (A all, B most, C the four basic specialties and
    some, D two to four of them), the registry's beds split by type in fixed shares."""
    basic = [Service.ANAK, Service.BEDAH, Service.OBGYN, Service.PENYAKIT_DALAM]
    other = [
        s for s in Service if s not in basic and s not in {Service.UMUM, Service.PERSALINAN, Service.IGD}
    ]
    cls = {"A": HospitalClass.A, "B": HospitalClass.B, "C": HospitalClass.C, "D": HospitalClass.D}.get(
        (klass or "").upper(), HospitalClass.D_PRATAMA if (klass or "").upper() == "D PRATAMA" else None
    )
    share = {HospitalClass.A: 1.0, HospitalClass.B: 0.7, HospitalClass.C: 0.25}.get(cls, 0.05)
    services = {Service.IGD, Service.UMUM}
    services |= (
        set(basic)
        if cls in {HospitalClass.A, HospitalClass.B, HospitalClass.C}
        else set(rng.choice(basic, size=int(rng.integers(2, 5)), replace=False).tolist())
    )
    services |= {s for s in other if rng.random() < share}
    core = [Equipment.XRAY, Equipment.ULTRASOUND, Equipment.ECG, Equipment.LABORATORY]
    rich = [e for e in Equipment if e not in core]
    equipment = set(core) | {e for e in rich if rng.random() < max(share, 0.2)}
    total = max(10, int(h.beds))
    beds = {
        BedType.GENERAL: round(total * 0.70),
        BedType.MATERNITY: round(total * 0.10),
        BedType.ISOLATION: round(total * 0.07),
        BedType.ICU: round(total * 0.05),
        BedType.HCU: round(total * 0.03),
        BedType.NICU: round(total * 0.03),
        BedType.PICU: round(total * 0.02),
    }
    lon, lat = h.point
    return Facility(
        id=hid,
        name=h.name,
        kind=FacilityKind.RUMAH_SAKIT_KHUSUS if (kind or "RSU") != "RSU" else FacilityKind.RUMAH_SAKIT_UMUM,
        level=CareLevel.FKTL,
        kecamatan="",
        regency=h.place.rsplit(",", 1)[0].strip(),
        location=LonLat(lon, lat),
        hospital_class=cls,
        services=frozenset(services),
        equipment=frozenset(equipment),
        beds=beds,
        receiving=True,
    )


def puskesmas_facility(p: Any) -> Any:
    return Facility(
        id=p.id,
        name=p.id,
        kind=FacilityKind.PUSKESMAS,
        level=CareLevel.FKTP,
        kecamatan="",
        regency="",
        location=LonLat(p.lon, p.lat),
        services=frozenset({Service.UMUM}),
    )


def statuses(facilities: list[Any], rng: np.random.Generator) -> dict[str, Any]:
    """Live statuses as in ``bench_matching``: some never report, some stale, some full."""
    out = {}
    for f in facilities:
        if rng.random() < 0.1:
            continue
        out[f.id] = FacilityStatus(
            f.id,
            NOW - timedelta(minutes=float(rng.choice([5, 20, 60, 300]))),
            beds_available={b: int(rng.integers(0, 4)) for b in f.beds},
            specialists_on_duty=frozenset(s for s in sorted(f.services) if rng.random() < 0.7),
            not_accepting_until=NOW + timedelta(hours=1) if rng.random() < 0.05 else None,
            occupancy=float(rng.random()),
        )
    return out


def read_classes(path: Path | None) -> dict[str, tuple[str, str]]:
    """``kode_rs`` -> (class, kind) from the register's table of classes and beds, when given."""
    if path is None or not path.is_file():
        return {}
    rows = json.loads(path.read_text())
    return {
        str(r["d.kode_rs"]).zfill(7): (str(r.get("d.kelas") or ""), str(r.get("d.jenis_rs") or ""))
        for r in rows
    }


# ----- the children: one shard each ------------------------------------------------------------


@dataclass
class Cell:
    origin: str
    registry: str
    classes: str
    seed: int
    scale: float
    cache_dir: str
    workers: int
    requests: int
    #: the trees' reach in minutes (0: unbounded)
    max_travel_min: float


def _matching_world(cell: Cell, spec: Any, seed: int) -> tuple[list[Any], Any]:
    classes = read_classes(Path(cell.classes) if cell.classes else None)
    rng = np.random.default_rng([seed, 3])
    facilities = [
        synthetic_facility(i, h, *classes.get(h.code, (None, None)), rng)
        for i, h in zip(spec.ids, spec.hospitals, strict=True)
    ]
    return facilities, load_rule_pack(bundled_pack_path())


def _suggest_once(
    engine: Any,
    pack: Any,
    facilities: list[Any],
    st: dict[str, Any],
    req: Any,
    origin: Any,
    lon: float,
    lat: float,
) -> tuple[float, float, Any]:
    t0 = time.perf_counter()
    tt = engine.travel_times(lon, lat, with_distance=False)
    travel = {t.facility_id: (t.time_s, None) if t.time_s is not None else None for t in tt.times}
    t1 = time.perf_counter()
    s = suggest(req, pack=pack, facilities=facilities, statuses=st, travel=travel, now=NOW, origin=origin)
    return t1 - t0, time.perf_counter() - t1, s


def bound_s(cell: Cell) -> float | None:
    return cell.max_travel_min * 60 if cell.max_travel_min > 0 else None


def child_build(cell: Cell) -> dict[str, Any]:
    t0 = time.perf_counter()
    hospitals, _ = read_registry(Path(cell.registry))
    plans = plan_provinces(hospitals, scale=cell.scale)
    spec = shard_spec(cell.origin, hospitals, neighbours(hospitals))
    t1 = time.perf_counter()
    graph, pkm = shard_network(spec, plans, hospitals, seed=cell.seed)
    t2 = time.perf_counter()
    cache = Path(cell.cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    engine = shard_engine(spec, graph, cache_dir=cache, workers=cell.workers, max_travel_s=bound_s(cell))
    t3 = time.perf_counter()
    mem_built = memory_mb()
    graph.save(cache / f"{slug(cell.origin)}.npz")
    # what a shard's deployment ships besides its graph: its hospitals and Puskesmas
    (cache / f"{slug(cell.origin)}.json").write_text(
        json.dumps(
            {
                "provinces": list(spec.provinces),
                "hospitals": [[i, *astuple(h)] for i, h in zip(spec.ids, spec.hospitals, strict=True)],
                "pkm": [[p.id, p.lon, p.lat] for p in pkm],
            }
        )
    )
    facilities, pack = _matching_world(cell, spec, cell.seed)
    rng = np.random.default_rng([cell.seed, 5])
    origins = [puskesmas_facility(p) for p in pkm]
    by_id = {o.id: o for o in origins}
    reqs = requests(rng, [o.id for o in origins], cell.requests + 20)
    # the origin province's nodes: the shard graph holds its provinces' nodes in turn
    own = spec.provinces.index(cell.origin)
    lo = sum(plans[p].nodes for p in spec.provinces[:own])
    in_province = np.arange(lo, lo + plans[cell.origin].nodes)
    gc.collect()
    gc.freeze()  # as `rujuk serve` does once its data is loaded (its thresholds stay Python's 700/10/10)
    st = statuses(facilities, rng)
    route_t, match_t, total_t = [], [], []
    decisions: dict[str, int] = {}
    for k, r in enumerate(reqs):
        if k % 50 == 0:
            st = statuses(facilities, rng)
        o = by_id[r.origin_id]
        lon, lat = o.location.lon, o.location.lat
        if k % 2:
            n = int(rng.choice(in_province))
            lon = float(graph.lon[n] + rng.uniform(-0.0027, 0.0027))
            lat = float(graph.lat[n] + rng.uniform(-0.0027, 0.0027))
        a, b, s = _suggest_once(engine, pack, facilities, st, r, o, lon, lat)
        if k < 20:  # warm-up (ICD lookups are cached)
            continue
        route_t.append(a * 1000)
        match_t.append(b * 1000)
        total_t.append((a + b) * 1000)
        decisions[s.decision.value] = decisions.get(s.decision.value, 0) + 1
    return {
        "origin": cell.origin,
        "provinces": list(spec.provinces),
        "nodes": graph.n_nodes,
        "edges": graph.n_edges,
        "hospitals": len(spec.hospitals),
        "puskesmas": len(pkm),
        "setup_s": t1 - t0,
        "graph_s": t2 - t1,
        "trees_s": t3 - t2,
        "computed": engine.trees_computed,
        "rss_built": mem_built["rss"],
        "pss_built": mem_built["pss"],
        "route": [pct(route_t, 50), pct(route_t, 99), max(route_t)],
        "match": [pct(match_t, 50), pct(match_t, 99), max(match_t)],
        "total": [pct(total_t, 50), pct(total_t, 99), max(total_t)],
        "requests": len(total_t),
        "decisions": decisions,
        "mem_after": memory_mb(),
        # the build's peak (computing the trees holds more than the set it keeps)
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child_start(cell: Cell) -> dict[str, Any]:
    """A worker's start on a shard whose trees are cached: load, open, answer one suggestion."""
    t0 = time.perf_counter()
    cache = Path(cell.cache_dir)
    graph = load_road_graph(cache / f"{slug(cell.origin)}.npz")
    shipped = json.loads((cache / f"{slug(cell.origin)}.json").read_text())
    rows = [RegistryHospital(*h[1:7], tuple(h[7]), h[8]) for h in shipped["hospitals"]]
    spec = ShardSpec(
        cell.origin, tuple(shipped["provinces"]), tuple(rows), tuple(h[0] for h in shipped["hospitals"])
    )
    t1 = time.perf_counter()
    # as the service: the repair kernels are compiled after the first answer (``warm=False``)
    engine = shard_engine(
        spec, graph, cache_dir=cache, workers=cell.workers, warm=False, max_travel_s=bound_s(cell)
    )
    t2 = time.perf_counter()
    facilities, pack = _matching_world(cell, spec, cell.seed)
    pkm = [Puskesmas(i, cell.origin, x, y) for i, x, y in shipped["pkm"]]
    origin = puskesmas_facility(pkm[0])
    (req,) = requests(np.random.default_rng(cell.seed), [origin.id], 1)
    _suggest_once(engine, pack, facilities, {}, req, origin, origin.location.lon, origin.location.lat)
    first = time.time() - psutil.Process().create_time()
    print(json.dumps({"first_s": first}), flush=True)
    sys.stdin.readline()  # the parent's word: every worker of the shard has answered
    return {
        "first_s": first,
        "load_s": t1 - t0,
        "engine_s": t2 - t1,
        "computed": engine.trees_computed,
        **memory_mb(),
    }


def run_child(kind: str, cell: Cell) -> dict[str, Any]:
    p = subprocess.run(
        [sys.executable, __file__, "--child", kind, json.dumps(cell.__dict__)],
        capture_output=True,
        text=True,
        check=False,
    )
    if p.returncode:
        msg = f"{kind} {cell.origin} failed ({p.returncode}):\n{p.stderr[-3000:]}"
        raise SystemExit(msg)
    return json.loads(p.stdout.strip().splitlines()[-1])


def start_workers(cell: Cell, n: int) -> list[dict[str, Any]]:
    """``n`` workers of a shard started together on its cached trees; their memory is read once
    every one has answered (so PSS shares the tree pages among them, as on a host)."""
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--child", "start", json.dumps(cell.__dict__)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    for p in procs:  # each one's first answer
        assert p.stdout is not None
        if not p.stdout.readline():
            msg = f"start {cell.origin} failed:\n{p.communicate()[1][-3000:]}"
            raise SystemExit(msg)
    out = []
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("mem\n")
        p.stdin.flush()
    for p in procs:
        stdout, stderr = p.communicate()
        if p.returncode:
            msg = f"start {cell.origin} failed ({p.returncode}):\n{stderr[-3000:]}"
            raise SystemExit(msg)
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


# ----- the parent ------------------------------------------------------------------------------


def choose(provinces: list[str], n: int | None, names: list[str] | None, seed: int) -> list[str]:
    if names:
        unknown = sorted(set(names) - set(provinces))
        if unknown:
            raise SystemExit(f"unknown province(s) {unknown}; the registry has {provinces}")
        return names
    rest = sorted(p for p in provinces if p != HOME)
    random.Random(seed).shuffle(rest)
    order = ([HOME] if HOME in provinces else []) + rest
    return order[: n or len(order)]


def fmt3(x: list[float]) -> str:
    return f"{x[0]:.2f}/{x[1]:.2f}/{x[2]:.1f}"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        cell = Cell(**json.loads(sys.argv[3]))
        out = child_build(cell) if sys.argv[2] == "build" else child_start(cell)
        print(json.dumps(out), flush=True)
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--provinces", type=int, default=None, help="the first N origin provinces (default all)")
    ap.add_argument("--province", action="append", help="an origin province by name (repeatable)")
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies the road nodes of the rule")
    ap.add_argument("--workers", type=int, default=1, help="processes computing a shard's trees")
    ap.add_argument(
        "--start-workers", type=int, default=2, help="workers of a shard started together on its cached trees"
    )
    ap.add_argument(
        "--budget-gb", type=float, default=8.0, help="skip a shard whose trees may exceed this (at most)"
    )
    ap.add_argument(
        "--max-travel-min",
        type=float,
        default=0.0,
        help="bound the trees' reach (minutes; the pack's max_travel_min is 600); 0: unbounded",
    )
    ap.add_argument(
        "--registry", type=Path, default=shared_data() / "hospitals" / "rumah_sakit_indonesia.csv"
    )
    ap.add_argument(
        "--classes", type=Path, default=shared_data() / "hospitals" / "rs_indonesia_class_beds.json"
    )
    ap.add_argument("--cache-dir", type=Path, default=None, help="the tree cache (default: a temporary one)")
    a = ap.parse_args()
    if not a.registry.is_file():
        raise SystemExit(f"{a.registry}: no hospital registry (set RUJUK_SHARED_DATA or --registry)")
    t_all = time.perf_counter()
    print(f"commit {git_commit()}")
    hospitals, _ = read_registry(a.registry)
    plans = plan_provinces(hospitals, scale=a.scale)
    nb = neighbours(hospitals)
    chosen = choose(sorted(plans), a.provinces, a.province, a.seed)
    print(
        f"registry {a.registry.name}: {len(hospitals)} hospitals, {sum(p.hospitals for p in plans.values())} "
        f"routable, {len(plans)} provinces; national synthetic network {sum(p.nodes for p in plans.values()):,} "
        f"nodes (scale {a.scale}), {sum(p.puskesmas for p in plans.values()):,} Puskesmas; seed {a.seed}; "
        f"{len(chosen)} origin province(s); {a.requests} requests each; trees' reach "
        f"{f'{a.max_travel_min:.0f} min' if a.max_travel_min > 0 else 'unbounded'}"
    )
    print(
        "shard (origin) | provinces | nodes | hospitals | build s (graph + trees) | RSS/PSS MB built (peak RSS) | "
        "route ms p50/p99/max | match ms | total ms | start s (slowest of the workers) | RSS/PSS MB per worker started"
    )
    tmp = None
    cache_root = a.cache_dir
    if cache_root is None:
        tmp = tempfile.TemporaryDirectory(prefix="rujuk-national-")
        cache_root = Path(tmp.name)
    rows = []
    try:
        for origin in chosen:
            spec = shard_spec(origin, hospitals, nb)
            nodes = sum(plans[p].nodes for p in spec.provinces)
            # the trees: an entry per node a hospital's tree reaches (every node when unbounded)
            most_gb = BYTES_PER_ENTRY * nodes * len(spec.hospitals) / 1e9
            if most_gb > a.budget_gb:
                print(
                    f"{origin}: skipped, trees up to {most_gb:.1f} GB > budget {a.budget_gb} GB", flush=True
                )
                continue
            cell = Cell(
                origin,
                str(a.registry),
                str(a.classes),
                a.seed,
                a.scale,
                str(cache_root / slug(origin)),
                a.workers,
                a.requests,
                a.max_travel_min,
            )
            b = run_child("build", cell)
            started = start_workers(cell, a.start_workers)
            s = {
                "first_s": max(w["first_s"] for w in started),
                "computed": any(w["computed"] for w in started),
                "rss": float(np.mean([w["rss"] for w in started])),
                "pss": float(np.mean([w["pss"] for w in started])),
            }
            rows.append((b, s))
            print(
                f"{origin} | {len(b['provinces'])} | {b['nodes']:,} | {b['hospitals']} | "
                f"{b['graph_s'] + b['trees_s']:.1f} ({b['graph_s']:.1f} + {b['trees_s']:.1f}) | "
                f"{b['rss_built']:.0f}/{b['pss_built']:.0f} ({b['peak_rss']:.0f}) | {fmt3(b['route'])} | {fmt3(b['match'])} | "
                f"{fmt3(b['total'])} | {s['first_s']:.2f}{' (computed!)' if s['computed'] else ''} | "
                f"{s['rss']:.0f}/{s['pss']:.0f}",
                flush=True,
            )
    finally:
        if tmp is not None:
            tmp.cleanup()
    if not rows:
        return
    med = lambda xs: float(np.median(xs))  # noqa: E731
    builds = [b["graph_s"] + b["trees_s"] for b, _ in rows]
    print(
        f"{len(rows)} shard(s): build {sum(builds):.0f} s in all (median {med(builds):.1f}, max {max(builds):.1f}); "
        f"PSS built median {med([b['pss_built'] for b, _ in rows]):.0f} MB, max {max(b['pss_built'] for b, _ in rows):.0f} MB, "
        f"sum {sum(b['pss_built'] for b, _ in rows):.0f} MB; total ms p50 median {med([b['total'][0] for b, _ in rows]):.2f}, "
        f"p99 median {med([b['total'][1] for b, _ in rows]):.2f}, worst p99 {max(b['total'][1] for b, _ in rows):.2f}; "
        f"start-up with cached trees median {med([s['first_s'] for _, s in rows]):.2f} s, max {max(s['first_s'] for _, s in rows):.2f} s, "
        f"PSS started median {med([s['pss'] for _, s in rows]):.0f} MB, max {max(s['pss'] for _, s in rows):.0f} MB"
    )
    print(f"wall time {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
