"""Loaders for facility registries, settlements and region boundaries.

Each ``parse_*`` function returns what it could read *and* every problem found; each
``load_*`` function raises :class:`DatasetError` listing all problems if there is any, so a bad
file is rejected whole and never half-loaded.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from shapely import prepared
from shapely.geometry import MultiPolygon, Point, Polygon

from geodata.errors import DatasetError, Problem
from geodata.models import (
    SERVICE_LABELS,
    BedType,
    CareLevel,
    CompetencyLevel,
    CoordinateQuality,
    Equipment,
    Facility,
    FacilityKind,
    HospitalClass,
    LonLat,
    Phone,
    PhoneKind,
    Region,
    Service,
    Settlement,
)
from geodata.phones import UNKNOWN, parse_phone
from geodata.tables import Record, check_lon_lat, parse_float, read_records, record_point

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

E = TypeVar("E", bound=StrEnum)

#: How far (metres) a point may lie outside its declared region before it is a problem:
#: boundary layers are simplified and coastal facilities sit on the shore line.
REGION_TOLERANCE_M = 500.0
_M_PER_DEGREE = 111_320.0

_SERVICE_BY_LABEL = {label.casefold(): s for s, label in SERVICE_LABELS.items()}
_HOSPITAL_KINDS = (FacilityKind.RUMAH_SAKIT_UMUM, FacilityKind.RUMAH_SAKIT_KHUSUS)


class _RegionCheck:
    """Tests whether points lie inside a region (with a tolerance)."""

    def __init__(self, region: Region, tolerance_m: float) -> None:
        self.region = region
        self._inside = prepared.prep(region.boundary.buffer(tolerance_m / _M_PER_DEGREE))

    def problem(self, point: tuple[float, float], rec: Record, file: str) -> Problem | None:
        """A problem naming the point when it lies outside the region, else None."""
        if self._inside.contains(Point(*point)):
            return None
        msg = f"({point[0]}, {point[1]}) lies outside the declared region {self.region.name!r}"
        return Problem(file, msg, row=rec.row, field="geometry")


def _parse_enum(
    enum: type[E], raw: object, *, field: str, rec: Record, file: str, problems: list[Problem]
) -> E | None:
    text = str(raw).strip()
    for member in enum:
        if text.casefold() == member.value.casefold():
            return member
    allowed = ", ".join(m.value for m in enum)
    problems.append(Problem(file, f"unknown value {text!r} (allowed: {allowed})", row=rec.row, field=field))
    return None


def _split(raw: object) -> list[str]:
    return [p.strip() for p in str(raw or "").split(";") if p.strip()]


def _parse_services(raw: object, rec: Record, file: str, problems: list[Problem]) -> frozenset[Service]:
    out: set[Service] = set()
    for item in _split(raw):
        key = item.casefold()
        svc = next((s for s in Service if s.value == key), None) or _SERVICE_BY_LABEL.get(key)
        if svc is None:
            problems.append(Problem(file, f"unknown service {item!r}", row=rec.row, field="services"))
        else:
            out.add(svc)
    return frozenset(out)


def _parse_equipment(raw: object, rec: Record, file: str, problems: list[Problem]) -> frozenset[Equipment]:
    out: set[Equipment] = set()
    for item in _split(raw):
        eq = next((e for e in Equipment if e.value == item.casefold()), None)
        if eq is None:
            allowed = ", ".join(e.value for e in Equipment)
            problems.append(
                Problem(
                    file, f"unknown equipment {item!r} (allowed: {allowed})", row=rec.row, field="equipment"
                )
            )
        else:
            out.add(eq)
    return frozenset(out)


def _parse_beds(raw: object, rec: Record, file: str, problems: list[Problem]) -> dict[BedType, int]:
    beds: dict[BedType, int] = {}
    allowed = ", ".join(b.value for b in BedType)
    for item in _split(raw):
        key, sep, count = item.partition("=")
        bed = next((b for b in BedType if b.value == key.strip().casefold()), None)
        if not sep:
            problems.append(Problem(file, f"{item!r} is not 'type=count'", row=rec.row, field="beds"))
        elif bed is None:
            problems.append(
                Problem(
                    file, f"unknown bed type {key.strip()!r} (allowed: {allowed})", row=rec.row, field="beds"
                )
            )
        elif not count.strip().isdigit():
            problems.append(
                Problem(
                    file,
                    f"bed count {count.strip()!r} for {bed.value} is not a whole number >= 0",
                    row=rec.row,
                    field="beds",
                )
            )
        elif bed in beds:
            problems.append(Problem(file, f"bed type {bed.value} given twice", row=rec.row, field="beds"))
        else:
            beds[bed] = int(count)
    return beds


def _parse_bool(raw: object, field: str, rec: Record, file: str, problems: list[Problem]) -> bool | None:
    text = str(raw).strip().casefold()
    if text in {"true", "yes", "1", "ya"}:
        return True
    if text in {"false", "no", "0", "tidak"}:
        return False
    problems.append(Problem(file, f"{raw!r} is not a boolean (true/false)", row=rec.row, field=field))
    return None


def _parse_phone(rec: Record, file: str, problems: list[Problem]) -> Phone | None:
    """The ``phone`` column: a number with its ``phone_kind`` (and ``phone_note``), or ``unknown``.

    A file without the column knows no number; in a file with it, every cell says one or the other.
    """
    v = rec.values
    if "phone" not in v:
        return None
    row = rec.row
    raw = str(v.get("phone") or "").strip()
    kind_raw = str(v.get("phone_kind") or "").strip()
    note = str(v.get("phone_note") or "").strip()
    if not raw:
        problems.append(Problem(file, f"missing value (a number, or {UNKNOWN!r})", row=row, field="phone"))
        return None
    if raw.casefold() == UNKNOWN:
        if kind_raw:
            problems.append(
                Problem(file, f"a kind without a number (phone is {UNKNOWN!r})", row=row, field="phone_kind")
            )
        return None
    try:
        display, dial = parse_phone(raw)
    except ValueError as exc:
        problems.append(Problem(file, str(exc), row=row, field="phone"))
        return None
    if not kind_raw:
        allowed = ", ".join(k.value for k in PhoneKind)
        problems.append(
            Problem(file, f"missing value: what the number reaches ({allowed})", row=row, field="phone_kind")
        )
        return None
    kind = _parse_enum(PhoneKind, kind_raw, field="phone_kind", rec=rec, file=file, problems=problems)
    return None if kind is None else Phone(display=display, dial=dial, kind=kind, note=note)


def _require(rec: Record, field: str, file: str, problems: list[Problem]) -> str | None:
    value = str(rec.values.get(field, "")).strip()
    if not value:
        problems.append(Problem(file, "missing value", row=rec.row, field=field))
        return None
    return value


def _check_ids(records: Iterable[tuple[Record, str | None]], file: str, problems: list[Problem]) -> None:
    first_row: dict[str, int] = {}
    for rec, ident in records:
        if ident is None:
            continue
        if ident in first_row:
            problems.append(
                Problem(
                    file, f"duplicate id {ident!r} (first at row {first_row[ident]})", row=rec.row, field="id"
                )
            )
        else:
            first_row[ident] = rec.row


def _open(
    path: str | Path, required: Sequence[str], *, vector_only: bool = False
) -> tuple[str, list[Record], list[Problem]]:
    """Read a table and check that it has rows and the required columns."""
    p = Path(path)
    records, problems = read_records(p)
    if problems:
        return p.name, [], problems
    if not records:
        return p.name, [], [Problem(p.name, "no rows")]
    if vector_only and records[0].geometry is None:
        return p.name, [], [Problem(p.name, "needs a vector file (GeoJSON, GeoPackage) with polygons")]
    cols = set(records[0].values)
    missing = [Problem(p.name, "required column is missing", field=c) for c in required if c not in cols]
    return p.name, records, missing


def parse_facilities(
    path: str | Path, *, region: Region | None = None, tolerance_m: float = REGION_TOLERANCE_M
) -> tuple[list[Facility], list[Problem]]:
    """Read a facility registry; facilities whose ``regency`` is the region's must lie inside it."""
    file, records, problems = _open(path, ("id", "name", "kind", "regency"))
    if problems:
        return [], problems
    check = _RegionCheck(region, tolerance_m) if region is not None else None
    facilities: list[Facility] = []
    ids: list[tuple[Record, str | None]] = []
    for rec in records:
        n_before = len(problems)
        ident = _require(rec, "id", file, problems)
        ids.append((rec, ident))
        name = _require(rec, "name", file, problems)
        regency = _require(rec, "regency", file, problems)
        kind = _parse_enum(
            FacilityKind, rec.values.get("kind", ""), field="kind", rec=rec, file=file, problems=problems
        )
        point = record_point(rec, file, problems)
        v = rec.values
        level = (
            _parse_enum(CareLevel, v["level"], field="level", rec=rec, file=file, problems=problems)
            if v.get("level")
            else (CareLevel.FKTL if kind in _HOSPITAL_KINDS else CareLevel.FKTP)
        )
        hclass = (
            _parse_enum(
                HospitalClass,
                v["hospital_class"],
                field="hospital_class",
                rec=rec,
                file=file,
                problems=problems,
            )
            if v.get("hospital_class")
            else None
        )
        if kind in _HOSPITAL_KINDS and hclass is None and not v.get("hospital_class"):
            problems.append(
                Problem(
                    file,
                    "a hospital needs a class (A, B, C, D, D Pratama)",
                    row=rec.row,
                    field="hospital_class",
                )
            )
        competency = (
            _parse_enum(
                CompetencyLevel, v["competency"], field="competency", rec=rec, file=file, problems=problems
            )
            if v.get("competency")
            else None
        )
        quality = (
            _parse_enum(
                CoordinateQuality,
                v["coordinate_quality"],
                field="coordinate_quality",
                rec=rec,
                file=file,
                problems=problems,
            )
            if v.get("coordinate_quality")
            else CoordinateQuality.SURVEYED
        )
        receiving = (
            _parse_bool(v["receiving"], "receiving", rec, file, problems)
            if v.get("receiving") not in (None, "")
            else kind in _HOSPITAL_KINDS
        )
        services = _parse_services(v.get("services", ""), rec, file, problems)
        equipment = _parse_equipment(v.get("equipment", ""), rec, file, problems)
        beds = _parse_beds(v.get("beds", ""), rec, file, problems)
        phone = _parse_phone(rec, file, problems)
        if (
            check is not None
            and point is not None
            and regency is not None
            and regency.casefold() == check.region.name.casefold()
            and (outside := check.problem(point, rec, file))
        ):
            problems.append(outside)
        if len(problems) > n_before:
            continue
        assert ident and name and regency and kind and point and level and quality and receiving is not None
        facilities.append(
            Facility(
                id=ident,
                name=name,
                kind=kind,
                level=level,
                kecamatan=str(v.get("kecamatan", "")),
                regency=regency,
                location=LonLat(*point),
                hospital_class=hclass,
                competency=competency,
                services=services,
                equipment=equipment,
                beds=beds,
                coordinate_quality=quality,
                receiving=receiving,
                phone=phone,
            )
        )
    _check_ids(ids, file, problems)
    return (facilities if not problems else []), problems


def parse_settlements(
    path: str | Path, *, region: Region | None = None, tolerance_m: float = REGION_TOLERANCE_M
) -> tuple[list[Settlement], list[Problem]]:
    """Read settlements (Point or Polygon rows); every settlement must lie inside ``region``.

    Population comes from a ``population`` column, else from ``density_per_km2`` x ``area_km2``.
    Polygon rows get their centroid (or a point inside, for odd shapes) and, if missing, their area.
    """
    file, records, problems = _open(path, ("id", "name", "kecamatan", "regency"))
    if problems:
        return [], problems
    check = _RegionCheck(region, tolerance_m) if region is not None else None
    out: list[Settlement] = []
    ids: list[tuple[Record, str | None]] = []
    for rec in records:
        n_before = len(problems)
        v = rec.values
        ident = _require(rec, "id", file, problems)
        ids.append((rec, ident))
        name = _require(rec, "name", file, problems)
        kecamatan = _require(rec, "kecamatan", file, problems)
        regency = _require(rec, "regency", file, problems)
        area: float | None = None
        if isinstance(rec.geometry, Polygon | MultiPolygon) and not rec.geometry.is_empty:
            geom = rec.geometry
            c = geom.centroid if geom.contains(geom.centroid) else geom.representative_point()
            point = check_lon_lat(c.x, c.y, rec.row, file, problems)
            area = _geodesic_area_km2(geom)
        else:
            point = record_point(rec, file, problems)
        if v.get("area_km2") not in (None, ""):
            area = parse_float(v["area_km2"], "area_km2", rec.row, file, problems)
        population: float | None
        if v.get("population") not in (None, ""):
            population = parse_float(v["population"], "population", rec.row, file, problems)
        elif v.get("density_per_km2") not in (None, "") and area is not None:
            density = parse_float(v["density_per_km2"], "density_per_km2", rec.row, file, problems)
            population = None if density is None else density * area
        else:
            problems.append(
                Problem(
                    file, "missing value (or density_per_km2 with an area)", row=rec.row, field="population"
                )
            )
            population = None
        if population is not None and population < 0:
            problems.append(Problem(file, f"{population!r} is negative", row=rec.row, field="population"))
        if area is not None and area < 0:
            problems.append(Problem(file, f"{area!r} is negative", row=rec.row, field="area_km2"))
        if check is not None and point is not None and (outside := check.problem(point, rec, file)):
            problems.append(outside)
        if len(problems) > n_before:
            continue
        assert ident and name and kecamatan and regency and point and population is not None
        out.append(
            Settlement(
                id=ident,
                name=name,
                kecamatan=kecamatan,
                regency=regency,
                centroid=LonLat(*point),
                population=round(population),
                area_km2=area or 0.0,
            )
        )
    _check_ids(ids, file, problems)
    return (out if not problems else []), problems


def parse_regions(path: str | Path) -> tuple[list[Region], list[Problem]]:
    """Read region boundaries (Polygon/MultiPolygon rows with ``id``, ``name``, ``level``)."""
    file, records, problems = _open(path, ("id", "name", "level"), vector_only=True)
    if problems:
        return [], problems
    out: list[Region] = []
    ids: list[tuple[Record, str | None]] = []
    for rec in records:
        n_before = len(problems)
        ident = _require(rec, "id", file, problems)
        ids.append((rec, ident))
        name = _require(rec, "name", file, problems)
        level = _require(rec, "level", file, problems)
        geom = rec.geometry
        if geom is None or geom.is_empty:
            problems.append(Problem(file, "empty geometry", row=rec.row, field="geometry"))
        elif not isinstance(geom, Polygon | MultiPolygon):
            problems.append(
                Problem(file, f"expected a Polygon, got {geom.geom_type}", row=rec.row, field="geometry")
            )
        elif not geom.is_valid:
            problems.append(
                Problem(file, "invalid polygon (self-intersecting?)", row=rec.row, field="geometry")
            )
        if len(problems) > n_before:
            continue
        assert ident and name and level and geom is not None
        parent = str(rec.values.get("parent", "")) or None
        out.append(Region(id=ident, name=name, level=level, boundary=geom, parent=parent))
    _check_ids(ids, file, problems)
    return (out if not problems else []), problems


def load_facilities(path: str | Path, *, region: Region | None = None) -> list[Facility]:
    """Load a facility registry or raise :class:`DatasetError` listing every problem."""
    items, problems = parse_facilities(path, region=region)
    if problems:
        raise DatasetError(problems)
    return items


def load_settlements(path: str | Path, *, region: Region | None = None) -> list[Settlement]:
    """Load settlements or raise :class:`DatasetError` listing every problem."""
    items, problems = parse_settlements(path, region=region)
    if problems:
        raise DatasetError(problems)
    return items


def load_regions(path: str | Path) -> list[Region]:
    """Load region boundaries or raise :class:`DatasetError` listing every problem."""
    items, problems = parse_regions(path)
    if problems:
        raise DatasetError(problems)
    return items


def _geodesic_area_km2(geom: Polygon | MultiPolygon) -> float:
    from pyproj import Geod  # noqa: PLC0415

    area, _ = Geod(ellps="WGS84").geometry_area_perimeter(geom)
    return abs(area) / 1e6
