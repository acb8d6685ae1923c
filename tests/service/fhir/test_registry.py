"""A facility registry imported from a FHIR Bundle: what rujuk serves as FHIR comes back as the same
facilities, and a Bundle with mistakes is refused whole, each naming its file, entry and element."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from geodata.dataset import Dataset, bundled_dataset_path, check_dataset
from geodata.loaders import load_facilities
from service.fhir import registry
from service.fhir.resources import healthcare_service, location, organization, services_of


def _bundle(sambas: Dataset) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []
    for f in sambas.facilities:
        entries.append({"resource": organization(f).model_dump(mode="json", exclude_none=True)})
        entries.append({"resource": location(f).model_dump(mode="json", exclude_none=True)})
        entries += [
            {"resource": healthcare_service(f, s).model_dump(mode="json", exclude_none=True)}
            for s in services_of(f)
        ]
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def _write(tmp: Path, bundle: dict[str, Any]) -> Path:
    path = tmp / "registry.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return path


def test_what_rujuk_serves_as_fhir_comes_back_as_the_same_facilities(sambas: Dataset, tmp_path: Path) -> None:
    target = tmp_path / "dataset"
    shutil.copytree(bundled_dataset_path(), target)
    (target / "facilities.csv").unlink()
    rows, problems = registry.read_registry(_write(tmp_path, _bundle(sambas)))
    assert problems == []
    written, problems = registry.write_registry(rows, target)
    assert problems == [] and written == target / "facilities.csv"
    back = {f.id: f for f in load_facilities(written)}
    assert set(back) == {f.id for f in sambas.facilities}
    for f in sambas.facilities:
        g = back[f.id]
        assert (g.name, g.kind, g.hospital_class, g.kecamatan, g.regency) == (
            f.name, f.kind, f.hospital_class, f.kecamatan, f.regency,
        )  # fmt: skip
        assert (round(g.location.lon, 6), round(g.location.lat, 6)) == (
            round(f.location.lon, 6),
            round(f.location.lat, 6),
        )
        assert (g.coordinate_quality, g.services, g.beds, g.level, g.receiving) == (
            f.coordinate_quality, f.services, f.beds, f.level, f.receiving,
        )  # fmt: skip
        assert (g.phone.dial if g.phone else None) == (f.phone.dial if f.phone else None)
    assert check_dataset(target) == []  # the directory is a dataset rujuk serves


@pytest.mark.parametrize(
    ("spoil", "entry", "element", "words"),
    [
        (lambda b: b["entry"][1]["resource"].pop("position"), 2, "Location.position", "longitude"),
        (lambda b: b["entry"][0]["resource"].pop("name"), 1, "Organization.name", "name"),
        (lambda b: b["entry"][0]["resource"]["address"][0].pop("city"), 1, "Organization.address.city", "regency"),
        (lambda b: b["entry"][1]["resource"].update(managingOrganization={"reference": "Organization/X"}), 2,
         "Location.managingOrganization", "not an Organization"),
        (lambda b: b["entry"][1]["resource"]["position"].update(latitude="utara"), 2, None, "Bundle"),
        (lambda b: b["entry"].append({"resource": {"resourceType": "Patient", "id": "p1"}}), None, "Patient",
         "Organization, Location and HealthcareService only"),
        (lambda b: b["entry"][1]["resource"].update(resourceType="Lokasi"), 2,
         "Bundle.entry.1.resource.resourceType", "'Lokasi' is not a resource type"),
    ],
)  # fmt: skip
def test_a_bundle_with_a_mistake_is_refused_naming_entry_and_element(
    sambas: Dataset, tmp_path: Path, spoil: Any, entry: int | None, element: str | None, words: str
) -> None:
    bundle = _bundle(sambas)
    spoil(bundle)
    rows, problems = registry.read_registry(_write(tmp_path, bundle))
    assert rows == [] and problems, problems
    p = problems[0]
    assert p.file.endswith("registry.json"), p
    if entry is not None:
        assert p.row == entry, p
    if element is not None:
        assert p.field == element, p
    assert words in str(p), p


def test_a_file_that_is_not_json_is_named(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("{not json", encoding="utf-8")
    rows, problems = registry.read_registry(path)
    assert rows == [] and "not a JSON file" in str(problems[0]) and "x.json" in str(problems[0])


def test_the_command_writes_the_registry_or_lists_every_problem(sambas: Dataset, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from service.cli import app

    target = tmp_path / "dataset"
    shutil.copytree(bundled_dataset_path(), target)
    before = (target / "facilities.csv").read_bytes()
    bad = _bundle(sambas)
    bad["entry"][1]["resource"].pop("position")
    out = CliRunner().invoke(app, ["data", "import-fhir", str(_write(tmp_path, bad)), str(target)])
    assert out.exit_code == 1 and "nothing written" in out.output and "Location.position" in out.output
    assert (target / "facilities.csv").read_bytes() == before  # nothing half-written
    out = CliRunner().invoke(
        app, ["data", "import-fhir", str(_write(tmp_path, _bundle(sambas))), str(target)]
    )
    assert out.exit_code == 0, out.output
    assert f"{len(sambas.facilities)} facilities" in out.output
    assert check_dataset(target) == []
