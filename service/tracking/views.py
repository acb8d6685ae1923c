"""The public JSON forms of positions: a fix with its age and staleness."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from service.tracking.ambulances import AmbulanceStatus

if TYPE_CHECKING:
    from service.tracking.ambulances import AmbulanceInfo
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


#: the statuses in which an ambulance is on the road to somewhere, and to which leg
LEG_OF = {AmbulanceStatus.DISPATCHED.value: "pickup", AmbulanceStatus.TRANSPORTING.value: "destination"}


def eta_json(la: Latest | None, status: str, heading_to: str | None) -> dict[str, Any] | None:
    """An ambulance's time to where it is heading: the pickup when dispatched, the destination when
    transporting (None otherwise, or when the ETA held is for another place)."""  # noqa: D205, D209
    leg = LEG_OF.get(status)
    if la is None or la.eta_s is None or leg is None or la.destination_id != heading_to:
        return None
    at = dt.datetime.fromtimestamp(la.eta_at_ms / 1000, tz=dt.UTC).isoformat() if la.eta_at_ms else None
    return {"leg": leg, "destination_id": la.destination_id, "eta_s": la.eta_s, "eta_at": at}


def heading_to(status: str, origin_id: str | None, destination_id: str | None) -> str | None:
    """Where an ambulance in this status is driving: the pickup or the destination."""
    leg = LEG_OF.get(status)
    return origin_id if leg == "pickup" else destination_id if leg == "destination" else None


def ambulance_now(info: AmbulanceInfo, la: Latest | None, now: dt.datetime, stale_s: float) -> dict[str, Any]:
    """A referral's ambulance as those waiting for it see it: status, position, ETA to where it
    is heading (the pickup, then the destination)."""  # noqa: D205, D209
    return {
        "id": info.id,
        "kind": info.kind,
        "status": info.status,
        "position": position_json(la, now, stale_s),
        "eta": eta_json(la, info.status, heading_to(info.status, info.origin_id, info.destination_id)),
    }
