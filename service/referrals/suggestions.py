"""The suggestion's request and answer: a patient's clinical facts in, ranked destinations out.

Validation errors name the field (pydantic's ``loc``); nothing here touches storage.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

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
    #: for a back-referral, the facility that referred the patient (proposed first)
    referred_from: str | None = Field(default=None, min_length=1, max_length=64)
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)

    @field_validator("age_years", "lon", "lat")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise PydanticCustomError("finite_number", "must be a finite number")
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
            referred_from=self.referred_from,
        )


#: Languages of reason texts: Bahasa Indonesia, English, or both.
ReasonLang = Literal["id", "en", "all"]


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

    def one(r: Reason) -> dict[str, Any]:
        return {"rule_id": r.rule_id, "effect": r.effect, "text": texts(r), "references": r.references}

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


class IcdOut(BaseModel):
    """A WHO ICD-10 code."""

    code: str
    title: str
    name_id: str


class ProcedureOut(BaseModel):
    """An ICD-9-CM procedure code and CMS's (English) title; a category has an empty title."""

    code: str
    title: str
