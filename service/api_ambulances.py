"""HTTP routes for the ambulance registry and its devices' tokens.

Admins register ambulances and issue, rotate or revoke device tokens; dispatchers see every
ambulance, facility staff their own facility's. A device proves itself with its own token
(``Authorization: Bearer rjk_amb_...``), which works on device routes only.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from sqlalchemy.orm import Session

from service import ambulances
from service.ambulances import AmbulanceKind, ambulance_json
from service.auth import Principal, Role
from service.runtime import Runtime, principal, require, runtime, session
from service.schemas import AmbulanceIn
from service.store import NotFoundError

router = APIRouter(prefix="/api", tags=["ambulances"])
Rt = Annotated[Runtime, Depends(runtime)]
Db = Annotated[Session, Depends(session)]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
AnyUser = Annotated[Principal, Depends(principal)]

#: seconds a verified device token is trusted without asking the database again (a revoked token
#: stops working on every worker within this time; at once on the worker that revoked it)
DEVICE_CACHE_S = 5.0


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        401, {"type": "unauthorized", "detail": detail}, headers={"WWW-Authenticate": "Bearer"}
    )


def device_ambulance_id(rt: Runtime, db: Session, authorization: str | None) -> str:
    """The ambulance whose device sent this ``Authorization: Bearer`` token (401 otherwise)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("a device token is needed (Authorization: Bearer rjk_amb_...)")
    now = time.monotonic()
    hit = rt.device_cache.get(token)
    if hit is not None and hit[1] > now:
        return hit[0]
    a = ambulances.by_token(db, token)
    if a is None:
        raise _unauthorized("unknown, rotated or revoked device token")
    if len(rt.device_cache) > 10_000:
        rt.device_cache.clear()
    rt.device_cache[token] = (a.id, now + DEVICE_CACHE_S)
    return a.id


def device(request: Request, db: Db) -> str:
    """Dependency: the id of the ambulance whose device is calling."""
    return device_ambulance_id(request.app.state.runtime, db, request.headers.get("authorization"))


Device = Annotated[str, Depends(device)]


def _may_see(p: Principal, home_facility_id: str) -> bool:
    return p.is_admin or p.has(Role.DISPATCHER) or p.facility_id == home_facility_id


@router.post("/ambulances", status_code=201)
def register(body: AmbulanceIn, rt: Rt, db: Db, p: Admin) -> dict[str, Any]:
    """Register an ambulance (admins). The answer holds its device token: shown this once only."""
    a, token = ambulances.register(
        db,
        ambulance_id=body.id,
        home_facility_id=body.home_facility_id,
        kind=AmbulanceKind(body.kind),
        plate=body.plate,
        crew=body.crew,
        known_facilities=rt.facility_ids,
        actor=p.user_id,
        now=rt.clock(),
    )
    db.commit()
    rt.ambulances_changed()
    return {**ambulance_json(a), "device_token": token}


@router.get("/ambulances")
def list_ambulances(db: Db, p: AnyUser) -> list[dict[str, Any]]:
    """Ambulances: all for dispatchers and admins, the own facility's for its staff."""
    scope = None if (p.is_admin or p.has(Role.DISPATCHER)) else (p.facility_id or "")
    return [ambulance_json(a) for a in ambulances.list_all(db, home_facility_id=scope)]


@router.get("/ambulances/{ambulance_id}")
def get_ambulance(ambulance_id: str, db: Db, p: AnyUser) -> dict[str, Any]:
    """One ambulance (404 when unknown or not yours to see)."""
    a = ambulances.get(db, ambulance_id)
    if not _may_see(p, a.home_facility_id):
        raise NotFoundError(f"no ambulance {ambulance_id!r}")
    return ambulance_json(a)


@router.post("/ambulances/{ambulance_id}/token")
def rotate_token(ambulance_id: str, rt: Rt, db: Db, p: Admin) -> dict[str, Any]:
    """Issue a new device token (admins); the old one stops working. Shown this once only."""
    a, token = ambulances.rotate_token(db, ambulance_id, actor=p.user_id, now=rt.clock())
    db.commit()
    rt.device_cache.clear()
    return {**ambulance_json(a), "device_token": token}


@router.delete("/ambulances/{ambulance_id}/token")
def revoke_token(ambulance_id: str, rt: Rt, db: Db, p: Admin) -> dict[str, Any]:
    """Revoke the device token (a lost phone): no token works until a new one is issued."""
    a = ambulances.revoke_token(db, ambulance_id, actor=p.user_id, now=rt.clock())
    db.commit()
    rt.device_cache.clear()
    return ambulance_json(a)


@router.get("/device/me")
def device_me(ambulance_id: Device, db: Db) -> dict[str, Any]:
    """For a device: which ambulance its token belongs to (a check after setting it up)."""
    return ambulance_json(ambulances.get(db, ambulance_id))
