"""The public JSON forms of positions: a fix with its age and staleness."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from service.tracking.ambulances import AmbulanceStatus

if TYPE_CHECKING:
    from service.tracking.tracker import Latest


def age_s(now: dt.datetime, latest: Latest) -> float:
    """Seconds since the fix was taken."""
    return max(0.0, now.timestamp() - latest.position.ts_ms / 1000)


def position_json(latest: Latest | None, now: dt.datetime, stale_s: float) -> dict[str, Any] | None:
    """A fix, its age, and whether it is stale."""
    if latest is None:
        return None
    p = latest.position
    age = age_s(now, latest)
    return {
        "lat": p.lat, "lon": p.lon, "at": p.at.isoformat(), "age_s": round(age, 1), "stale": age > stale_s,
        "speed_ms": p.speed_ms, "heading": p.heading, "accuracy_m": p.accuracy_m,
    }  # fmt: skip


def eta_json(la: Latest | None, status: str) -> dict[str, Any] | None:
    """A transporting ambulance's time to its destination (None otherwise)."""
    if la is None or la.eta_s is None or status != AmbulanceStatus.TRANSPORTING.value:
        return None
    at = dt.datetime.fromtimestamp(la.eta_at_ms / 1000, tz=dt.UTC).isoformat() if la.eta_at_ms else None
    return {"destination_id": la.destination_id, "eta_s": la.eta_s, "eta_at": at}
