"""The synthetic country: the size rule, its calibration, determinism, roads that reach every node."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from geodata.geo import haversine_m
from geodata.national_synth import (
    LAND_KM,
    LAND_KM2,
    MAX_ROAD_KM,
    RURAL_NODES_PER_KM2,
    URBAN_NODES_PER_HOSPITAL,
    URBAN_NODES_PER_KM2,
    node_counts,
    place_puskesmas,
    plan_provinces,
    province_points,
    shard_graph,
)
from geodata.registry import read_registry
from tests.registry_file import write_registry

ROWS = [
    '"RSUD A","6171011",200,"",-0.03,109.33,"","","KOTA PONTIANAK, KALIMANTAN BARAT"',
    '"RSUD B","6172011",150,"",0.90,108.98,"","","KOTA SINGKAWANG, KALIMANTAN BARAT"',
    '"RSUD C","6101022",120,"",1.36,109.30,"","","KAB. SAMBAS, KALIMANTAN BARAT"',
    '"RSUD D","6271011",200,"",-2.21,113.92,"","","KOTA PALANGKA RAYA, KALIMANTAN TENGAH"',
    '"RSUD E","6201011",100,"",-2.55,112.95,"","","KAB. KOTAWARINGIN TIMUR, KALIMANTAN TENGAH"',
    '"RS TANPA TITIK","6271012",50,"",0,0,"","","KOTA PALANGKA RAYA, KALIMANTAN TENGAH"',
    '"RS F","3273011",300,"",-6.91,107.61,"","","KOTA BANDUNG, JAWA BARAT"',
]


def registry(tmp_path: Path) -> Path:
    return write_registry(tmp_path, ROWS)


def test_the_plan_follows_the_rule_and_spreads_the_puskesmas(tmp_path: Path) -> None:
    hospitals, _ = read_registry(registry(tmp_path))
    plans = plan_provinces(hospitals, scale=0.5, puskesmas=1_000)
    assert sorted(plans) == ["JAWA BARAT", "KALIMANTAN BARAT", "KALIMANTAN TENGAH"]
    kalteng = plans["KALIMANTAN TENGAH"]
    assert kalteng.hospitals == 2  # the one without a point is not routed to
    assert (kalteng.rural_nodes, kalteng.urban_nodes) == node_counts(
        LAND_KM2["KALIMANTAN TENGAH"], 2, scale=0.5
    )
    # the rule: rural nodes by land area, urban ones by hospital
    assert abs(kalteng.rural_nodes - 0.5 * RURAL_NODES_PER_KM2 * LAND_KM2["KALIMANTAN TENGAH"]) <= 0.5
    assert kalteng.urban_nodes == 2 * round(0.5 * URBAN_NODES_PER_HOSPITAL)
    # every Puskesmas placed; half by hospitals, half by land: Jawa Barat (1 hospital of 6, a small
    # province) has fewer than Kalimantan Barat (3 of 6, a large one)
    assert sum(p.puskesmas for p in plans.values()) == 1_000
    assert (
        plans["JAWA BARAT"].puskesmas
        < plans["KALIMANTAN TENGAH"].puskesmas
        < plans["KALIMANTAN BARAT"].puskesmas
    )
    with pytest.raises(ValueError, match="no land area"):
        plan_provinces([*hospitals, replace(hospitals[0], province="ATLANTIS")])


def test_points_are_seeded_sized_and_on_the_province(tmp_path: Path) -> None:
    hospitals, _ = read_registry(registry(tmp_path))
    plan = plan_provinces(hospitals, scale=0.2)["KALIMANTAN BARAT"]
    a = province_points(plan, hospitals, seed=3)
    b = province_points(plan, hospitals, seed=3)
    c = province_points(plan, hospitals, seed=4)
    assert np.array_equal(a.lon, b.lon) and np.array_equal(a.lat, b.lat)
    assert not np.array_equal(a.lon, c.lon)
    assert len(a.lon) == plan.nodes and int(a.urban.sum()) == plan.urban_nodes
    pts = np.array([h.point for h in hospitals if h.point and h.province == plan.province])
    d_km = np.array(
        [
            float(haversine_m(x, y, pts[:, 0], pts[:, 1]).min()) / 1000
            for x, y in zip(a.lon, a.lat, strict=True)
        ]
    )
    assert d_km[~a.urban].max() <= LAND_KM * 1.01
    # urban nodes in a square around their hospital at Balikpapan Kota's density
    half = (plan.urban_nodes / plan.hospitals / URBAN_NODES_PER_KM2) ** 0.5 / 2
    assert d_km[a.urban].max() <= half * 2**0.5 * 1.05


def test_a_shard_graph_reaches_every_node_both_ways(tmp_path: Path) -> None:
    hospitals, _ = read_registry(registry(tmp_path))
    plans = plan_provinces(hospitals, scale=0.2, puskesmas=300)
    parts = [province_points(plans[p], hospitals) for p in ("KALIMANTAN BARAT", "KALIMANTAN TENGAH")]
    g = shard_graph(parts)
    assert g.n_nodes == sum(len(p.lon) for p in parts)
    assert g.version == shard_graph(parts).version  # deterministic
    n_comp, _ = connected_components(
        csr_matrix((np.ones(g.n_edges), (g.edge_u, g.edge_v)), shape=(g.n_nodes, g.n_nodes)),
        connection="strong",
    )
    assert n_comp == 1
    crossing = g.class_names.index("crossing")
    straight = haversine_m(g.lon[g.edge_u], g.lat[g.edge_u], g.lon[g.edge_v], g.lat[g.edge_v])
    roads = g.edge_class != crossing
    assert straight[roads].max() <= MAX_ROAD_KM * 1000 + 1
    assert (g.length_m >= straight - 1e-6).all() and (g.length_m <= straight * 1.3 + 1e-6).all()
    pkm = place_puskesmas(plans["KALIMANTAN BARAT"], parts[0])
    assert len(pkm) == plans["KALIMANTAN BARAT"].puskesmas == len({p.id for p in pkm})
    on_node = {(float(x), float(y)) for x, y in zip(parts[0].lon, parts[0].lat, strict=True)}
    assert all((p.lon, p.lat) in on_node for p in pkm)
    with pytest.raises(ValueError, match="Puskesmas for"):
        place_puskesmas(plan_provinces(hospitals, scale=0.2, puskesmas=10_000)["KALIMANTAN BARAT"], parts[0])


def test_the_rule_is_calibrated_on_the_networks_at_hand(shared_data: Path) -> None:
    """The constants are what Balikpapan Kota's OSM graph and the bundled Sambas network measure."""
    from scipy.spatial import ConvexHull

    from geodata.dataset import bundled_dataset_path, load_dataset
    from geodata.osm import import_graphml

    osm = shared_data / "osm" / "balikpapan_kota_drive.graphml"
    reg = shared_data / "hospitals" / "rumah_sakit_indonesia.csv"
    if not (osm.is_file() and reg.is_file()):
        pytest.skip(f"{osm} or {reg} not found")
    g, _ = import_graphml(osm)
    hospitals, _ = read_registry(reg)
    inside = [
        h
        for h in hospitals
        if h.point is not None
        and g.lon.min() <= h.point[0] <= g.lon.max()
        and g.lat.min() <= h.point[1] <= g.lat.max()
    ]
    assert g.n_nodes / len(inside) == pytest.approx(URBAN_NODES_PER_HOSPITAL)
    kx = 111.32 * np.cos(np.radians(g.lat.mean()))
    hull_km2 = ConvexHull(np.column_stack([g.lon * kx, g.lat * 110.57])).volume
    assert g.n_nodes / hull_km2 == pytest.approx(URBAN_NODES_PER_KM2, rel=0.01)
    ds = load_dataset(bundled_dataset_path())
    assert ds.roads.n_nodes / sum(s.area_km2 for s in ds.settlements) == pytest.approx(RURAL_NODES_PER_KM2)
    # the real registry: every province has a land area, 10,000 Puskesmas in all
    plans = plan_provinces(hospitals)
    assert len(plans) == 34 and sum(p.puskesmas for p in plans.values()) == 10_000
    assert sum(LAND_KM2.values()) == pytest.approx(1_913_579, abs=1)
