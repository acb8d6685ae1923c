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
    """A status a dispatcher sets by hand: available again, or out of service with a reason."""

    status: Literal["available", "out_of_service"]
    reason: str = Field(default="", max_length=300, description="why out of service (required then)")


class StepIn(Strict):
    """A step of the ambulance's trip, recorded by the dispatcher or the crew's device."""

    step: Literal["at_pickup", "transporting", "at_hospital", "handed_over"]


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
    status_reason: str | None = None
    referral_id: str | None = None
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
    leg: Literal["pickup", "destination"] | None = None
    inside_s: float | None = Field(default=None, description="seconds inside the geofence so far")
    step: str | None = Field(default=None, description="the trip step this fix completed")
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
    """Time to where the ambulance is heading: the pickup (dispatched) or the destination."""

    leg: Literal["pickup", "destination"]
    destination_id: str | None
    eta_s: float
    eta_at: str | None
    road_conditions: list[dict[str, Any]] = Field(
        default_factory=list,
        description="live road conditions that changed this time (id, kind, reason, text)",
    )


class TripOut(BaseModel):
    """One ambulance's trip for one referral: each step's time and who set it (``user:<id>``,
    ``device``, ``gps``)."""  # noqa: D205, D209

    id: int
    ambulance_id: str
    referral_id: str
    pickup_id: str
    destination_id: str
    dispatched_at: str
    dispatched_by: str
    at_pickup_at: str | None
    at_pickup_by: str | None
    transporting_at: str | None
    transporting_by: str | None
    at_hospital_at: str | None
    at_hospital_by: str | None
    ended_at: str | None
    ended_by: str | None
    outcome: str | None
    end_reason: str | None


class BoardRowOut(BaseModel):
    """An ambulance on the dispatcher's board."""

    id: str
    kind: str
    status: str
    home_facility_id: str
    referral_id: str | None
    destination_id: str | None
    origin_id: str | None
    status_reason: str | None
    trip: TripOut | None
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
    road_conditions: list[dict[str, Any]] = Field(
        default_factory=list,
        description="live road conditions that changed this time (id, kind, reason, text)",
    )


class LeftOutOut(BaseModel):
    """An available ambulance that could not be ranked by road, and why."""

    id: str
    kind: str
    reason: Literal["no_position", "stale", "off_road", "no_route"]
    detail: str


class NearestOut(BaseModel):
    """The nearest available ambulances by road."""

    pickup: PickupOut
    road_network_modelled: bool
    considered: int
    ambulances: list[NearestRowOut]
    left_out: list[LeftOutOut]


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


class TransportOut(BaseModel):
    """A referral's transport: its ambulance now (position, ETA) and its trips."""

    referral_id: str
    status: str
    positions_available: bool
    ambulance: IncomingAmbulanceOut | None
    trips: list[TripOut]
