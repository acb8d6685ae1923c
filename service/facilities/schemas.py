"""Request shapes of facilities: live status (as stored, and as updated by staff), monthly volumes."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from geodata.models import BedType, Equipment, Service
from rules.model import FacilityStatus
from service.facilities.status import BEDS_CEILING
from service.schemas import MONTH, Strict


class FacilityStatusIn(Strict):
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


class StatusUpdateIn(Strict):
    """A facility's staff update some of its live-status figures; what is absent is unchanged."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "beds_available": {"icu": 1, "maternity": 3},
                    "specialists_on_duty": ["obgyn", "anak"],
                    "specialists_on_call": {"bedah": 20},
                    "equipment_out_of_order": ["ct"],
                },
                {"not_accepting_until": "2026-11-22T06:00:00+07:00", "not_accepting_reason": "listrik padam"},
            ]
        },
    )

    beds_available: dict[BedType, Annotated[int, Field(ge=0, le=BEDS_CEILING)]] | None = Field(
        default=None,
        description="free beds by type; a figure above the facility's registered capacity (its `beds`) "
        "is refused (422 naming the field) unless `confirm_over_capacity` is true",
    )
    confirm_over_capacity: bool = Field(
        default=False,
        description="the staff checked that a figure above the registered capacity is right (recorded "
        "in the audit)",
    )
    specialists_on_duty: list[Service] | None = Field(default=None, max_length=40)
    specialists_on_call: dict[Service, Annotated[int, Field(ge=0, le=1440)]] | None = None
    equipment_out_of_order: list[Equipment] | None = Field(default=None, max_length=20)
    stockouts: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        default=None, max_length=100
    )
    not_accepting_until: AwareDatetime | None = None
    not_accepting_reason: str = Field(default="", max_length=500)
    accepting_again: bool = False
    occupancy: float | None = Field(default=None, ge=0, le=1)


class VolumeIn(Strict):
    """Patients served in a month (Pasal 23(2)a denominator)."""

    month: str = Field(pattern=MONTH, description="YYYY-MM")
    patients_served: int = Field(ge=0, le=10_000_000)


class LonLat(BaseModel):
    """A point, WGS 84."""

    lon: float
    lat: float


class PhoneOut(BaseModel):
    """A facility's telephone number (an Indonesian number, checked when the dataset is loaded)."""

    display: str = Field(description="for reading, national format: (0562) 391020")
    dial: str = Field(description="for dialling, E.164: +62562391020")
    tel: str = Field(description="the link: tel:+62562391020")
    kind: Literal["igd", "main"] = Field(
        description="igd: the emergency department's own line; main: the facility's main number, "
        "not verified as the IGD line"
    )
    note: str = Field(description="where the number comes from, in Bahasa Indonesia")


class FacilityOut(BaseModel):
    """A facility of the dataset."""

    id: str
    name: str
    kind: str
    level: str
    hospital_class: str | None
    competency: str | None
    kecamatan: str
    regency: str
    location: LonLat
    coordinate_quality: str
    receiving: bool
    services: list[str]
    service_labels: list[str]
    equipment: list[str]
    beds: dict[str, int]
    phone: PhoneOut | None = Field(
        description="null: no number is known (pages say 'nomor belum tercatat'); where each number "
        "comes from: the dataset's PROVENANCE.md"
    )


class FeatureCollectionOut(BaseModel):
    """A GeoJSON FeatureCollection (RFC 7946)."""

    type: str
    features: list[dict[str, Any]]
    name: str | None = None


class NetworkOut(BaseModel):
    """The road network, and whether its travel times are modelled."""

    source: str
    modelled: bool
    version: str
    nodes: int
    edges: int
    note: str | None = None


class HealthOut(BaseModel):
    """Liveness of one worker."""

    status: str
    dataset: str
    road_network: NetworkOut
    worker_pid: int


class PingOut(BaseModel):
    """A trivial answer."""

    ok: bool


class FigureOut(BaseModel):
    """One live-status figure, its time, author and age."""

    key: str
    value: Any = None
    updated_at: str
    updated_by: str
    age_s: int
    reason: str | None = None
    in_force: bool | None = None


class StatusOut(BaseModel):
    """A facility's live figures."""

    facility_id: str
    figures: list[FigureOut]


class VolumeOut(BaseModel):
    """Patients served in a month."""

    facility_id: str
    month: str
    patients_served: int
