"""A facility of the dataset as FHIR R4 resources: Organization, Location, HealthcareService.

Every resource is built with fhir.resources' models (validated as it is built); the mapping is
docs/fhir.md's. Live status is added to a Location only for a signed-in caller, as the JSON API
gives it only to one (``GET /api/facilities/{id}/status``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from geodata.models import (
    BED_NAMES,
    SERVICE_LABELS,
    SERVICE_LABELS_EN,
    BedType,
    CoordinateQuality,
    FacilityKind,
    Service,
)
from service.fhir import systems as sid

if TYPE_CHECKING:
    import datetime as dt

    from fhir.resources.R4B.healthcareservice import HealthcareService
    from fhir.resources.R4B.location import Location
    from fhir.resources.R4B.organization import Organization

    from geodata.models import Facility
    from rules.model import FacilityStatus

#: a Kemenkes hospital code: the dataset's hospitals are keyed by it (geodata PROVENANCE.md)
_KODE_RS = re.compile(r"\d{7}")
#: what FHIR R4 allows as a resource id (datatypes.html#id)
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")

KIND_LABELS: dict[FacilityKind, tuple[str, str]] = {
    FacilityKind.PUSKESMAS: ("Puskesmas", "Community health centre"),
    FacilityKind.KLINIK: ("Klinik", "Clinic"),
    FacilityKind.RUMAH_SAKIT_UMUM: ("Rumah Sakit Umum", "General hospital"),
    FacilityKind.RUMAH_SAKIT_KHUSUS: ("Rumah Sakit Khusus", "Specialty hospital"),
}
#: the HL7 v3 service delivery location type of each kind
_V3_LOCATION: dict[FacilityKind, tuple[str, str]] = {
    FacilityKind.PUSKESMAS: ("PC", "primary care clinic"),
    FacilityKind.KLINIK: ("OF", "Outpatient facility"),
    FacilityKind.RUMAH_SAKIT_UMUM: ("HOSP", "Hospital"),
    FacilityKind.RUMAH_SAKIT_KHUSUS: ("HOSP", "Hospital"),
}


def kode_rs(f: Facility) -> str | None:
    """The facility's Kemenkes hospital code, when the dataset keys it by one (hospitals only)."""
    return f.id if f.is_hospital and _KODE_RS.fullmatch(f.id) else None


def coding(system: str, code: str, display: str, english: str | None = None) -> dict[str, Any]:
    """A Coding, its display in Bahasa with the English as HL7's translation extension."""
    out: dict[str, Any] = {"system": system, "code": code, "display": display}
    if english is not None and english != display:
        translation = {
            "url": sid.EXT_TRANSLATION,
            "extension": [{"url": "lang", "valueCode": "en"}, {"url": "content", "valueString": english}],
        }
        out["_display"] = {"extension": [translation]}
    return out


def service_coding(s: Service) -> dict[str, Any]:
    """A service of the dataset as a Coding of rujuk's service code system."""
    return coding(sid.CS_SERVICE, s.value, SERVICE_LABELS[s], SERVICE_LABELS_EN[s])


def bed_coding(b: BedType) -> dict[str, Any]:
    """A bed type as a Coding of rujuk's bed-type code system."""
    return coding(sid.CS_BED_TYPE, b.value, BED_NAMES["id"][b], BED_NAMES["en"][b])


def kind_coding(f: Facility) -> dict[str, Any]:
    """The facility's kind as a Coding of rujuk's facility-kind code system."""
    label, english = KIND_LABELS[f.kind]
    return coding(sid.CS_FACILITY_KIND, f.kind.value, label, english)


def identifiers(f: Facility) -> list[dict[str, Any]]:
    """The dataset id, and the Kemenkes hospital code when there is one."""
    out: list[dict[str, Any]] = [{"use": "usual", "system": sid.SYSTEM_FACILITY_ID, "value": f.id}]
    code = kode_rs(f)
    if code is not None:
        out.append({"use": "official", "system": sid.SYSTEM_KODE_RS, "value": code})
    return out


def _telecom(f: Facility) -> list[dict[str, Any]] | None:
    if f.phone is None:
        return None
    return [{"system": "phone", "value": f.phone.dial, "use": "work"}]


def _address(f: Facility) -> dict[str, Any]:
    return {"use": "work", "type": "physical", "district": f.kecamatan, "city": f.regency, "country": "ID"}


def organization_type(f: Facility) -> list[dict[str, Any]]:
    """HL7's ``prov``, rujuk's facility kind and, for hospitals, the Kemenkes class."""
    types: list[dict[str, Any]] = [
        {"coding": [coding(sid.ORGANIZATION_TYPE, "prov", "Healthcare Provider")]},
        {"coding": [kind_coding(f)], "text": KIND_LABELS[f.kind][0]},
    ]
    if f.hospital_class is not None:
        label = f"Kelas {f.hospital_class.value}"
        cls = coding(sid.CS_HOSPITAL_CLASS, f.hospital_class.value, label, f"Class {f.hospital_class.value}")
        types.append({"coding": [cls], "text": label})
    return types


def organization(f: Facility) -> Organization:
    """The facility as the organisation that provides care."""
    from fhir.resources.R4B.organization import Organization  # noqa: PLC0415  the models load at first use

    return Organization.model_validate(
        {
            "resourceType": "Organization",
            "id": f.id,
            "identifier": identifiers(f),
            "active": True,
            "type": organization_type(f),
            "name": f.name,
            "telecom": _telecom(f),
            "address": [_address(f)],
        }
    )


def location_type(f: Facility) -> list[dict[str, Any]]:
    """HL7 v3's service delivery location type and rujuk's facility kind."""
    code, display = _V3_LOCATION[f.kind]
    return [{"coding": [coding(sid.V3_ROLE_CODE, code, display)]}, {"coding": [kind_coding(f)]}]


def _registered_beds(f: Facility) -> list[dict[str, Any]]:
    return [
        {
            "url": sid.EXT_REGISTERED_BEDS,
            "extension": [
                {"url": "type", "valueCoding": bed_coding(b)},
                {"url": "count", "valueUnsignedInt": n},
            ],
        }
        for b, n in sorted(f.beds.items(), key=lambda kv: list(BedType).index(kv[0]))
    ]


def live_status(status: FacilityStatus | None, now: dt.datetime) -> dict[str, Any]:
    """The live-status extension: accepting or not (until when), free beds as reported, and when.

    A bed type absent from ``bedsAvailable`` was not reported (unknown, not zero).
    """
    until = status.not_accepting_until if status is not None else None
    in_force = until is not None and until > now
    parts: list[dict[str, Any]] = [{"url": "accepting", "valueBoolean": not in_force}]
    if in_force and until is not None:
        parts.append({"url": "notAcceptingUntil", "valueDateTime": until.isoformat()})
    if status is not None:
        for b, n in sorted(status.beds_available.items(), key=lambda kv: list(BedType).index(kv[0])):
            at = status.figure_times.get(f"beds_available.{b.value}", status.updated_at)
            bed = [
                {"url": "type", "valueCoding": bed_coding(b)},
                {"url": "count", "valueUnsignedInt": max(n, 0)},
                {"url": "reportedAt", "valueDateTime": at.isoformat()},
            ]
            parts.append({"url": "bedsAvailable", "extension": bed})
        parts.append({"url": "updatedAt", "valueDateTime": status.updated_at.isoformat()})
    return {"url": sid.EXT_LIVE_STATUS, "extension": parts}


def location(f: Facility, *, live: tuple[FacilityStatus | None, dt.datetime] | None = None) -> Location:
    """The facility as a place: position, address, registered beds; live status when ``live`` is given.

    ``live`` is the facility's status (None: nothing reported) and the time to judge it at.
    """
    extension = _registered_beds(f)
    if live is not None:
        extension.append(live_status(*live))
    approximate = f.coordinate_quality is CoordinateQuality.APPROXIMATE
    from fhir.resources.R4B.location import Location  # noqa: PLC0415  the models load at first use

    return Location.model_validate(
        {
            "resourceType": "Location",
            "id": f.id,
            "extension": extension or None,
            "identifier": identifiers(f),
            "status": "active",
            "name": f.name,
            "description": "Koordinat perkiraan (titik pusat desa atau kota), bukan titik terukur"
            if approximate
            else None,
            "mode": "instance",
            "type": location_type(f),
            "telecom": _telecom(f),
            "address": _address(f),
            "physicalType": {"coding": [coding(sid.LOCATION_PHYSICAL_TYPE, "bu", "Building")]},
            "position": {"longitude": f.location.lon, "latitude": f.location.lat},
            "managingOrganization": {"reference": f"Organization/{f.id}", "display": f.name},
        }
    )


def service_id(f: Facility, s: Service) -> str:
    """A HealthcareService's id: the facility's and the service's (FHIR ids allow no ``_``)."""
    return f"{f.id}.{s.value.replace('_', '-')}"


def parse_service_id(resource_id: str) -> tuple[str, Service] | None:
    """The facility id and service of a HealthcareService id (None: not one of ours)."""
    facility_id, dot, code = resource_id.rpartition(".")
    if not dot:
        return None
    try:
        return facility_id, Service(code.replace("-", "_"))
    except ValueError:
        return None


def healthcare_service(f: Facility, s: Service) -> HealthcareService:
    """One service the facility provides."""
    from fhir.resources.R4B.healthcareservice import HealthcareService  # noqa: PLC0415  the models load at first use

    return HealthcareService.model_validate(
        {
            "resourceType": "HealthcareService",
            "id": service_id(f, s),
            "active": True,
            "providedBy": {"reference": f"Organization/{f.id}", "display": f.name},
            "type": [{"coding": [service_coding(s)], "text": SERVICE_LABELS[s]}],
            "location": [{"reference": f"Location/{f.id}", "display": f.name}],
            "name": f"{SERVICE_LABELS[s]} - {f.name}",
        }
    )


def services_of(f: Facility) -> list[Service]:
    """The facility's services in a stable order (the enum's)."""
    return [s for s in Service if s in f.services]
