"""Results of routing queries. Unreachable is a result with a reason, never an exception."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

    import numpy as np
    import numpy.typing as npt

    from routing.snapping import Snap

NO_ROAD_ROUTE = "no road route"


@dataclass(frozen=True, slots=True)
class FacilityTime:
    """Travel time and distance (off-road legs included) from an origin to one facility."""

    facility_id: str
    time_s: float | None
    distance_m: float | None

    @property
    def reachable(self) -> bool:
        """False when no road route exists (e.g. a closure cut the only road)."""
        return self.time_s is not None

    @property
    def reason(self) -> str | None:
        """Why there is no time, if there is none."""
        return None if self.reachable else NO_ROAD_ROUTE


@dataclass(frozen=True, slots=True)
class TravelTimes:
    """Origin -> every requested facility."""

    origin: Snap
    times: tuple[FacilityTime, ...]
    graph_version: str
    modelled: bool

    def get(self, facility_id: str) -> FacilityTime:
        """The entry of one facility (KeyError if it was not requested)."""
        for t in self.times:
            if t.facility_id == facility_id:
                return t
        raise KeyError(facility_id)


@dataclass(frozen=True, slots=True)
class Route:
    """The fastest route to a facility, with its geometry (lon/lat pairs) for display."""

    facility_id: str
    time_s: float | None
    distance_m: float | None
    coordinates: tuple[tuple[float, float], ...]
    graph_version: str
    modelled: bool

    @property
    def reachable(self) -> bool:
        """False when no road route exists."""
        return self.time_s is not None


@dataclass(frozen=True, slots=True)
class Eta:
    """When a vehicle at a GPS position reaches a facility."""

    facility_id: str
    time_s: float | None
    distance_m: float | None
    arrival: datetime | None
    snap: Snap
    heading_used: bool
    graph_version: str
    modelled: bool

    @property
    def reachable(self) -> bool:
        """False when no road route exists."""
        return self.time_s is not None


@dataclass(frozen=True)
class Matrix:
    """Many-to-many times (s) and distances (m); ``inf`` where there is no road route."""

    origin_ids: tuple[str, ...]
    destination_ids: tuple[str, ...]
    time_s: npt.NDArray[np.float64]
    distance_m: npt.NDArray[np.float64]
    graph_version: str
    modelled: bool
