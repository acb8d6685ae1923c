"""Routing by province: a shard holds its provinces' roads and hospitals only, and reaches them all."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from geodata.geo import haversine_m
from geodata.national_synth import plan_provinces
from geodata.registry import neighbours, read_registry
from routing.shards import SHARD_MAX_SNAP_M, hospital_ids, shard_engine, shard_network, shard_spec
from tests.registry_file import write_registry

ROWS = [
    '"RSUD A","6171011",200,"",-0.03,109.33,"","","KOTA PONTIANAK, KALIMANTAN BARAT"',
    '"RSUD B","6172011",150,"",0.90,108.98,"","","KOTA SINGKAWANG, KALIMANTAN BARAT"',
    '"RSUD C","6101022",120,"",1.36,109.30,"","","KAB. SAMBAS, KALIMANTAN BARAT"',
    '"RSUD D","6271011",200,"",-2.21,113.92,"","","KOTA PALANGKA RAYA, KALIMANTAN TENGAH"',
    # the same code twice (the 2021 registry has a few)
    '"RSUD E","6271011",100,"",-2.55,112.95,"","","KAB. KOTAWARINGIN TIMUR, KALIMANTAN TENGAH"',
    '"RS F","3273011",300,"",-6.91,107.61,"","","KOTA BANDUNG, JAWA BARAT"',
    '"RS G","3275011",300,"",-6.24,106.99,"","","KOTA BEKASI, JAWA BARAT"',
    '"RS H","3171011",300,"",-6.20,106.84,"","","JAKARTA PUSAT, DKI JAKARTA"',
]


def test_a_shard_holds_its_provinces_only_and_reaches_every_hospital(tmp_path: Path) -> None:
    path = write_registry(tmp_path, ROWS)
    hospitals, _ = read_registry(path)
    assert hospital_ids(hospitals)[3:5] == ["6271011", "6271011~2"]
    nb = neighbours(hospitals, nearest=1)
    spec = shard_spec("KALIMANTAN BARAT", hospitals, nb)
    # Kalimantan Barat's nearest province is Kalimantan Tengah; Java is not in the shard
    assert spec.provinces == ("KALIMANTAN BARAT", "KALIMANTAN TENGAH")
    assert {h.province for h in spec.hospitals} == set(spec.provinces)
    assert set(spec.ids) == {"6171011", "6172011", "6101022", "6271011", "6271011~2"}
    plans = plan_provinces(hospitals, scale=0.1, puskesmas=200)
    graph, pkm = shard_network(spec, plans, hospitals, seed=2)
    # the graph holds the shard's provinces' nodes, and no other's
    assert graph.n_nodes == sum(plans[p].nodes for p in spec.provinces)
    java = [h.point for h in hospitals if h.province in {"JAWA BARAT", "DKI JAKARTA"} and h.point]
    assert all(float(haversine_m(x, y, graph.lon, graph.lat).min()) > 100_000 for x, y in java), (
        "a Java hospital lies on the Kalimantan shard's roads"
    )
    again, pkm2 = shard_network(spec, plans, hospitals, seed=2)
    assert again.version == graph.version and pkm == pkm2  # seeded
    assert len(pkm) == plans["KALIMANTAN BARAT"].puskesmas and {p.province for p in pkm} == {
        "KALIMANTAN BARAT"
    }
    engine = shard_engine(spec, graph, cache_dir=tmp_path / "trees", warm=False)
    assert set(engine.facility_ids) == set(spec.ids)
    for fid, (lon, lat) in spec.facilities.items():
        node = engine.facility_node(fid)
        assert float(haversine_m(lon, lat, graph.lon[node], graph.lat[node])) <= SHARD_MAX_SNAP_M
    # every hospital of the shard is reached from every Puskesmas of its origin province
    for p in pkm[:: max(1, len(pkm) // 10)]:
        times = engine.travel_times(p.lon, p.lat, with_distance=False).times
        assert all(t.time_s is not None and math.isfinite(t.time_s) for t in times), p
    # a worker starting later reads the trees its shard cached
    later = shard_engine(spec, graph, cache_dir=tmp_path / "trees", warm=False)
    assert not later.trees_computed
    p = pkm[0]
    a = [t.time_s for t in engine.travel_times(p.lon, p.lat, with_distance=False).times]
    b = [t.time_s for t in later.travel_times(p.lon, p.lat, with_distance=False).times]
    assert np.allclose(np.array(a, dtype=float), np.array(b, dtype=float))


def test_a_real_shard(shared_data: Path, tmp_path: Path) -> None:
    """Gorontalo's shard on the 2021 registry, at a tenth of the rule's nodes: every hospital routed to."""
    path = shared_data / "hospitals" / "rumah_sakit_indonesia.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    hospitals, _ = read_registry(path)
    spec = shard_spec("GORONTALO", hospitals, neighbours(hospitals))
    assert "GORONTALO" in spec.provinces and len(spec.provinces) >= 2
    assert all(h.province in spec.provinces and h.point is not None for h in spec.hospitals)
    assert len(spec.hospitals) == sum(1 for h in hospitals if h.province in spec.provinces and h.point)
    plans = plan_provinces(hospitals, scale=0.1)
    graph, pkm = shard_network(spec, plans, hospitals)
    engine = shard_engine(spec, graph, warm=False)
    assert len(engine.facility_ids) == len(spec.hospitals)
    times = engine.travel_times(pkm[0].lon, pkm[0].lat, with_distance=False).times
    assert all(t.time_s is not None for t in times)
