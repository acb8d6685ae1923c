"""A facility registry from a FHIR Bundle into a dataset directory's ``facilities.csv``.

The Bundle holds Organization, Location and HealthcareService: the reverse of what ``/fhir/R4``
serves (docs/fhir.md).

Checked like the CSV and GeoJSON loaders: every problem is listed, each naming the file, the
Bundle entry (1-based, as ``row``) and the element (``Location.position``); nothing is written
while there is one. The Bundle and each resource are validated with fhir.resources' models
first. What FHIR carries: id (rujuk's facility-id identifier, or the Organization's id), name,
kind (rujuk's facility-kind code) and hospital class, kecamatan and regency (address district
and city), position and whether it is approximate, registered beds (rujuk's extension), services
(HealthcareService types in rujuk's service code system) and the telephone. What it does not: the
care level and whether the facility receives referrals (the loader derives both from the kind),
the competency level and the equipment (left empty: say them in the CSV afterwards).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from geodata.errors import Problem
from geodata.loaders import parse_facilities
from service.fhir import systems as sid
from service.fhir.transaction import unknown_resource_types

COLUMNS = (
    "id", "name", "kind", "level", "hospital_class", "competency", "kecamatan", "regency", "lon", "lat",
    "coordinate_quality", "receiving", "services", "equipment", "beds", "phone", "phone_kind", "phone_note",
    "source",
)  # fmt: skip
#: what an imported telephone number is said to be: FHIR says nothing of whether it reaches the IGD
PHONE_NOTE = "dari registri FHIR; belum diverifikasi sebagai nomor IGD"


@dataclass
class _Row:
    entry: int
    values: dict[str, str] = field(default_factory=dict)
    services: list[str] = field(default_factory=list)
    located: bool = False


def _code(concepts: list[Any] | None, system: str) -> str | None:
    for concept in concepts or []:
        for c in getattr(concept, "coding", None) or []:
            if c.system == system and c.code:
                return str(c.code)
    return None


def _facility_id(resource: Any) -> str:  # noqa: ANN401  an Organization or a Location model
    for ident in resource.identifier or []:
        if ident.system == sid.SYSTEM_FACILITY_ID and ident.value:
            return str(ident.value)
    return str(resource.id or "")


def _ref_id(ref: Any, kind: str) -> str | None:  # noqa: ANN401  a Reference model
    target = getattr(ref, "reference", None) or ""
    prefix = f"{kind}/"
    return target[len(prefix) :] if target.startswith(prefix) else None


class _Reader:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.rows: dict[str, _Row] = {}
        self.by_org: dict[str, str] = {}  # Organization resource id -> facility id

    def problem(self, entry: int, element: str, message: str) -> None:
        self.problems.append(Problem(self.file, message, row=entry, field=element))

    def organization(self, i: int, org: Any) -> None:  # noqa: ANN401  an Organization model
        fid = _facility_id(org)
        if not fid:
            self.problem(i, "Organization.id", "no id nor facility-id identifier")
            return
        if fid in self.rows:
            self.problem(i, "Organization.identifier", f"facility {fid!r} is already in this Bundle")
            return
        row = self.rows[fid] = _Row(i)
        self.by_org[str(org.id or fid)] = fid
        v = row.values
        v["id"], v["name"] = fid, str(org.name or "")
        if not v["name"]:
            self.problem(i, "Organization.name", "a facility needs a name")
        kind = _code(org.type, sid.CS_FACILITY_KIND)
        if kind is None:
            self.problem(i, "Organization.type", f"no facility kind (a coding of {sid.CS_FACILITY_KIND})")
        v["kind"] = kind or ""
        v["hospital_class"] = _code(org.type, sid.CS_HOSPITAL_CLASS) or ""
        address = (org.address or [None])[0]
        v["kecamatan"] = str(getattr(address, "district", None) or "")
        v["regency"] = str(getattr(address, "city", None) or "")
        if not v["regency"]:
            self.problem(i, "Organization.address.city", "a facility needs its regency (address.city)")
        phones = [t.value for t in org.telecom or [] if t.system == "phone" and t.value]
        v["phone"], v["phone_kind"], v["phone_note"] = (
            (str(phones[0]), "main", PHONE_NOTE) if phones else ("unknown", "", "")
        )
        v["source"] = f"FHIR Bundle {Path(self.file).name}, entry {i}"

    def location(self, i: int, loc: Any) -> None:  # noqa: ANN401  a Location model
        fid = self.by_org.get(_ref_id(loc.managingOrganization, "Organization") or "")
        row = self.rows.get(fid or "")
        if row is None:
            self.problem(
                i, "Location.managingOrganization", "not an Organization of this Bundle (put it first)"
            )
            return
        if loc.position is None:
            self.problem(i, "Location.position", "a facility's place needs its longitude and latitude")
            return
        row.located = True
        v = row.values
        v["lon"], v["lat"] = f"{float(loc.position.longitude):.6f}", f"{float(loc.position.latitude):.6f}"
        v["coordinate_quality"] = "approximate" if "perkiraan" in str(loc.description or "") else "surveyed"
        beds = []
        for ext in loc.extension or []:
            if ext.url != sid.EXT_REGISTERED_BEDS:
                continue
            parts = {e.url: e for e in ext.extension or []}
            bed = parts.get("type")
            count = parts.get("count")
            if bed is None or count is None or bed.valueCoding is None or count.valueUnsignedInt is None:
                self.problem(i, "Location.extension", "registered beds need a type and a count")
                continue
            beds.append(f"{bed.valueCoding.code}={int(count.valueUnsignedInt)}")
        v["beds"] = ";".join(beds)

    def service(self, i: int, hs: Any) -> None:  # noqa: ANN401  a HealthcareService model
        fid = self.by_org.get(_ref_id(hs.providedBy, "Organization") or "")
        row = self.rows.get(fid or "")
        if row is None:
            self.problem(
                i, "HealthcareService.providedBy", "not an Organization of this Bundle (put it first)"
            )
            return
        code = _code(hs.type, sid.CS_SERVICE)
        if code is None:
            self.problem(i, "HealthcareService.type", f"no service (a coding of {sid.CS_SERVICE})")
            return
        row.services.append(code)


def read_registry(path: str | Path) -> tuple[list[dict[str, str]], list[Problem]]:
    """The facility rows of a FHIR Bundle file, or every problem found in it."""
    file = str(path)
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [], [Problem(file, f"not a JSON file: {exc}")]
    unknown = unknown_resource_types(raw) if isinstance(raw, dict) else []
    if unknown:
        i, name = unknown[0]
        msg = f"not a FHIR R4 Bundle: {name!r} is not a resource type"
        return [], [Problem(file, msg, row=i + 1, field=f"Bundle.entry.{i}.resource.resourceType")]
    try:
        bundle = Bundle.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        entry = next((int(x) + 1 for x, y in zip(first["loc"], first["loc"][1:], strict=False)
                      if isinstance(x, int) and y == "resource"), None)  # fmt: skip
        return [], [
            Problem(file, f"not a FHIR R4 Bundle: {first['msg']}", row=entry, field=f"Bundle.{where}")
        ]
    reader = _Reader(file)
    entries = [(i, e.resource) for i, e in enumerate(bundle.entry or [], start=1) if e.resource is not None]
    order = {"Organization": 0, "Location": 1, "HealthcareService": 2}
    for i, resource in sorted(entries, key=lambda ie: order.get(ie[1].get_resource_type(), 3)):
        kind = resource.get_resource_type()
        if kind == "Organization":
            reader.organization(i, resource)
        elif kind == "Location":
            reader.location(i, resource)
        elif kind == "HealthcareService":
            reader.service(i, resource)
        else:
            reader.problem(i, f"{kind}", "a registry holds Organization, Location and HealthcareService only")
    for fid, row in reader.rows.items():
        if not row.located:
            reader.problem(row.entry, "Organization", f"facility {fid!r} has no Location (its position)")
        row.values["services"] = ";".join(sorted(set(row.services)))
    if not reader.rows and not reader.problems:
        reader.problems.append(Problem(file, "the Bundle holds no Organization"))
    rows = [{c: r.values.get(c, "") for c in COLUMNS} for r in reader.rows.values()]
    return (rows if not reader.problems else []), reader.problems


def write_registry(rows: list[dict[str, str]], directory: str | Path) -> tuple[Path, list[Problem]]:
    """``facilities.csv`` in ``directory`` from imported rows, checked by the facilities loader
    before it replaces anything (a file the loader refuses is not written)."""  # noqa: D205, D209
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    target = Path(directory) / "facilities.csv"
    draft = target.with_name(".facilities.import.csv")
    draft.write_text(buf.getvalue(), encoding="utf-8")
    _facilities, problems = parse_facilities(draft)
    if problems:
        draft.unlink()
        return target, problems
    draft.replace(target)
    return target, []
