"""Request and answer shapes of mass-casualty incidents."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from service.schemas import Strict
from service.tracking.positions import MAX_LAT


class CasualtyIn(Strict):
    """A casualty as triaged at the scene: no identity, a label at most."""

    triage: Literal["red", "yellow", "green"]
    age_years: int = Field(ge=0, le=120, description="estimated")
    sex: Literal["female", "male"]
    icd10: list[Annotated[str, Field(min_length=1, max_length=10)]] = Field(
        default_factory=lambda: ["T07"], min_length=1, max_length=5
    )
    bed: Literal["icu", "hcu", "nicu", "picu", "isolation", "maternity", "general"] | None = None
    label: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,19}$")
    note: str = Field(default="", max_length=500)


class IncidentIn(Strict):
    """A mass-casualty incident declared: where (a point, or a facility), when, what, who."""

    name: str = Field(min_length=3, max_length=200)
    kind: Literal["accident", "flood", "fire", "outbreak", "other"]
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-MAX_LAT, le=MAX_LAT)
    facility_id: str | None = Field(default=None, max_length=64, description="the scene is this facility")
    origin_id: str | None = Field(default=None, max_length=64, description="the referrals come from here")
    occurred_at: AwareDatetime | None = None
    casualties: list[CasualtyIn] = Field(default_factory=list, max_length=500)


class CasualtiesIn(Strict):
    """More casualties for an incident."""

    casualties: list[CasualtyIn] = Field(min_length=1, max_length=500)


class AdjustIn(Strict):
    """Send one casualty to another hospital (or out of the plan: null)."""

    hospital_id: str | None = Field(max_length=64)


class IncidentBase(BaseModel):
    """What happened, where, when; the facility its referrals come from."""

    id: str
    name: str
    kind: str
    lon: float
    lat: float
    origin_id: str
    occurred_at: str
    declared_at: str
    closed_at: str | None
    counts: dict[str, int]


class IncidentOut(IncidentBase):
    """An incident and where every casualty is (dispatchers, planners)."""

    casualties: list[dict[str, Any]]
    share: list[dict[str, Any]]
    solver: dict[str, Any] | None = None


class IncidentSummaryOut(IncidentBase):
    """What a receiving hospital sees of an incident: how many, and its own share."""

    casualties: int
    here: int
    here_by_status: dict[str, int]
