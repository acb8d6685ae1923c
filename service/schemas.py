"""JSON shapes of requests and answers, validated with pydantic, and their domain conversions.

Validation errors name the field (pydantic's ``loc``); nothing here touches storage.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from geodata.models import BedType, Equipment, Service
from rules.model import (
    FacilityStatus,
    OriginCondition,
    Payer,
    ReferralRequest,
    ServiceType,
    Sex,
)

if TYPE_CHECKING:
    from rules.model import Reason, Suggestion


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReferralRequestIn(_Strict):
    """A referral request as posted: no patient identity (that belongs to the letter)."""

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


class FacilityStatusIn(_Strict):
    """A facility's live status as reported by its staff."""

    updated_at: AwareDatetime
    beds_available: dict[BedType, Annotated[int, Field(ge=0, le=5000)]] = Field(default_factory=dict)
    specialists_on_duty: list[Service] = Field(default_factory=list)
    specialists_on_call: dict[Service, Annotated[int, Field(ge=0, le=1440)]] = Field(default_factory=dict)
    equipment_out_of_order: list[Equipment] = Field(default_factory=list)
    stockouts: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list)
    not_accepting_until: AwareDatetime | None = None
    occupancy: float | None = Field(default=None, ge=0, le=1)

    def to_domain(self, facility_id: str) -> FacilityStatus:
        """The engine's status record (times in UTC)."""
        return FacilityStatus(
            facility_id=facility_id,
            updated_at=self.updated_at.astimezone(UTC),
            beds_available=dict(self.beds_available),
            specialists_on_duty=frozenset(self.specialists_on_duty),
            specialists_on_call=dict(self.specialists_on_call),
            equipment_out_of_order=frozenset(self.equipment_out_of_order),
            stockouts=frozenset(self.stockouts),
            not_accepting_until=self.not_accepting_until.astimezone(UTC)
            if self.not_accepting_until
            else None,
            occupancy=self.occupancy,
        )


def reason_json(r: Reason) -> dict[str, Any]:
    """A reason in both languages with its legal references."""
    return {
        "rule_id": r.rule_id,
        "effect": r.effect,
        "text": {"id": r.text_id, "en": r.text_en},
        "references": list(r.references),
    }


def suggestion_json(s: Suggestion, *, now: datetime | None = None) -> dict[str, Any]:
    """The public JSON form of a suggestion."""
    need = s.need
    return {
        "decision": s.decision.value,
        "referral_type": s.referral_type.value if s.referral_type else None,
        "rule_pack": {"id": s.pack_id, "version": s.pack_version},
        "computed_at": (now or datetime.now(UTC)).isoformat(),
        "need": {
            "specialty": need.specialty.value if need.specialty else None,
            "beds": [b.value for b in need.beds],
            "equipment": [e.value for e in need.equipment],
            "preferred_equipment": [e.value for e in need.preferred_equipment],
            "non_specialist": need.non_specialist,
            "sources": list(need.sources),
        },
        "reasons": [reason_json(r) for r in s.reasons],
        "warnings": [reason_json(r) for r in s.warnings],
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
                "reasons": [reason_json(r) for r in c.reasons],
            }
            for c in s.candidates
        ],
        "excluded": [
            {"facility_id": x.facility_id, "name": x.name, "reasons": [reason_json(r) for r in x.reasons]}
            for x in s.excluded
        ],
    }
