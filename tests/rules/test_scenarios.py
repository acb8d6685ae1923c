"""Scenario table: every row of SPEC section 2 (Perbup Sambas 49/2025), decision, first candidates, citing reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from geodata.models import BedType, Equipment, Service
from rules.model import (
    Decision,
    FacilityStatus,
    OriginCondition,
    Payer,
    ReferralRequest,
    ReferralType,
    ServiceType,
    Sex,
    Suggestion,
)
from tests.rules.conftest import NOW

Run = Callable[..., Suggestion]

RSUD_SAMBAS, RSUD_PEMANGKAT, RSUD_TELUK_KERAMAT = "6101022", "6101033", "6101137"
ABDUL_AZIZ, SOEDARSO = "6172011", "6171011"


def pph(origin: str = "PKM-SEGARAU", **kw: object) -> ReferralRequest:
    """Postpartum haemorrhage: Obgyn, blood bank, maternity bed."""
    args: dict[str, object] = {"service_type": ServiceType.RAWAT_INAP}
    args.update(kw)
    return ReferralRequest(origin, 28, Sex.FEMALE, ("O72.1",), **args)  # type: ignore[arg-type]


def general_inpatient(origin: str, **kw: object) -> ReferralRequest:
    """Persistent vomiting needing a general ward bed (no specialty in the mapping)."""
    return ReferralRequest(origin, 40, Sex.MALE, ("R11",), service_type=ServiceType.RAWAT_INAP, **kw)  # type: ignore[arg-type]


def ids(s: Suggestion) -> list[str]:
    return [c.facility_id for c in s.candidates]


def rule_ids(reasons: object) -> set[str]:
    return {r.rule_id for r in reasons}  # type: ignore[attr-defined]


def excluded(s: Suggestion, facility_id: str) -> set[str]:
    return next(rule_ids(x.reasons) for x in s.excluded if x.facility_id == facility_id)


def cites(reasons: object, article: str) -> bool:
    return any(article in ref for r in reasons for ref in r.references)  # type: ignore[attr-defined]


def status(fid: str, *, age_min: float = 10, **kw: object) -> FacilityStatus:
    return FacilityStatus(fid, NOW - timedelta(minutes=age_min), **kw)  # type: ignore[arg-type]


# ---- Pasal 12(1)-(3): regionalisation -------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "hospital"),
    [
        ("PKM-SUBAH", RSUD_SAMBAS),
        ("PKM-GALING", RSUD_SAMBAS),
        ("PKM-SELAKAU", RSUD_PEMANGKAT),
        ("PKM-SENTEBANG", RSUD_PEMANGKAT),
        ("PKM-SEGARAU", RSUD_TELUK_KERAMAT),
        ("PKM-PALOH", RSUD_TELUK_KERAMAT),
    ],
)
def test_non_emergency_goes_to_the_regional_hospital(run: Run, origin: str, hospital: str) -> None:
    s = run(general_inpatient(origin))
    assert s.decision is Decision.REFER
    assert ids(s)[0] == hospital
    first = s.candidates[0]
    assert "regional-designation" in rule_ids(first.reasons)
    assert cites(first.reasons, "Pasal 12 ayat (3)")


def test_regional_hospital_first_even_when_another_is_nearer(run: Run) -> None:
    s = run(general_inpatient("PKM-SEGARAU"))
    first, others = s.candidates[0], s.candidates[1:]
    assert first.facility_id == RSUD_TELUK_KERAMAT
    assert min(c.travel_time_s for c in others) < first.travel_time_s  # Pemangkat/Sambas are nearer


# ---- Pasal 6, 12(4): emergency and disaster -------------------------------------------------


def test_emergency_goes_to_the_nearest_capable(run: Run) -> None:
    s = run(
        ReferralRequest(
            "PKM-SEGARAU", 40, Sex.MALE, ("R11",), service_type=ServiceType.GAWAT_DARURAT, emergency=True
        )
    )
    assert s.decision is Decision.REFER
    assert s.candidates[0].facility_id != RSUD_TELUK_KERAMAT
    times = [
        c.travel_time_s
        for c in s.candidates
        if c.facility_id in (RSUD_PEMANGKAT, RSUD_SAMBAS, RSUD_TELUK_KERAMAT)
    ]
    assert s.candidates[0].travel_time_s == min(times)
    assert "emergency-waives-regionalisation" in rule_ids(s.reasons)
    assert cites(s.reasons, "Pasal 6 ayat (1) huruf a")
    assert all("tiered" not in rule_ids(c.reasons) for c in s.candidates)


def test_disaster_waives_regionalisation(run: Run) -> None:
    s = run(general_inpatient("PKM-SEGARAU", disaster=True))
    assert "disaster-waives-regionalisation" in rule_ids(s.reasons)
    assert all("regional-designation" not in rule_ids(c.reasons) for c in s.candidates)
    assert s.candidates[0].facility_id != RSUD_TELUK_KERAMAT


def test_regional_hospital_without_the_specialty_is_skipped_with_12_4(run: Run) -> None:
    s = run(pph("PKM-SEGARAU"))
    assert RSUD_TELUK_KERAMAT not in ids(s)
    reasons = excluded(s, RSUD_TELUK_KERAMAT)
    assert {"competency", "regional-hospital-lacks-capability"} <= reasons
    x = next(x for x in s.excluded if x.facility_id == RSUD_TELUK_KERAMAT)
    assert cites(x.reasons, "Pasal 12 ayat (4)")
    assert ids(s)[0] in (RSUD_PEMANGKAT, RSUD_SAMBAS)


def test_regional_hospital_without_beds_is_skipped_with_12_4(run: Run) -> None:
    full = {
        RSUD_PEMANGKAT: status(
            RSUD_PEMANGKAT,
            beds_available={BedType.MATERNITY: 0},
            specialists_on_duty=frozenset({Service.OBGYN}),
        )
    }
    s = run(pph("PKM-SELAKAU"), full)
    assert RSUD_PEMANGKAT not in ids(s)
    assert {"bed-available", "regional-hospital-lacks-capability"} <= excluded(s, RSUD_PEMANGKAT)
    s_ok = run(pph("PKM-SELAKAU"))
    assert ids(s_ok)[0] == RSUD_PEMANGKAT


# ---- Pasal 4: capability, travel time, never cost ------------------------------------------


def test_capability_is_a_hard_filter(run: Run) -> None:
    s = run(pph("PKM-SAMBAS", emergency=True))
    for c in s.candidates:
        assert "capable" in rule_ids(c.reasons)
    assert "competency" in excluded(s, "6172066")  # the psychiatric hospital has no Obgyn


@pytest.mark.parametrize("payer", list(Payer))
def test_payer_changes_nothing(run: Run, payer: Payer) -> None:
    base = run(pph("PKM-TEBAS"))
    other = run(pph("PKM-TEBAS", payer=payer))
    assert other.candidates == base.candidates
    assert other.excluded == base.excluded


# ---- Pasal 7-11: referral types ------------------------------------------------------------


def test_vertical_from_a_puskesmas(run: Run) -> None:
    s = run(pph("PKM-TEBAS"))
    assert s.referral_type is ReferralType.VERTICAL


def test_horizontal_first_when_the_hospital_is_full(run: Run) -> None:
    req = pph(RSUD_PEMANGKAT, origin_conditions=frozenset({OriginCondition.CAPACITY_FULL}))
    s = run(req)
    assert "horizontal-first" in rule_ids(s.reasons)
    assert s.referral_type is ReferralType.HORIZONTAL
    first = s.candidates[0]
    same_level = [c for c in s.candidates if c.referral_type is ReferralType.HORIZONTAL]
    assert {c.facility_id for c in same_level} >= {RSUD_SAMBAS}  # the class C (madya) hospitals
    assert first.travel_time_s == min(c.travel_time_s for c in same_level)
    assert all(c.rank < d.rank for c in same_level for d in s.candidates if d not in same_level)
    assert cites(first.reasons, "Pasal 9 ayat (2)")


def test_upward_when_no_horizontal_candidate(run: Run) -> None:
    head = ReferralRequest(
        RSUD_PEMANGKAT,
        30,
        Sex.MALE,
        ("S06.5",),
        service_type=ServiceType.RAWAT_INAP,
        origin_conditions=frozenset({OriginCondition.STAFF_ABSENT}),
    )
    s = run(head)
    assert s.referral_type is ReferralType.VERTICAL
    assert ids(s)[0] == ABDUL_AZIZ  # neurosurgery, CT, ICU: the nearest class B
    assert "upward-when-no-horizontal" in rule_ids(s.candidates[0].reasons)
    assert cites(s.candidates[0].reasons, "Pasal 10")


def test_back_referral_goes_to_a_lower_level(run: Run) -> None:
    req = ReferralRequest(RSUD_SAMBAS, 60, Sex.FEMALE, ("I10",), back_referral=True)
    s = run(req)
    assert s.decision is Decision.REFER
    assert s.referral_type is ReferralType.BACK_REFERRAL
    first = s.candidates[0]
    assert first.facility_id.startswith("PKM-")  # the nearest first-level facility
    assert first.travel_time_s == min(
        c.travel_time_s for c in s.candidates if c.facility_id.startswith("PKM-")
    )
    assert "PKM-SAMBAS" in ids(s)[:3]
    assert ABDUL_AZIZ not in ids(s)
    assert "back-referral-goes-down" in excluded(s, ABDUL_AZIZ)


def test_back_referral_proposes_the_referring_puskesmas_first(run: Run) -> None:
    # Pasal 5 ayat (3): back to the facility that referred, then any first-level one by road
    req = ReferralRequest(
        RSUD_PEMANGKAT, 28, Sex.FEMALE, ("O72.1",), back_referral=True, referred_from="PKM-SEGARAU"
    )
    s = run(req)
    assert s.referral_type is ReferralType.BACK_REFERRAL
    assert ids(s)[0] == "PKM-SEGARAU"
    assert cites(s.candidates[0].reasons, "Pasal 5 ayat (3)")
    rest = [c for c in s.candidates[1:] if c.facility_id.startswith("PKM-")]
    assert [c.travel_time_s for c in rest] == sorted(c.travel_time_s for c in rest)
    assert cites(rest[0].reasons, "Pasal 11 ayat (2)")
    # the acute need (a blood bank for a haemorrhage) does not follow the patient back
    assert not any(e.facility_id.startswith("PKM-") for e in s.excluded)
    # without the referring facility, the nearest first-level one comes first
    plain = run(ReferralRequest(RSUD_PEMANGKAT, 28, Sex.FEMALE, ("O72.1",), back_referral=True))
    assert ids(plain)[0] == "PKM-PEMANGKAT"


def test_an_inpatient_back_referral_goes_to_a_lower_level_hospital(run: Run) -> None:
    # Pasal 11 ayat (2) huruf a: continued inpatient care needs a bed, which no Puskesmas reports
    req = ReferralRequest(
        RSUD_PEMANGKAT, 60, Sex.MALE, ("E11.9",), service_type=ServiceType.RAWAT_INAP,
        back_referral=True, referred_from="PKM-SEGARAU",
    )  # fmt: skip
    s = run(req)
    first = s.candidates[0]
    assert not first.facility_id.startswith("PKM-")
    assert cites(first.reasons, "Pasal 11 ayat (2)")
    assert "bed-available" in excluded(s, "PKM-SEGARAU")


# ---- Pasal 13-14: consent, not transportable ---------------------------------------------------


def test_not_transportable_is_treated_locally(run: Run) -> None:
    s = run(pph("PKM-TEMAJUK", transportable=False, emergency=True))
    assert s.decision is Decision.TREAT_LOCALLY
    assert s.candidates == ()
    assert cites(s.reasons, "Pasal 14 ayat (1) huruf a")


def test_refusal_is_treated_locally(run: Run) -> None:
    s = run(pph("PKM-TEMAJUK", consent=False))
    assert s.decision is Decision.TREAT_LOCALLY
    assert cites(s.reasons, "Pasal 14 ayat (1) huruf b")


# ---- Pasal 15: outpatient, emergency, inpatient ----------------------------------------------


def test_outpatient_needs_no_bed(run: Run) -> None:
    no_beds = {RSUD_PEMANGKAT: status(RSUD_PEMANGKAT, beds_available={BedType.MATERNITY: 0})}
    outpatient = ReferralRequest(
        "PKM-SELAKAU", 28, Sex.FEMALE, ("O26.8",), service_type=ServiceType.RAWAT_JALAN
    )
    s = run(outpatient, no_beds)
    assert ids(s)[0] == RSUD_PEMANGKAT
    inpatient = ReferralRequest(
        "PKM-SELAKAU", 28, Sex.FEMALE, ("O26.8",), service_type=ServiceType.RAWAT_INAP
    )
    assert RSUD_PEMANGKAT not in ids(run(inpatient, no_beds))


# ---- live status: stale, on call, not accepting --------------------------------------------------


def test_stale_status_is_used_with_a_penalty_and_its_age(run: Run) -> None:
    fresh = {RSUD_PEMANGKAT: status(RSUD_PEMANGKAT, beds_available={BedType.MATERNITY: 2})}
    stale = {RSUD_PEMANGKAT: status(RSUD_PEMANGKAT, age_min=6 * 60, beds_available={BedType.MATERNITY: 2})}
    a = next(c for c in run(pph("PKM-SELAKAU"), fresh).candidates if c.facility_id == RSUD_PEMANGKAT)
    b = next(c for c in run(pph("PKM-SELAKAU"), stale).candidates if c.facility_id == RSUD_PEMANGKAT)
    assert b.stale and not a.stale
    assert b.score > a.score
    reason = next(r for r in b.reasons if r.rule_id == "stale-status")
    assert "6.0 h" in reason.text("en")
    assert "6.0 jam" in reason.text("id")


def test_a_stale_bed_count_does_not_hide_behind_a_fresh_occupancy(run: Run) -> None:
    """Each figure is judged by its own age: a 6-hour-old maternity bed count is stale even though
    the hospital updated its occupancy a second ago."""
    old_beds = {
        RSUD_PEMANGKAT: status(
            RSUD_PEMANGKAT,
            age_min=0,  # the newest figure: occupancy, just now
            occupancy=0.5,
            beds_available={BedType.MATERNITY: 2},
            figure_times={"beds_available.maternity": NOW - timedelta(hours=6), "occupancy": NOW},
        )
    }
    c = next(c for c in run(pph("PKM-SELAKAU"), old_beds).candidates if c.facility_id == RSUD_PEMANGKAT)
    assert c.stale
    reason = next(r for r in c.reasons if r.rule_id == "stale-status")
    assert "6.0 h" in reason.text("en")  # the age of the figure that mattered
    # a stale "no maternity bed" is not trusted either, however fresh the other figures
    full = {
        RSUD_PEMANGKAT: status(
            RSUD_PEMANGKAT,
            age_min=0,
            beds_available={BedType.MATERNITY: 0},
            figure_times={"beds_available.maternity": NOW - timedelta(hours=6)},
        )
    }
    c = next(c for c in run(pph("PKM-SELAKAU"), full).candidates if c.facility_id == RSUD_PEMANGKAT)
    assert {"stale-status", "bed-unknown"} <= rule_ids(c.reasons)


def test_an_old_figure_the_patient_does_not_need_does_not_make_the_status_stale(run: Run) -> None:
    fresh_beds = {
        RSUD_PEMANGKAT: status(
            RSUD_PEMANGKAT,
            age_min=0,
            beds_available={BedType.MATERNITY: 2, BedType.ICU: 1},
            figure_times={"beds_available.icu": NOW - timedelta(hours=9), "beds_available.maternity": NOW},
        )
    }
    c = next(c for c in run(pph("PKM-SELAKAU"), fresh_beds).candidates if c.facility_id == RSUD_PEMANGKAT)
    assert not c.stale
    assert "stale-status" not in rule_ids(c.reasons)


def test_stale_no_beds_is_not_trusted(run: Run) -> None:
    stale_full = {RSUD_PEMANGKAT: status(RSUD_PEMANGKAT, age_min=600, beds_available={BedType.MATERNITY: 0})}
    s = run(pph("PKM-SELAKAU"), stale_full)
    c = next(c for c in s.candidates if c.facility_id == RSUD_PEMANGKAT)
    assert {"stale-status", "bed-unknown"} <= rule_ids(c.reasons)


def test_specialist_on_call_and_absent(run: Run) -> None:
    on_call = {
        RSUD_PEMANGKAT: status(
            RSUD_PEMANGKAT,
            specialists_on_duty=frozenset({Service.ANAK}),
            specialists_on_call={Service.OBGYN: 20},
        )
    }
    c = next(c for c in run(pph("PKM-SELAKAU"), on_call).candidates if c.facility_id == RSUD_PEMANGKAT)
    assert "specialist-on-call" in rule_ids(c.reasons)
    too_far = {
        RSUD_PEMANGKAT: status(
            RSUD_PEMANGKAT,
            specialists_on_duty=frozenset({Service.ANAK}),
            specialists_on_call={Service.OBGYN: 90},
        )
    }
    s = run(pph("PKM-SELAKAU"), too_far)
    assert "specialist-absent" in excluded(s, RSUD_PEMANGKAT)


def test_not_accepting_reverts_by_itself(run: Run) -> None:
    closed = {RSUD_PEMANGKAT: status(RSUD_PEMANGKAT, not_accepting_until=NOW + timedelta(hours=1))}
    assert "not-accepting" in excluded(run(pph("PKM-SELAKAU"), closed), RSUD_PEMANGKAT)
    reopened = {RSUD_PEMANGKAT: status(RSUD_PEMANGKAT, not_accepting_until=NOW - timedelta(minutes=1))}
    assert ids(run(pph("PKM-SELAKAU"), reopened))[0] == RSUD_PEMANGKAT


def test_broken_equipment_excludes(run: Run) -> None:
    broken = {
        RSUD_PEMANGKAT: status(RSUD_PEMANGKAT, equipment_out_of_order=frozenset({Equipment.BLOOD_BANK}))
    }
    s = run(pph("PKM-SELAKAU"), broken)
    assert "equipment-working" in excluded(s, RSUD_PEMANGKAT)
    # the reason names the equipment as people say it, in each language: never the data's identifier
    why = next(x for x in s.excluded if x.facility_id == RSUD_PEMANGKAT).reasons
    said = next(r for r in why if r.rule_id == "equipment-working")
    assert "bank darah" in said.text_id and "blood_bank" not in said.text_id, said.text_id
    assert "blood bank" in said.text_en, said.text_en


def test_a_full_ward_is_named_in_bahasa(run: Run) -> None:
    full = {RSUD_PEMANGKAT: status(RSUD_PEMANGKAT, beds_available={BedType.MATERNITY: 0})}
    s = run(pph("PKM-SELAKAU"), full)
    why = next(x for x in s.excluded if x.facility_id == RSUD_PEMANGKAT).reasons
    said = next(r for r in why if r.rule_id == "bed-available")
    assert "tempat tidur bersalin" in said.text_id and "maternity" not in said.text_id, said.text_id
    assert "maternity bed" in said.text_en, said.text_en


def test_no_capable_facility(run: Run) -> None:
    req = ReferralRequest("PKM-SAMBAS", 30, Sex.MALE, ("K04.0",), specialty=Service.GIGI_ENDODONTIS)
    assert ids(run(req)) == [SOEDARSO]
    closed = {SOEDARSO: status(SOEDARSO, not_accepting_until=NOW + timedelta(hours=2))}
    s = run(req, closed)
    assert s.decision is Decision.NO_CAPABLE_FACILITY
    assert s.candidates == ()
    assert s.referral_type is None


# ---- tiered referral, non-specialist diagnoses ------------------------------------------------


def test_lowest_capable_level_comes_first(run: Run) -> None:
    s = run(pph("PKM-SAMBAS"))
    levels = {c.facility_id: c for c in s.candidates}
    assert "tiered" in rule_ids(levels[ABDUL_AZIZ].reasons)
    assert levels[ABDUL_AZIZ].score > levels[ABDUL_AZIZ].travel_time_s / 60


def test_non_specialist_diagnosis_warns_but_does_not_block(run: Run) -> None:
    cold = ReferralRequest("PKM-SAMBAS", 30, Sex.MALE, ("J00",), specialty=Service.PENYAKIT_DALAM)
    s = run(cold)
    assert s.decision is Decision.REFER
    assert [w.rule_id for w in s.warnings] == ["non-specialist-without-tacc"]
    s2 = run(
        ReferralRequest(
            "PKM-SAMBAS",
            80,
            Sex.MALE,
            ("J00",),
            specialty=Service.PENYAKIT_DALAM,
            tacc="Age: 80 years, comorbid heart failure",
        )
    )
    assert s2.warnings == ()
