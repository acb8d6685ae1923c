"""Facility, settlement and region loaders: every kind of problem is named, and a bad file is rejected whole."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Point, box

from geodata.errors import DatasetError
from geodata.loaders import load_facilities, load_regions, load_settlements, parse_facilities
from geodata.models import BedType, CareLevel, Equipment, FacilityKind, HospitalClass, Region, Service

HEADER = [
    "id",
    "name",
    "kind",
    "hospital_class",
    "kecamatan",
    "regency",
    "lon",
    "lat",
    "services",
    "equipment",
    "beds",
]
GOOD = [
    [
        "RS1",
        "RSUD Contoh",
        "rumah_sakit_umum",
        "C",
        "Kota",
        "Contoh",
        "109.30",
        "1.36",
        "anak;Penyakit Dalam;igd",
        "ct;blood_bank",
        "general=80;icu=6",
    ],
    ["PKM1", "Puskesmas Contoh", "puskesmas", "", "Kota", "Contoh", "109.32", "1.37", "umum", "", ""],
    ["RS2", "RS Luar", "rumah_sakit_umum", "B", "", "Kota Lain", "108.98", "0.90", "", "", ""],
]
REGION = Region(id="R", name="Contoh", level="regency", boundary=box(109.0, 1.0, 109.5, 1.5))


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def messages(exc: pytest.ExceptionInfo[DatasetError]) -> list[str]:
    return [str(p) for p in exc.value.problems]


def test_good_csv_loads_typed_facilities(tmp_path: Path) -> None:
    facs = load_facilities(write_csv(tmp_path / "f.csv", GOOD), region=REGION)
    rs = facs[0]
    assert rs.kind is FacilityKind.RUMAH_SAKIT_UMUM
    assert rs.level is CareLevel.FKTL
    assert rs.hospital_class is HospitalClass.C
    assert rs.services == {Service.ANAK, Service.PENYAKIT_DALAM, Service.IGD}
    assert rs.equipment == {Equipment.CT, Equipment.BLOOD_BANK}
    assert dict(rs.beds) == {BedType.GENERAL: 80, BedType.ICU: 6}
    assert rs.receiving is True
    assert facs[1].level is CareLevel.FKTP
    assert facs[1].receiving is False


@pytest.mark.parametrize(
    ("row_index", "column", "value", "expected"),
    [
        (0, "id", "", "f.csv: row 2: field 'id': missing value"),
        (1, "id", "RS1", "f.csv: row 3: field 'id': duplicate id 'RS1' (first at row 2)"),
        (0, "lat", "91", "f.csv: row 2: field 'lat': 91.0 is out of range [-90, 90]"),
        (0, "lon", "nan", "f.csv: row 2: field 'lon': nan is out of range [-180, 180]"),
        (0, "lat", "abc", "f.csv: row 2: field 'lat': 'abc' is not a number"),
        (0, "services", "anak;kardiologi", "f.csv: row 2: field 'services': unknown service 'kardiologi'"),
        (0, "beds", "general=80;suite=2", "f.csv: row 2: field 'beds': unknown bed type 'suite'"),
        (
            0,
            "beds",
            "icu=-1",
            "f.csv: row 2: field 'beds': bed count '-1' for icu is not a whole number >= 0",
        ),
        (0, "equipment", "ct;teleporter", "f.csv: row 2: field 'equipment': unknown equipment 'teleporter'"),
        (0, "kind", "hotel", "f.csv: row 2: field 'kind': unknown value 'hotel'"),
        (0, "hospital_class", "", "f.csv: row 2: field 'hospital_class': a hospital needs a class"),
        (
            1,
            "lon",
            "110.5",
            "f.csv: row 3: field 'geometry': (110.5, 1.37) lies outside the declared region 'Contoh'",
        ),
    ],
)
def test_each_problem_is_named_and_the_file_rejected(
    tmp_path: Path, row_index: int, column: str, value: str, expected: str
) -> None:
    rows = [list(r) for r in GOOD]
    rows[row_index][HEADER.index(column)] = value
    with pytest.raises(DatasetError) as exc:
        load_facilities(write_csv(tmp_path / "f.csv", rows), region=REGION)
    assert any(m.startswith(expected) for m in messages(exc)), messages(exc)
    items, problems = parse_facilities(tmp_path / "f.csv", region=REGION)
    assert items == []  # never half-loaded
    assert problems


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    rows = [list(r) for r in GOOD]
    rows[0][HEADER.index("lat")] = "95"
    rows[1][HEADER.index("services")] = "sihir"
    rows[2][HEADER.index("id")] = "RS1"
    with pytest.raises(DatasetError) as exc:
        load_facilities(write_csv(tmp_path / "f.csv", rows))
    fields = sorted((p.row, p.field) for p in exc.value.problems)
    assert fields == [(2, "lat"), (3, "services"), (4, "id")]


def test_hospital_outside_the_regency_is_not_held_to_its_boundary(tmp_path: Path) -> None:
    facs = load_facilities(write_csv(tmp_path / "f.csv", GOOD), region=REGION)
    assert {f.id for f in facs} == {"RS1", "PKM1", "RS2"}


def test_missing_column_is_named(tmp_path: Path) -> None:
    header = [h for h in HEADER if h != "regency"]
    rows = [[v for h, v in zip(HEADER, r, strict=True) if h != "regency"] for r in GOOD]
    with pytest.raises(DatasetError) as exc:
        load_facilities(write_csv(tmp_path / "f.csv", rows, header))
    assert messages(exc) == ["f.csv: field 'regency': required column is missing"]


def _gdf(crs: str | None) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "id": ["RS1", "PKM1"],
            "name": ["RSUD Contoh", "Puskesmas Contoh"],
            "kind": ["rumah_sakit_umum", "puskesmas"],
            "hospital_class": ["C", ""],
            "kecamatan": ["Kota", "Kota"],
            "regency": ["Contoh", "Contoh"],
            "services": ["anak", "umum"],
            "beds": ["general=10", ""],
        },
        geometry=[Point(109.30, 1.36), Point(109.32, 1.37)],
        crs=crs,
    )


def test_geojson_and_geopackage_load_like_csv(tmp_path: Path) -> None:
    _gdf("EPSG:4326").to_file(tmp_path / "f.geojson", driver="GeoJSON")
    _gdf("EPSG:4326").to_file(tmp_path / "f.gpkg", driver="GPKG")
    a = load_facilities(tmp_path / "f.geojson", region=REGION)
    b = load_facilities(tmp_path / "f.gpkg", region=REGION)
    assert [f.id for f in a] == [f.id for f in b] == ["RS1", "PKM1"]
    assert a[0].location.lon == pytest.approx(109.30)


def test_projected_file_is_reprojected_to_wgs84(tmp_path: Path) -> None:
    _gdf("EPSG:4326").to_crs("EPSG:32649").to_file(tmp_path / "utm.gpkg", driver="GPKG")
    f = load_facilities(tmp_path / "utm.gpkg", region=REGION)[0]
    assert f.location.lon == pytest.approx(109.30, abs=1e-7)
    assert f.location.lat == pytest.approx(1.36, abs=1e-7)


def test_missing_crs_is_rejected(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        _gdf(None).to_file(tmp_path / "nocrs.gpkg", driver="GPKG")
    with pytest.raises(DatasetError) as exc:
        load_facilities(tmp_path / "nocrs.gpkg")
    assert messages(exc) == ["nocrs.gpkg: field 'crs': missing CRS: declare the coordinate reference system"]


def test_empty_geometry_is_named(tmp_path: Path) -> None:
    doc = json.loads(_gdf("EPSG:4326").to_json())
    doc["features"][1]["geometry"] = None
    (tmp_path / "f.geojson").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(DatasetError) as exc:
        load_facilities(tmp_path / "f.geojson")
    assert messages(exc) == ["f.geojson: row 2: field 'geometry': empty geometry"]


def test_unsupported_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"unsupported file type '\.txt'"):
        load_facilities(tmp_path / "f.txt")
    with pytest.raises(DatasetError, match="file not found"):
        load_facilities(tmp_path / "nope.csv")


def test_settlements_from_polygons_get_centroid_area_and_population(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame(
        {
            "id": ["D1"],
            "name": ["Desa"],
            "kecamatan": ["Kota"],
            "regency": ["Contoh"],
            "density_per_km2": [100.0],
        },
        geometry=[box(109.1, 1.1, 109.11, 1.11)],
        crs="EPSG:4326",
    )
    gdf.to_file(tmp_path / "desa.geojson", driver="GeoJSON")
    (s,) = load_settlements(tmp_path / "desa.geojson", region=REGION)
    assert s.centroid.lon == pytest.approx(109.105)
    # 0.01 deg x 0.01 deg at 1.1 N on the WGS84 ellipsoid: 1.1130 km x 1.1057 km
    assert s.area_km2 == pytest.approx(1.2307, rel=1e-3)
    assert s.population == round(100 * s.area_km2)


def test_settlement_outside_region_and_negative_population(tmp_path: Path) -> None:
    header = ["id", "name", "kecamatan", "regency", "lon", "lat", "population"]
    rows = [
        ["D1", "A", "K", "Contoh", "109.2", "1.2", "-5"],
        ["D2", "B", "K", "Contoh", "120.0", "1.2", "10"],
    ]
    with pytest.raises(DatasetError) as exc:
        load_settlements(write_csv(tmp_path / "s.csv", rows, header), region=REGION)
    assert messages(exc) == [
        "s.csv: row 2: field 'population': -5.0 is negative",
        "s.csv: row 3: field 'geometry': (120.0, 1.2) lies outside the declared region 'Contoh'",
    ]


def test_regions_need_valid_polygons(tmp_path: Path) -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"id": "A", "name": "A", "level": "regency"},
                "geometry": bowtie,
            },
            {
                "type": "Feature",
                "properties": {"id": "B", "name": "B", "level": "regency"},
                "geometry": {"type": "Point", "coordinates": [0, 0]},
            },
        ],
    }
    (tmp_path / "r.geojson").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(DatasetError) as exc:
        load_regions(tmp_path / "r.geojson")
    assert messages(exc) == [
        "r.geojson: row 1: field 'geometry': invalid polygon (self-intersecting?)",
        "r.geojson: row 2: field 'geometry': expected a Polygon, got Point",
    ]
