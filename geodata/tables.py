"""Reading tabular geodata (CSV, GeoJSON, GeoPackage) into plain records.

This is the one place that touches the file formats; it reprojects to EPSG:4326 and reports
problems (missing CRS, empty geometry, unreadable file) instead of raising, so that a caller
can list every problem of a file at once.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shapely.geometry import Point, shape

from geodata.errors import Problem

if TYPE_CHECKING:
    from pathlib import Path

    from shapely.geometry.base import BaseGeometry

CSV_SUFFIXES = {".csv"}
VECTOR_SUFFIXES = {".geojson", ".json", ".gpkg", ".shp"}
WGS84 = "EPSG:4326"
#: the names a GeoJSON file's (pre-RFC 7946) ``crs`` member may give lon/lat WGS84 by
_WGS84_NAMES = {"urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:OGC::CRS84", "EPSG:4326",
                "urn:ogc:def:crs:EPSG::4326", "urn:ogc:def:crs:EPSG:4326"}  # fmt: skip
#: GDAL reads strings like these as dates or times: such files go through pyogrio
_DATE_LIKE = re.compile(r"\d{4}[-/]\d{2}[-/]\d{2}|\d{2}:\d{2}")


@dataclass(frozen=True, slots=True)
class Record:
    """One row of a table: its human row number, its attributes and its geometry (if any).

    For CSV ``row`` is the line number in the file (the header is line 1); for vector files
    it is the 1-based feature number.
    """

    row: int
    values: dict[str, Any]
    geometry: BaseGeometry | None


def read_records(path: Path) -> tuple[list[Record], list[Problem]]:
    """Read every row of a CSV or vector file; problems that stop the whole file are returned."""
    name = path.name
    if not path.is_file():
        return [], [Problem(name, "file not found")]
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return _read_csv(path)
    if suffix in VECTOR_SUFFIXES:
        return _read_vector(path)
    known = ", ".join(sorted(CSV_SUFFIXES | VECTOR_SUFFIXES))
    return [], [Problem(name, f"unsupported file type '{suffix}' (expected one of {known})")]


def _read_csv(path: Path) -> tuple[list[Record], list[Problem]]:
    name = path.name
    problems: list[Problem] = []
    records: list[Record] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None:
                return [], [Problem(name, "file is empty (no header row)")]
            for values in reader:
                line = reader.line_num
                if None in values:
                    problems.append(Problem(name, "more values than header columns", row=line))
                clean = {
                    k.strip(): (v.strip() if isinstance(v, str) else v)
                    for k, v in values.items()
                    if k is not None
                }
                records.append(Record(line, clean, None))
    except (UnicodeDecodeError, csv.Error) as exc:
        return [], [Problem(name, f"unreadable CSV: {exc}")]
    return records, problems


def _plain_geojson(path: Path) -> list[Record] | None:
    """A simple GeoJSON FeatureCollection read without GDAL (pyogrio brings pandas and geopandas:
    most of a second to import), or None when GDAL may read it differently: another CRS, columns
    of mixed or nested types or with gaps, strings GDAL would take for dates."""  # noqa: D205, D209
    if path.suffix.lower() not in {".geojson", ".json"}:
        return None
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None  # pyogrio says what is wrong
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        return None
    crs = doc.get("crs")
    if crs is not None and (crs.get("properties") or {}).get("name") not in _WGS84_NAMES:
        return None
    features = doc.get("features")
    if not isinstance(features, list) or not features:
        return None
    keys: list[str] | None = None
    kinds: dict[str, type] = {}
    records = []
    for i, f in enumerate(features, start=1):
        props = f.get("properties") if isinstance(f, dict) else None
        if not isinstance(props, dict) or (keys is not None and list(props) != keys):
            return None
        keys = list(props)
        for k, v in props.items():
            if type(v) not in {str, int, float, bool} or kinds.setdefault(k, type(v)) is not type(v):
                return None
            if isinstance(v, str) and _DATE_LIKE.search(v):
                return None
        geom = f.get("geometry")
        try:
            shp = shape(geom) if geom is not None else None
        except (ValueError, TypeError, AttributeError):
            return None
        records.append(Record(i, {str(k): _clean_value(v) for k, v in props.items()}, shp))
    return records


def _read_vector(path: Path) -> tuple[list[Record], list[Problem]]:
    plain = _plain_geojson(path)
    if plain is not None:
        return plain, []
    import pyogrio  # noqa: PLC0415  (heavy import, only when a vector file is read)

    name = path.name
    try:
        gdf = pyogrio.read_dataframe(path)
    except Exception as exc:  # noqa: BLE001  pyogrio raises several unrelated types for bad files
        return [], [Problem(name, f"unreadable vector file: {exc}")]
    if gdf.crs is None:
        return [], [Problem(name, "missing CRS: declare the coordinate reference system", field="crs")]
    if not gdf.crs.equals(WGS84):
        gdf = gdf.to_crs(WGS84)
    geoms = list(gdf.geometry)
    table = gdf.drop(columns=gdf.geometry.name).to_dict("records")
    records = []
    for i, (values, geom) in enumerate(zip(table, geoms, strict=True), start=1):
        clean = {str(k): _clean_value(v) for k, v in values.items()}
        records.append(Record(i, clean, geom))
    return records, []


def _clean_value(v: Any) -> Any:  # noqa: ANN401  values are whatever the file held
    if v is None:
        return ""
    if isinstance(v, float) and math.isnan(v):
        return ""
    if isinstance(v, str):
        return v.strip()
    return v


def record_point(rec: Record, file: str, problems: list[Problem]) -> tuple[float, float] | None:
    """The lon/lat of a record: from its Point geometry, or from ``lon``/``lat`` columns."""
    if rec.geometry is not None or ("lon" not in rec.values and "lat" not in rec.values):
        geom = rec.geometry
        if geom is None or geom.is_empty:
            problems.append(Problem(file, "empty geometry", row=rec.row, field="geometry"))
            return None
        if not isinstance(geom, Point):
            problems.append(
                Problem(file, f"expected a Point, got {geom.geom_type}", row=rec.row, field="geometry")
            )
            return None
        return check_lon_lat(geom.x, geom.y, rec.row, file, problems)
    lon = parse_float(rec.values.get("lon", ""), "lon", rec.row, file, problems)
    lat = parse_float(rec.values.get("lat", ""), "lat", rec.row, file, problems)
    if lon is None or lat is None:
        return None
    return check_lon_lat(lon, lat, rec.row, file, problems)


def check_lon_lat(
    lon: float, lat: float, row: int, file: str, problems: list[Problem]
) -> tuple[float, float] | None:
    """Return the pair if both are finite and in range, else record a problem per bad value."""
    ok = True
    if not (math.isfinite(lon) and -180.0 <= lon <= 180.0):
        problems.append(Problem(file, f"{lon!r} is out of range [-180, 180]", row=row, field="lon"))
        ok = False
    if not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
        problems.append(Problem(file, f"{lat!r} is out of range [-90, 90]", row=row, field="lat"))
        ok = False
    return (lon, lat) if ok else None


def parse_float(raw: object, field: str, row: int, file: str, problems: list[Problem]) -> float | None:
    """Parse a number; an empty or non-numeric value is a problem naming the field."""
    if raw is None or raw == "":
        problems.append(Problem(file, "missing value", row=row, field=field))
        return None
    try:
        return float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        problems.append(Problem(file, f"{raw!r} is not a number", row=row, field=field))
        return None
