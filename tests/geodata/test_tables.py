"""GeoJSON read without GDAL gives what GDAL (pyogrio) gives, and defers to it when unsure."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pyogrio
import pytest
from shapely.geometry import Point

from geodata.dataset import bundled_dataset_path
from geodata.tables import _clean_value, _plain_geojson, read_records

if TYPE_CHECKING:
    from pathlib import Path


def by_gdal(path: Path) -> list[tuple[dict[str, object], object]]:
    gdf = pyogrio.read_dataframe(path)
    rows = gdf.drop(columns=gdf.geometry.name).to_dict("records")
    return [
        ({str(k): _clean_value(v) for k, v in r.items()}, g) for r, g in zip(rows, gdf.geometry, strict=True)
    ]


def same_as_gdal(path: Path) -> None:
    plain = _plain_geojson(path)
    assert plain is not None
    gdal = by_gdal(path)
    assert len(plain) == len(gdal)
    for rec, (values, geom) in zip(plain, gdal, strict=True):
        assert rec.values == values
        assert rec.geometry is not None
        assert rec.geometry.equals_exact(geom, 0.0)


def test_the_bundled_regions_read_as_gdal_reads_them() -> None:
    same_as_gdal(bundled_dataset_path() / "regions.geojson")


def collection(props: list[dict[str, object]], crs: str | None = None) -> dict[str, object]:
    doc: dict[str, object] = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": p, "geometry": Point(109.3 + i / 100, 1.36).__geo_interface__}
            for i, p in enumerate(props)
        ],
    }
    if crs is not None:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    return doc


def test_plain_types_read_as_gdal_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "f.geojson"
    props = [
        {"id": "A", "beds": 10, "share": 0.5, "open": True, "note": " x "},
        {"id": "B", "beds": 0, "share": 1.25, "open": False, "note": ""},
    ]
    path.write_text(json.dumps(collection(props, "EPSG:4326")))
    same_as_gdal(path)


@pytest.mark.parametrize(
    "doc",
    [
        collection([{"id": "A"}], "EPSG:32649"),  # another CRS: reprojected by GDAL
        collection([{"id": "A", "beds": 1}, {"id": "B", "beds": 1.5}]),  # int and float in a column
        collection([{"id": "A", "beds": 1}, {"id": "B", "beds": None}]),  # a gap
        collection([{"id": "A"}, {"id": "B", "extra": "x"}]),  # columns differ
        collection([{"id": "A", "opened": "2024-01-31"}]),  # GDAL reads it as a date
        collection([{"id": "A", "tags": ["x"]}]),  # nested
    ],
    ids=["utm", "mixed", "gap", "columns", "date", "nested"],
)
def test_what_gdal_may_read_differently_goes_through_gdal(tmp_path: Path, doc: dict[str, object]) -> None:
    path = tmp_path / "f.geojson"
    path.write_text(json.dumps(doc))
    assert _plain_geojson(path) is None
    records, problems = read_records(path)  # pyogrio reads it
    assert len(records) == len(doc["features"])  # type: ignore[arg-type]
    assert not problems
