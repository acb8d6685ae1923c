"""The patient's identity from a medical record export's Patient, in the letter's shape (``PatientIn``).

- name: the ``official`` name (else ``usual``, else the first), its ``text`` or given + family;
- NIK: the identifier in SATUSEHAT's NIK system (16 digits);
- medical record number, the first of: an identifier typed ``MR`` (HL7 v2 table 0203, as
  SATUSEHAT's and most EMRs' exports type it); one in rujuk's own medical-record system; one
  with ``use = usual``. National numbers (NIK, the mother's NIK, IHS number, passport, family
  card, JKN) are never taken for it;
- JKN number: rujuk's JKN system, or an identifier typed ``SB`` (social beneficiary), 13 digits;
- date of birth (a whole date), sex (``female`` / ``male``), the home address, a phone number.

The NIK is not confirmed here: staff confirm a NIK against the KTP themselves (docs/identity.md).
Pure: no storage, no I/O.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from service.fhir import systems as sid
from service.fhir.transaction import SYSTEM_JKN
from service.referrals import identity

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

#: HL7 v2 identifier types (table 0203): MR medical record number, SB social beneficiary
V2_IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
#: SATUSEHAT's national identifiers besides the NIK (never a facility's medical record number)
NATIONAL_SYSTEMS = (sid.SYSTEM_NIK, SYSTEM_JKN, "https://fhir.kemkes.go.id/id/nik-ibu",
                    "https://fhir.kemkes.go.id/id/ihs-number", "https://fhir.kemkes.go.id/id/paspor",
                    "https://fhir.kemkes.go.id/id/kk")  # fmt: skip
#: the letter's limits (``PatientIn``)
NAME, MRN, ADDRESS = 200, 40, 500
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")
_PHONE = re.compile(r"^\+?\d{8,15}$")


@dataclass(frozen=True, slots=True)
class Skipped:
    """Something of the export left out of the letter: where (entry, element), why, and a code pages say."""

    entry: int | None
    element: str
    reason: str
    code: str
    params: Mapping[str, str | int | float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """As the answer lists it."""
        return {"entry": self.entry, "element": self.element, "reason": self.reason, "code": self.code,
                "params": dict(self.params)}  # fmt: skip


def clean(text: str) -> str:
    """Text without control characters, its spaces collapsed (line breaks kept)."""
    lines = (" ".join(line.split()) for line in _CONTROL.sub(" ", text).splitlines())
    return "\n".join(line for line in lines if line).strip()


def same_system(found: Any, system: str) -> bool:  # noqa: ANN401  an element's system, any JSON value
    """True when ``found`` is ``system`` as exports write it (``https``, a trailing slash, any case)."""
    if not isinstance(found, str):
        return False

    def norm(s: str) -> str:
        s = s.strip().rstrip("/").lower()
        return "http://" + s[8:] if s.startswith("https://") else s

    return norm(found) == norm(system)


def _typed(ident: Mapping[str, Any], code: str) -> bool:
    codings = (ident.get("type") or {}).get("coding") or ()
    return any(c.get("code") == code and (c.get("system") in {None, V2_IDENTIFIER_TYPE}) for c in codings)


def _national(ident: Mapping[str, Any]) -> bool:
    return any(same_system(ident.get("system"), s) for s in NATIONAL_SYSTEMS)


def medical_record_identifier(idents: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The facility's medical record number among a Patient's identifiers (the rule in the docstring)."""
    local = [x for x in idents if isinstance(x.get("value"), str) and x["value"].strip() and not _national(x)]
    for rule in (
        lambda x: _typed(x, "MR"),
        lambda x: same_system(x.get("system"), sid.SYSTEM_MEDICAL_RECORD),
        lambda x: x.get("use") == "usual",
    ):
        found = next((x for x in local if rule(x) and x.get("use") != "old"), None)
        if found is not None:
            return found
    return None


def _preferred(items: Any, order: tuple[str, ...]) -> list[dict[str, Any]]:  # noqa: ANN401  a list element
    """Items by their ``use`` in ``order`` first (``old`` ones never)."""
    listed = [x for x in items or () if isinstance(x, dict) and x.get("use") != "old"]
    return sorted(listed, key=lambda x: order.index(x["use"]) if x.get("use") in order else len(order))


def _name(names: Any) -> str:  # noqa: ANN401  Patient.name
    for n in _preferred(names, ("official", "usual")):
        text: str = n["text"] if isinstance(n.get("text"), str) else ""
        if not text.strip():
            text = " ".join(
                [*(g for g in n.get("given") or () if isinstance(g, str)), str(n.get("family") or "")]
            )
        if text.strip():
            return clean(text)
    return ""


def _address(addresses: Any) -> str:  # noqa: ANN401  Patient.address
    for a in _preferred(addresses, ("home", "temp")):
        text: str = a["text"] if isinstance(a.get("text"), str) else ""
        if not text.strip():
            parts = [
                *(x for x in a.get("line") or () if isinstance(x, str)),
                a.get("district"),
                a.get("city"),
                a.get("state"),
            ]
            text = ", ".join(p for p in parts if isinstance(p, str) and p.strip())
        if text.strip():
            return clean(text)
    return ""


class _Reader:
    """The Patient of entry ``entry`` read into ``out``, each value left out in ``skipped``."""

    def __init__(self, entry: int) -> None:
        self.entry = entry
        self.out: dict[str, Any] = {}
        self.skipped: list[Skipped] = []

    def skip(self, element: str, key: str, reason: str, code: str, **params: str | int) -> None:
        self.skipped.append(
            Skipped(self.entry, f"Patient.{element}", reason, code, {**params, "field": f"patient.{key}"})
        )

    def take(self, key: str, element: str, value: str, limit: int) -> None:
        if len(value) > limit:
            self.skip(element, key, f"longer than the letter's {limit} characters", "too_long", max=limit)
        elif value:
            self.out[key] = value

    def number(self, key: str, ident: Mapping[str, Any] | None, ok: Callable[[str], bool], what: str) -> None:
        """An identifier's value as digits, when ``ok`` says it is one (NIK, JKN card number)."""
        if ident is None:
            return
        digits = re.sub(r"[\s.-]", "", str(ident.get("value") or ""))
        if ok(digits):
            self.out[key] = digits
        else:
            self.skip("identifier", key, f"the {what} is not shaped as one", f"{key}_shape")

    def birth(self, born: Any, today: dt.date) -> None:  # noqa: ANN401  Patient.birthDate
        if not isinstance(born, str) or not born:
            return
        day = dt.date.fromisoformat(born) if len(born) == 10 else None  # FHIR's pattern was checked
        if day is None:
            self.skip("birthDate", "date_of_birth", "not a whole date (year, month and day)", "partial_date")
        elif day > today or day.year < 1890:
            self.skip("birthDate", "date_of_birth", "not a real date of birth", "birth_date")
        else:
            self.out["date_of_birth"] = day.isoformat()

    def phone(self, telecom: Any) -> None:  # noqa: ANN401  Patient.telecom
        phones = [t for t in _preferred(telecom, ("mobile", "home")) if t.get("system") == "phone"]
        if phones:
            number = re.sub(r"[\s().-]", "", str(phones[0].get("value") or ""))
            if _PHONE.match(number):
                self.out["phone"] = number
            else:
                self.skip("telecom", "phone", "not a phone number the letter takes (8 to 15 digits)", "phone")


def patient_part(i: int, pt: Mapping[str, Any], *, today: dt.date) -> tuple[dict[str, Any], list[Skipped]]:
    """The letter's ``patient`` from the Patient of entry ``i``, and what of it was left out."""
    rd = _Reader(i)
    rd.take("name", "name", _name(pt.get("name")), NAME)
    idents = [x for x in pt.get("identifier") or () if isinstance(x, dict)]
    nik = next((x for x in idents if same_system(x.get("system"), sid.SYSTEM_NIK)), None)
    rd.number("nik", nik, lambda v: re.fullmatch(r"\d{16}", v) is not None, "NIK (16 digits)")
    mrn = medical_record_identifier(idents)
    if mrn is not None:
        rd.take("medical_record_number", "identifier", clean(mrn["value"]), MRN)
    jkn = next((x for x in idents if same_system(x.get("system"), SYSTEM_JKN) or _typed(x, "SB")), None)
    rd.number("jkn_number", jkn, identity.jkn_number_ok, "JKN card number (13 digits)")
    rd.birth(pt.get("birthDate"), today)
    gender = pt.get("gender")
    if gender in {"female", "male"}:
        rd.out["sex"] = gender
    elif gender:
        rd.skip(
            "gender",
            "sex",
            f"{gender!r}: the letter records female or male",
            "gender",
            gender=str(gender)[:20],
        )
    rd.take("address", "address", _address(pt.get("address")), ADDRESS)
    rd.phone(pt.get("telecom"))
    return rd.out, rd.skipped
