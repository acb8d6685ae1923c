"""Rule packs load strictly: every problem names the file, the rule or section, and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from geodata.dataset import Dataset
from rules.errors import RulePackError
from rules.pack import bundled_pack_path, load_rule_pack

SAMBAS_PACK = bundled_pack_path().read_text(encoding="utf-8")


def broken(tmp_path: Path, find: str, replace: str) -> Path:
    assert find in SAMBAS_PACK, find
    p = tmp_path / "sambas.yaml"
    p.write_text(SAMBAS_PACK.replace(find, replace, 1), encoding="utf-8")
    return p


def problems(path: Path, sambas: Dataset) -> list[str]:
    with pytest.raises(RulePackError) as exc:
        load_rule_pack(path, facilities=sambas.facilities)
    return [str(p) for p in exc.value.problems]


def test_sambas_pack_encodes_the_regulation(sambas: Dataset) -> None:
    pack = load_rule_pack(bundled_pack_path(), facilities=sambas.facilities)
    assert (pack.id, pack.version, str(pack.effective_date)) == ("sambas", "2025.1", "2025-09-22")
    assert {r.hospital: len(r.origins) for r in pack.regions} == {"6101022": 10, "6101033": 10, "6101137": 8}
    all_rules = pack.request_rules + pack.candidate_rules
    assert all(r.references for r in all_rules)
    cited = " ".join(ref for r in all_rules for ref in r.references)
    for article in (
        "Pasal 4 ayat (2)",
        "Pasal 4 ayat (4)",
        "Pasal 6 ayat (1) huruf a",
        "Pasal 6 ayat (1) huruf b",
        "Pasal 9 ayat (2)",
        "Pasal 10",
        "Pasal 11",
        "Pasal 12 ayat (3)",
        "Pasal 12 ayat (4)",
        "Pasal 14 ayat (1) huruf a",
        "Pasal 14 ayat (1) huruf b",
        "Pasal 15",
    ):
        assert article in cited, article
    assert not any("payer" in r.facts for r in all_rules)


@pytest.mark.parametrize(
    ("find", "replace", "expected"),
    [
        (
            "{fact: transportable, op: eq, value: false}",
            "{fact: transportible, op: eq, value: false}",
            "sambas.yaml: rule 'not-transportable': field 'when.fact': unknown fact 'transportible'",
        ),
        (
            "{fact: transportable, op: eq, value: false}",
            "{fact: transportable, op: eq, value: 'no'}",
            "sambas.yaml: rule 'not-transportable': field 'when.value': 'transportable' is true or false, got 'no'",
        ),
        (
            "{fact: transportable, op: eq, value: false}",
            "{fact: transportable, op: gt, value: false}",
            "sambas.yaml: rule 'not-transportable': field 'when.op': operator 'gt' does not apply to bool fact",
        ),
        (
            'hospital: "6101137"',
            'hospital: "9999999"',
            "sambas.yaml: region 'regional-3': field 'hospital': unknown facility id '9999999'",
        ),
        (
            "PKM-TEKARANG, PKM-SEGARAU]",
            "PKM-TEKARANG, PKM-SEGARAU, PKM-SAMBAS]",
            "sambas.yaml: region 'regional-3': field 'origins': 'PKM-SAMBAS' is already in region 'regional-1' (regions overlap)",
        ),
        (
            "PKM-TEKARANG, PKM-SEGARAU]",
            "PKM-TEKARANG]",
            "sambas.yaml: regions: field 'origins': PKM-SEGARAU (Puskesmas Segarau) is in no region (missing regional assignment)",
        ),
        (
            "specialty: bedah_saraf",
            "specialty: brain_surgery",
            "sambas.yaml: clinical need 'severe-head-injury': field 'specialty': unknown value 'brain_surgery'",
        ),
        (
            "icd10: [S06]",
            "icd10: [S06, Q99.99]",
            "sambas.yaml: clinical need 'severe-head-injury': field 'icd10': 'Q99.99' is not a WHO ICD-10 code",
        ),
        (
            "    effect: {boost: regional}",
            "    effect: {boost: regionl}",
            "sambas.yaml: rule 'regional-designation': field 'effect.boost': unknown weight 'regionl'",
        ),
        (
            "- id: refusal",
            "- id: not-transportable",
            "sambas.yaml: rule 'not-transportable': field 'id': duplicate rule id",
        ),
        (
            'en: "{facility} is too far ({travel_min} min)"',
            'en: "{facility} is too far ({minutes} min)"',
            "sambas.yaml: rule 'out-of-reach': field 'description.en': unknown placeholder {minutes}",
        ),
        (
            '    references: ["Perbup 49/2025 Pasal 10"]',
            "    references: []",
            "sambas.yaml: rule 'upward-when-no-horizontal': field 'references': every rule cites at least one article",
        ),
        (
            "{fact: candidate_is_origin, op: eq, value: true}",
            "{fact: payer, op: eq, value: umum}",
            "sambas.yaml: rule 'not-the-origin': field 'when': the payer never affects referral decisions or ranking",
        ),
        (
            "{fact: consent, op: eq, value: false}",
            "{fact: candidate_reachable, op: eq, value: false}",
            "sambas.yaml: rule 'refusal': field 'when.fact': fact 'candidate_reachable' is about a candidate",
        ),
    ],
)
def test_each_problem_is_named(
    tmp_path: Path, sambas: Dataset, find: str, replace: str, expected: str
) -> None:
    got = problems(broken(tmp_path, find, replace), sambas)
    assert any(p.startswith(expected) for p in got), got


def test_unreachable_rules(tmp_path: Path, sambas: Dataset) -> None:
    contradictory = broken(
        tmp_path,
        "        - {fact: non_specialist, op: eq, value: true}\n",
        "        - {fact: non_specialist, op: eq, value: true}\n        - {fact: non_specialist, op: eq, value: false}\n",
    )
    assert problems(contradictory, sambas) == [
        (
            "sambas.yaml: rule 'non-specialist-without-tacc': field 'when.all': unreachable: the conditions on "
            "'non_specialist' can never hold together"
        )
    ]
    shadowed = broken(tmp_path, "    when: {fact: transportable, op: eq, value: false}\n", "")
    got = problems(shadowed, sambas)
    assert (
        got[0]
        == "sambas.yaml: rule 'refusal': field 'when': unreachable: rule 'not-transportable' before it always decides"
    )
    assert len(got) == 7  # every later request rule


def test_numeric_ranges_that_cannot_hold(tmp_path: Path, sambas: Dataset) -> None:
    p = broken(
        tmp_path,
        "    when: {fact: candidate_travel_min, op: gt, value: 600}",
        "    when:\n      all:\n        - {fact: candidate_travel_min, op: gt, value: 600}\n"
        "        - {fact: candidate_travel_min, op: lt, value: 60}",
    )
    assert problems(p, sambas) == [
        (
            "sambas.yaml: rule 'out-of-reach': field 'when.all': unreachable: the conditions on 'candidate_travel_min' "
            "can never hold together"
        )
    ]


def test_unreadable_file(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("rules: [", encoding="utf-8")
    with pytest.raises(RulePackError, match=r"bad\.yaml: file"):
        load_rule_pack(p)
