"""The national hospital registry: credible points, provinces and their neighbours."""

from __future__ import annotations

from pathlib import Path

import pytest

from geodata.registry import by_province, neighbours, province_distances, read_registry, shard_of
from tests.registry_file import write_registry


def _write(tmp_path: Path, rows: list[str]) -> Path:
    return write_registry(tmp_path, rows)


def test_rows_that_cannot_be_used_are_named_and_points_not_credible_say_why(tmp_path: Path) -> None:
    rows = [
        # Kalimantan Barat: three hospitals near Pontianak and Singkawang
        '"RSUD A","6171011",200,"",-0.03,109.33,"","","KOTA PONTIANAK, KALIMANTAN BARAT"',
        '"RSUD B","6172011",150,"",0.90,108.98,"","","KOTA SINGKAWANG, KALIMANTAN BARAT"',
        '"RSUD C","6101022",120,"",1.36,109.30,"","","KAB. SAMBAS, KALIMANTAN BARAT"',
        # placeholders and a point outside Indonesia
        '"RS NOL","6101099",10,"",0,0,"","","KAB. SAMBAS, KALIMANTAN BARAT"',
        '"RS NA","6101098",10,"",NA,NA,"","","KAB. SAMBAS, KALIMANTAN BARAT"',
        '"RS LAUT","6101097",10,"",5.0,0.0,"","","KAB. SAMBAS, KALIMANTAN BARAT"',
        # Jawa Barat's hospitals, and one of them placed near Pontianak
        '"RS D","3273011",300,"",-6.91,107.61,"","","KOTA BANDUNG, JAWA BARAT"',
        '"RS E","3275011",300,"",-6.24,106.99,"","","KOTA BEKASI, JAWA BARAT"',
        '"RS F","3201011",300,"",-6.60,106.80,"","","KAB. BOGOR, JAWA BARAT"',
        '"RS SALAH","3204011",80,"",-0.05,109.35,"","","KAB. BANDUNG, JAWA BARAT"',
        # no code, no place
        '"RS TANPA KODE","",80,"",-6.60,106.80,"","","KAB. BOGOR, JAWA BARAT"',
        '"RS TANPA WILAYAH","3201012",80,"",-6.60,106.80,"","",""',
    ]
    hospitals, problems = read_registry(_write(tmp_path, rows))
    assert [(p.row, p.field) for p in problems] == [(12, "kode_rs"), (13, "wilayah")]
    why = {h.name: h.point_problem for h in hospitals}
    assert why["RSUD A"] is None and why["RS D"] is None
    assert "placeholder" in (why["RS NOL"] or "")
    assert "no coordinate" in (why["RS NA"] or "")
    assert "outside Indonesia" in (why["RS LAUT"] or "")
    assert "another province's" in (why["RS SALAH"] or ""), why["RS SALAH"]
    assert {h.name: h.point for h in hospitals}["RS SALAH"] is None
    assert sorted(by_province(hospitals)) == ["JAWA BARAT", "KALIMANTAN BARAT"]
    # with the misplaced one left out, the two provinces are about 700 km apart: no neighbours
    # by distance, but each is the other's nearest
    assert province_distances(hospitals)["JAWA BARAT", "KALIMANTAN BARAT"] > 600
    assert neighbours(hospitals, nearest=0) == {"JAWA BARAT": frozenset(), "KALIMANTAN BARAT": frozenset()}
    nb = neighbours(hospitals, nearest=1)
    assert nb["KALIMANTAN BARAT"] == {"JAWA BARAT"}
    assert shard_of("KALIMANTAN BARAT", nb) == {"KALIMANTAN BARAT", "JAWA BARAT"}


def test_a_point_many_hospitals_share_is_a_placeholder(tmp_path: Path) -> None:
    rows = [f'"RS {i}","61010{i:02d}",10,"",-0.5,109.5,"","","KAB. X, KALIMANTAN BARAT"' for i in range(3)]
    rows.append('"RS LAIN","6101099",10,"",0.5,109.0,"","","KAB. X, KALIMANTAN BARAT"')
    hospitals, _ = read_registry(_write(tmp_path, rows))
    assert [h.point is None for h in hospitals] == [True, True, True, False]
    assert "given to 3 hospitals" in (hospitals[0].point_problem or "")


def test_the_real_registry(shared_data: Path) -> None:
    path = shared_data / "hospitals" / "rumah_sakit_indonesia.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    hospitals, problems = read_registry(path)
    assert len(hospitals) == 2921 and problems == []
    provinces = by_province(hospitals)
    assert len(provinces) == 34  # the 2021 registry: before Papua's four new provinces of 2022
    placed = sum(h.point is not None for h in hospitals)
    assert 2800 < placed < 2900, placed
    nb = neighbours(hospitals)
    # symmetric, and what a map says
    assert all(p in nb[q] for p, qs in nb.items() for q in qs)
    assert {"JAWA BARAT", "BANTEN"} <= nb["DKI JAKARTA"]
    assert "KALIMANTAN TENGAH" in nb["KALIMANTAN BARAT"]
    assert "PAPUA BARAT" in nb["PAPUA"]
    assert nb["MALUKU"], "an island province has its nearest provinces"
    assert not nb["KALIMANTAN BARAT"] & {"PAPUA", "PAPUA BARAT", "ACEH"}
    # Landak's RSUD is placed in the registry about 880 km from Kalimantan Barat's other hospitals
    landak = next(h for h in hospitals if h.code == "6103013")
    assert landak.point is None and "another province's" in (landak.point_problem or "")
