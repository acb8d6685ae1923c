"""Request and answer shapes of the planner's API."""

from __future__ import annotations

from typing import Any

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


class CompareOut(TablesOut):
    """Base and scenario side by side."""

    changed_destinations: int


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
