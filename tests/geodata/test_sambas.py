"""The bundled Sambas dataset holds the facts of Perbup Sambas 49/2025 and a usable road network."""

from __future__ import annotations

from pathlib import Path

from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from shapely.geometry import Point

from geodata.dataset import Dataset, bundled_dataset_path, check_dataset, nearest_node_distance_m
from geodata.loaders import load_facilities, load_settlements
from geodata.modelled import build_modelled_network, load_network_model
from geodata.models import FacilityKind

# Pasal 12(2): each Puskesmas with its kecamatan, as the regulation lists them.
PASAL_12_2 = {
    "Sambas": "Sambas",
    "Terigas": "Sambas",
    "Semberang": "Sambas",
    "Sajad": "Sajad",
    "Sejangkung": "Sejangkung",
    "Subah": "Subah",
    "Satai": "Subah",
    "Sebawi": "Sebawi",
    "Tebas": "Tebas",
    "Segarau": "Tebas",
    "Sungai Kelambu": "Tebas",
    "Semparuk": "Semparuk",
    "Pemangkat": "Pemangkat",
    "Sebangkau": "Pemangkat",
    "Salatiga": "Salatiga",
    "Selakau Timur": "Selakau Timur",
    "Selakau": "Selakau",
    "Sentebang": "Jawai",
    "Matang Suri": "Jawai Selatan",
    "Tekarang": "Tekarang",
    "Sungai Baru": "Teluk Keramat",
    "Sekura": "Teluk Keramat",
    "Pimpinan": "Teluk Keramat",
    "Simpang Empat": "Tangaran",
    "Paloh": "Paloh",
    "Temajuk": "Paloh",
    "Galing": "Galing",
    "Sajingan Besar": "Sajingan Besar",
}


def test_bundled_dataset_passes_its_check() -> None:
    assert check_dataset(bundled_dataset_path()) == []


def test_all_28_pasal_12_puskesmas_once_in_their_kecamatan(sambas: Dataset) -> None:
    pkm = [f for f in sambas.facilities if f.kind is FacilityKind.PUSKESMAS]
    names = [f.name.removeprefix("Puskesmas ") for f in pkm]
    assert sorted(names) == sorted(PASAL_12_2)
    assert len(set(names)) == 28
    kec = {r.name: r.boundary for r in sambas.subregions}
    for f in pkm:
        assert f.kecamatan == PASAL_12_2[f.name.removeprefix("Puskesmas ")], f.id
        # inside its kecamatan (within 500 m of the simplified boundary)
        assert kec[f.kecamatan].distance(Point(f.location.lon, f.location.lat)) < 0.0045, f.id


def test_regency_coordinates_inside_sambas_and_others_outside(sambas: Dataset) -> None:
    boundary = sambas.region.boundary
    for f in sambas.facilities:
        inside = boundary.distance(Point(f.location.lon, f.location.lat)) < 0.0045
        assert inside == (f.regency == "Sambas"), f.id
    assert all(boundary.distance(Point(s.centroid.lon, s.centroid.lat)) == 0 for s in sambas.settlements)


def test_named_hospitals_with_kemenkes_codes(sambas: Dataset) -> None:
    expected = {
        "6101022": ("RSUD Sambas", "C"),
        "6101033": ("RSUD Pemangkat", "C"),
        "6101137": ("RSUD Teluk Keramat", "D Pratama"),
        "6101135": ("RS St. Elizabeth Sambas", "D"),
        "6172011": ("RSUD dr. Abdul Aziz Singkawang", "B"),
        "6171011": ("RSUD dr. Soedarso Pontianak", "B"),
    }
    for code, (name, cls) in expected.items():
        f = sambas.facility(code)
        assert (f.name, f.hospital_class) == (name, cls)
        assert f.is_hospital
        assert f.receiving
        assert f.total_beds > 0
        assert f.services


def test_193_desa_with_population(sambas: Dataset) -> None:
    assert len(sambas.settlements) == 193
    assert len({s.id for s in sambas.settlements}) == 193
    assert all(s.population > 0 and s.area_km2 > 0 for s in sambas.settlements)
    assert {s.kecamatan for s in sambas.settlements} == {r.name for r in sambas.subregions}
    assert len(sambas.subregions) == 19
    # the regency's population is of the order of the census (~0.6 million)
    assert 400_000 < sum(s.population for s in sambas.settlements) < 800_000


def test_modelled_network_is_connected_and_says_so(sambas: Dataset) -> None:
    roads = sambas.roads
    assert roads.modelled is True
    adj = csr_matrix(([1.0] * roads.n_edges, (roads.edge_u, roads.edge_v)), shape=(roads.n_nodes,) * 2)
    assert connected_components(adj, directed=True, connection="strong")[0] == 1


def test_every_facility_snaps_within_the_documented_distance(sambas: Dataset) -> None:
    d = nearest_node_distance_m(sambas.roads, [(f.location.lon, f.location.lat) for f in sambas.facilities])
    assert max(d) <= sambas.snap_max_m
    assert sambas.snap_max_m == 1000


def test_road_network_file_is_what_the_model_builds() -> None:
    root = bundled_dataset_path()
    built = build_modelled_network(
        load_settlements(root / "settlements.csv"),
        load_facilities(root / "facilities.csv"),
        load_network_model(root / "network_model.json"),
        source="modelled:sambas",
    )
    from geodata.roadgraph import load_road_graph

    assert built.version == load_road_graph(root / "roads.npz").version


def test_modelled_times_are_plausible(sambas: Dataset) -> None:
    """Sambas-Singkawang is about 1.5-2 h by road; an intra-town trip takes minutes."""
    import networkx as nx

    g = sambas.roads.to_networkx()
    node = sambas.roads.meta["ref_node"]
    t = nx.shortest_path_length(g, node["6101022"], node["6172011"], weight="travel_time") / 3600
    assert 1.0 < t < 2.5
    t_local = nx.shortest_path_length(g, node["PKM-SAMBAS"], node["6101022"], weight="travel_time") / 60
    assert t_local < 10


def test_provenance_notes_cover_assumptions() -> None:
    notes = (Path(bundled_dataset_path()) / "PROVENANCE.md").read_text(encoding="utf-8")
    for word in ("assumption", "approximate", "modelled", "Pasal 12"):
        assert word in notes
