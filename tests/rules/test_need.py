"""Clinical need from ICD-10 codes, age and sex; explicit needs override the mapping."""

from __future__ import annotations

import pytest

from geodata.models import BedType, Equipment, Service
from rules.errors import RequestError
from rules.icd import lineage, validate
from rules.model import ReferralRequest, ServiceType, Sex
from rules.need import resolve_need
from rules.pack import RulePack


def need(pack: RulePack, *codes: str, age: float = 30, sex: Sex = Sex.FEMALE, **kw: object):
    return resolve_need(ReferralRequest("PKM-SAMBAS", age, sex, codes, **kw), pack)  # type: ignore[arg-type]


def test_obstetric_haemorrhage(pack: RulePack) -> None:
    n = need(pack, "O72.1")
    assert (n.specialty, n.beds, n.equipment) == (
        Service.OBGYN,
        (BedType.MATERNITY,),
        (Equipment.BLOOD_BANK,),
    )
    assert n.sources == ("obstetric-haemorrhage",)


def test_premature_newborn(pack: RulePack) -> None:
    n = need(pack, "P07.3", age=0)
    assert (n.specialty, n.beds, n.equipment) == (Service.ANAK, (BedType.NICU,), (Equipment.NICU_INCUBATOR,))


def test_stemi_prefers_a_cath_lab(pack: RulePack) -> None:
    n = need(pack, "I21.0", sex=Sex.MALE, age=55)
    assert n.specialty is Service.JANTUNG
    assert n.preferred_equipment == (Equipment.CATH_LAB,)
    assert n.preferred_within_min == 60


def test_severe_head_injury(pack: RulePack) -> None:
    n = need(pack, "S06.5")
    assert (n.specialty, n.beds, n.equipment) == (Service.BEDAH_SARAF, (BedType.ICU,), (Equipment.CT,))


def test_most_specific_entry_and_age(pack: RulePack) -> None:
    assert need(pack, "O26.8").sources == ("pregnancy-childbirth",)  # chapter XV
    assert need(pack, "J18.9", age=4).specialty is Service.ANAK
    assert need(pack, "J18.9", age=40).specialty is Service.PARU


def test_category_code_and_dotless_forms_are_accepted(pack: RulePack) -> None:
    assert need(pack, "O72").specialty is Service.OBGYN
    assert validate("o721") == "O72.1"
    assert lineage("O72.1") == ("O72.1", "O72", "O60-O75", "XV")


def test_unknown_code_is_a_clear_error(pack: RulePack) -> None:
    with pytest.raises(RequestError, match=r"field 'icd10\[1\]': 'X99.99' is not a WHO ICD-10 code"):
        need(pack, "O72.1", "X99.99")


def test_explicit_need_overrides_mapping(pack: RulePack) -> None:
    n = need(pack, "O72.1", specialty=Service.BEDAH, beds=(BedType.ICU,))
    assert (n.specialty, n.beds, n.equipment) == (Service.BEDAH, (BedType.ICU,), (Equipment.BLOOD_BANK,))
    assert n.sources[-1] == "request"


def test_inpatient_without_a_mapped_bed_needs_a_general_bed(pack: RulePack) -> None:
    assert need(pack, "R11", service_type=ServiceType.RAWAT_INAP).beds == (BedType.GENERAL,)
    assert need(pack, "R11").beds == ()


def test_non_specialist_only_when_every_code_is(pack: RulePack) -> None:
    assert need(pack, "J00").non_specialist
    assert not need(pack, "J00", "O72.1").non_specialist
