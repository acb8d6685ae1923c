"""The FHIR operations on facilities: read one resource, search a type (a searchset Bundle).

Blocking (a signed-in caller's live statuses are read from the database): called from the
thread pool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fhir.resources.R4B.bundle import Bundle

from service.fhir import resources as res
from service.fhir.outcome import NotFoundError
from service.fhir.search import Query, candidates, parse

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fhir_core.fhirabstractmodel import FHIRAbstractModel

    from geodata.models import Facility, Service
    from service.runtime import Runtime

#: the resource types served, in the CapabilityStatement's order
TYPES = ("Organization", "Location", "HealthcareService")


class Builder:
    """Builds a type's resources for one request (with live status when the caller signed in)."""

    def __init__(self, rt: Runtime, *, live: bool) -> None:
        self.rt = rt
        self.statuses = rt.read(rt.statuses) if live else None
        self.now = rt.clock()

    def build(self, resource_type: str, candidate: Any) -> FHIRAbstractModel:  # noqa: ANN401  see search.candidates
        """The resource of one search candidate."""
        if resource_type == "Organization":
            return res.organization(candidate)
        if resource_type == "Location":
            live = None if self.statuses is None else (self.statuses.get(candidate.id), self.now)
            return res.location(candidate, live=live)
        facility, service = candidate
        return res.healthcare_service(facility, service)


def resource_id(candidate: Facility | tuple[Facility, Service]) -> str:
    """The id of a search candidate's resource."""
    return res.service_id(*candidate) if isinstance(candidate, tuple) else candidate.id


def _lookup(rt: Runtime, resource_type: str, resource_id: str) -> Facility | tuple[Facility, Service] | None:
    if resource_type != "HealthcareService":
        return rt.dataset.facility(resource_id) if resource_id in rt.facility_ids else None
    parsed = res.parse_service_id(resource_id)
    if parsed is None or parsed[0] not in rt.facility_ids:
        return None
    f = rt.dataset.facility(parsed[0])
    return (f, parsed[1]) if parsed[1] in f.services else None


def _candidate(rt: Runtime, resource_type: str, resource_id: str) -> Facility | tuple[Facility, Service]:
    """The facility (or facility and service) of an id; a string that is no FHIR id is none of ours."""
    found = _lookup(rt, resource_type, resource_id) if res.FHIR_ID.fullmatch(resource_id) else None
    if found is None:
        raise NotFoundError(resource_type, resource_id)
    return found


def read(rt: Runtime, resource_type: str, resource_id: str, *, live: bool) -> FHIRAbstractModel:
    """One resource by id (404 OperationOutcome when there is none)."""
    candidate = _candidate(rt, resource_type, resource_id)
    return Builder(rt, live=live).build(resource_type, candidate)


def _link(base: str, resource_type: str, given: Sequence[tuple[str, str]], *, count: int, offset: int) -> str:
    kept = [(k, v) for k, v in given if k not in {"_count", "_offset"}]
    return f"{base}/{resource_type}?{urlencode([*kept, ('_count', count), ('_offset', offset)])}"


def page_links(base: str, resource_type: str, q: Query, total: int) -> list[dict[str, str]]:
    """A searchset's links: this page, the next and the previous (when there are)."""
    links = [{"relation": "self", "url": _link(base, resource_type, q.given, count=q.count, offset=q.offset)}]
    if q.count and q.offset + q.count < total:
        nxt = _link(base, resource_type, q.given, count=q.count, offset=q.offset + q.count)
        links.append({"relation": "next", "url": nxt})
    if q.count and q.offset > 0:
        prev = _link(base, resource_type, q.given, count=q.count, offset=max(0, q.offset - q.count))
        links.append({"relation": "previous", "url": prev})
    return links


def search(
    rt: Runtime, resource_type: str, items: Sequence[tuple[str, str]], *, base: str, live: bool
) -> Bundle:
    """A searchset Bundle: the page asked for, the total, and links to this page, the next and previous."""
    q = parse(resource_type, items)
    matches = [c for c in candidates(resource_type, rt.dataset.facilities) if q.matches(c)]
    page = matches[q.offset : q.offset + q.count]
    builder = Builder(rt, live=live)
    entries = []
    for candidate in page:
        resource = builder.build(resource_type, candidate)
        entries.append(
            {
                "fullUrl": f"{base}/{resource_type}/{resource_id(candidate)}",
                "resource": resource,
                "search": {"mode": "match"},
            }
        )
    links = page_links(base, resource_type, q, len(matches))
    return Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "timestamp": builder.now.isoformat(),
            "total": len(matches),
            "link": links,
            "entry": entries or None,
        }
    )
