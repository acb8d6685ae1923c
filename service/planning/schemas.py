"""Request and answer shapes of the planner's API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from service.schemas import Strict


class DemandIn(Strict):
    """Synthetic demand (documented rates) and how to play it."""

    referrals: int = Field(default=10_000, ge=1, le=200_000)
    seed: int = Field(default=1, ge=0, le=2**31)
    days: int = Field(default=365, ge=1, le=3660)
    occupancy: bool = False


class SimulateIn(DemandIn):
    """Optionally a scenario (the YAML file's shape, as JSON)."""

    scenario: dict[str, Any] | None = None


class CompareIn(DemandIn):
    """A scenario against the base on the same demand."""

    scenario: dict[str, Any]


class OptimiseIn(Strict):
    """Demand and capacities for the regionalisation optimiser."""

    referrals: int = Field(default=10_000, ge=1, le=200_000)
    seed: int = Field(default=1, ge=0, le=2**31)
    capacity_factor: float = Field(default=1.2, gt=0.1, le=100)
    time_limit_s: float = Field(default=10.0, gt=0, le=120)


class ScenarioTextIn(Strict):
    """A scenario file's text, as uploaded."""

    yaml: str = Field(min_length=1, max_length=200_000)


class MapIn(Strict):
    """Whose catchments: the base, or a scenario (the YAML file's shape, as JSON)."""

    referrals: int = Field(default=5_000, ge=1, le=100_000)
    seed: int = Field(default=1, ge=0, le=2**31)
    scenario: dict[str, Any] | None = None


class TablesOut(BaseModel):
    """Tables by name, each a list of rows (the CSV / XLSX tables of ``rujuk plan``)."""

    tables: dict[str, list[dict[str, Any]]]
    modelled_roads: bool | None = None
    #: the rule pack the planner worked with: the dataset's own regency's (id, version, regency)
    rule_pack: dict[str, str] | None = None


class FlowOut(BaseModel):
    """Referrals that went to one hospital today and go to another in the scenario (None: none)."""

    from_id: str | None
    from_name: str | None
    to_id: str | None
    to_name: str | None
    colour: str
    referrals: int


class OriginFlowOut(BaseModel):
    """A change of destination, for one Puskesmas."""

    origin_id: str
    origin_name: str | None
    from_id: str | None
    from_name: str | None
    to_id: str | None
    to_name: str | None
    referrals: int


class DesaChangeOut(BaseModel):
    """A desa whose referrals change destination: its largest change, for the map."""

    id: str
    name: str
    kecamatan: str
    lon: float
    lat: float
    from_id: str | None
    to_id: str | None
    colour: str
    referrals: int = Field(description="its referrals whose destination changes")
    of: int = Field(description="all its referrals in the demand")


class ChangesOut(BaseModel):
    """The referrals whose destination changes, and their travel time today and in the scenario
    (the overall figures barely move when few referrals change)."""  # noqa: D205, D209

    referrals: int
    emergencies: int
    timed: int = Field(description="changed referrals with a travel time on both sides")
    mean_min_base: float | None
    mean_min_scenario: float | None
    mean_min_diff: float | None
    flows: list[FlowOut]
    by_puskesmas: list[OriginFlowOut]
    desa: list[DesaChangeOut]


class CompareOut(TablesOut):
    """Base and scenario side by side; differences computed on the exact figures, then rounded
    (minutes to 0.01, shares to 0.0001)."""  # noqa: D205, D209

    changed_destinations: int
    changes: ChangesOut


class OptimiseOut(BaseModel):
    """The optimised regionalisation and how it compares with the regulation's."""

    status: str
    reason: str
    mean_min: float | None
    regulation_mean_min: float
    gap: float | None
    solve_s: float
    assignment: dict[str, str]
    load: dict[str, float]
    capacity: dict[str, float]
    scenario_yaml: str
    moves: int = Field(description="Puskesmas whose regional hospital changes")
    rule_pack: dict[str, str] | None = Field(
        default=None, description="the pack whose regionalisation is optimised (the dataset's own regency's)"
    )
    tables: dict[str, list[dict[str, Any]]] = Field(
        description="`assignment` (per Puskesmas: today and optimised, names next to ids) and `load` "
        "(per regional hospital: today, optimised, capacity)"
    )


class ExampleOut(BaseModel):
    """A bundled example scenario."""

    file: str
    name: str
    description: str
    yaml: str
    scenario: dict[str, Any]


class ScenarioOut(BaseModel):
    """A checked scenario, ready for simulate / compare / map."""

    name: str
    description: str
    changes: int
    scenario: dict[str, Any]


class MapOut(BaseModel):
    """Per desa: its referrals' main destination and the time to the nearest hospital."""

    modelled_roads: bool
    hospitals: list[dict[str, Any]]
    time_bands: list[dict[str, Any]]
    desa: list[dict[str, Any]]


Cell = str | int | float | bool | None
Rows = Annotated[list[dict[str, Cell]], Field(max_length=5000)]


class ExportIn(Strict):
    """Tables the page shows, as a file: XLSX (every table a sheet) or CSV (one table)."""

    tables: dict[str, Rows] = Field(
        min_length=1,
        max_length=8,
        description="by name (overall, by_puskesmas, ...): rows as the API gave them",
    )
    format: Literal["xlsx", "csv"] = "xlsx"
    lang: Literal["id", "en"] = Field(
        default="id", description="headers and yes/no; CSV: `;` and decimal comma in id"
    )
