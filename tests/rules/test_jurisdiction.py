"""Jurisdictions: the pack of the origin's regency, the province's otherwise; manifests load strictly."""

from __future__ import annotations

from pathlib import Path

import pytest

from geodata.dataset import Dataset
from rules.errors import JurisdictionError
from rules.jurisdiction import load_jurisdictions
from tests.synthetic_regency import MANIFEST

PROVINCE = 'province: {code: "61", name: Kalimantan Barat, pack: "bundled:kalbar-synthetic"}\n'
CONTOH = (MANIFEST.parent / "contoh-synthetic.yaml").resolve()


def manifest(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "deployment.yaml"
    p.write_text(text.replace("CONTOH", str(CONTOH)), encoding="utf-8")
    return p


def problems(path: Path, ds: Dataset) -> list[str]:
    with pytest.raises(JurisdictionError) as exc:
        load_jurisdictions(path, facilities=ds.facilities)
    return [str(p) for p in exc.value.problems]


def test_the_origins_regency_chooses_the_pack(two_regencies: Dataset) -> None:
    j = load_jurisdictions(MANIFEST, facilities=two_regencies.facilities)
    assert [(r.code, r.pack.id) for r in j.regencies] == [("6101", "sambas"), ("6198", "contoh-synthetic")]
    assert j.province is not None and j.province.pack.id == "kalbar-synthetic"
    assert j.for_regency("Sambas").id == "sambas"
    assert j.for_regency("contoh sintetis").id == "contoh-synthetic"
    # Kota Singkawang has no pack in this deployment: the province's governs its origins
    assert j.for_regency("Kota Singkawang").id == "kalbar-synthetic"
    assert j.for_code("61.01").id == "sambas"
    assert j.for_code("6172").id == "kalbar-synthetic"
    assert [p.id for p in j.packs] == ["sambas", "contoh-synthetic", "kalbar-synthetic"]


def test_the_synthetic_packs_say_so(two_regencies: Dataset) -> None:
    j = load_jurisdictions(MANIFEST, facilities=two_regencies.facilities)
    for pack in (j.for_regency("Contoh Sintetis"), j.fallback):
        assert "synthetic" in pack.id
        assert "SYNTHETIC" in pack.title
        assert "synthetic" in pack.version
        cited = [ref for rule in (*pack.request_rules, *pack.candidate_rules) for ref in rule.references]
        assert all(
            "SYNTHETIC" in ref or ref in ("KMK 144 diagnosis FKTP", "Permenkes 16/2024") for ref in cited
        )
    # the province pack designates no regional hospital: no regionalisation of its own
    assert j.fallback.regions == ()


def test_a_regency_with_two_packs_is_refused(tmp_path: Path, two_regencies: Dataset) -> None:
    path = manifest(
        tmp_path,
        """province: {code: "61", name: Kalimantan Barat, pack: "bundled:kalbar-synthetic"}
regencies:
  - {code: "6101", name: Sambas, pack: "bundled:sambas"}
  - {code: "6101", name: Sambas, pack: CONTOH}
""",
    )
    got = problems(path, two_regencies)
    assert any(
        "regencies[1]: field 'code': Sambas (6101) is already listed at regencies[0]" in p for p in got
    )
    assert any("contoh-synthetic.yaml is the pack of 'Contoh Sintetis', not of 'Sambas'" in p for p in got)


def test_a_bad_pack_names_its_file_and_field(tmp_path: Path, two_regencies: Dataset) -> None:
    bad = tmp_path / "contoh-broken.yaml"
    bad.write_text(
        CONTOH.read_text(encoding="utf-8").replace("hospital: SYN-RSUD-CONTOH", "hospital: SYN-NO-SUCH"),
        encoding="utf-8",
    )
    path = manifest(
        tmp_path,
        """province: {code: "61", name: Kalimantan Barat, pack: "bundled:kalbar-synthetic"}
regencies:
  - {code: "6198", name: Contoh Sintetis, pack: contoh-broken.yaml}
""",
    )
    got = problems(path, two_regencies)
    assert "deployment.yaml: regencies[0]: field 'pack': contoh-broken.yaml: the pack was rejected" in got[0]
    assert any(
        p
        == "contoh-broken.yaml: region 'contoh-regional-1': field 'hospital': unknown facility id 'SYN-NO-SUCH'"
        for p in got
    )


def test_a_facility_named_in_a_pack_must_be_in_the_deployment(tmp_path: Path, sambas: Dataset) -> None:
    # the Contoh pack against Sambas alone: its facilities are not in this deployment
    path = manifest(
        tmp_path,
        """province: {code: "61", name: Kalimantan Barat, pack: "bundled:kalbar-synthetic"}
regencies:
  - {code: "6198", name: Contoh Sintetis, pack: CONTOH}
""",
    )
    got = problems(path, sambas)
    assert any("field 'origins': unknown facility id 'SYN-PKM-HULU'" in p for p in got)


def test_regionalisation_stays_in_its_regency(tmp_path: Path, two_regencies: Dataset) -> None:
    """A regency pack whose region lists another regency's Puskesmas is refused: its
    regionalisation could otherwise apply to the other regency's origins."""
    bad = tmp_path / "contoh-greedy.yaml"
    bad.write_text(
        CONTOH.read_text(encoding="utf-8").replace(
            "origins: [SYN-PKM-HULU, SYN-PKM-HILIR]",
            "origins: [SYN-PKM-HULU, SYN-PKM-HILIR, PKM-SAJINGAN-BESAR]",
        ),
        encoding="utf-8",
    )
    path = manifest(
        tmp_path,
        """province: {code: "61", name: Kalimantan Barat, pack: "bundled:kalbar-synthetic"}
regencies:
  - {code: "6101", name: Sambas, pack: "bundled:sambas"}
  - {code: "6198", name: Contoh Sintetis, pack: contoh-greedy.yaml}
""",
    )
    got = problems(path, two_regencies)
    assert any("region 'contoh-regional-1' lists 'PKM-SAJINGAN-BESAR' of 'Sambas'" in p for p in got)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("regencies: []\n", "deployment.yaml: province: field '': expected {code, name, pack}"),
        (
            'province: {code: "6", name: Kalimantan Barat, pack: "bundled:kalbar-synthetic"}\nregencies: []\n',
            "deployment.yaml: province: field 'code': '6' is not a Kemendagri code",
        ),
        (
            'province: {code: "61", name: Kalimantan Barat, pack: "bundled:kalbar-synthetic"}\nregencies: []\n',
            "deployment.yaml: manifest: field 'regencies': expected a non-empty list",
        ),
        (
            PROVINCE + 'regencies:\n  - {code: "6301", name: Sambas, pack: "bundled:sambas"}\n',
            "deployment.yaml: regencies[0]: field 'code': 6301 is not in province 61 (Kalimantan Barat)",
        ),
        (
            PROVINCE + 'regencies:\n  - {code: 6101, name: Sambas, pack: "bundled:sambas"}\n',
            "deployment.yaml: regencies[0]: field 'code': missing or not a text",
        ),
        (
            PROVINCE + 'regencies:\n  - {code: "6101", name: Sambas, pack: "no-such.yaml"}\n',
            "no-such.yaml: file: field '': unreadable",
        ),
        (
            'province: {code: "61", name: Kalimantan Barat, pack: "bundled:sambas"}\nregencies:\n  - {code: "6101", name: Sambas, pack: "bundled:sambas"}\n',
            "deployment.yaml: province: field 'pack': bundled:sambas is the pack of 'Sambas', not of 'Kalimantan Barat'",
        ),
        (
            "province: [1]\nregencies: x\nextra: 1\n",
            "deployment.yaml: manifest: field 'extra': unknown field",
        ),
        ("- a list\n", "deployment.yaml: file: field '': a manifest is a YAML mapping"),
    ],
)
def test_bad_manifests_are_refused_with_the_field(
    tmp_path: Path, sambas: Dataset, text: str, expected: str
) -> None:
    got = problems(manifest(tmp_path, text), sambas)
    assert any(p.startswith(expected) for p in got), got
