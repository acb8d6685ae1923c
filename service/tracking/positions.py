"""GPS positions as devices send them: the JSON API, the OsmAnd protocol, Traccar Client's JSON.

Pure parsing and validation: every problem is a ``PositionError`` naming the field; nothing
here stores anything. A position is refused when its coordinates are out of range or not
finite, its time is in the future beyond a tolerance or older than the history kept, or its
speed, heading or accuracy is implausible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from service.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Mapping

#: Knots to metres per second (Traccar Client's query format reports knots).
KNOT_MS = 1852.0 / 3600.0
#: Epoch numbers above this are milliseconds (year 5138 in seconds).
MS_THRESHOLD = 1e11
#: The last millisecond of year 9999: later "times" are refused, not overflowed.
MAX_TS_MS = 253_402_300_799_999
#: Below this speed (m/s) a fix's heading says nothing of where the vehicle will drive: a parked
#: ambulance may leave either way (many GPS clients report heading 0 when standing still).
MIN_HEADING_SPEED_MS = 2.0
#: The latitudes Web Mercator (and so Redis GEO) can hold; the poles are no place for an ambulance.
MAX_LAT = 85.05112878


class PositionError(InputError):
    """A position that cannot be accepted; ``field`` names where (HTTP 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, f"{field}: {message}")


@dataclass(frozen=True, slots=True)
class Limits:
    """What a plausible position is."""

    future_tolerance_s: float = 60.0
    max_age_s: float = 24 * 3600.0
    max_speed_ms: float = 250 / 3.6
    max_accuracy_m: float = 100_000.0


@dataclass(frozen=True, slots=True)
class Position:
    """One GPS fix: where, when (UTC epoch milliseconds), and how it was moving."""

    lat: float
    lon: float
    ts_ms: int
    speed_ms: float | None = None
    heading: float | None = None
    accuracy_m: float | None = None

    @property
    def at(self) -> datetime:
        """The fix time."""
        return datetime.fromtimestamp(self.ts_ms / 1000, tz=UTC)

    @property
    def road_origin(self) -> tuple[float, float, float | None]:
        """``(lon, lat, heading)`` for the road engine: the heading only while the vehicle moves."""
        moving = self.speed_ms is not None and self.speed_ms >= MIN_HEADING_SPEED_MS
        return self.lon, self.lat, self.heading if moving else None


def _number(value: object, field: str) -> float:
    if isinstance(value, bool):
        raise PositionError(field, "must be a number")
    if isinstance(value, (int, float)):
        x = float(value)
    elif isinstance(value, str):
        try:
            x = float(value.strip())
        except ValueError:
            raise PositionError(field, f"{value[:40]!r} is not a number") from None
    else:
        raise PositionError(field, "must be a number")
    if not math.isfinite(x):
        raise PositionError(field, "must be a finite number")
    return x


def _optional(raw: Mapping[str, Any], key: str, field: str) -> float | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    return _number(value, field)


def parse_time(value: object, field: str) -> int:
    """Epoch seconds or milliseconds (number or digits), or an ISO 8601 time with a zone."""
    if isinstance(value, str) and not value.strip().lstrip("-").replace(".", "", 1).isdigit():
        try:
            t = datetime.fromisoformat(value.strip())
        except ValueError:
            raise PositionError(field, f"{value[:40]!r} is not a time (epoch seconds or ISO 8601)") from None
        if t.tzinfo is None:
            raise PositionError(field, "an ISO time needs a zone (e.g. Z or +07:00)")
        return round(t.timestamp() * 1000)
    x = _number(value, field)
    if x < 0:
        raise PositionError(field, "must not be before 1970")
    return round(x if x > MS_THRESHOLD else x * 1000)


def check(p: Position, *, now: datetime, limits: Limits, prefix: str = "") -> Position:
    """The position if plausible; PositionError naming the field otherwise."""
    if not -MAX_LAT <= p.lat <= MAX_LAT:
        raise PositionError(
            prefix + "lat", f"{p.lat!r} is outside [-{MAX_LAT}, {MAX_LAT}] (what maps can place)"
        )
    if not -180.0 <= p.lon <= 180.0:
        raise PositionError(prefix + "lon", f"{p.lon!r} is outside [-180, 180]")
    if not 0 <= p.ts_ms <= MAX_TS_MS:
        raise PositionError(prefix + "timestamp", f"{p.ts_ms!r} ms is not a time between 1970 and 9999")
    now_ms = now.timestamp() * 1000
    if p.ts_ms > now_ms + limits.future_tolerance_s * 1000:
        raise PositionError(
            prefix + "timestamp",
            f"{p.at.isoformat()} is in the future (the device clock is wrong by more than "
            f"{limits.future_tolerance_s:g} s)",
        )
    if p.ts_ms < now_ms - limits.max_age_s * 1000:
        raise PositionError(
            prefix + "timestamp", f"{p.at.isoformat()} is older than the {limits.max_age_s / 3600:g} h kept"
        )
    if p.speed_ms is not None and not 0.0 <= p.speed_ms <= limits.max_speed_ms:
        raise PositionError(
            prefix + "speed", f"{p.speed_ms:g} m/s is not a plausible speed (0-{limits.max_speed_ms:.0f} m/s)"
        )
    if p.heading is not None and not 0.0 <= p.heading <= 360.0:
        raise PositionError(prefix + "heading", f"{p.heading:g} is not a heading in degrees (0-360)")
    if p.accuracy_m is not None and not 0.0 <= p.accuracy_m <= limits.max_accuracy_m:
        raise PositionError(prefix + "accuracy", f"{p.accuracy_m:g} m is not a plausible accuracy")
    return p


_JSON_FIELDS = frozenset({"lat", "lon", "timestamp", "speed", "heading", "accuracy"})


def _plain_number(x: object) -> bool:
    # ints and floats as a JSON parser gives them (bool is an int, and is no number here)
    return (type(x) is float and math.isfinite(x)) or type(x) is int


def from_json(raw: object, *, now: datetime, limits: Limits, prefix: str = "") -> Position:
    """One position of the JSON API: ``{lat, lon, timestamp, speed (m/s), heading, accuracy}``."""
    if type(raw) is dict and raw.keys() <= _JSON_FIELDS:
        # the common case, numbers as numbers: no conversions, the same checks
        lat, lon, ts = raw.get("lat"), raw.get("lon"), raw.get("timestamp")
        speed, heading, acc = raw.get("speed"), raw.get("heading"), raw.get("accuracy")
        if (
            _plain_number(lat)
            and _plain_number(lon)
            and _plain_number(ts)
            and (speed is None or _plain_number(speed))
            and (heading is None or _plain_number(heading))
            and (acc is None or _plain_number(acc))
        ):
            t = float(ts)  # type: ignore[arg-type]  # a number: checked above
            if t >= 0:
                p = Position(
                    float(lat),  # type: ignore[arg-type]
                    float(lon),  # type: ignore[arg-type]
                    round(t if t > MS_THRESHOLD else t * 1000),
                    None if speed is None else float(speed),
                    None if heading is None else float(heading),
                    None if acc is None else float(acc),
                )
                return check(p, now=now, limits=limits, prefix=prefix)
    return _from_json_checked(raw, now=now, limits=limits, prefix=prefix)


def _from_json_checked(raw: object, *, now: datetime, limits: Limits, prefix: str) -> Position:
    """Every other shape: each field converted and checked, naming the first problem."""
    if not isinstance(raw, dict):
        raise PositionError(prefix.rstrip(".") or "body", "must be an object")
    unknown = sorted(set(raw) - _JSON_FIELDS)
    if unknown:
        raise PositionError(prefix + unknown[0], "is not a field of a position")
    for key in ("lat", "lon", "timestamp"):
        if raw.get(key) is None:
            raise PositionError(prefix + key, "is required")
    p = Position(
        lat=_number(raw["lat"], prefix + "lat"),
        lon=_number(raw["lon"], prefix + "lon"),
        ts_ms=parse_time(raw["timestamp"], prefix + "timestamp"),
        speed_ms=_optional(raw, "speed", prefix + "speed"),
        heading=_optional(raw, "heading", prefix + "heading"),
        accuracy_m=_optional(raw, "accuracy", prefix + "accuracy"),
    )
    return check(p, now=now, limits=limits, prefix=prefix)


def from_osmand(params: Mapping[str, str], *, now: datetime, limits: Limits) -> tuple[str, Position]:
    """``(device id, position)`` of an OsmAnd-protocol request (query string or form).

    Traccar Client sends ``id``, ``lat``, ``lon``, ``timestamp`` (epoch seconds), ``speed`` in
    knots, ``bearing``, ``accuracy`` (metres); ``deviceid``, ``heading`` and ``hdop`` are
    accepted too. A request without a time is taken as now.
    """
    device = params.get("id") or params.get("deviceid") or ""
    if not device:
        raise PositionError("id", "the device identifier is required")
    for key in ("lat", "lon"):
        if not params.get(key):
            raise PositionError(key, "is required")
    knots = _optional(params, "speed", "speed")
    heading = _optional(params, "bearing", "bearing")
    if heading is None:
        heading = _optional(params, "heading", "heading")
    accuracy = _optional(params, "accuracy", "accuracy")
    if accuracy is None:
        accuracy = _optional(params, "hdop", "hdop")
    ts = params.get("timestamp")
    p = Position(
        lat=_number(params["lat"], "lat"),
        lon=_number(params["lon"], "lon"),
        ts_ms=parse_time(ts, "timestamp") if ts else round(now.timestamp() * 1000),
        speed_ms=None if knots is None else knots * KNOT_MS,
        heading=heading,
        accuracy_m=accuracy,
    )
    return device, check(p, now=now, limits=limits)


def from_traccar_json(raw: object, *, now: datetime, limits: Limits) -> tuple[str, Position]:
    """``(device id, position)`` of Traccar Client 9's JSON.

    The shape: ``{device_id, location: {timestamp, coords: {latitude, longitude, speed (m/s),
    heading, accuracy}}}``.
    """
    if not isinstance(raw, dict):
        raise PositionError("body", "must be an object")
    device = raw.get("device_id")
    if not isinstance(device, str) or not device:
        raise PositionError("device_id", "the device identifier is required")
    loc = raw.get("location")
    if not isinstance(loc, dict):
        raise PositionError("location", "must be an object")
    coords = loc.get("coords")
    if not isinstance(coords, dict):
        raise PositionError("location.coords", "must be an object")
    for key in ("latitude", "longitude"):
        if coords.get(key) is None:
            raise PositionError(f"location.coords.{key}", "is required")
    if loc.get("timestamp") is None:
        raise PositionError("location.timestamp", "is required")
    speed = _optional(coords, "speed", "location.coords.speed")
    heading = _optional(coords, "heading", "location.coords.heading")
    p = Position(
        lat=_number(coords["latitude"], "location.coords.latitude"),
        lon=_number(coords["longitude"], "location.coords.longitude"),
        ts_ms=parse_time(loc["timestamp"], "location.timestamp"),
        # the SDK reports -1 for "unknown"
        speed_ms=None if speed is not None and speed < 0 else speed,
        heading=None if heading is not None and heading < 0 else heading,
        accuracy_m=_optional(coords, "accuracy", "location.coords.accuracy"),
    )
    return device, check(p, now=now, limits=limits, prefix="location.")
