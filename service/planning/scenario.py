"""Scenarios: a small YAML file of changes against the base (the dataset and its rule pack).

    name: Segarau to Regional 2
    description: what if Puskesmas Segarau referred to RSUD Pemangkat
    changes:
      - move_origin: {origin: PKM-SEGARAU, region: regional-2}
      - add_services: {facility: "6101137", services: [obgyn]}
      - set_beds: {facility: "6101033", beds: {general: 60}}
      - add_equipment: {facility: "6101137", equipment: [ct]}
      - remove_services: {facility: "6101135", services: [bedah]}
      - set_competency: {facility: "6101137", competency: madya}
      - close_facility: {facility: "6101135"}
      - close_road: {polygon: [[109.10, 1.20], [109.12, 1.20], [109.12, 1.22]], reason: bridge out}
      - slow_road: {polygon: [[...], ...], factor: 1.5, reason: wet season}

Checked when loaded, like rule packs: unknown keys, facilities, regions, services, bed types and
equipment are errors naming the change (``changes[1].add_services.facility``), all at once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from shapely.geometry import Polygon

from geodata.models import (
    BedType,
    CareLevel,
    CompetencyLevel,
    Equipment,
    Facility,
    FacilityKind,
    HospitalClass,
    LonLat,
    Service,
)
from routing.conditions import RoadCondition, condition_edges
from routing.errors import RoutingError

if TYPE_CHECKING:
    from geodata.dataset import Dataset
    from geodata.roadgraph import RoadGraph
    from rules.pack import RegionRule, RulePack


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem of a scenario: where (``changes[2].move_origin.origin``), what (a sentence) and
    a code a page can say in its own language (``unknown_facility``; pydantic's error type for
    shape problems: ``missing``, ``extra_forbidden``, ``enum``...)."""  # noqa: D205, D209

    path: str
    message: str
    code: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ScenarioError(ValueError):
    """A scenario file that cannot be used; ``problems`` lists every problem with its path."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(str(p) for p in problems))


def _path(loc: tuple[int | str, ...]) -> str:
    """A pydantic location as the scenario's paths are written: ``changes[0].add_services``."""
    out = ""
    for x in loc:
        out += f"[{x}]" if isinstance(x, int) else (f".{x}" if out else str(x))
    return out


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MoveOrigin(_M):
    """An origin (Puskesmas) refers to another region's hospital."""

    origin: str = Field(min_length=1, max_length=64)
    region: str = Field(min_length=1, max_length=64)


class FacilityOnly(_M):
    """A facility (closed: it receives no referrals)."""

    facility: str = Field(min_length=1, max_length=64)


class Services(_M):
    """Services added or removed."""

    facility: str = Field(min_length=1, max_length=64)
    services: list[Service] = Field(min_length=1, max_length=40)


class Beds(_M):
    """Beds per type (replacing the registered counts)."""

    facility: str = Field(min_length=1, max_length=64)
    beds: dict[BedType, Annotated[int, Field(ge=0, le=5000)]] = Field(min_length=1)


class EquipmentChange(_M):
    """Equipment added."""

    facility: str = Field(min_length=1, max_length=64)
    equipment: list[Equipment] = Field(min_length=1, max_length=20)


class Competency(_M):
    """A new competency level."""

    facility: str = Field(min_length=1, max_length=64)
    competency: CompetencyLevel


class Road(_M):
    """A stretch of road closed, slowed (factor > 1) or improved (0 < factor < 1), by polygon."""

    polygon: list[tuple[float, float]] = Field(min_length=3, max_length=1000)
    factor: float | None = Field(default=None, gt=0, le=100)
    reason: str = Field(default="", max_length=200)


class NewFacility(_M):
    """A facility that does not exist yet (it receives referrals unless ``receiving`` is false)."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    name: str = Field(min_length=1, max_length=200)
    kind: FacilityKind
    kecamatan: str = Field(min_length=1, max_length=100)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    hospital_class: HospitalClass | None = None
    competency: CompetencyLevel | None = None
    services: list[Service] = Field(default_factory=list, max_length=40)
    equipment: list[Equipment] = Field(default_factory=list, max_length=20)
    beds: dict[BedType, Annotated[int, Field(ge=0, le=5000)]] = Field(default_factory=dict)
    receiving: bool = True


class Change(_M):
    """Exactly one change."""

    move_origin: MoveOrigin | None = None
    close_facility: FacilityOnly | None = None
    add_services: Services | None = None
    remove_services: Services | None = None
    set_beds: Beds | None = None
    add_equipment: EquipmentChange | None = None
    set_competency: Competency | None = None
    close_road: Road | None = None
    slow_road: Road | None = None
    improve_road: Road | None = None
    add_facility: NewFacility | None = None

    def kind(self) -> str:
        """The change's name."""
        set_ = [k for k, v in self if v is not None]
        return set_[0] if len(set_) == 1 else ""


class Scenario(_M):
    """A named list of changes."""

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    changes: list[Change] = Field(default_factory=list, max_length=500)


@dataclasses.dataclass(frozen=True)
class Applied:
    """The base with a scenario's changes: what the matching engine and routing use."""

    dataset: Dataset
    pack: RulePack
    conditions: tuple[RoadCondition, ...]
    scenario: Scenario


def load_scenario(path: str | Path) -> Scenario:
    """Read and check the shape of a scenario file (ScenarioError naming every problem)."""
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(p.name, [Problem("", str(exc), "unreadable")]) from exc
    return parse_scenario(raw, source=p.name)


def parse_scenario(raw: object, *, source: str = "scenario") -> Scenario:
    """A scenario from parsed YAML/JSON (ScenarioError naming every problem)."""
    try:
        sc = Scenario.model_validate(raw)
    except ValidationError as exc:
        probs = [Problem(_path(e["loc"]), e["msg"], e["type"]) for e in exc.errors()]
        raise ScenarioError(source, probs) from None
    probs = [Problem(f"changes[{i}]", "give exactly one change", "one_change")
             for i, c in enumerate(sc.changes) if not c.kind()]  # fmt: skip
    if probs:
        raise ScenarioError(source, probs)
    return sc


@dataclass
class _Edit:
    """The base being changed, change by change."""

    dataset: Dataset
    facilities: dict[str, Facility]
    regions: dict[str, RegionRule]
    conditions: list[RoadCondition] = field(default_factory=list)
    improvements: list[tuple[str, Polygon, float]] = field(default_factory=list)

    def move_origin(self, body: MoveOrigin, where: str) -> Problem | None:
        """A Puskesmas moved to another region."""
        if body.region not in self.regions:
            known = ", ".join(self.regions)
            return Problem(
                f"{where}.region", f"unknown region {body.region!r} (known: {known})", "unknown_region"
            )
        if body.origin not in self.facilities:
            return Problem(f"{where}.origin", f"unknown facility {body.origin!r}", "unknown_facility")
        self.regions = {
            rid: dataclasses.replace(
                r, origins=(r.origins | {body.origin}) if rid == body.region else (r.origins - {body.origin})
            )
            for rid, r in self.regions.items()
        }
        return None

    def change_facility(self, kind: str, body: Any) -> None:  # noqa: ANN401  one of the facility changes
        """Close, services, beds, equipment or competency of a known facility."""
        f = self.facilities[body.facility]
        if kind == "close_facility":
            f = dataclasses.replace(f, receiving=False)
        elif kind in ("add_services", "remove_services"):
            new = (
                f.services | set(body.services) if kind == "add_services" else f.services - set(body.services)
            )
            f = dataclasses.replace(f, services=frozenset(new))
        elif isinstance(body, Beds):
            f = dataclasses.replace(f, beds={**f.beds, **body.beds})
        elif isinstance(body, EquipmentChange):
            f = dataclasses.replace(f, equipment=f.equipment | set(body.equipment))
        elif isinstance(body, Competency):
            f = dataclasses.replace(f, competency=body.competency)
        self.facilities[body.facility] = f

    def add_facility(self, body: NewFacility, where: str) -> Problem | None:
        """A new facility."""
        if body.id in self.facilities:
            return Problem(f"{where}.id", f"facility {body.id!r} exists already", "facility_exists")
        first_level = body.kind in (FacilityKind.PUSKESMAS, FacilityKind.KLINIK)
        self.facilities[body.id] = Facility(
            id=body.id,
            name=body.name,
            kind=body.kind,
            level=CareLevel.FKTP if first_level else CareLevel.FKTL,
            kecamatan=body.kecamatan,
            regency=self.dataset.region.name,
            location=LonLat(body.lon, body.lat),
            hospital_class=body.hospital_class,
            competency=body.competency,
            services=frozenset(body.services),
            equipment=frozenset(body.equipment),
            beds=dict(body.beds),
            receiving=body.receiving,
        )
        return None

    def road(self, kind: str, body: Road, where: str, i: int) -> Problem | None:
        """A road closed, slowed or improved inside a polygon."""
        if kind == "slow_road" and not (body.factor and body.factor > 1):
            return Problem(f"{where}.factor", "a slowdown needs a factor > 1", "slowdown_factor")
        if kind == "improve_road" and not (body.factor and body.factor < 1):
            msg = "an improvement needs a factor between 0 and 1 (time x factor)"
            return Problem(f"{where}.factor", msg, "improvement_factor")
        poly = Polygon(body.polygon)
        if not poly.is_valid or poly.area == 0:
            return Problem(f"{where}.polygon", "not a valid polygon", "bad_polygon")
        if kind == "improve_road":
            self.improvements.append((where, poly, float(body.factor or 1)))
            return None
        cid = f"scenario-{i}"
        self.conditions.append(
            RoadCondition.closure(cid, polygon=poly, reason=body.reason)
            if kind == "close_road"
            else RoadCondition.slowdown(cid, float(body.factor or 1), polygon=poly, reason=body.reason)
        )
        return None

    def improved_roads(self, probs: list[Problem]) -> RoadGraph:
        """The road graph with the improvements applied (their problems added to ``probs``)."""
        roads = self.dataset.roads
        for where, poly, factor in self.improvements:
            try:
                edges = condition_edges(RoadCondition.slowdown("probe", 2.0, polygon=poly), roads)
            except RoutingError as exc:
                probs.append(Problem(f"{where}.polygon", str(exc), "bad_polygon"))
                continue
            times = roads.travel_time_s.copy()
            times[edges] *= factor
            roads = dataclasses.replace(roads, travel_time_s=times, meta={**roads.meta, "improved": True})
        return roads

    def one(self, i: int, ch: Change) -> Problem | None:
        """Apply one change; its problem, if any."""
        kind = ch.kind()
        body = getattr(ch, kind)
        where = f"changes[{i}].{kind}"
        if hasattr(body, "facility") and body.facility not in self.facilities:
            return Problem(f"{where}.facility", f"unknown facility {body.facility!r}", "unknown_facility")
        if isinstance(body, MoveOrigin):
            return self.move_origin(body, where)
        if isinstance(body, NewFacility):
            return self.add_facility(body, where)
        if isinstance(body, Road):
            return self.road(kind, body, where, i)
        self.change_facility(kind, body)
        return None


def apply(sc: Scenario, dataset: Dataset, pack: RulePack, *, source: str = "scenario") -> Applied:
    """The base changed by the scenario; every unknown facility or region is reported at once."""
    edit = _Edit(dataset, {f.id: f for f in dataset.facilities}, {r.id: r for r in pack.regions})
    probs = [p for i, ch in enumerate(sc.changes) if (p := edit.one(i, ch)) is not None]
    roads = edit.improved_roads(probs)
    if probs:
        raise ScenarioError(source, probs)
    base = {f.id for f in dataset.facilities}
    order = [f.id for f in dataset.facilities] + [k for k in edit.facilities if k not in base]
    new_ds = dataclasses.replace(dataset, roads=roads, facilities=tuple(edit.facilities[k] for k in order))
    new_pack = dataclasses.replace(pack, regions=tuple(edit.regions.values()))
    return Applied(new_ds, new_pack, tuple(edit.conditions), sc)


def dump(sc: Scenario) -> str:
    """The scenario as YAML (what the optimiser writes for planners to read, simulate and adopt)."""
    data = sc.model_dump(mode="json", exclude_none=True, exclude_defaults=False)
    data["changes"] = [{k: v for k, v in c.items() if v is not None} for c in data["changes"]]
    return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
