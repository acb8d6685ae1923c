"""Request and answer shapes of live road conditions."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from service.schemas import Strict
from service.tracking.positions import MAX_LAT


class PointIn(Strict):
    """A point clicked on the map."""

    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-MAX_LAT, le=MAX_LAT)


class RoadConditionIn(Strict):
    """A road closed or slowed: the segment nearest ``at``, or every road touching ``polygon``."""

    kind: Literal["closed", "slow"]
    factor: float | None = Field(default=None, gt=1, le=20, description="travel time x this (slow only)")
    at: PointIn | None = Field(default=None, description="the road segment nearest this point, both ways")
    polygon: dict[str, Any] | None = Field(
        default=None, description="a GeoJSON Polygon: every road touching it"
    )
    reason: str = Field(min_length=3, max_length=300, description="what happened (bridge out, flood, works)")
    expires_at: AwareDatetime | None = Field(default=None, description="lifted by itself then (optional)")


class RoadConditionOut(BaseModel):
    """A road condition and where it is."""

    id: str
    kind: str
    factor: float | None
    geometry: dict[str, Any]
    segments: list[list[int]] | None
    reason: str
    created_by: int
    created_at: str
    expires_at: str | None
    lifted_at: str | None
    edges: int | None = None


class RoadConditionsOut(BaseModel):
    """The conditions in force, and the road graph version they make."""

    graph_version: str
    worker_pid: int
    conditions: list[RoadConditionOut]
