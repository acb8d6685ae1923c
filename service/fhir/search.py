"""FHIR search over the dataset's facilities: the parameters each type supports, read strictly.

A parameter the server does not support is refused (400 OperationOutcome naming it), never
silently ignored: a client filtering by it would otherwise act on every facility. Repeating a
parameter ANDs its occurrences; a comma inside one ORs its values (FHIR R4 search, 3.1.1.4).
An empty value is ignored, as the specification says.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from service.fhir import resources as res
from service.fhir.outcome import BadParameterError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from geodata.models import Facility, Service

#: entries per page unless ``_count`` says otherwise, and the most one page holds
DEFAULT_COUNT = 20
MAX_COUNT = 100
#: the furthest ``_offset`` (the whole dataset of a province is a few thousand entries)
MAX_OFFSET = 100_000
#: ``near`` without a distance: kilometres around the point
DEFAULT_NEAR_KM = 50.0
_EARTH_KM = 6371.0088
#: result parameters that change nothing in a JSON answer (``_format=json``)
_FORMATS = {"json", "application/json", "application/fhir+json"}
#: ``_total``: the total is always counted exactly, whichever is asked
_TOTALS = {"none", "estimate", "accurate"}

#: a search parameter's test on one candidate, given one of the values it ORs
Test = Callable[[Any, str], bool]


@dataclass(frozen=True, slots=True)
class Param:
    """A search parameter: its FHIR type, its test, and the modifiers it takes."""

    type: str
    test: Test
    doc: str
    modifiers: dict[str, Test] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed search: the tests every match passes, the page, and the parameters as given."""

    tests: list[tuple[Test, list[str]]]
    count: int
    offset: int
    given: list[tuple[str, str]]

    def matches(self, candidate: Any) -> bool:  # noqa: ANN401  a facility, or a (facility, service) pair
        """True when the candidate passes every parameter (each with any of its values)."""
        return all(any(test(candidate, v) for v in values) for test, values in self.tests)


def fold(text: str) -> str:
    """Case- and accent-insensitive form of a string (FHIR string search)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _string(get: Callable[[Any], str]) -> Param:
    return Param(
        "string",
        lambda c, v: fold(get(c)).startswith(fold(v)),
        "starts with the value, ignoring case and accents (`:contains`, `:exact` also)",
        {
            "contains": lambda c, v: fold(v) in fold(get(c)),
            "exact": lambda c, v: get(c) == v,
        },
    )


def token_matches(codings: Iterable[dict[str, Any]], value: str, *, key: str = "code") -> bool:
    """A token (``code``, ``system|code``, ``system|`` or ``|code``) against codings or identifiers."""
    if "|" in value:
        system, _, code = value.partition("|")
        return any((c.get("system") or "") == system and (not code or c.get(key) == code) for c in codings)
    return any(c.get(key) == value for c in codings)


def _concepts(get: Callable[[Any], list[dict[str, Any]]]) -> Test:
    return lambda c, v: token_matches((cd for concept in get(c) for cd in concept["coding"]), v)


def _identifier(get: Callable[[Any], Facility]) -> Test:
    return lambda c, v: token_matches(res.identifiers(get(c)), v, key="value")


def reference_id(value: str, resource_type: str) -> str:
    """The id a reference parameter names: ``id``, ``Type/id`` or an absolute URL ending so."""
    head, _, last = value.rstrip("/").rpartition("/")
    if not head:
        return value
    return last if head.rsplit("/", 1)[-1] == resource_type else "\0"  # another type: matches nothing


def _reference(resource_type: str, get: Callable[[Any], Facility]) -> Test:
    return lambda c, v: get(c).id == reference_id(v, resource_type)


def _ids(get: Callable[[Any], str]) -> Test:
    return lambda c, v: get(c) == v


def parse_near(value: str) -> tuple[float, float, float]:
    """``lat|lon|distance|units`` (units ``km`` or ``m``; distance 50 km unless given)."""
    parts = value.split("|")
    if not 2 <= len(parts) <= 4:
        raise BadParameterError("near", "write latitude|longitude|distance|units, e.g. 1.36|109.30|20|km")
    try:
        lat, lon = float(parts[0]), float(parts[1])
        distance = float(parts[2]) if len(parts) > 2 and parts[2] else DEFAULT_NEAR_KM
    except ValueError:
        raise BadParameterError("near", "latitude, longitude and distance must be numbers") from None
    units = parts[3] if len(parts) > 3 and parts[3] else "km"
    if units not in {"km", "m"}:
        raise BadParameterError("near", f"units {units!r}: use km or m")
    if not (math.isfinite(lat) and -90 <= lat <= 90 and math.isfinite(lon) and -180 <= lon <= 180):
        raise BadParameterError("near", "latitude must be in [-90, 90] and longitude in [-180, 180]")
    km = distance / 1000 if units == "m" else distance
    if not (math.isfinite(km) and 0 <= km <= 20_000):
        raise BadParameterError("near", "distance must be between 0 and 20,000 km")
    return lat, lon, km


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance on a spherical Earth."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * _EARTH_KM * math.asin(min(1.0, math.sqrt(a)))


def _near(f: Facility, value: str) -> bool:
    lat, lon, km = parse_near(value)
    return great_circle_km(lat, lon, f.location.lat, f.location.lon) <= km


def _self(c: Facility) -> Facility:
    return c


def _facility(c: tuple[Facility, Service]) -> Facility:
    return c[0]


ORGANIZATION: dict[str, Param] = {
    "_id": Param("token", _ids(lambda f: f.id), "the facility id"),
    "name": _string(lambda f: f.name),
    "identifier": Param("token", _identifier(_self), "facility id or kode RS, `system|value` or `value`"),
    "type": Param("token", _concepts(res.organization_type), "HL7 organization-type, facility kind or class"),
}
LOCATION: dict[str, Param] = {
    "_id": Param("token", _ids(lambda f: f.id), "the facility id"),
    "name": _string(lambda f: f.name),
    "identifier": Param("token", _identifier(_self), "facility id or kode RS, `system|value` or `value`"),
    "type": Param("token", _concepts(res.location_type), "HL7 v3 RoleCode or facility kind"),
    "organization": Param("reference", _reference("Organization", _self), "the managing Organization"),
    "near": Param("special", _near, "`latitude|longitude|distance|units` (km or m; 50 km by default)"),
}
HEALTHCARE_SERVICE: dict[str, Param] = {
    "_id": Param("token", _ids(lambda c: res.service_id(*c)), "the HealthcareService id"),
    "organization": Param("reference", _reference("Organization", _facility), "the providing Organization"),
    "location": Param("reference", _reference("Location", _facility), "the facility's Location"),
    "service-type": Param(
        "token",
        lambda c, v: token_matches([res.service_coding(c[1])], v),
        "rujuk's service code, e.g. `obgyn` or `https://rujuk.invalid/fhir/CodeSystem/service|obgyn`",
    ),
}
#: the search parameters of each resource type
PARAMS: dict[str, dict[str, Param]] = {
    "Organization": ORGANIZATION,
    "Location": LOCATION,
    "HealthcareService": HEALTHCARE_SERVICE,
}


def _int(name: str, value: str, low: int, high: int) -> int:
    try:
        n = int(value)
    except ValueError:
        raise BadParameterError(name, f"{value!r} is not a whole number") from None
    if not low <= n <= high:
        raise BadParameterError(name, f"must be between {low} and {high}")
    return n


def parse(resource_type: str, items: Sequence[tuple[str, str]]) -> Query:
    """A search's parameters, checked: unknown ones, bad modifiers and bad values are refused."""
    params = PARAMS[resource_type]
    tests: list[tuple[Test, list[str]]] = []
    count, offset = DEFAULT_COUNT, 0
    seen: set[str] = set()
    for key, value in items:
        name, _, modifier = key.partition(":")
        if name in {"_count", "_offset", "_format", "_total"}:
            if name in seen:
                raise BadParameterError(key, "give it once")
            seen.add(name)
            if name == "_count":
                count = _int(key, value, 0, MAX_COUNT)
            elif name == "_offset":
                offset = _int(key, value, 0, MAX_OFFSET)
            elif name == "_total":
                if value not in _TOTALS:
                    raise BadParameterError(key, f"one of {', '.join(sorted(_TOTALS))}")
            elif value not in _FORMATS:
                raise BadParameterError(
                    key, "only JSON is served (json or application/fhir+json)", code="not-supported"
                )
            continue
        param = params.get(name)
        if param is None:
            known = ", ".join(sorted([*params, "_count", "_offset", "_total"]))
            raise BadParameterError(
                key, f"not supported on {resource_type} (supported: {known})", code="not-supported"
            )
        test = param.test if not modifier else param.modifiers.get(modifier)
        if test is None:
            raise BadParameterError(key, f"modifier {modifier!r} not supported", code="not-supported")
        values = [v for v in value.split(",") if v]
        if not values:
            continue  # an empty parameter is ignored (FHIR R4 search)
        if name == "near":
            for v in values:
                parse_near(v)  # refused before searching, not per candidate
        tests.append((test, values))
    return Query(tests=tests, count=count, offset=offset, given=list(items))


def candidates(resource_type: str, facilities: Sequence[Facility]) -> list[Any]:
    """What a search of ``resource_type`` runs over, in the dataset's order.

    A facility whose dataset id cannot be a FHIR id (letters, digits, ``-``, ``.``; at most 64)
    is not served (docs/fhir.md); the bundled dataset's ids all can.
    """
    if resource_type == "HealthcareService":
        pairs = [(f, s) for f in facilities for s in res.services_of(f)]
        return [c for c in pairs if res.FHIR_ID.fullmatch(res.service_id(*c))]
    return [f for f in facilities if res.FHIR_ID.fullmatch(f.id)]
