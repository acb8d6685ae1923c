"""Request shapes of tracking and dispatch: ambulances, hand-set statuses, assignments, proposals."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.schemas import Strict


class AmbulanceIn(Strict):
    """A new ambulance and its tracking device."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "AMB-SAMBAS-1",
                    "home_facility_id": "6101022",
                    "kind": "emergency",
                    "plate": "KB 1234 SA",
                    "crew": ["perawat", "pengemudi"],
                }
            ]
        },
    )

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="the ambulance's own id")
    home_facility_id: str = Field(min_length=1, max_length=64)
    kind: Literal["emergency", "transport"]
    plate: str = Field(default="", max_length=20)
    crew: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=10
    )


class StatusIn(Strict):
    """A status a dispatcher sets by hand."""

    status: Literal["available", "out_of_service"]


class AssignIn(Strict):
    """Dispatch this ambulance for this referral."""

    referral_id: str = Field(min_length=1, max_length=36)
    ambulance_id: str = Field(min_length=1, max_length=64)


class ProposalIn(Strict):
    """Referrals waiting for transport (default: every accepted one without an ambulance)."""

    referral_ids: list[Annotated[str, Field(min_length=1, max_length=36)]] | None = Field(
        default=None, max_length=200
    )
    kind: Literal["emergency", "transport"] | None = None


# ------------------------------------------------------------------------------------- answers


class AmbulanceOut(BaseModel):
    """An ambulance (never its token or hash)."""

    id: str
    home_facility_id: str
    kind: str
    plate: str
    crew: list[str]
    status: str
    device_token_active: bool
    device_token_issued_at: str | None


class AmbulanceTokenOut(AmbulanceOut):
    """An ambulance and its new device token: shown this once only."""

    device_token: str


class StoredOut(BaseModel):
    """What became of the positions posted."""

    ambulance_id: str
    stored: int
    duplicates: int
    latest_moved: bool
    eta_s: float | None = None
    destination_id: str | None = None
    arrived: bool | None = None


class PositionOut(BaseModel):
    """A fix and how old it is."""

    lat: float
    lon: float
    at: str
    age_s: float
    stale: bool
    speed_ms: float | None
    heading: float | None
    accuracy_m: float | None


class EtaOut(BaseModel):
    """Time to the destination of a transporting ambulance."""

    destination_id: str | None
    eta_s: float
    eta_at: str | None


class BoardRowOut(BaseModel):
    """An ambulance on the dispatcher's board."""

    id: str
    kind: str
    status: str
    home_facility_id: str
    referral_id: str | None
    destination_id: str | None
    position: PositionOut | None
    eta: EtaOut | None


class BoardOut(BaseModel):
    """Every ambulance, and whether positions are available."""

    positions_available: bool
    note: str | None
    stale_after_s: float
    road_network_modelled: bool
    ambulances: list[BoardRowOut]


class PickupOut(BaseModel):
    """Where the patient is picked up."""

    lon: float
    lat: float
    facility_id: str | None


class NearestRowOut(BaseModel):
    """An available ambulance by road ETA to the pickup."""

    id: str
    kind: str
    eta_s: float
    distance_m: float | None
    position: PositionOut | None


class NearestOut(BaseModel):
    """The nearest available ambulances by road."""

    pickup: PickupOut
    road_network_modelled: bool
    considered: int
    ambulances: list[NearestRowOut]


class FixOut(BaseModel):
    """A fix of a track."""

    lat: float
    lon: float
    at: str
    speed_ms: float | None
    heading: float | None
    accuracy_m: float | None


class TrackOut(BaseModel):
    """An ambulance's track in a time window."""

    ambulance_id: str
    since: str
    until: str
    positions: list[FixOut]


class AssignOut(BaseModel):
    """An ambulance dispatched for a referral."""

    referral_id: str
    referral_status: str
    ambulance: AmbulanceOut


class ProposalOut(BaseModel):
    """Which available ambulance should pick up which patient."""

    solver: str
    solve_ms: float
    ambulances_considered: int
    assignments: list[dict[str, Any]]
    unassigned: list[dict[str, Any]]


class IncomingAmbulanceOut(BaseModel):
    """The ambulance of a referral on its way."""

    id: str
    kind: str
    status: str
    position: PositionOut | None
    eta: EtaOut | None


class IncomingPatientOut(BaseModel):
    """A referral accepted and not arrived: the letter, the road time from its origin, its ambulance."""

    referral: dict[str, Any]
    road_time_s: float | None
    ambulance: IncomingAmbulanceOut | None


class IncomingOut(BaseModel):
    """Patients on their way to the caller's facility."""

    facility_id: str
    positions_available: bool
    at: str
    patients: list[IncomingPatientOut]
