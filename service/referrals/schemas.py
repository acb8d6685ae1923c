"""Request and answer shapes of referrals: the suggestion request and answer, the letter (Pasal 17).

Validation errors name the field (pydantic's ``loc``); nothing here touches storage.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from geodata.models import BedType, Equipment, Service
from rules.model import OriginCondition, Payer, ReferralRequest, ServiceType, Sex
from service.schemas import Strict

if TYPE_CHECKING:
    from collections.abc import Callable

    from rules.model import Reason, Suggestion


class ReferralRequestIn(Strict):
    """A referral request as posted: no patient identity (that belongs to the letter)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "origin_id": "PKM-SEGARAU",
                    "age_years": 28,
                    "sex": "female",
                    "icd10": ["O72.1"],
                    "emergency": True,
                },
                {
                    "origin_id": "PKM-PALOH",
                    "age_years": 61,
                    "sex": "male",
                    "icd10": ["I21.9"],
                    "service_type": "gawat_darurat",
                    "emergency": True,
                    "payer": "jkn_pbi",
                },
            ]
        },
    )

    origin_id: str = Field(min_length=1, max_length=64)
    age_years: float = Field(ge=0, le=130)
    sex: Sex
    icd10: list[Annotated[str, Field(min_length=1, max_length=10)]] = Field(
        default_factory=list, max_length=10
    )
    service_type: ServiceType | None = None
    emergency: bool = False
    disaster: bool = False
    transportable: bool = True
    consent: bool = True
    payer: Payer = Payer.JKN_NON_PBI
    specialty: Service | None = None
    beds: list[BedType] = Field(default_factory=list)
    equipment: list[Equipment] = Field(default_factory=list)
    origin_conditions: list[OriginCondition] = Field(default_factory=list)
    tacc: str = Field(default="", max_length=500)
    back_referral: bool = False
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)

    @field_validator("age_years", "lon", "lat")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            msg = "must be a finite number"
            raise ValueError(msg)
        return v

    def to_domain(self) -> ReferralRequest:
        """The engine's request; the service type defaults to emergency care for an emergency."""
        st = self.service_type or (ServiceType.GAWAT_DARURAT if self.emergency else ServiceType.RAWAT_JALAN)
        return ReferralRequest(
            origin_id=self.origin_id,
            age_years=self.age_years,
            sex=self.sex,
            icd10=tuple(c.strip().upper() for c in self.icd10),
            service_type=st,
            emergency=self.emergency,
            disaster=self.disaster,
            transportable=self.transportable,
            consent=self.consent,
            payer=self.payer,
            specialty=self.specialty,
            beds=tuple(self.beds),
            equipment=tuple(self.equipment),
            origin_conditions=frozenset(self.origin_conditions),
            tacc=self.tacc,
            back_referral=self.back_referral,
        )


#: Languages of reason texts: Bahasa Indonesia, English, or both.
ReasonLang = Literal["id", "en", "all"]


#: JSON of finished reasons (``values`` None, kept by the engine across requests), by identity and
#: language; each entry holds its reason, so the id cannot be reused while it is cached
_REASON_JSON: dict[tuple[int, str], tuple[Reason, dict[str, Any]]] = {}
_REASON_JSON_MAX = 50_000


def _texts(lang: ReasonLang) -> Callable[[Reason], dict[str, str]]:
    if lang == "id":
        return lambda r: {"id": r.text_id}
    if lang == "en":
        return lambda r: {"en": r.text_en}
    return lambda r: {"id": r.text_id, "en": r.text_en}


def suggestion_json(
    s: Suggestion, *, now: datetime | None = None, lang: ReasonLang = "all"
) -> dict[str, Any]:
    """The public JSON form of a suggestion, reason texts in ``lang`` (formatting is most of the cost)."""
    need = s.need
    texts = _texts(lang)

    cache = _REASON_JSON

    def one(r: Reason) -> dict[str, Any]:
        if r.values is not None:  # texts filled for this request
            return {"rule_id": r.rule_id, "effect": r.effect, "text": texts(r), "references": r.references}
        # a finished reason the engine keeps across requests: its JSON is kept too (read-only)
        hit = cache.get((id(r), lang))
        if hit is not None and hit[0] is r:
            return hit[1]
        d = {"rule_id": r.rule_id, "effect": r.effect, "text": texts(r), "references": r.references}
        if len(cache) > _REASON_JSON_MAX:
            cache.clear()
        cache[id(r), lang] = (r, d)
        return d

    def reasons(rs: tuple[Reason, ...]) -> list[dict[str, Any]]:
        return [one(r) for r in rs]

    return {
        "decision": s.decision.value,
        "referral_type": s.referral_type.value if s.referral_type else None,
        "rule_pack": {"id": s.pack_id, "version": s.pack_version},
        "computed_at": (now or datetime.now(UTC)).isoformat(),
        "lang": lang,
        "need": {
            "specialty": need.specialty.value if need.specialty else None,
            "beds": [b.value for b in need.beds],
            "equipment": [e.value for e in need.equipment],
            "preferred_equipment": [e.value for e in need.preferred_equipment],
            "non_specialist": need.non_specialist,
            "sources": list(need.sources),
        },
        "reasons": reasons(s.reasons),
        "warnings": reasons(s.warnings),
        "candidates": [
            {
                "rank": c.rank,
                "facility_id": c.facility_id,
                "name": c.name,
                "score": c.score,
                "travel_time_s": None if math.isinf(c.travel_time_s) else round(c.travel_time_s, 1),
                "distance_m": None if c.distance_m is None else round(c.distance_m, 1),
                "referral_type": c.referral_type.value,
                "status_age_s": None if c.status_age_s is None else round(c.status_age_s),
                "stale": c.stale,
                "reasons": reasons(c.reasons),
            }
            for c in s.candidates
        ],
        "excluded": [
            {"facility_id": x.facility_id, "name": x.name, "reasons": reasons(x.reasons)} for x in s.excluded
        ],
    }


CONSENT_ITEMS = {
    "a": "diagnosis",
    "b": "indikasi",
    "c": "tindakan pelayanan kesehatan yang dilakukan dan tujuannya",
    "d": "risiko dan komplikasi yang mungkin terjadi",
    "e": "alternatif tindakan lain dan risikonya",
    "f": "risiko apabila tindakan tidak dilakukan",
    "g": "prognosis setelah memperoleh tindakan",
    "h": "transportasi rujukan",
}

Short = Annotated[str, Field(min_length=1, max_length=200)]
LongText = Annotated[str, Field(max_length=4000)]


class PatientIn(Strict):
    """Patient identity (Pasal 17(1)a). Personal data: stored, shown to the two facilities, never logged."""

    name: Short
    nik: str = Field(pattern=r"^\d{16}$", description="Nomor Induk Kependudukan, 16 digits")
    medical_record_number: str = Field(min_length=1, max_length=40)
    date_of_birth: date
    sex: Sex
    address: str = Field(default="", max_length=500)
    phone: str = Field(default="", pattern=r"^(\+?\d{8,15})?$")
    jkn_number: str = Field(default="", pattern=r"^(\d{13})?$")

    @field_validator("date_of_birth")
    @classmethod
    def _not_future(cls, v: date) -> date:
        if v > datetime.now(UTC).date() or v.year < 1890:
            msg = "must be a real date of birth, not in the future"
            raise ValueError(msg)
        return v


class VitalSigns(Strict):
    """Vital signs at referral."""

    bp_systolic: int | None = Field(default=None, ge=20, le=300)
    bp_diastolic: int | None = Field(default=None, ge=10, le=200)
    pulse: int | None = Field(default=None, ge=10, le=300)
    respiratory_rate: int | None = Field(default=None, ge=2, le=100)
    temperature_c: float | None = Field(default=None, ge=25, le=45)
    spo2: int | None = Field(default=None, ge=30, le=100)
    gcs: int | None = Field(default=None, ge=3, le=15)


class MedicalIn(Strict):
    """The medical summary (Pasal 17(1)d)."""

    history: LongText = ""
    vital_signs: VitalSigns = Field(default_factory=VitalSigns)
    diagnosis_text: Short
    icd10: list[Annotated[str, Field(min_length=1, max_length=10)]] = Field(min_length=1, max_length=10)
    therapy: LongText = ""
    stabilisation: LongText = Field(min_length=1, description="first aid / stabilisation done (Pasal 13(2))")


class ConsentIn(Strict):
    """Consent after explanation (Pasal 13(3)-(5)): every item a-h explained."""

    given: bool
    given_by: Literal["patient", "representative"]
    representative_relation: str = Field(default="", max_length=100)
    explained_by: Short
    explained_items: dict[Literal["a", "b", "c", "d", "e", "f", "g", "h"], bool]
    form: Literal["oral", "written", "oral_and_written"]
    at: AwareDatetime

    @field_validator("explained_items")
    @classmethod
    def _all_items(cls, v: dict[str, bool]) -> dict[str, bool]:
        missing = [k for k in CONSENT_ITEMS if not v.get(k)]
        if missing:
            msg = f"Pasal 13(5): items {', '.join(missing)} must be explained"
            raise ValueError(msg)
        return v


class OfflineIn(Strict):
    """A referral made on paper or offline (Pasal 20(3)), entered afterwards."""

    occurred_at: AwareDatetime
    note: str = Field(min_length=1, max_length=1000)


class ReferralIn(Strict):
    """A referral letter (Pasal 17) as created by the referring staff."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "destination_id": "6101033",
                    "receiving_unit": "IGD Kebidanan",
                    "patient": {
                        "name": "Siti Contoh",
                        "nik": "6101014107980001",
                        "medical_record_number": "RM-000123",
                        "date_of_birth": "1998-07-01",
                        "sex": "female",
                        "address": "Segarau Parit, Tebas",
                        "phone": "081234567890",
                        "jkn_number": "0001234567890",
                    },
                    "medical": {
                        "history": "P1A0, partus 2 jam lalu, perdarahan terus",
                        "vital_signs": {"bp_systolic": 85, "bp_diastolic": 50, "pulse": 124, "spo2": 95},
                        "diagnosis_text": "Perdarahan postpartum",
                        "icd10": ["O72.1"],
                        "therapy": "Oksitosin 10 IU IM, infus RL 2 jalur",
                        "stabilisation": "Kompresi bimanual, 2 jalur infus",
                    },
                    "reason": "Perlu transfusi dan penanganan spesialis Obgyn",
                    "consent": {
                        "given": True,
                        "given_by": "representative",
                        "representative_relation": "suami",
                        "explained_by": "Bidan Ani",
                        "form": "written",
                        "at": "2026-11-22T01:55:00+07:00",
                        "explained_items": dict.fromkeys("abcdefgh", True),
                    },
                    "service_type": "gawat_darurat",
                    "emergency": True,
                    "payer": "jkn_pbi",
                }
            ]
        },
    )

    destination_id: str = Field(min_length=1, max_length=64)
    receiving_unit: Short
    patient: PatientIn
    medical: MedicalIn
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    consent: ConsentIn
    service_type: ServiceType
    emergency: bool = False
    disaster: bool = False
    payer: Payer
    specialty: Service | None = None
    tacc: str = Field(default="", max_length=500)
    back_referral_of: str | None = Field(default=None, max_length=36)
    offline: OfflineIn | None = None

    @field_validator("consent")
    @classmethod
    def _consent_given(cls, v: ConsentIn) -> ConsentIn:
        if not v.given:
            msg = "no referral without consent (Pasal 13(3), 14(1)b): treat locally"
            raise ValueError(msg)
        return v


class DeclineIn(Strict):
    """A decline needs a reason (Pasal 19(4))."""

    reason: Annotated[str, Field(min_length=3, max_length=1000)]


class RedirectIn(Strict):
    """Ask another facility (the next candidate, or one the sender chooses)."""

    destination_id: str = Field(min_length=1, max_length=64)
    receiving_unit: str | None = Field(default=None, min_length=1, max_length=200)


class NoteIn(Strict):
    """An optional note with a transition."""

    note: str = Field(default="", max_length=1000)


# ------------------------------------------------------------------------------------- answers


class ReasonOut(BaseModel):
    """Why: a rule's effect, its text (in the language asked for) and the articles behind it."""

    rule_id: str
    effect: str
    text: dict[str, str] = Field(description="by language: id, en")
    references: list[str]


class NeedOut(BaseModel):
    """What the patient needs, from the ICD-10 codes and the request."""

    specialty: str | None
    beds: list[str]
    equipment: list[str]
    preferred_equipment: list[str]
    non_specialist: bool
    sources: list[str]


class CandidateOut(BaseModel):
    """A ranked receiving facility."""

    rank: int
    facility_id: str
    name: str
    score: float
    travel_time_s: float | None
    distance_m: float | None
    referral_type: str
    status_age_s: int | None
    stale: bool
    reasons: list[ReasonOut]


class ExcludedOut(BaseModel):
    """A facility left out, with every reason."""

    facility_id: str
    name: str
    reasons: list[ReasonOut]


class PackRef(BaseModel):
    """The rule pack that decided."""

    id: str
    version: str


class RoadNetworkRef(BaseModel):
    """Which road network the travel times come from."""

    modelled: bool
    version: str


class SuggestionOut(BaseModel):
    """A decision, the ranked candidates with reasons, and the exclusions."""

    decision: str
    referral_type: str | None
    rule_pack: PackRef
    computed_at: str
    lang: str
    need: NeedOut
    reasons: list[ReasonOut]
    warnings: list[ReasonOut]
    candidates: list[CandidateOut]
    excluded: list[ExcludedOut]
    road_network: RoadNetworkRef | None = None


class ReferralOut(BaseModel):
    """A referral letter and where it is in its lifecycle (``patient`` only for its two facilities)."""

    id: str
    status: str
    origin_id: str
    destination_id: str
    receiving_unit: str
    service_type: str
    emergency: bool
    payer: str
    icd10: list[str]
    specialty: str | None
    non_specialist: bool
    tacc: str
    reason: str
    medical: dict[str, Any]
    consent: dict[str, Any]
    offline: bool
    offline_note: str
    back_referral_of: str | None
    suggestion: dict[str, Any]
    tried: list[str]
    proposed_next_id: str | None
    decline_reason: str | None
    decline_count: int
    escalation_count: int
    response_time_s: float | None
    version: int
    times: dict[str, str | None]
    patient: dict[str, Any] | None = None
    waiting_s: int | None = Field(default=None, description="in lists: seconds since it was sent")


class EventOut(BaseModel):
    """One change of a referral."""

    model_config = ConfigDict(populate_by_name=True)

    id: int
    referral_id: str
    at: str | None
    kind: str
    from_: str | None = Field(alias="from")
    to: str
    origin_id: str
    destination_id: str
    note: str


class AttachmentOut(BaseModel):
    """An attachment's metadata."""

    id: int
    kind: str
    filename: str
    content_type: str
    size: int


class ReportOut(BaseModel):
    """The monthly report of Pasal 23 and the annex tables."""

    facility: dict[str, Any]
    month: str
    indicators: dict[str, Any]
    tables: dict[str, Any]


class IcdOut(BaseModel):
    """A WHO ICD-10 code."""

    code: str
    title: str
    name_id: str
