"""`check_dataset` and `rujuk data check` on the bundled dataset and on broken copies of it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from geodata.dataset import (
    bundled_dataset_path,
    check_dataset,
    load_dataset,
    nearest_node_distance_m,
    strong_components,
)
from geodata.errors import DatasetError
from geodata.roadgraph import RoadGraph, load_road_graph
from service.cli import app


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    dst = tmp_path / "sambas"
    shutil.copytree(bundled_dataset_path(), dst)
    return dst


def edit_csv(path: Path, find: str, replace: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert find in text
    path.write_text(text.replace(find, replace, 1), encoding="utf-8")


def problems(path: Path) -> list[str]:
    return [str(p) for p in check_dataset(path)]


def test_cli_check_passes_on_bundled_dataset() -> None:
    result = CliRunner().invoke(app, ["data", "check"])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output


def test_cli_check_fails_with_precise_messages(copy: Path) -> None:
    edit_csv(copy / "facilities.csv", "109.305870,1.367910", "109.305870,91.5")
    edit_csv(copy / "settlements.csv", "Dalam Kaum", "")
    result = CliRunner().invoke(app, ["data", "check", str(copy)])
    assert result.exit_code == 1
    assert "facilities.csv: row 30: field 'lat': 91.5 is out of range [-90, 90]" in result.output
    assert "settlements.csv: row 2: field 'name': missing value" in result.output


def test_duplicate_facility_id(copy: Path) -> None:
    edit_csv(copy / "facilities.csv", "PKM-TERIGAS,", "PKM-SAMBAS,")
    assert problems(copy) == ["facilities.csv: row 3: field 'id': duplicate id 'PKM-SAMBAS' (first at row 2)"]


def test_unknown_service_and_bed_type(copy: Path) -> None:
    edit_csv(
        copy / "facilities.csv",
        "anak;bedah;obgyn;penyakit_dalam;igd;radiologi",
        "anak;bedah;kardio;penyakit_dalam",
    )
    edit_csv(copy / "facilities.csv", "general=78;icu=6", "general=78;vip=6")
    got = problems(copy)
    assert "facilities.csv: row 30: field 'services': unknown service 'kardio'" in got
    assert any(p.startswith("facilities.csv: row 30: field 'beds': unknown bed type 'vip'") for p in got)


def test_puskesmas_moved_out_of_the_regency(copy: Path) -> None:
    edit_csv(copy / "facilities.csv", "109.318824,1.365116", "108.5,1.365116")
    got = problems(copy)
    assert (
        "facilities.csv: row 2: field 'geometry': (108.5, 1.365116) lies outside the declared region 'Sambas'"
        in got
    )


def test_puskesmas_in_the_wrong_kecamatan(copy: Path) -> None:
    edit_csv(
        copy / "facilities.csv",
        "Puskesmas Sajad,puskesmas,fktp,,,Sajad",
        "Puskesmas Sajad,puskesmas,fktp,,,Paloh",
    )
    assert problems(copy) == [
        "facilities.csv: field 'kecamatan': facility PKM-SAJAD lies outside its kecamatan 'Paloh'"
    ]


def test_unknown_kecamatan(copy: Path) -> None:
    edit_csv(
        copy / "facilities.csv",
        "Puskesmas Sajad,puskesmas,fktp,,,Sajad",
        "Puskesmas Sajad,puskesmas,fktp,,,Atlantis",
    )
    assert problems(copy)[0].startswith(
        "facilities.csv: field 'kecamatan': facility PKM-SAJAD: unknown kecamatan 'Atlantis'"
    )


def test_manifest_problems(copy: Path) -> None:
    manifest = json.loads((copy / "dataset.json").read_text(encoding="utf-8"))
    manifest["region_id"] = "9999"
    manifest["snap_max_m"] = -1
    (copy / "dataset.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert problems(copy) == ["dataset.json: field 'snap_max_m': -1 is not a positive number"]
    manifest["snap_max_m"] = 1000
    (copy / "dataset.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert problems(copy)[0] == "dataset.json: field 'region_id': region '9999' is not in regions.geojson"
    (copy / "dataset.json").unlink()
    assert problems(copy) == [f"dataset.json: not found in {copy}"]


def test_facility_far_from_any_road(copy: Path) -> None:
    roads = load_road_graph(copy / "roads.npz")
    node = roads.meta["ref_node"]["6171011"]
    lon = roads.lon.copy()
    lon[node] += 0.05  # move Soedarso's road node ~5.5 km east
    type(roads)(**{**roads.__dict__, "lon": lon}).save(copy / "roads.npz")
    got = problems(copy)
    assert len(got) == 1
    assert got[0].startswith("roads.npz: facility 6171011 is 55")
    assert got[0].endswith("m from the nearest road node (max 1000 m)")


def test_disconnected_road_network(copy: Path) -> None:
    roads = load_road_graph(copy / "roads.npz")
    node = roads.meta["ref_node"]["PKM-TEMAJUK"]
    keep = roads.edge_u != node  # nothing leaves Temajuk any more
    fields = dict(roads.__dict__)
    for k in ("edge_u", "edge_v", "length_m", "travel_time_s", "edge_class"):
        fields[k] = getattr(roads, k)[keep]
    type(roads)(**fields).save(copy / "roads.npz")
    assert problems(copy) == ["roads.npz: road network is not strongly connected (2 components)"]


def test_corrupt_road_file(copy: Path) -> None:
    (copy / "roads.npz").write_bytes(b"not numpy")
    got = problems(copy)
    assert len(got) == 1
    assert got[0].startswith("roads.npz: ") and "not a rujuk road-graph file" in got[0]


def test_load_dataset_raises_with_every_problem(copy: Path) -> None:
    edit_csv(copy / "facilities.csv", "PKM-TERIGAS,", "PKM-SAMBAS,")
    edit_csv(copy / "settlements.csv", "Dalam Kaum,Sambas,Sambas,109.353707", "Dalam Kaum,Sambas,Sambas,200")
    with pytest.raises(DatasetError) as exc:
        load_dataset(copy)
    assert len(exc.value.problems) == 2
    assert isinstance(exc.value, ValueError)


def test_bundled_dataset_loads() -> None:
    ds = load_dataset(bundled_dataset_path())
    assert len(ds.facilities) == 40
    assert np.all(ds.roads.travel_time_s > 0)


def test_the_time_zone_is_the_manifests_or_the_provinces(copy: Path) -> None:
    assert load_dataset(copy).timezone == "Asia/Jakarta"
    manifest = json.loads((copy / "dataset.json").read_text(encoding="utf-8"))
    manifest["timezone"] = "Asia/Makassar"  # as if the regency were in WITA
    (copy / "dataset.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert load_dataset(copy).timezone == "Asia/Makassar"
    del manifest["timezone"]  # none given: Kalimantan Barat (61) is WIB
    (copy / "dataset.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert load_dataset(copy).timezone == "Asia/Jakarta"
    manifest["timezone"] = "Asia/Sambas"
    (copy / "dataset.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert problems(copy) == [
        "dataset.json: field 'timezone': 'Asia/Sambas' is not a time zone of the tz database"
    ]
    manifest["timezone"] = "WIB"
    (copy / "dataset.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert problems(copy) == ["dataset.json: field 'timezone': 'WIB' is not a time zone of the tz database"]


def random_roads(rng: np.random.Generator, n: int, m: int, *, ring: bool) -> RoadGraph:
    """A random directed network of n nodes; with ``ring`` a cycle through all of them first."""
    base = load_road_graph(bundled_dataset_path() / "roads.npz")
    u = rng.integers(0, n, m)
    v = rng.integers(0, n, m)
    if ring:
        u = np.r_[np.arange(n), u]
        v = np.r_[np.roll(np.arange(n), -1), v]
    keep = u != v
    u, v = u[keep], v[keep]
    k = len(u)
    return RoadGraph(
        node_id=np.arange(n, dtype=base.node_id.dtype),
        lon=rng.uniform(108.9, 109.6, n),
        lat=rng.uniform(0.9, 2.0, n),
        edge_u=u.astype(base.edge_u.dtype),
        edge_v=v.astype(base.edge_v.dtype),
        length_m=np.full(k, 100.0),
        travel_time_s=np.full(k, 9.0),
        edge_class=np.zeros(k, dtype=base.edge_class.dtype),
        class_names=base.class_names,
        modelled=True,
        source="test",
    )


@pytest.mark.parametrize("seed", range(12))
def test_strong_components_in_numpy_agree_with_scipy(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    roads = random_roads(rng, n, int(rng.integers(1, 4 * n)), ring=bool(seed % 2))
    adj = csr_matrix((np.ones(roads.n_edges), (roads.edge_u, roads.edge_v)), shape=(n, n))
    want = connected_components(adj, directed=True, connection="strong")[0]
    assert strong_components(roads) == want
    if seed % 2:
        assert want == 1  # the ring makes it strongly connected: NumPy alone answered
    monkeypatch.setattr("geodata.dataset.SCAN_NODES", 0)
    assert strong_components(roads) == want


def test_nearest_node_distance_by_scan_and_by_kd_tree_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    roads = load_road_graph(bundled_dataset_path() / "roads.npz")
    rng = np.random.default_rng(3)
    pts = list(zip(rng.uniform(108.5, 110.0, 200).tolist(), rng.uniform(0.5, 2.5, 200).tolist(), strict=True))
    pts += list(zip(roads.lon[:20].tolist(), roads.lat[:20].tolist(), strict=True))
    scanned = nearest_node_distance_m(roads, pts)
    assert scanned[-20:] == [0.0] * 20
    monkeypatch.setattr("geodata.dataset.SCAN_PAIRS", 0)
    np.testing.assert_allclose(nearest_node_distance_m(roads, pts), scanned, rtol=1e-9, atol=1e-6)
