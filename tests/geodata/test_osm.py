"""OpenStreetMap import on real files nobody here wrote: pyrosm's PBFs and a real OSMnx GraphML."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pyrosm
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from typer.testing import CliRunner

from geodata.errors import OsmImportError
from geodata.osm import (
    DEFAULT_SPEEDS_KMH,
    _direction,
    edge_speed_kmh,
    highway_class,
    import_graphml,
    import_osm_pbf,
    import_road_file,
    parse_maxspeed,
)
from geodata.roadgraph import RoadGraph, load_road_graph
from service.cli import app

PYROSM_DATA = Path(pyrosm.__file__).parent / "data"
PBF_FILES = ["test.osm.pbf", "Helsinki.osm.pbf"]


def min_time_matrix(g: RoadGraph) -> coo_matrix:
    """Sparse matrix of the fastest edge between each ordered node pair (parallel edges: min)."""
    order = np.lexsort((g.travel_time_s, g.edge_v, g.edge_u))
    u, v, t = g.edge_u[order], g.edge_v[order], g.travel_time_s[order]
    first = np.ones(len(u), dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    return coo_matrix((t[first], (u[first], v[first])), shape=(g.n_nodes, g.n_nodes)).tocsr()


def assert_strongly_connected(g: RoadGraph) -> None:
    adj = coo_matrix((np.ones(g.n_edges), (g.edge_u, g.edge_v)), shape=(g.n_nodes,) * 2)
    assert connected_components(adj, directed=True, connection="strong")[0] == 1


def assert_times_agree(ours: RoadGraph, ref: nx.MultiDiGraph, weight: str, n_sources: int = 8) -> int:
    """Dijkstra on our arrays (scipy) equals networkx Dijkstra on the independently built graph."""
    index = {int(x): i for i, x in enumerate(ours.node_id)}
    matrix = min_time_matrix(ours)
    nodes = sorted(int(n) for n in ref.nodes)
    assert all(n in index for n in nodes)
    sources = np.random.default_rng(42).choice(nodes, size=min(n_sources, len(nodes)), replace=False)
    compared = 0
    for s in sources:
        expected = nx.single_source_dijkstra_path_length(ref, s, weight=weight)
        got = dijkstra(matrix, indices=index[int(s)])
        for t, val in expected.items():
            assert got[index[int(t)]] == pytest.approx(val, rel=1e-9, abs=1e-9)
            compared += 1
    return compared


@pytest.mark.parametrize("name", PBF_FILES)
def test_pbf_import_agrees_with_pyrosms_own_graph(name: str) -> None:
    path = PYROSM_DATA / name
    graph, report = import_osm_pbf(path)
    assert_strongly_connected(graph)
    assert graph.modelled is False
    assert report.nodes_kept == graph.n_nodes
    assert report.nodes_dropped == report.nodes_in - report.nodes_kept > 0  # real data has dangling bits
    assert set(graph.class_names) <= set(DEFAULT_SPEEDS_KMH)
    # independent: pyrosm builds its own networkx graph, with its own one-way handling
    osm = pyrosm.OSM(str(path))
    nodes, edges = osm.get_network(network_type="driving", nodes=True)
    ref = osm.to_graph(nodes, edges, graph_type="networkx", osmnx_compatible=False, retain_all=True)
    for _, _, data in ref.edges(data=True):
        speed = edge_speed_kmh(highway_class(data["highway"]) or "", data.get("maxspeed"))
        data["tt"] = data["length"] / (speed / 3.6)
    ref = ref.subgraph(max(nx.strongly_connected_components(ref), key=len)).copy()
    assert assert_times_agree(graph, ref, "tt") > 500


def test_graphml_import_agrees_with_networkx(shared_data: Path) -> None:
    path = shared_data / "osm" / "balikpapan_kota_drive.graphml"
    graph, report = import_graphml(path)
    assert_strongly_connected(graph)
    assert report.nodes_in == 1207
    assert report.edges_in == 2675  # 2,683 edges less 8 self-loops
    ref = nx.read_graphml(path)
    ref = nx.relabel_nodes(ref, int)
    for u, v, k, data in list(ref.edges(keys=True, data=True)):
        if u == v:
            ref.remove_edge(u, v, k)
            continue
        speed = edge_speed_kmh(highway_class(data["highway"]) or "", data.get("maxspeed"))
        data["tt"] = float(data["length"]) / (speed / 3.6)
    ref = ref.subgraph(max(nx.strongly_connected_components(ref), key=len)).copy()
    assert ref.number_of_nodes() == graph.n_nodes == report.nodes_kept
    assert assert_times_agree(graph, ref, "tt") == 8 * graph.n_nodes


def test_one_way_streets_stay_one_way(shared_data: Path) -> None:
    graph, _ = import_graphml(shared_data / "osm" / "balikpapan_kota_drive.graphml")
    pairs = set(zip(graph.edge_u.tolist(), graph.edge_v.tolist(), strict=True))
    one_way = [(u, v) for u, v in pairs if (v, u) not in pairs]
    assert one_way  # the file has oneway=True roads; they must not gain a reverse edge


def test_networkx_view_agrees_with_arrays() -> None:
    graph, _ = import_osm_pbf(PYROSM_DATA / "test.osm.pbf")
    assert assert_times_agree(graph, graph.to_networkx(), "travel_time", n_sources=4) > 0


def test_cli_import_writes_a_cache_that_round_trips(tmp_path: Path, shared_data: Path) -> None:
    src = shared_data / "osm" / "balikpapan_kota_drive.graphml"
    out = tmp_path / "bpn.npz"
    result = CliRunner().invoke(app, ["data", "import-osm", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "kept 1182 nodes" in result.output
    loaded = load_road_graph(out)
    direct, _ = import_road_file(src)
    assert loaded.version == direct.version
    assert loaded.source == "graphml:balikpapan_kota_drive.graphml"


def test_cli_import_of_a_bad_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.osm.pbf"
    bad.write_bytes(b"\x00garbage")
    result = CliRunner().invoke(app, ["data", "import-osm", str(bad)])
    assert result.exit_code == 1
    assert "not a readable OSM PBF file" in result.output
    with pytest.raises(OsmImportError, match="unsupported road file"):
        import_road_file(tmp_path / "roads.shp")


@pytest.mark.parametrize(
    ("raw", "kmh"),
    [
        ("50", 50.0),
        ("30 mph", 30 * 1.609344),
        ("['40', '60']", 50.0),
        ("none", None),
        ("signals", None),
        (None, None),
        (float("nan"), None),
        ("500", None),
        ("40;60", 50.0),
    ],
)
def test_parse_maxspeed(raw: object, kmh: float | None) -> None:
    got = parse_maxspeed(raw)
    assert got == (pytest.approx(kmh) if kmh is not None else None)


def test_speed_falls_back_to_class_table() -> None:
    assert edge_speed_kmh("primary", None) == DEFAULT_SPEEDS_KMH["primary"]
    assert edge_speed_kmh("primary", "70") == 70.0
    assert highway_class("['footway', 'residential']") == "residential"
    assert highway_class("footway") is None


@pytest.mark.parametrize(
    ("oneway", "junction", "direction"),
    [
        ("yes", None, 1),
        ("True", None, 1),
        ("-1", None, -1),
        ("no", None, 0),
        (None, None, 0),
        (None, "roundabout", 1),
        ("no", "roundabout", 0),
    ],
)
def test_one_way_tags(oneway: object, junction: str | None, direction: int) -> None:
    assert _direction(oneway, junction) == direction
