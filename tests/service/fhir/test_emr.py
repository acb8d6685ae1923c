"""A medical record export (FHIR R4 Bundle) read into a partial letter (``service.fhir.emr``).

Neither fhir.resources nor fhirpy ships example resources (checked: no ``*.json`` in their
installed packages), so the Bundles here are built as the sources write them: SATUSEHAT's
resource guides (identifier and code systems, a NIK, ICD-10 and ICD-9-CM, LOINC vital signs, a
KFA-coded Medication contained in a MedicationStatement) and the HL7 R4 vital-signs examples
(heart rate in ``/min`` with ``unit`` "beats/minute", blood pressure as the ``85354-9`` panel);
and rujuk's own transaction Bundle (``letter_bundle``) read back.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest

from service.fhir.emr import read_export
from service.fhir.emr_bundle import BUNDLE_TYPES, ExportError
from service.fhir.emr_patient import medical_record_identifier
from service.referrals.schemas import MedicalIn, PatientIn
from tests.service.fhir.test_transaction import bundle_of, full_letter

TODAY = dt.date(2026, 11, 22)
NIK = "https://fhir.kemkes.go.id/id/nik"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ICD9CM = "http://hl7.org/fhir/sid/icd-9-cm"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
KFA = "http://sys-ids.kemkes.go.id/kfa"
ORG = "100025939"  # a SATUSEHAT organization id, as in its guides' examples
PATIENT = "urn:uuid:7c0b6a36-0b4e-4f2c-9d5a-1d2f3c4b5a60"


def vital(
    code: str, display: str, value: float, unit: str, at: str, *, ucum: str | None = None
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                        "display": "Vital Signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
        "subject": {"reference": PATIENT},
        "effectiveDateTime": at,
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": ucum or unit},
    }


def satusehat_export() -> dict[str, Any]:
    """A Puskesmas EMR's export of a postpartum haemorrhage, as SATUSEHAT's guides write each resource."""
    patient = {
        "resourceType": "Patient",
        "meta": {"profile": ["https://fhir.kemkes.go.id/r4/StructureDefinition/Patient"]},
        "identifier": [
            {"use": "official", "system": NIK, "value": "6101014107980001"},
            {"use": "official", "system": "https://fhir.kemkes.go.id/id/ihs-number", "value": "P02478375538"},
            {
                "use": "usual",
                "system": f"http://sys-ids.kemkes.go.id/patient/{ORG}",
                "value": "KUNJ-2026-0042",
            },
            {
                "type": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]
                },
                "system": f"http://sys-ids.kemkes.go.id/mr/{ORG}",
                "value": "RM-000123",
            },
        ],
        "active": True,
        "name": [{"use": "official", "text": "Siti Contoh"}],
        "telecom": [{"system": "phone", "value": "0812-3456-7890", "use": "mobile"}],
        "gender": "female",
        "birthDate": "1998-07-01",
        "address": [
            {
                "use": "home",
                "line": ["Dusun Segarau Parit RT 02 RW 01"],
                "city": "Kabupaten Sambas",
                "country": "ID",
                "extension": [
                    {
                        "url": "https://fhir.kemkes.go.id/r4/StructureDefinition/administrativeCode",
                        "extension": [
                            {"url": "province", "valueCode": "61"},
                            {"url": "city", "valueCode": "6101"},
                        ],
                    }
                ],
            }
        ],
    }
    encounter = {
        "resourceType": "Encounter",
        "status": "in-progress",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "EMER",
            "display": "emergency",
        },
        "subject": {"reference": PATIENT, "display": "Siti Contoh"},
        "serviceProvider": {"reference": f"Organization/{ORG}"},
    }

    def condition(
        code: str,
        display: str,
        text: str,
        *,
        system: str = ICD10,
        status: str = "active",
        category: str = "encounter-diagnosis",
    ) -> dict[str, Any]:
        return {
            "resourceType": "Condition",
            "identifier": [{"system": f"http://sys-ids.kemkes.go.id/condition/{ORG}", "value": f"DX-{code}"}],
            "clinicalStatus": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status}
                ]
            },
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                            "code": category,
                        }
                    ]
                }
            ],
            "code": {"coding": [{"system": system, "code": code, "display": display}], "text": text},
            "subject": {"reference": PATIENT},
        }

    oxytocin = {
        "resourceType": "MedicationStatement",
        "contained": [
            {
                "resourceType": "Medication",
                "id": "med-1",
                "code": {
                    "coding": [{"system": KFA, "code": "93001019", "display": "Oksitosin 10 IU/mL Injeksi"}]
                },
            }
        ],
        "status": "completed",
        "medicationReference": {"reference": "#med-1"},
        "subject": {"reference": PATIENT},
        "dosage": [{"text": "10 IU IM, sekali"}],
    }
    infusion = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": KFA, "code": "92000561", "display": "Ringer Laktat 500 mL"}]
        },
        "subject": {"reference": PATIENT},
        "dosageInstruction": [
            {
                "doseAndRate": [{"doseQuantity": {"value": 500, "unit": "mL"}}],
                "route": {"text": "IV, 2 jalur"},
            }
        ],
    }
    entries = [
        encounter,
        patient,
        condition("O72.1", "Other immediate postpartum haemorrhage", "Perdarahan postpartum"),
        condition("D64.9", "Anaemia, unspecified", "Anemia", status="resolved", category="problem-list-item"),
        condition("47821001", "Postpartum haemorrhage", "HPP atonia", system=SNOMED),
        vital("8867-4", "Heart rate", 124, "beats/minute", "2026-11-22T01:30:00+07:00", ucum="/min"),
        vital("8867-4", "Heart rate", 110, "beats/minute", "2026-11-22T01:00:00+07:00", ucum="/min"),
        vital("8480-6", "Systolic blood pressure", 85, "mm[Hg]", "2026-11-22T01:30:00+07:00"),
        vital("8462-4", "Diastolic blood pressure", 50, "mm[Hg]", "2026-11-22T01:30:00+07:00"),
        vital("8310-5", "Body temperature", 100.4, "[degF]", "2026-11-22T01:30:00+07:00"),
        vital("59408-5", "Oxygen saturation", 95, "%", "2026-11-22T01:30:00+07:00"),
        vital("9279-1", "Respiratory rate", 24, "breaths/minute", "2026-11-22T01:30:00+07:00", ucum="/min"),
        vital("718-7", "Hemoglobin [Mass/volume] in Blood", 7.9, "g/dL", "2026-11-22T01:10:00+07:00"),
        oxytocin,
        infusion,
        {
            "resourceType": "Procedure",
            "status": "completed",
            "code": {
                "coding": [{"system": ICD9CM, "code": "99.04", "display": "Transfusion of packed cells"}],
                "text": "Transfusi PRC 1 kolf",
            },
            "subject": {"reference": PATIENT},
        },
        {
            "resourceType": "Procedure",
            "status": "completed",
            "code": {"coding": [{"system": SNOMED, "code": "13006001"}], "text": "Kompresi bimanual"},
            "subject": {"reference": PATIENT},
        },
    ]
    out = []
    for n, res in enumerate(entries):
        url = PATIENT if res["resourceType"] == "Patient" else f"urn:uuid:00000000-0000-4000-8000-{n:012d}"
        out.append({"fullUrl": url, "resource": res})
    return {"resourceType": "Bundle", "type": "collection", "entry": out}


def read(bundle: dict[str, Any]) -> dict[str, Any]:
    answer = read_export(bundle, today=TODAY).as_json()
    assert json.loads(json.dumps(answer)) == answer  # plain JSON
    return answer


def skipped(answer: dict[str, Any], code: str) -> list[dict[str, Any]]:
    return [s for s in answer["skipped"] if s["code"] == code]


def refused(bundle: Any) -> list[dict[str, Any]]:
    with pytest.raises(ExportError) as info:
        read_export(bundle, today=TODAY)
    errors: list[dict[str, Any]] = info.value.body()["errors"]
    return errors


# ------------------------------------------------------------------------------------ the letter


def test_a_satusehat_export_fills_the_letter() -> None:
    a = read(satusehat_export())
    patient, medical = a["letter"]["patient"], a["letter"]["medical"]
    assert patient == {
        "name": "Siti Contoh",
        "nik": "6101014107980001",
        "medical_record_number": "RM-000123",  # typed MR: before the identifier of use "usual"
        "date_of_birth": "1998-07-01",
        "sex": "female",
        "address": "Dusun Segarau Parit RT 02 RW 01, Kabupaten Sambas",
        "phone": "081234567890",
    }
    assert medical["icd10"] == ["O72.1"]  # the resolved anaemia is not a current diagnosis
    assert medical["diagnosis_text"] == "Perdarahan postpartum; HPP atonia"  # the SNOMED one's words
    assert medical["vital_signs"] == {
        "bp_systolic": 85,
        "bp_diastolic": 50,
        "pulse": 124,
        "respiratory_rate": 24,
        "temperature_c": 38.0,
        "spo2": 95,
    }
    assert (
        medical["therapy"]
        == "Oksitosin 10 IU/mL Injeksi 10 IU IM, sekali\nRinger Laktat 500 mL 500 mL IV, 2 jalur"
    )
    assert medical["procedures"] == [{"code": "99.04", "note": "Transfusi PRC 1 kolf"}]
    assert medical["stabilisation"] == "Kompresi bimanual"  # a procedure coded otherwise: its words
    # every part is what the letter takes
    PatientIn.model_validate(patient)
    MedicalIn.model_validate(medical)
    assert a["imported"] == [
        "patient.name",
        "patient.nik",
        "patient.medical_record_number",
        "patient.date_of_birth",
        "patient.sex",
        "patient.address",
        "patient.phone",
        "medical.diagnosis_text",
        "medical.icd10",
        "medical.vital_signs.bp_systolic",
        "medical.vital_signs.bp_diastolic",
        "medical.vital_signs.pulse",
        "medical.vital_signs.respiratory_rate",
        "medical.vital_signs.temperature_c",
        "medical.vital_signs.spo2",
        "medical.therapy",
        "medical.stabilisation",
        "medical.procedures",
    ]
    assert a["converted"] == [
        {"field": "medical.vital_signs.temperature_c", "value": 100.4, "unit": "[degF]"}
    ]


def test_what_is_left_out_is_listed_with_its_entry_element_and_reason() -> None:
    a = read(satusehat_export())
    by_code = {s["code"]: s for s in a["skipped"]}
    assert by_code["not_in_letter"] == {
        "entry": 0,
        "element": "Encounter",
        "code": "not_in_letter",
        "reason": "a Encounter is not part of the letter",
        "params": {"type": "Encounter"},
    }
    assert by_code["not_current"]["entry"] == 3
    assert by_code["not_current"]["element"] == "Condition.clinicalStatus"
    assert by_code["not_current"]["params"]["status"] == "resolved"
    assert by_code["not_vital"]["entry"] == 12
    assert by_code["not_vital"]["element"] == "Observation.code"
    assert "LOINC 718-7" in by_code["not_vital"]["reason"]
    assert by_code["superseded"]["entry"] == 6  # the pulse of 01:00: the one of 01:30 (entry 5) counts
    assert by_code["superseded"]["params"]["newer"] == 5
    words = skipped(a, "words_only")
    assert [(s["entry"], s["params"]["field"]) for s in words] == [
        (4, "medical.diagnosis_text"),
        (16, "medical.stabilisation"),
    ]
    assert all(s["params"]["system"] == SNOMED for s in words)
    # nothing is both imported and skipped without a reason, and the reasons say no patient data
    text = json.dumps(a["skipped"])
    assert "Siti" not in text and "6101014107980001" not in text and "1998" not in text


def test_rujuks_own_transaction_bundle_prefills_the_same_letter() -> None:
    body = full_letter()
    a = read(bundle_of(body))
    expected = {k: v for k, v in body["patient"].items() if k != "nik_confirmed"}
    assert a["letter"]["patient"] == expected
    medical = a["letter"]["medical"]
    assert medical["icd10"] == body["medical"]["icd10"]
    assert medical["vital_signs"] == body["medical"]["vital_signs"]
    assert medical["procedures"] == body["medical"]["procedures"]
    assert {s["params"]["type"] for s in skipped(a, "not_in_letter")} == {"Consent", "ServiceRequest"}


@pytest.mark.parametrize("kind", BUNDLE_TYPES)
def test_every_export_type_is_read(kind: str) -> None:
    b = satusehat_export()
    b["type"] = kind
    if kind in {"transaction", "batch"}:
        for e in b["entry"]:
            e["request"] = {"method": "POST", "url": e["resource"]["resourceType"]}
    if kind == "searchset":
        for e in b["entry"]:
            e["search"] = {"mode": "match" if e["resource"]["resourceType"] == "Patient" else "include"}
    if kind == "document":
        composition = {
            "resourceType": "Composition",
            "status": "final",
            "type": {"text": "Resume medis"},
            "subject": {"reference": PATIENT},
            "date": "2026-11-22T01:40:00+07:00",
            "author": [{"reference": f"Organization/{ORG}"}],
            "title": "Resume medis IGD",
        }
        b["entry"].insert(
            0, {"fullUrl": "urn:uuid:00000000-0000-4000-8000-00000000ffff", "resource": composition}
        )
        b["identifier"] = {
            "system": "urn:ietf:rfc:3986",
            "value": "urn:uuid:00000000-0000-4000-8000-00000000fffe",
        }
        b["timestamp"] = "2026-11-22T01:40:00+07:00"
    a = read(b)
    assert a["letter"]["patient"]["nik"] == "6101014107980001"
    assert a["letter"]["medical"]["vital_signs"]["pulse"] == 124


# ------------------------------------------------------------------------------- vital signs


def _with_vitals(*observations: dict[str, Any]) -> dict[str, Any]:
    b = satusehat_export()
    b["entry"] = [e for e in b["entry"] if e["resource"]["resourceType"] != "Observation"]
    b["entry"] += [
        {"fullUrl": f"urn:uuid:00000000-0000-4000-9000-{n:012d}", "resource": o}
        for n, o in enumerate(observations)
    ]
    return b


def test_the_latest_measurement_wins_whatever_the_order_and_time_zone() -> None:
    b = _with_vitals(
        vital("8867-4", "Heart rate", 130, "/min", "2026-11-22T02:10:00+08:00"),  # 01:10 WIB
        vital("8867-4", "Heart rate", 118, "/min", "2026-11-21T18:20:00Z"),  # 01:20 WIB: the latest
        vital("8867-4", "Heart rate", 96, "/min", "2026-11-22T01:05:00+07:00"),
    )
    a = read(b)
    assert a["letter"]["medical"]["vital_signs"]["pulse"] == 118
    first = len(b["entry"]) - 3
    assert sorted(s["entry"] for s in skipped(a, "superseded")) == [first, first + 2]
    assert {s["params"]["newer"] for s in skipped(a, "superseded")} == {first + 1}


def test_units_are_converted_to_the_letters_or_refused_with_the_reason() -> None:
    kpa = vital("8480-6", "Systolic blood pressure", 12, "kPa", "2026-11-22T01:00:00+07:00")  # 90 mm[Hg]
    kelvin = vital("8310-5", "Body temperature", 310.15, "K", "2026-11-22T01:00:00+07:00")
    a = read(_with_vitals(kpa, kelvin))
    assert a["letter"]["medical"]["vital_signs"] == {"bp_systolic": 90, "temperature_c": 37.0}
    assert {c["field"]: c["unit"] for c in a["converted"]} == {
        "medical.vital_signs.bp_systolic": "kPa",
        "medical.vital_signs.temperature_c": "K",
    }
    grains = vital("8310-5", "Body temperature", 37, "[lb_av]", "2026-11-22T01:00:00+07:00")
    bare = vital("8310-5", "Body temperature", 37.5, "", "2026-11-22T01:00:00+07:00")
    del bare["valueQuantity"]["unit"], bare["valueQuantity"]["code"], bare["valueQuantity"]["system"]
    for obs, says in ((grains, "'[lb_av]' cannot be converted to Cel"), (bare, "no unit")):
        a = read(_with_vitals(obs))
        assert "temperature_c" not in a["letter"].get("medical", {}).get("vital_signs", {})
        (why,) = skipped(a, "unit")
        assert why["element"] == "Observation.valueQuantity" and says in why["reason"], why
    # a pulse needs no unit to be read (it has one); a pulse of 900 is no pulse
    no_unit = vital("8867-4", "Heart rate", 88, "", "2026-11-22T01:00:00+07:00")
    no_unit["valueQuantity"] = {"value": 88}
    assert read(_with_vitals(no_unit))["letter"]["medical"]["vital_signs"] == {"pulse": 88}
    a = read(_with_vitals(vital("8867-4", "Heart rate", 900, "/min", "2026-11-22T01:00:00+07:00")))
    (why,) = skipped(a, "out_of_range")
    assert why["params"]["value"] == 900 and why["params"]["le"] == 300


def test_a_refused_latest_measurement_is_not_replaced_by_an_older_one() -> None:
    a = read(
        _with_vitals(
            vital("8310-5", "Body temperature", 38.2, "Cel", "2026-11-22T01:00:00+07:00"),
            vital("8310-5", "Body temperature", 101, "[degR]", "2026-11-22T01:30:00+07:00"),
        )
    )
    assert "vital_signs" not in a["letter"].get("medical", {})
    assert [s["code"] for s in a["skipped"] if s["element"].startswith("Observation")] == [
        "superseded",
        "unit",
    ]


def test_hl7s_blood_pressure_panel_and_vital_signs_profile_codes_are_read() -> None:
    panel = {
        "resourceType": "Observation",
        "status": "final",
        "code": {
            "coding": [
                {
                    "system": LOINC,
                    "code": "85354-9",
                    "display": "Blood pressure panel with all children optional",
                }
            ],
            "text": "Blood pressure systolic & diastolic",
        },
        "subject": {"reference": PATIENT},
        "effectiveDateTime": "2026-11-22T01:30:00+07:00",
        "component": [
            {
                "code": {
                    "coding": [{"system": LOINC, "code": "8480-6", "display": "Systolic blood pressure"}]
                },
                "valueQuantity": {"value": 107, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
            },
            {
                "code": {
                    "coding": [{"system": LOINC, "code": "8462-4", "display": "Diastolic blood pressure"}]
                },
                "valueQuantity": {"value": 60, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
            },
        ],
    }
    spo2 = vital("2708-6", "Oxygen saturation in Arterial blood", 97, "%", "2026-11-22T01:30:00+07:00")
    axillary = vital("8328-7", "Axillary temperature", 37.9, "Cel", "2026-11-22T01:30:00+07:00")
    gcs = vital("9269-2", "Glasgow coma score total", 14, "{score}", "2026-11-22T01:30:00+07:00")
    a = read(_with_vitals(panel, spo2, axillary, gcs))
    assert a["letter"]["medical"]["vital_signs"] == {
        "bp_systolic": 107,
        "bp_diastolic": 60,
        "temperature_c": 37.9,
        "spo2": 97,
        "gcs": 14,
    }


# ------------------------------------------------------------------------- codes and patients


def test_unknown_codes_are_skipped_with_the_code_named() -> None:
    b = satusehat_export()
    unknown_dx = copy.deepcopy(b["entry"][2])
    unknown_dx["resource"]["code"] = {"coding": [{"system": ICD10, "code": "X99.99"}]}
    us = copy.deepcopy(b["entry"][2])
    us["resource"]["code"] = {
        "coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "O72.1"}],
        "text": "PPH",
    }
    oid = copy.deepcopy(b["entry"][2])
    oid["resource"]["code"] = {"coding": [{"system": "urn:oid:2.16.840.1.113883.6.3", "code": "O15.0"}]}
    bad_proc = copy.deepcopy(b["entry"][15])
    bad_proc["resource"]["code"] = {"coding": [{"system": ICD9CM, "code": "00.00"}], "text": "tindakan"}
    b["entry"] += [unknown_dx, us, oid, bad_proc]
    a = read(b)
    assert a["letter"]["medical"]["icd10"] == ["O72.1", "O15.0"]  # the OID is ICD-10's
    n = len(b["entry"])
    assert [(s["entry"], s["params"]) for s in skipped(a, "unknown_icd10")] == [(n - 4, {"code": "X99.99"})]
    cm = [s for s in skipped(a, "words_only") if s["entry"] == n - 3]
    assert cm and "ICD-10-CM" in cm[0]["reason"]
    assert [(s["entry"], s["params"]) for s in skipped(a, "unknown_icd9cm")] == [(n - 1, {"code": "00.00"})]
    assert "tindakan" in a["letter"]["medical"]["stabilisation"]  # its words are not lost


def test_resources_about_another_patient_or_not_done_are_skipped() -> None:
    b = satusehat_export()
    other = vital("8867-4", "Heart rate", 60, "/min", "2026-11-22T02:00:00+07:00")
    other["subject"] = {"reference": "Patient/P00000000001"}
    not_done = copy.deepcopy(b["entry"][15]["resource"]) | {"status": "not-done"}
    b["entry"] += [{"resource": other}, {"resource": not_done}]
    a = read(b)
    assert a["letter"]["medical"]["vital_signs"]["pulse"] == 124
    n = len(b["entry"])
    assert [s["entry"] for s in skipped(a, "other_patient")] == [n - 2]
    assert any(s["entry"] == n - 1 and s["params"]["status"] == "not-done" for s in skipped(a, "not_current"))


def test_the_medical_record_number_rule() -> None:
    mr = {
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
        "value": "RM-1",
    }
    usual = {"use": "usual", "system": "http://sys-ids.kemkes.go.id/patient/1", "value": "K-2"}
    nik = {"use": "usual", "system": NIK, "value": "6101014107980001"}
    ihs = {"use": "usual", "system": "https://fhir.kemkes.go.id/id/ihs-number", "value": "P1"}
    assert medical_record_identifier([usual, mr]) == mr
    assert medical_record_identifier([nik, ihs, usual]) == usual
    assert medical_record_identifier([nik, ihs]) is None  # national numbers are never the facility's
    assert medical_record_identifier([{"system": "http://example.org/mrn", "value": "X"}]) is None


def test_patient_values_the_letter_cannot_take_are_skipped_saying_why() -> None:
    b = satusehat_export()
    pt = b["entry"][1]["resource"]
    pt["birthDate"] = "1998"
    pt["gender"] = "unknown"
    pt["identifier"][0]["value"] = "61010141079800"
    pt["telecom"] = [{"system": "phone", "value": "12"}]
    a = read(b)
    assert set(a["letter"]["patient"]) == {"name", "medical_record_number", "address"}
    assert {s["code"]: s["params"]["field"] for s in a["skipped"] if s["element"].startswith("Patient")} == {
        "partial_date": "patient.date_of_birth",
        "gender": "patient.sex",
        "nik_shape": "patient.nik",
        "phone": "patient.phone",
    }


# -------------------------------------------------------------------------------------- refused


def test_a_bundle_of_two_patients_is_refused_naming_the_entries() -> None:
    b = satusehat_export()
    b["entry"].append(
        {
            "fullUrl": "urn:uuid:00000000-0000-4000-8000-0000000000aa",
            "resource": copy.deepcopy(b["entry"][1]["resource"]),
        }
    )
    (e,) = refused(b)
    assert e["field"] == "Bundle.entry" and e["code"] == "several_patients"
    assert e["params"] == {"entries": f"1, {len(b['entry']) - 1}", "n": 2}
    assert "2 patients" in e["message"]


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ([1, 2], "Bundle.resourceType", "not_bundle"),
        ("a letter", "Bundle.resourceType", "not_bundle"),
        ({"resourceType": "Patient"}, "Bundle.resourceType", "not_bundle"),
        ({"resourceType": "Bundle", "type": "transaction-response"}, "Bundle.type", "bundle_type"),
        (
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [
                    {"resource": {"resourceType": "Patient"}},
                    {"resource": {"resourceType": "Pasien"}},
                ],
            },
            "Bundle.entry[1].resource.resourceType",
            "unknown_type",
        ),
        (
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": {"resourceType": "Patient", "birthDate": "1998-13-45"}}],
            },
            "Bundle.entry[0].resource.birthDate",
            "fhir_invalid",
        ),
        (
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": {"resourceType": "Patient", "contained": [{"resourceType": "X"}]}}],
            },
            "Bundle",
            "fhir_invalid",
        ),
        (
            {"resourceType": "Bundle", "type": "collection", "entry": [{}] * 2001},
            "Bundle.entry",
            "too_many_entries",
        ),
    ],
)
def test_what_is_not_an_r4_export_is_refused_naming_the_element(body: Any, field: str, code: str) -> None:
    errors = refused(body)
    assert (errors[0]["field"], errors[0]["code"]) == (field, code), errors


def test_an_empty_bundle_prefills_nothing_and_says_there_was_no_patient() -> None:
    a = read({"resourceType": "Bundle", "type": "searchset", "total": 0})
    assert a["letter"] == {} and a["imported"] == []
    assert [s["code"] for s in a["skipped"]] == ["no_patient"]
