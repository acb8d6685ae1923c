"""A medical record export (a FHIR R4 Bundle) read into a partial referral letter.

An electronic medical record (a SIMRS, a SIMPUS, an EMR reporting to SATUSEHAT) exports a
patient's record as a Bundle of any type an export uses (``collection``, ``document``,
``searchset``, ``transaction``, ``batch``). What the letter holds is read from it: the Patient's
identity (``service.fhir.emr_patient``), the ICD-10 diagnoses (Condition), the latest vital signs
(Observation, ``service.fhir.vitals``), the therapy given (MedicationStatement, MedicationRequest,
MedicationAdministration) and the procedures done (Procedure: ICD-9-CM codes become the letter's
procedures; a procedure coded otherwise is put in the stabilisation text as words). Every entry
and value that does not go into the letter is listed as skipped, with its entry, element and why
(docs/fhir.md, "Prefilling the letter from a medical record").

A prefill for staff to check, in ``ReferralIn``'s shape: nothing is stored, nothing logged. A
body that is not an R4 Bundle (``service.fhir.emr_bundle``), or a Bundle of several patients, is
refused (``ExportError``, a 422 naming the element).

Pure: no storage, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rules import icd, procedures
from rules.errors import UnknownCodeError
from service.fhir import systems as sid
from service.fhir import vitals
from service.fhir.emr_bundle import ExportError, check_bundle
from service.fhir.emr_patient import Skipped, clean, patient_part, same_system
from service.fhir.transaction import ICD9CM, VITALS

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Mapping, Sequence

#: ICD-10 as SATUSEHAT writes it (HL7's URI), and the spellings and OID other EMRs export
ICD10_SYSTEMS = (sid.ICD10, "http://hl7.org/fhir/sid/icd10", "urn:oid:2.16.840.1.113883.6.3",
                 "http://terminology.hl7.org/CodeSystem/icd-10")  # fmt: skip
#: the United States' modification: its codes are not WHO's
ICD10_CM = ("http://hl7.org/fhir/sid/icd-10-cm", "urn:oid:2.16.840.1.113883.6.90")
#: ICD-9-CM procedures as SATUSEHAT writes it, the Kemenkes terminology spelling, the OID
ICD9CM_SYSTEMS = (
    ICD9CM,
    "http://terminology.kemkes.go.id/CodeSystem/icd9cm",
    "urn:oid:2.16.840.1.113883.6.104",
)
#: statuses that say a resource is not what was done (or is an error): (element, codes)
NOT_CURRENT: dict[str, tuple[str, frozenset[str]]] = {
    "Observation": ("status", frozenset({"entered-in-error", "cancelled"})),
    "Procedure": ("status", frozenset({"entered-in-error", "not-done", "preparation"})),
    "MedicationStatement": ("status", frozenset({"entered-in-error", "not-taken", "intended"})),
    "MedicationRequest": ("status", frozenset({"entered-in-error", "cancelled", "draft"})),
    "MedicationAdministration": ("status", frozenset({"entered-in-error", "not-done"})),
}
_CONDITION_NOT_CURRENT = frozenset({"inactive", "remission", "resolved", "entered-in-error", "refuted"})
_MEDICATIONS = ("MedicationStatement", "MedicationRequest", "MedicationAdministration")
#: the letter's limits (``ReferralIn``)
MAX_ICD10, MAX_PROCEDURES, DIAGNOSIS_TEXT, LONG_TEXT, PROCEDURE_NOTE = 10, 20, 200, 4000, 500


@dataclass(frozen=True, slots=True)
class Prefill:
    """What the letter can be prefilled with, the fields that holds, what was left out and why."""

    letter: dict[str, Any]
    imported: tuple[str, ...]
    skipped: tuple[Skipped, ...]
    #: vital signs converted to the letter's unit: field, value and unit as the record wrote them
    converted: tuple[tuple[str, float, str], ...]

    def as_json(self) -> dict[str, Any]:
        """The answer of ``POST /api/letters/import``."""
        return {
            "letter": self.letter,
            "imported": list(self.imported),
            "skipped": [s.as_json() for s in self.skipped],
            "converted": [{"field": f, "value": v, "unit": u} for f, v, u in self.converted],
        }


def _codings(cc: Any) -> list[dict[str, Any]]:  # noqa: ANN401  a CodeableConcept
    codings = cc.get("coding") if isinstance(cc, dict) else None
    return [c for c in codings or () if isinstance(c, dict)]


def _words(cc: Any) -> str:  # noqa: ANN401  a CodeableConcept
    """What a CodeableConcept says in words: its text, else its first display."""
    text = cc.get("text") if isinstance(cc, dict) else None
    if isinstance(text, str) and text.strip():
        return clean(text)
    return next((clean(c["display"]) for c in _codings(cc) if isinstance(c.get("display"), str)), "")


def _in(codings: list[dict[str, Any]], systems: Sequence[str]) -> list[dict[str, Any]]:
    return [c for c in codings if c.get("code") and any(same_system(c.get("system"), s) for s in systems)]


class _Export:
    """One pass over the entries, collecting the letter's parts and what is skipped."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self.resources = [e.get("resource") if isinstance(e.get("resource"), dict) else None for e in entries]
        self.types = [str(r.get("resourceType")) if r else "" for r in self.resources]
        self.full_urls = {str(e["fullUrl"]): i for i, e in enumerate(entries) if e.get("fullUrl")}
        self.skipped: list[Skipped] = []
        self.used: set[int] = set()
        self.icd10: list[str] = []
        self.diagnosis: list[tuple[int, str]] = []
        self.therapy: list[tuple[int, str]] = []
        self.stabilisation: list[tuple[int, str]] = []
        self.procedures: list[dict[str, str]] = []
        self.readings: list[vitals.Reading] = []
        self.patient_refs: set[str] = set()
        self.converted: list[tuple[str, float, str]] = []

    def skip(self, entry: int | None, element: str, reason: str, code: str, /, **params: str | float) -> None:
        self.skipped.append(Skipped(entry, element, reason, code, params))

    def about_the_patient(self, i: int, res: Mapping[str, Any], kind: str) -> bool:
        """False (and skipped) when the resource's subject is another patient than the Bundle's."""
        subject = res.get("subject") or res.get("patient")
        ref = subject.get("reference") if isinstance(subject, dict) else None
        if not self.patient_refs or not isinstance(ref, str) or not ref.strip():
            return True
        ref = ref.strip()
        if ref in self.patient_refs or any(
            ref.endswith(f"/{r}") for r in self.patient_refs if r.startswith("Patient/")
        ):
            return True
        self.skip(
            i,
            f"{kind}.subject",
            "is about another patient than the Bundle's Patient",
            "other_patient",
            type=kind,
        )
        return False

    def current(self, i: int, res: Mapping[str, Any], kind: str) -> bool:
        """False (and skipped) for what was not done, an error, or a condition no longer there."""
        if kind == "Condition":
            for element in ("clinicalStatus", "verificationStatus"):
                codes = [str(c.get("code")) for c in _codings(res.get(element))]
                bad = next((c for c in codes if c in _CONDITION_NOT_CURRENT), None)
                if bad:
                    self.skip(
                        i,
                        f"Condition.{element}",
                        f"{bad}: not a current diagnosis",
                        "not_current",
                        status=bad,
                        type=kind,
                    )
                    return False
            return True
        element, refused = NOT_CURRENT[kind]
        status = res.get(element)
        if status in refused:
            self.skip(
                i,
                f"{kind}.{element}",
                f"{status}: not done (or an error)",
                "not_current",
                status=str(status),
                type=kind,
            )
            return False
        return True

    # ------------------------------------------------------------------------------------ parts

    def condition(self, i: int, res: Mapping[str, Any]) -> None:
        codings = _codings(res.get("code"))
        words = _words(res.get("code"))
        coded = _in(codings, ICD10_SYSTEMS)
        if not coded:
            us = _in(codings, ICD10_CM)
            system = str((us or codings or [{}])[0].get("system") or "")
            why = "ICD-10-CM (the US modification), not WHO ICD-10" if us else "no ICD-10 coding"
            self.skip(i, "Condition.code", f"{why}: the words are kept in the diagnosis", "words_only",
                      system=system[:80], field="medical.diagnosis_text")  # fmt: skip
        for c in coded:
            try:
                code = icd.validate(str(c["code"]))
            except UnknownCodeError:
                self.skip(
                    i,
                    "Condition.code",
                    f"{c['code']!r} is not a WHO ICD-10 code",
                    "unknown_icd10",
                    code=str(c["code"])[:10],
                )
                continue
            if code in self.icd10:
                continue
            if len(self.icd10) >= MAX_ICD10:
                self.skip(
                    i,
                    "Condition.code",
                    f"the letter holds {MAX_ICD10} ICD-10 codes",
                    "too_many",
                    max=MAX_ICD10,
                )
                continue
            self.icd10.append(code)
            words = words or _words({"coding": [c]}) or code
            break
        if words:
            self.used.add(i)
            self.diagnosis.append((i, words))

    def observation(self, i: int, res: Mapping[str, Any]) -> None:
        codes = vitals.loinc_codes(res.get("code"))
        found = vitals.readings(i, res, codes)
        if not found:
            what = f"LOINC {codes[0]}" if codes else "no LOINC code"
            known = ", ".join(sorted(vitals.FIELD_OF_CODE))
            self.skip(i, "Observation.code", f"{what}: not a vital sign of the letter ({known})", "not_vital",
                      code=codes[0] if codes else "", text=_words(res.get("code"))[:80])  # fmt: skip
            return
        self.readings.extend(found)

    def medication(self, i: int, res: Mapping[str, Any], kind: str) -> None:
        name = self._medication_name(res)
        if not name:
            self.skip(
                i,
                f"{kind}.medication[x]",
                "names no medication (text, display or a Medication)",
                "no_medication",
                type=kind,
            )
            return
        dosages = res.get("dosageInstruction") if kind == "MedicationRequest" else res.get("dosage")
        dosages = dosages if isinstance(dosages, list) else [dosages] if isinstance(dosages, dict) else []
        dose = "; ".join(filter(None, (_dosage(d) for d in dosages)))
        self.used.add(i)
        self.therapy.append((i, f"{name} {dose}".strip()))

    def _medication_name(self, res: Mapping[str, Any]) -> str:
        if res.get("medicationCodeableConcept"):
            return _words(res["medicationCodeableConcept"])
        ref = (res.get("medicationReference") or {}).get("reference")
        if not isinstance(ref, str):
            return ""
        if ref.startswith("#"):
            med = next((c for c in res.get("contained") or () if c.get("id") == ref[1:]), None)
            return _words(med.get("code")) if med else ""
        j = self.full_urls.get(ref)
        if j is None:
            j = next(
                (k for k, r in enumerate(self.resources) if r and f"Medication/{r.get('id')}" == ref), None
            )
        if j is None or self.types[j] != "Medication":
            return ""
        self.used.add(j)
        return _words((self.resources[j] or {}).get("code"))

    def procedure(self, i: int, res: Mapping[str, Any]) -> None:
        codings = _codings(res.get("code"))
        notes = " ".join(
            clean(n.get("text", "")) for n in res.get("note") or () if isinstance(n.get("text"), str)
        )
        words = _words(res.get("code")) or notes
        for c in _in(codings, ICD9CM_SYSTEMS):
            found = procedures.lookup(str(c["code"]))
            if found is None:
                self.skip(
                    i,
                    "Procedure.code",
                    f"{c['code']!r} is not an ICD-9-CM procedure code",
                    "unknown_icd9cm",
                    code=str(c["code"])[:8],
                )
                continue
            if len(self.procedures) >= MAX_PROCEDURES:
                self.skip(
                    i,
                    "Procedure.code",
                    f"the letter holds {MAX_PROCEDURES} procedures",
                    "too_many",
                    max=MAX_PROCEDURES,
                )
                return
            if all(p["code"] != found.code for p in self.procedures):
                self.procedures.append({"code": found.code, "note": (words or notes)[:PROCEDURE_NOTE]})
            self.used.add(i)
            return
        if not words:
            self.skip(i, "Procedure.code", "neither an ICD-9-CM code nor words", "no_text", type="Procedure")
            return
        system = str((codings or [{}])[0].get("system") or "")
        self.skip(i, "Procedure.code", "no ICD-9-CM code: the words go in the stabilisation", "words_only",
                  system=system[:80], field="medical.stabilisation")  # fmt: skip
        self.used.add(i)
        self.stabilisation.append((i, words))

    # ---------------------------------------------------------------------------------- letter

    def text(self, parts: list[tuple[int, str]], *, field: str, limit: int, sep: str) -> str:
        """Lines joined up to the field's limit; those left out are skipped, saying so."""
        out: list[str] = []
        seen: set[str] = set()
        for i, line in parts:
            if line.lower() in seen:
                continue
            if len(sep.join([*out, line])) > limit:
                self.skip(
                    i,
                    field,
                    f"the letter's field holds {limit} characters",
                    "too_long",
                    max=limit,
                    field=field,
                )
                continue
            seen.add(line.lower())
            out.append(line)
        return sep.join(out)

    def vital_signs(self) -> tuple[dict[str, int | float], list[tuple[str, float, str]]]:
        out: dict[str, int | float] = {}
        converted = []
        for field, (last, older) in vitals.latest(self.readings).items():
            for r in older:
                why = f"the later measurement (entry {last.entry}) counts"
                self.skip(
                    r.entry,
                    r.element,
                    why,
                    "superseded",
                    newer=last.entry,
                    field=f"medical.vital_signs.{field}",
                )
            if last.refused is not None:
                code, reason, params = last.refused
                self.skip(
                    last.entry, last.element, reason, code, **params, field=f"medical.vital_signs.{field}"
                )
                continue
            self.used.update(r.entry for r in (last, *older))
            assert last.value is not None
            out[field] = last.value
            if last.converted_from:
                converted.append((f"medical.vital_signs.{field}", *last.converted_from))
        return {k: out[k] for k, _, _, _ in VITALS if k in out}, converted


def _dosage(d: Any) -> str:  # noqa: ANN401  a Dosage
    if not isinstance(d, dict):
        return ""
    if isinstance(d.get("text"), str) and d["text"].strip():
        return clean(d["text"])
    dose = d.get("dose") or next(
        (x.get("doseQuantity") for x in d.get("doseAndRate") or () if x.get("doseQuantity")), None
    )
    amount = (
        f"{dose.get('value', '')} {dose.get('unit') or dose.get('code') or ''}".strip()
        if isinstance(dose, dict)
        else ""
    )
    return " ".join(filter(None, (amount, _words(d.get("route")))))


def read_export(raw: Any, *, today: dt.date) -> Prefill:  # noqa: ANN401  any JSON value
    """A medical record export read into the letter's fields; ``ExportError`` if it cannot be read."""
    entries = check_bundle(raw)
    ex = _Export(entries)
    patients = [i for i, t in enumerate(ex.types) if t == "Patient"]
    if len(patients) > 1:
        where = ", ".join(map(str, patients))
        msg = f"holds {len(patients)} patients (entries {where}): a letter is for one, export one's record"
        raise ExportError([("Bundle.entry", msg, "several_patients", {"entries": where, "n": len(patients)})])
    letter: dict[str, Any] = {}
    if patients:
        i = patients[0]
        res = ex.resources[i] or {}
        ex.used.add(i)
        url = next((u for u, j in ex.full_urls.items() if j == i), None)
        ex.patient_refs = {r for r in (url, f"Patient/{res['id']}" if res.get("id") else None) if r}
        patient, skipped = patient_part(i, res, today=today)
        ex.skipped.extend(skipped)
        if patient:
            letter["patient"] = patient
    else:
        ex.skip(
            None, "Bundle.entry", "no Patient: the patient's identity is to be written by hand", "no_patient"
        )
    _read_entries(ex)
    medical = _medical(ex)
    if medical:
        letter["medical"] = medical
    imported = [f"patient.{k}" for k in letter.get("patient", {})]
    for k, v in medical.items():
        imported += [f"medical.vital_signs.{f}" for f in v] if k == "vital_signs" else [f"medical.{k}"]
    skipped = sorted(ex.skipped, key=lambda s: (s.entry is not None, s.entry or 0))
    return Prefill(letter, tuple(imported), tuple(skipped), tuple(ex.converted))


def _read_entries(ex: _Export) -> None:
    """Each entry to its part of the letter; Conditions diagnosed at the encounter first."""

    def rank(i: int) -> int:
        cats = [
            str(c.get("code")) for cc in (ex.resources[i] or {}).get("category") or () for c in _codings(cc)
        ]
        return 0 if "encounter-diagnosis" in cats else 1

    order = sorted(
        range(len(ex.types)),
        key=lambda i: (ex.types[i] != "Condition", rank(i) if ex.types[i] == "Condition" else 0, i),
    )
    for i in order:
        kind, res = ex.types[i], ex.resources[i]
        if res is None:
            ex.skip(i, "Bundle.entry.resource", "no resource in this entry", "no_resource")
            continue
        if kind not in {"Condition", "Observation", "Procedure", *_MEDICATIONS}:
            continue
        if not ex.about_the_patient(i, res, kind) or not ex.current(i, res, kind):
            continue
        if kind == "Condition":
            ex.condition(i, res)
        elif kind == "Observation":
            ex.observation(i, res)
        elif kind == "Procedure":
            ex.procedure(i, res)
        else:
            ex.medication(i, res, kind)
    for i, kind in enumerate(ex.types):
        if (
            kind
            and i not in ex.used
            and kind not in {"Condition", "Observation", "Procedure", "Patient", *_MEDICATIONS}
        ):
            ex.skip(i, kind, f"a {kind} is not part of the letter", "not_in_letter", type=kind)


def _medical(ex: _Export) -> dict[str, Any]:
    medical: dict[str, Any] = {}
    diagnosis = ex.text(ex.diagnosis, field="medical.diagnosis_text", limit=DIAGNOSIS_TEXT, sep="; ")
    if diagnosis:
        medical["diagnosis_text"] = diagnosis
    if ex.icd10:
        medical["icd10"] = ex.icd10
    signs, ex.converted = ex.vital_signs()
    if signs:
        medical["vital_signs"] = signs
    therapy = ex.text(ex.therapy, field="medical.therapy", limit=LONG_TEXT, sep="\n")
    if therapy:
        medical["therapy"] = therapy
    stabilisation = ex.text(ex.stabilisation, field="medical.stabilisation", limit=LONG_TEXT, sep="\n")
    if stabilisation:
        medical["stabilisation"] = stabilisation
    if ex.procedures:
        medical["procedures"] = ex.procedures
    return medical
