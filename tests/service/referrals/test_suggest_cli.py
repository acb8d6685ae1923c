"""`rujuk suggest`: the ranked, explained list in the terminal, on the bundled Sambas data."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app

runner = CliRunner()


def _run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, ["suggest", *args])
    return r.exit_code, r.stdout, r.stderr


def test_emergency_from_segarau_goes_to_nearest_capable() -> None:
    code, out, _ = _run("--from", "Puskesmas Segarau", "--icd", "O72.1", "--emergency")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("Rujukan dari Puskesmas Segarau (PKM-SEGARAU)")
    assert "Keputusan: RUJUK (vertikal)" in out
    first = next(line for line in lines if line.strip().startswith("1."))
    # Teluk Keramat (Regional 3) has no Obgyn: the emergency goes to the nearest capable hospital
    assert "RSUD Pemangkat (6101033)" in first
    assert "Pasal 12 ayat (4)" in out
    assert "RSUD Teluk Keramat (6101137): RSUD Teluk Keramat tidak memiliki layanan Obgyn" in out
    assert "jaringan jalan MODEL" in out
    assert "asumsi" in out  # age and sex were not given


def test_non_emergency_follows_the_region_in_english() -> None:
    code, out, _ = _run(
        "--from", "PKM-SEGARAU", "--icd", "R11", "--age", "40", "--sex", "male",
        "--service-type", "rawat_inap", "--lang", "en",
    )  # fmt: skip
    assert code == 0, out
    assert "Decision: REFER" in out
    first = next(line for line in out.splitlines() if line.strip().startswith("1."))
    assert "RSUD Teluk Keramat (6101137)" in first
    assert "Regional 3" in out
    assert "Pasal 12" in out
    assert "assumed" not in out


def test_json_output_matches_the_text(tmp_path: Path) -> None:
    code, out, _ = _run("--from", "segarau", "--icd", "O72.1", "--emergency", "--json")
    assert code == 0
    body = json.loads(out)
    assert body["decision"] == "refer"
    assert body["candidates"][0]["facility_id"] == "6101033"
    assert body["rule_pack"]["id"] == "sambas"
    assert all(c["reasons"] for c in body["candidates"])


def test_status_file_changes_the_ranking(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    statuses = {
        "6101033": {
            "updated_at": (now - timedelta(minutes=5)).isoformat(),
            "beds_available": {"maternity": 0},
        },
        "6101022": {
            "updated_at": (now - timedelta(minutes=5)).isoformat(),
            "beds_available": {"maternity": 3},
            "specialists_on_duty": ["obgyn"],
        },
    }
    f = tmp_path / "status.json"
    f.write_text(json.dumps(statuses))
    code, out, _ = _run(
        "--from", "Puskesmas Segarau", "--icd", "O72.1", "--emergency", "--status-file", str(f)
    )
    assert code == 0, out
    first = next(line for line in out.splitlines() if line.strip().startswith("1."))
    assert "RSUD Sambas (6101022)" in first
    assert "x RSUD Pemangkat (6101033)" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--from", "Puskesmas Atlantis", "--icd", "O72.1"], "no facility id or name matches"),
        (["--from", "Puskesmas S", "--icd", "O72.1"], "matches"),
        (["--from", "PKM-SEGARAU", "--icd", "Q99.99"], "icd10[0]"),
        (["--from", "PKM-SEGARAU", "--age", "140"], "age_years"),
    ],
)
def test_bad_input_is_a_clear_error(args: list[str], needle: str) -> None:
    code, out, err = _run(*args)
    assert code == 2
    assert needle in err + out


def test_bad_status_file_names_the_field(tmp_path: Path) -> None:
    f = tmp_path / "status.json"
    f.write_text(
        json.dumps({"6101033": {"updated_at": "2026-11-22T01:00:00Z", "beds_available": {"icu": -1}}})
    )
    code, out, err = _run("--from", "PKM-SEGARAU", "--status-file", str(f))
    assert code == 2
    assert "6101033.beds_available.icu" in err + out


@pytest.mark.parametrize(
    ("origin", "code", "more"),
    [("PKM-SEGARAU", "J18.9", []), ("PKM-PALOH", "O72.1", ["--emergency"]), ("PKM-TEBAS", "S06.5", ["--emergency"]),
     ("PKM-GALING", "P07.3", []), ("6101033", "I21.9", ["--emergency"]), ("PKM-SAMBAS", "R11", ["--lang", "en"])],
)  # fmt: skip
def test_every_reason_ranked_or_excluded_cites_its_article(origin: str, code: str, more: list[str]) -> None:
    exit_code, out, _ = _run("--from", origin, "--icd", code, *more)
    assert exit_code == 0, out
    reasons = [ln for ln in out.splitlines() if ln.lstrip().startswith(("- ", "x ", "! "))]
    excluded = [ln for ln in reasons if ln.lstrip().startswith("x ")]
    assert reasons, out
    if code == "J18.9":  # Teluk Keramat, the regional hospital, has no lung service: excluded, cited
        assert any("Pasal 12 ayat (4)" in ln for ln in excluded), out
    for line in reasons:
        assert "Pasal" in line, line
    others = next(
        (ln for ln in out.splitlines() if "other facilities excluded" in ln or "faskes lain" in ln), None
    )
    if others is not None:
        assert "Pasal" in others, others
