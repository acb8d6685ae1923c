"""Errors of the routing engine. "No road route" is a result, not an error."""

from __future__ import annotations


class RoutingError(Exception):
    """Base class of every routing error."""


class InvalidCoordinateError(RoutingError, ValueError):
    """A coordinate is not a finite WGS84 lon/lat."""


class TooFarFromRoadError(RoutingError, ValueError):
    """A point lies farther from any road than the engine's snapping limit."""

    def __init__(self, lon: float, lat: float, distance_m: float, limit_m: float) -> None:
        self.distance_m = distance_m
        self.limit_m = limit_m
        super().__init__(
            f"({lon}, {lat}) is {distance_m:.0f} m from the nearest road (limit {limit_m:.0f} m): "
            "no travel time can be given from there"
        )


class UnknownFacilityError(RoutingError, KeyError):
    """A facility id the engine was not built with."""


class UnknownConditionError(RoutingError, KeyError):
    """A road-condition id that is not in force."""


class InvalidConditionError(RoutingError, ValueError):
    """A road condition that cannot be applied (no edge matched, bad factor, ...)."""


class InvalidProblemError(RoutingError, ValueError):
    """An optimisation problem with inconsistent or impossible input; names the field."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"field '{field}': {message}")
