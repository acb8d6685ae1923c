"""A referral letter as a FHIR R4 ``transaction`` Bundle, both ways (docs/fhir.md, "Creating a referral").

``letter_bundle`` writes one from a stored letter (what a rujuk deployment sends another);
``read_transaction`` reads one into the JSON API's ``ReferralIn`` (what ``POST /fhir/R4``
accepts), naming the Bundle entry and element of every problem. The two are each other's
inverse for everything the letter holds (a test round-trips them).

The Bundle: a ``Patient``, one ``Condition`` per ICD-10 code, the ``ServiceRequest`` (who asks
whom, for what), the ``Consent`` of Pasal 13, an ``Observation`` per vital sign (LOINC) and a
``Procedure`` per ICD-9-CM procedure done. References between them are the entries' ``fullUrl``
(``urn:uuid:``), as FHIR's transaction rules have it.

Pure: no storage, no I/O.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from service.fhir import systems as sid
from service.fhir.outcome import FhirError, Issue, OutcomeError
from service.referrals.schemas import CONSENT_ITEMS, ReferralIn

if TYPE_CHECKING:
    from collections.abc import Mapping

#: rujuk's extensions of a referral letter
EXT_LETTER = f"{sid.CANONICAL}/StructureDefinition/referral-letter"
EXT_CONSENT = f"{sid.CANONICAL}/StructureDefinition/consent-explanation"
EXT_NIK_CONFIRMED = f"{sid.CANONICAL}/StructureDefinition/nik-confirmed"
#: the patient's BPJS Kesehatan card number (Nomor Kartu JKN): SATUSEHAT publishes no system for it
SYSTEM_JKN = f"{sid.CANONICAL}/sid/jkn-number"
CS_PAYER = f"{sid.CANONICAL}/CodeSystem/payer"
CS_CONSENT_ITEM = f"{sid.CANONICAL}/CodeSystem/consent-item"
ICD9CM = "http://hl7.org/fhir/sid/icd-9-cm"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"

#: the vital signs of the letter as LOINC observations: field, code, display, UCUM unit
VITALS: tuple[tuple[str, str, str, str], ...] = (
    ("bp_systolic", "8480-6", "Systolic blood pressure", "mm[Hg]"),
    ("bp_diastolic", "8462-4", "Diastolic blood pressure", "mm[Hg]"),
    ("pulse", "8867-4", "Heart rate", "/min"),
    ("respiratory_rate", "9279-1", "Respiratory rate", "/min"),
    ("temperature_c", "8310-5", "Body temperature", "Cel"),
    ("spo2", "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%"),
    ("gcs", "9269-2", "Glasgow coma score total", "{score}"),
)
_VITAL_BY_CODE = {code: field for field, code, _, _ in VITALS}
#: the letter's free-text parts carried in the referral-letter extension (and ``disaster``)
_LETTER_TEXTS = ("history", "therapy", "stabilisation")
_SERVICE_TYPES = ("rawat_jalan", "gawat_darurat", "rawat_inap")
#: ServiceRequest.status on create: ``active`` sends the letter, ``draft`` only writes it
CREATE_STATUSES = ("active", "draft")


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _ext(url: str, parts: list[tuple[str, str, Any]]) -> dict[str, Any]:
    """A complex extension of ``(name, value[x] type, value)`` parts (empty values left out)."""
    return {
        "url": url,
        "extension": [{"url": name, f"value{kind}": v} for name, kind, v in parts if v not in ("", None)],
    }


def letter_bundle(
    letter: Mapping[str, Any],
    *,
    origin_id: str,
    send: bool = True,
    identifier: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The transaction Bundle creating this letter: ``letter`` as the JSON API's ``ReferralIn``
    (``model_dump(mode="json")``) or a stored referral's JSON with its patient.

    ``identifier`` (system, value) is put on the ServiceRequest and used as its ``ifNoneExist``,
    so that sending the same Bundle twice creates one referral.
    """  # noqa: D205
    pt, med, consent = letter["patient"], letter["medical"], letter["consent"]
    patient_url, request_url = _urn(), _urn()
    subject = {"reference": patient_url}
    ids: list[dict[str, Any]] = [{"use": "official", "system": sid.SYSTEM_NIK, "value": pt["nik"]}]
    ids.append(
        {
            "use": "usual",
            "system": sid.SYSTEM_MEDICAL_RECORD,
            "value": pt["medical_record_number"],
            "assigner": {"reference": f"Organization/{origin_id}"},
        }
    )
    if pt.get("jkn_number"):
        ids.append({"use": "secondary", "system": SYSTEM_JKN, "value": pt["jkn_number"]})
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": ids,
        "name": [{"use": "official", "text": pt["name"]}],
        "gender": pt["sex"],
        "birthDate": pt["date_of_birth"],
        "address": [{"text": pt["address"]}] if pt.get("address") else None,
        "telecom": [{"system": "phone", "value": pt["phone"]}] if pt.get("phone") else None,
        "extension": [{"url": EXT_NIK_CONFIRMED, "valueBoolean": True}] if pt.get("nik_confirmed") else None,
    }
    entries: list[tuple[str, dict[str, Any]]] = [(patient_url, patient)]
    conditions = []
    for code in med["icd10"]:
        url = _urn()
        conditions.append({"reference": url, "display": code})
        entries.append(
            (
                url,
                {
                    "resourceType": "Condition",
                    "clinicalStatus": {"coding": [{"system": sid.CONDITION_CLINICAL, "code": "active"}]},
                    "category": [
                        {"coding": [{"system": sid.CONDITION_CATEGORY, "code": "encounter-diagnosis"}]}
                    ],
                    "code": {"coding": [{"system": sid.ICD10, "code": code}], "text": code},
                    "subject": subject,
                },
            )
        )
    supporting = []
    vitals = med.get("vital_signs") or {}
    for field, code, display, unit in VITALS:
        if vitals.get(field) is None:
            continue
        url = _urn()
        supporting.append({"reference": url})
        entries.append(
            (
                url,
                {
                    "resourceType": "Observation",
                    "status": "final",
                    "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "vital-signs"}]}],
                    "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
                    "subject": subject,
                    "effectiveDateTime": consent["at"],
                    "valueQuantity": {"value": vitals[field], "unit": unit, "system": UCUM, "code": unit},
                },
            )
        )
    for proc in med.get("procedures") or ():
        url = _urn()
        supporting.append({"reference": url})
        entries.append(
            (
                url,
                {
                    "resourceType": "Procedure",
                    "status": "completed",
                    "code": {"coding": [{"system": ICD9CM, "code": proc["code"]}]},
                    "subject": subject,
                    "note": [{"text": proc["note"]}] if proc.get("note") else None,
                },
            )
        )
    consent_url = _urn()
    supporting.append({"reference": consent_url})
    entries.append(
        (
            consent_url,
            {
                "resourceType": "Consent",
                "status": "active",
                "scope": {"coding": [{"system": CONSENT_SCOPE, "code": "treatment"}]},
                "category": [
                    {"coding": [{"system": LOINC, "code": "59284-0", "display": "Consent Document"}]}
                ],
                "patient": subject,
                "dateTime": consent["at"],
                "organization": [{"reference": f"Organization/{origin_id}"}],
                "policyRule": {
                    "text": "Persetujuan rujukan setelah penjelasan (Perbup Sambas 49/2025 Pasal 13)"
                },
                "provision": {"type": "permit" if consent["given"] else "deny"},
                "extension": [
                    _ext(
                        EXT_CONSENT,
                        [
                            ("givenBy", "Code", consent["given_by"]),
                            ("representativeRelation", "String", consent.get("representative_relation")),
                            ("explainedBy", "String", consent["explained_by"]),
                            ("form", "Code", consent["form"]),
                            *[
                                (
                                    "explainedItem",
                                    "Coding",
                                    {"system": CS_CONSENT_ITEM, "code": k, "display": CONSENT_ITEMS[k]},
                                )
                                for k, done in sorted(consent["explained_items"].items())
                                if done
                            ],
                        ],
                    )
                ],
            },
        )
    )
    request: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "identifier": [{"system": identifier[0], "value": identifier[1]}] if identifier else None,
        "status": "active" if send else "draft",
        "intent": "order",
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "3457005"}]}],
        "priority": "stat" if letter.get("emergency") else "routine",
        "code": {
            "coding": [{"system": sid.CS_SERVICE_TYPE, "code": letter["service_type"]}],
            "text": letter["receiving_unit"],
        },
        "performerType": {"coding": [{"system": sid.CS_SERVICE, "code": letter["specialty"]}]}
        if letter.get("specialty")
        else None,
        "subject": subject,
        "requester": {"reference": f"Organization/{origin_id}"},
        "performer": [{"reference": f"Organization/{letter['destination_id']}"}],
        "reasonCode": [{"text": med["diagnosis_text"]}],
        "reasonReference": conditions,
        "supportingInfo": supporting,
        "note": [{"text": letter["reason"]}],
        "extension": [
            _ext(
                EXT_LETTER,
                [
                    *[(k, "String", med.get(k)) for k in _LETTER_TEXTS],
                    ("tacc", "String", letter.get("tacc")),
                    ("payer", "Coding", {"system": CS_PAYER, "code": letter["payer"]}),
                    ("disaster", "Boolean", True if letter.get("disaster") else None),
                ],
            )
        ],
    }
    entries.append((request_url, request))
    out = []
    for url, resource in entries:
        res = {k: v for k, v in resource.items() if v is not None}
        req: dict[str, Any] = {"method": "POST", "url": res["resourceType"]}
        if res["resourceType"] == "ServiceRequest" and identifier:
            req["ifNoneExist"] = f"identifier={identifier[0]}|{identifier[1]}"
        out.append({"fullUrl": url, "resource": res, "request": req})
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": out}
    Bundle.model_validate(bundle)  # every resource rujuk emits validates
    return bundle


# ----------------------------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class Transaction:
    """A transaction Bundle read: the letter, whether to send it, who asks, and its conditional key."""

    letter: ReferralIn
    send: bool
    origin_id: str
    #: ``system|value`` of the ServiceRequest's ``ifNoneExist`` (None: unconditional)
    if_none_exist: str | None
    #: the Bundle entry index of each resource type's first entry (for the answer's entries)
    order: tuple[str, ...]


class _Reader:
    """Reads the entries, collecting every problem with its FHIRPath expression."""

    def __init__(self, bundle: Mapping[str, Any]) -> None:
        self.issues: list[Issue] = []
        self.entries: list[dict[str, Any]] = []
        self.by_url: dict[str, int] = {}
        self.types: list[str] = []
        raw = bundle.get("entry") or []
        for i, e in enumerate(raw):
            res = (e or {}).get("resource") or {}
            self.entries.append(res)
            self.types.append(str(res.get("resourceType", "")))
            if e.get("fullUrl"):
                self.by_url[str(e["fullUrl"])] = i
            req = e.get("request") or {}
            if req.get("method") != "POST":
                self.problem(
                    i,
                    "request.method",
                    "only POST (create) is supported in a transaction",
                    code="not-supported",
                    on_entry=True,
                )

    def problem(
        self, i: int | None, element: str, msg: str, *, code: str = "invalid", on_entry: bool = False
    ) -> None:
        where = "Bundle" if i is None else f"Bundle.entry[{i}]" + ("" if on_entry else ".resource")
        self.issues.append(Issue(code, msg, f"{where}.{element}" if element else where))

    def only(self, kind: str, *, required: bool = True) -> tuple[int, dict[str, Any]] | None:
        found = [i for i, t in enumerate(self.types) if t == kind]
        if len(found) > 1:
            self.problem(found[1], "", f"a referral has one {kind}; this Bundle has {len(found)}")
        if not found:
            if required:
                self.problem(None, "entry", f"a {kind} is required")
            return None
        return found[0], self.entries[found[0]]

    def target(self, ref: Any, kind: str, i: int, element: str) -> tuple[int, dict[str, Any]] | None:  # noqa: ANN401
        url = (ref or {}).get("reference") if isinstance(ref, dict) else None
        j = self.by_url.get(str(url)) if url else None
        if j is None or self.types[j] != kind:
            self.problem(i, element, f"must reference a {kind} entry of this Bundle by its fullUrl")
            return None
        return j, self.entries[j]


def _org_id(ref: Any) -> str | None:  # noqa: ANN401
    url = str((ref or {}).get("reference") or "") if isinstance(ref, dict) else ""
    head, _, fid = url.rstrip("/").rpartition("/")
    return fid if fid and head.endswith("Organization") else None


def _ext_parts(res: Mapping[str, Any], url: str) -> dict[str, list[Any]]:
    parts: dict[str, list[Any]] = {}
    for ext in res.get("extension") or ():
        if isinstance(ext, dict) and ext.get("url") == url:
            for sub in ext.get("extension") or ():
                value = next((v for k, v in sub.items() if k.startswith("value")), None)
                parts.setdefault(str(sub.get("url")), []).append(value)
    return parts


def _one(parts: Mapping[str, list[Any]], name: str, *, default: Any = "") -> Any:  # noqa: ANN401
    values = parts.get(name)
    return values[0] if values else default


def _code(cc: Any, system: str) -> str | None:  # noqa: ANN401
    for coding in (cc or {}).get("coding") or () if isinstance(cc, dict) else ():
        if coding.get("system") == system and coding.get("code"):
            return str(coding["code"])
    return None


def _ident(res: Mapping[str, Any], system: str) -> str:
    return next(
        (str(x.get("value", "")) for x in res.get("identifier") or () if x.get("system") == system), ""
    )


#: where each field of ``ReferralIn`` lives in the Bundle: (resource type, element)
FIELDS: dict[str, tuple[str, str]] = {
    "destination_id": ("ServiceRequest", "performer"),
    "receiving_unit": ("ServiceRequest", "code.text"),
    "service_type": ("ServiceRequest", "code"),
    "emergency": ("ServiceRequest", "priority"),
    "reason": ("ServiceRequest", "note"),
    "payer": ("ServiceRequest", f"extension('{EXT_LETTER}').extension('payer')"),
    "tacc": ("ServiceRequest", f"extension('{EXT_LETTER}').extension('tacc')"),
    "specialty": ("ServiceRequest", "performerType"),
    "patient.name": ("Patient", "name"),
    "patient.nik": ("Patient", f"identifier.where(system='{sid.SYSTEM_NIK}')"),
    "patient.medical_record_number": ("Patient", f"identifier.where(system='{sid.SYSTEM_MEDICAL_RECORD}')"),
    "patient.jkn_number": ("Patient", f"identifier.where(system='{SYSTEM_JKN}')"),
    "patient.date_of_birth": ("Patient", "birthDate"),
    "patient.sex": ("Patient", "gender"),
    "patient.address": ("Patient", "address"),
    "patient.phone": ("Patient", "telecom"),
    "medical.diagnosis_text": ("ServiceRequest", "reasonCode.text"),
    "medical.icd10": ("ServiceRequest", "reasonReference"),
    "medical.procedures": ("Procedure", "code"),
    "medical.vital_signs": ("Observation", "valueQuantity"),
    "consent": ("Consent", ""),
    "consent.at": ("Consent", "dateTime"),
    "consent.given": ("Consent", "provision.type"),
}
for _k in _LETTER_TEXTS:
    FIELDS[f"medical.{_k}"] = ("ServiceRequest", f"extension('{EXT_LETTER}').extension('{_k}')")
for _k in ("given_by", "representative_relation", "explained_by", "explained_items", "form"):
    _name = {
        "given_by": "givenBy",
        "representative_relation": "representativeRelation",
        "explained_by": "explainedBy",
        "explained_items": "explainedItem",
    }.get(_k, _k)
    FIELDS[f"consent.{_k}"] = ("Consent", f"extension('{EXT_CONSENT}').extension('{_name}')")


def expression_of(field: str, where: Mapping[str, int]) -> str:
    """The FHIRPath of a ``ReferralIn`` field in the Bundle (``where``: each type's entry index)."""
    parts = field.split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in FIELDS:
            kind, element = FIELDS[key]
            i = where.get(kind)
            base = f"Bundle.entry[{i}].resource" if i is not None else f"Bundle.entry.resource.ofType({kind})"
            return f"{base}.{element}" if element else base
    return "Bundle"


def unknown_resource_types(bundle: Mapping[str, Any]) -> list[tuple[int, str]]:
    """The entries (0-based) whose ``resource.resourceType`` names no FHIR resource, with the name.

    fhir.resources raises a KeyError (not a validation error) for those: they are found first.
    """
    out = []
    entries = bundle.get("entry")
    for i, e in enumerate(entries if isinstance(entries, list) else ()):
        res = e.get("resource") if isinstance(e, dict) else None
        if not isinstance(res, dict):
            continue
        name = res.get("resourceType")
        try:
            get_fhir_model_class(name)
        except (TypeError, ValueError, KeyError):
            out.append((i, str(name)[:64]))
    return out


def read_transaction(bundle: Mapping[str, Any]) -> Transaction:  # noqa: C901  one pass over a letter's parts
    """The referral a transaction Bundle asks to create; an ``OutcomeError`` listing every problem."""
    unknown = unknown_resource_types(bundle)
    if unknown:
        raise OutcomeError(
            [
                Issue(
                    "structure",
                    f"{name!r} is not a FHIR R4 resource type",
                    f"Bundle.entry[{i}].resource.resourceType",
                )
                for i, name in unknown
            ]
        )
    try:
        Bundle.model_validate(bundle)
    except ValidationError as exc:
        raise OutcomeError(
            [
                Issue("structure", e["msg"], "Bundle." + ".".join(str(x) for x in e["loc"]))
                for e in exc.errors()[:20]
            ]
        ) from None
    if bundle.get("type") != "transaction":
        raise FhirError(
            400, "POST to the base takes a Bundle of type 'transaction'", expression="Bundle.type"
        )
    rd = _Reader(bundle)
    found = rd.only("ServiceRequest")
    if found is None:
        raise OutcomeError(rd.issues)
    si, sr = found
    where = {"ServiceRequest": si}
    status = sr.get("status")
    if status not in CREATE_STATUSES:
        rd.problem(si, "status", "must be 'active' (send the letter) or 'draft' (write it only)")
    origin = _org_id(sr.get("requester"))
    if origin is None:
        rd.problem(si, "requester", "must reference the referring facility: Organization/{facility id}")
    performers = sr.get("performer") or []
    destination = _org_id(performers[0]) if len(performers) == 1 else None
    if destination is None:
        rd.problem(si, "performer", "must be one reference to the receiving facility: Organization/{id}")
    pt_found = rd.target(sr.get("subject"), "Patient", si, "subject")
    pt = pt_found[1] if pt_found else {}
    if pt_found:
        where["Patient"] = pt_found[0]
    icd10: list[str] = []
    for n, ref in enumerate(sr.get("reasonReference") or ()):
        c = rd.target(ref, "Condition", si, f"reasonReference[{n}]")
        if c is None:
            continue
        code = _code(c[1].get("code"), sid.ICD10)
        if code is None:
            rd.problem(c[0], "code", f"needs a coding in {sid.ICD10}")
        else:
            icd10.append(code)
    if not sr.get("reasonReference"):
        rd.problem(si, "reasonReference", "needs at least one Condition (ICD-10)")
    vitals: dict[str, Any] = {}
    procedures: list[dict[str, Any]] = []
    consent: dict[str, Any] = {}
    for i, kind in enumerate(rd.types):
        res = rd.entries[i]
        if kind == "Observation":
            where.setdefault("Observation", i)
            code = _code(res.get("code"), LOINC)
            field = _VITAL_BY_CODE.get(code or "")
            if field is None:
                rd.problem(
                    i, "code", "a vital sign of the letter by its LOINC code: " + ", ".join(_VITAL_BY_CODE)
                )
                continue
            vitals[field] = (res.get("valueQuantity") or {}).get("value")
        elif kind == "Procedure":
            where.setdefault("Procedure", i)
            notes = [str(x.get("text", "")) for x in res.get("note") or ()]
            code = _code(res.get("code"), ICD9CM)
            if code is None:
                rd.problem(i, "code", f"needs a coding in {ICD9CM}")
                continue
            procedures.append({"code": code, "note": " ".join(notes)})
        elif kind == "Consent":
            if "Consent" in where:
                rd.problem(i, "", "a referral has one Consent")
                continue
            where["Consent"] = i
            parts = _ext_parts(res, EXT_CONSENT)
            items = {str((c or {}).get("code")) for c in parts.get("explainedItem", [])}
            consent = {
                "given": (res.get("provision") or {}).get("type") == "permit",
                "given_by": _one(parts, "givenBy"),
                "representative_relation": _one(parts, "representativeRelation"),
                "explained_by": _one(parts, "explainedBy"),
                "explained_items": {k: k in items for k in CONSENT_ITEMS},
                "form": _one(parts, "form"),
                "at": res.get("dateTime"),
            }
        elif kind not in {"ServiceRequest", "Patient", "Condition"}:
            rd.problem(
                i, "resourceType", f"{kind} is not part of a referral (docs/fhir.md)", code="not-supported"
            )
    if "Consent" not in where:
        rd.problem(
            None, "entry", "a Consent is required: no referral without consent (Pasal 13)", code="required"
        )
    service_type = _code(sr.get("code"), sid.CS_SERVICE_TYPE)
    letter_ext = _ext_parts(sr, EXT_LETTER)
    payer = _one(letter_ext, "payer", default=None)
    specialty = _code(sr.get("performerType"), sid.CS_SERVICE)
    notes = [str(x.get("text", "")) for x in sr.get("note") or ()]
    body: dict[str, Any] = {
        "destination_id": destination or "",
        "receiving_unit": (sr.get("code") or {}).get("text") or "",
        "service_type": service_type if service_type in _SERVICE_TYPES else (service_type or ""),
        "emergency": sr.get("priority") == "stat",
        "disaster": bool(_one(letter_ext, "disaster", default=False)),
        "payer": (payer or {}).get("code", "") if isinstance(payer, dict) else "",
        "tacc": _one(letter_ext, "tacc"),
        "reason": "\n".join(notes),
        "patient": {
            "name": " ".join(
                str(n.get("text") or " ".join([*n.get("given", []), n.get("family", "")])).strip()
                for n in (pt.get("name") or [])[:1]
            ),
            "nik": _ident(pt, sid.SYSTEM_NIK),
            "medical_record_number": _ident(pt, sid.SYSTEM_MEDICAL_RECORD),
            "jkn_number": _ident(pt, SYSTEM_JKN),
            "date_of_birth": pt.get("birthDate"),
            "sex": pt.get("gender"),
            "address": str(((pt.get("address") or [{}])[0]).get("text") or ""),
            "phone": next(
                (str(t.get("value")) for t in pt.get("telecom") or () if t.get("system") == "phone"), ""
            ),
            "nik_confirmed": any(
                e.get("url") == EXT_NIK_CONFIRMED and e.get("valueBoolean") for e in pt.get("extension") or ()
            ),
        },
        "medical": {
            **{k: _one(letter_ext, k) for k in _LETTER_TEXTS},
            "vital_signs": vitals,
            "diagnosis_text": ((sr.get("reasonCode") or [{}])[0]).get("text") or "",
            "icd10": icd10,
            "procedures": procedures,
        },
        "consent": consent or None,
    }
    if specialty:
        body["specialty"] = specialty
    letter: ReferralIn | None = None
    try:
        letter = ReferralIn.model_validate(body)
    except ValidationError as exc:
        for e in exc.errors():
            field = ".".join(str(x) for x in e["loc"])
            if field == "consent" and "Consent" not in where:
                continue  # said once above
            rd.issues.append(Issue("invalid", f"{field}: {e['msg']}", expression_of(field, where)))
    if rd.issues or letter is None or origin is None:
        raise OutcomeError(rd.issues)
    key = None
    cond = ((bundle["entry"][si] or {}).get("request") or {}).get("ifNoneExist")
    if cond:
        name, _, value = str(cond).partition("=")
        if name != "identifier" or "|" not in value or not value.split("|", 1)[1]:
            raise FhirError(
                400,
                "ifNoneExist: only 'identifier=system|value' is supported",
                expression=f"Bundle.entry[{si}].request.ifNoneExist",
                code="not-supported",
            )
        key = value
    return Transaction(letter, status == "active", origin, key, tuple(rd.types))
