"""HTTP routes of facilities: the dataset's facilities and road network, live status, volumes.

Facilities and the network are public (no sign-in); live status is read by any signed-in user
and written by the facility's own staff; monthly volumes (Pasal 23(2)a) likewise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from geodata.models import FacilityKind, Service
from service.deps import AnyUser, Db, Rt, Staff, own_facility
from service.errors import NotFoundError
from service.facilities import status, volumes
from service.facilities.schemas import (
    FacilityOut,
    FeatureCollectionOut,
    HealthOut,
    NetworkOut,
    PingOut,
    StatusOut,
    StatusUpdateIn,
    VolumeIn,
    VolumeOut,
)
from service.facilities.views import (
    facility_feature,
    facility_json,
    network_json,
    select_facilities,
    status_json,
)
from service.http import doc
from service.runtime import Runtime

router = APIRouter()


@dataclass(frozen=True, slots=True)
class FacilityFilter:
    """The query of the facility lists (declared once for the JSON and the GeoJSON list)."""

    kind: Annotated[FacilityKind | None, Query()] = None
    service: Annotated[Service | None, Query()] = None
    kecamatan: Annotated[str | None, Query(max_length=100)] = None
    receiving: Annotated[bool | None, Query()] = None
    region: Annotated[str | None, Query(max_length=40, description="e.g. regional-3")] = None

    def select(self, rt: Runtime) -> list[Any]:
        """The facilities of the dataset that pass."""
        return select_facilities(
            rt.dataset,
            rt.matcher.jurisdictions.packs,
            kind=self.kind,
            service=self.service,
            kecamatan=self.kecamatan,
            receiving=self.receiving,
            region=self.region,
        )


Filter = Annotated[FacilityFilter, Depends()]


def _known(rt: Runtime, facility_id: str) -> None:
    if facility_id not in rt.facility_ids:
        raise NotFoundError(f"no facility {facility_id!r}")


@router.get("/health", **doc(HealthOut))
def health(rt: Rt) -> dict[str, Any]:
    """Liveness, the dataset, whether its road network is modelled, and this worker's pid."""
    d = rt.dataset
    return {"status": "ok", "dataset": d.name, "road_network": network_json(d), "worker_pid": os.getpid()}


@router.get("/api/ping", **doc(PingOut))
async def ping() -> dict[str, bool]:
    """A trivial endpoint (load-test baseline)."""
    return {"ok": True}


@router.get("/api/ping-sync", **doc(PingOut))
def ping_sync() -> dict[str, bool]:
    """The same in a worker thread, like every endpoint that touches the database."""
    return {"ok": True}


@router.get("/api/network", **doc(NetworkOut))
def network(rt: Rt) -> dict[str, Any]:
    """The road network: source, version, size, and whether travel times are modelled."""
    return network_json(rt.dataset)


@router.get("/api/facilities", **doc(list[FacilityOut]))
def facilities(rt: Rt, q: Filter) -> list[dict[str, Any]]:
    """Facilities, filtered by kind, service, kecamatan, receiving flag or referral region."""
    return [facility_json(f) for f in q.select(rt)]


@router.get("/api/facilities.geojson", **doc(FeatureCollectionOut))
def facilities_geojson(rt: Rt, q: Filter) -> dict[str, Any]:
    """The same, as a GeoJSON FeatureCollection."""
    return {"type": "FeatureCollection", "features": [facility_feature(f) for f in q.select(rt)]}


@router.get("/api/facilities/{facility_id}", **doc(FacilityOut, 404))
def facility(rt: Rt, facility_id: str) -> dict[str, Any]:
    """One facility."""
    if facility_id not in rt.facility_ids:
        raise NotFoundError(f"no facility with id {facility_id!r}")
    return facility_json(rt.dataset.facility(facility_id))


@router.get("/api/facilities/{facility_id}/status", tags=["status"], **doc(StatusOut, 401, 404))
def get_status(facility_id: str, rt: Rt, db: Db, _: AnyUser) -> dict[str, Any]:
    """A facility's live figures, each with its time, author and age."""
    _known(rt, facility_id)
    return status_json(db, facility_id, rt.clock())


@router.patch("/api/facilities/{facility_id}/status", tags=["status"], **doc(StatusOut, 401, 403, 404))
def patch_status(facility_id: str, body: StatusUpdateIn, rt: Rt, db: Db, p: Staff) -> dict[str, Any]:
    """Update some live figures (the facility's own staff). "Not accepting" reverts by itself.

    Free beds above the registered capacity need `confirm_over_capacity: true` (else 422 naming
    the figure); negative figures or above 1,000 are refused outright.
    """
    _known(rt, facility_id)
    own_facility(p, facility_id)
    now = rt.clock()
    capacity = rt.dataset.facility(facility_id).beds
    status.update_status(db, facility_id, body, capacity=capacity, actor=p.user_id, now=now)
    db.commit()
    rt.statuses.forget()
    return status_json(db, facility_id, now)


@router.put("/api/facilities/{facility_id}/volumes", tags=["reports"], **doc(VolumeOut, 401, 403, 404))
def put_volume(facility_id: str, body: VolumeIn, rt: Rt, db: Db, p: Staff) -> dict[str, Any]:
    """Patients served in a month: the denominator of Pasal 23(2)a."""
    _known(rt, facility_id)
    own_facility(p, facility_id)
    volumes.set_volume(
        db, facility_id, month=body.month, served=body.patients_served, actor=p.user_id, now=rt.clock()
    )
    db.commit()
    return {"facility_id": facility_id, "month": body.month, "patients_served": body.patients_served}
