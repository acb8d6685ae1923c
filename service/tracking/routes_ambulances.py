"""HTTP routes of the ambulance registry and its devices' tokens.

Admins register ambulances and issue, rotate or revoke device tokens; dispatchers see every
ambulance, facility staff their own facility's. A device proves itself with its own token
(``service.tracking.devices``), which works on device routes only.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from service.auth import Principal, Role
from service.deps import Admin, AnyUser, Db, Rt
from service.errors import NotFoundError
from service.http import doc
from service.tracking import ambulances
from service.tracking.ambulances import ambulance_json
from service.tracking.devices import Device
from service.tracking.schemas import AmbulanceIn, AmbulanceOut, AmbulanceTokenOut

router = APIRouter(prefix="/api", tags=["ambulances"])


def _may_see(p: Principal, home_facility_id: str) -> bool:
    return p.is_admin or p.has(Role.DISPATCHER) or p.facility_id == home_facility_id


@router.post("/ambulances", **doc(AmbulanceTokenOut, 401, 403, 409, status=201))
def register(body: AmbulanceIn, rt: Rt, db: Db, p: Admin) -> dict[str, Any]:
    """Register an ambulance (admins). The answer holds its device token: shown this once only."""
    a, token = ambulances.register(
        db, body, known_facilities=rt.facility_ids, actor=p.user_id, now=rt.clock()
    )
    db.commit()
    rt.registry.forget()
    return {**ambulance_json(a), "device_token": token}


@router.get("/ambulances", **doc(list[AmbulanceOut], 401))
def list_ambulances(db: Db, p: AnyUser) -> list[dict[str, Any]]:
    """Ambulances: all for dispatchers and admins, the own facility's for its staff."""
    scope = None if (p.is_admin or p.has(Role.DISPATCHER)) else (p.facility_id or "")
    return [ambulance_json(a) for a in ambulances.list_all(db, home_facility_id=scope)]


@router.get("/ambulances/{ambulance_id}", **doc(AmbulanceOut, 401, 404))
def get_ambulance(ambulance_id: str, db: Db, p: AnyUser) -> dict[str, Any]:
    """One ambulance (404 when unknown or not yours to see)."""
    a = ambulances.get(db, ambulance_id)
    if not _may_see(p, a.home_facility_id):
        raise NotFoundError(f"no ambulance {ambulance_id!r}")
    return ambulance_json(a)


@router.post("/ambulances/{ambulance_id}/token", **doc(AmbulanceTokenOut, 401, 403, 404))
def rotate_token(ambulance_id: str, rt: Rt, db: Db, p: Admin) -> dict[str, Any]:
    """Issue a new device token (admins); the old one stops working. Shown this once only."""
    a, token = ambulances.rotate_token(db, ambulance_id, actor=p.user_id, now=rt.clock())
    db.commit()
    rt.device_cache.clear()
    return {**ambulance_json(a), "device_token": token}


@router.delete("/ambulances/{ambulance_id}/token", **doc(AmbulanceOut, 401, 403, 404))
def revoke_token(ambulance_id: str, rt: Rt, db: Db, p: Admin) -> dict[str, Any]:
    """Revoke the device token (a lost phone): no token works until a new one is issued."""
    a = ambulances.revoke_token(db, ambulance_id, actor=p.user_id, now=rt.clock())
    db.commit()
    rt.device_cache.clear()
    return ambulance_json(a)


@router.get("/device/me", **doc(AmbulanceOut, 401))
def device_me(ambulance_id: Device, db: Db) -> dict[str, Any]:
    """For a device: which ambulance its token belongs to (a check after setting it up)."""
    return ambulance_json(ambulances.get(db, ambulance_id))
