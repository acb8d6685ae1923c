"""The public JSON forms of facilities, the road network and live-status figures."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from geodata.models import SERVICE_LABELS
from service.database import aware
from service.errors import InputError
from service.facilities.status import status_figures

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.orm import Session

    from geodata.dataset import Dataset
    from geodata.models import Facility, FacilityKind, Phone, Service
    from rules.pack import RulePack

MODELLED_NOTE = (
    "Travel times come from a MODELLED road network (settlements, facilities and main corridors "
    "with detour factors), not from a surveyed road map; treat them as estimates."
)


def facility_json(f: Facility) -> dict[str, Any]:
    """The public JSON form of a facility."""
    return {
        "id": f.id,
        "name": f.name,
        "kind": f.kind.value,
        "level": f.level.value,
        "hospital_class": f.hospital_class.value if f.hospital_class else None,
        "competency": f.competency.value if f.competency else None,
        "kecamatan": f.kecamatan,
        "regency": f.regency,
        "location": {"lon": f.location.lon, "lat": f.location.lat},
        "coordinate_quality": f.coordinate_quality.value,
        "receiving": f.receiving,
        "services": sorted(s.value for s in f.services),
        "service_labels": sorted(SERVICE_LABELS[s] for s in f.services),
        "equipment": sorted(e.value for e in f.equipment),
        "beds": {b.value: n for b, n in sorted(f.beds.items())},
        "phone": phone_json(f.phone),
    }


def phone_json(p: Phone | None) -> dict[str, str] | None:
    """A facility's number for reading and for a ``tel:`` link; None when none is known."""
    if p is None:
        return None
    tel = f"tel:{p.dial}"
    return {"display": p.display, "dial": p.dial, "tel": tel, "kind": p.kind.value, "note": p.note}


def facility_feature(f: Facility) -> dict[str, Any]:
    """A facility as a GeoJSON Feature."""
    props = facility_json(f)
    loc = props.pop("location")
    return {
        "type": "Feature",
        "id": f.id,
        "properties": props,
        "geometry": {"type": "Point", "coordinates": [loc["lon"], loc["lat"]]},
    }


def network_json(ds: Dataset) -> dict[str, Any]:
    """What the road network is, and whether its travel times are modelled."""
    r = ds.roads
    out: dict[str, Any] = {
        "source": r.source,
        "modelled": r.modelled,
        "version": r.version,
        "nodes": r.n_nodes,
        "edges": r.n_edges,
    }
    if r.modelled:
        out["note"] = MODELLED_NOTE
    return out


def select_facilities(
    ds: Dataset,
    packs: Sequence[RulePack],
    *,
    kind: FacilityKind | None,
    service: Service | None,
    kecamatan: str | None,
    receiving: bool | None,
    region: str | None,
) -> list[Facility]:
    """Facilities by kind, service, kecamatan, receiving flag and referral region (all optional).

    ``region`` is a region of any of the deployment's ``packs`` (region ids are unique across them).
    """
    members: set[str] = set()
    if region is not None:
        regions = [r for pack in packs for r in pack.regions]
        reg = next((r for r in regions if r.id == region), None)
        if reg is None:
            known = ", ".join(r.id for r in regions)
            raise InputError("region", f"unknown region {region!r} (known: {known})")
        members = {*reg.origins, reg.hospital}
    return [
        f
        for f in ds.facilities
        if (kind is None or f.kind == kind)
        and (service is None or service in f.services)
        and (kecamatan is None or f.kecamatan.casefold() == kecamatan.casefold())
        and (receiving is None or f.receiving == receiving)
        and (region is None or f.id in members)
    ]


def status_json(db: Session, facility_id: str, now: dt.datetime) -> dict[str, Any]:
    """A facility's live figures, each with its time, author and age."""
    figures = []
    for f, author in status_figures(db, facility_id):
        at = aware(f.updated_at)
        assert at is not None
        item = {
            "key": f.key,
            "value": f.value.get("v"),
            "updated_at": at.isoformat(),
            "updated_by": author,
            "age_s": round((now - at).total_seconds()),
        }
        if f.key == "not_accepting_until":
            until = f.value.get("v")
            item["reason"] = f.value.get("reason", "")
            item["in_force"] = isinstance(until, str) and dt.datetime.fromisoformat(until) > now
        figures.append(item)
    return {"facility_id": facility_id, "figures": figures}
