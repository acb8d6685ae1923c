"""FHIR search over the facilities and the referrals a caller may read: parameters read strictly.

A parameter the server does not support is refused (400 OperationOutcome naming it), never
silently ignored: a client filtering by it would otherwise act on every facility. Repeating a
parameter ANDs its occurrences; a comma inside one ORs its values (FHIR R4 search, 3.1.1.4).
An empty value is ignored, as the specification says.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from service.fhir import referrals as ref
from service.fhir import resources as res
from service.fhir import systems as sid
from service.fhir.outcome import BadParameterError
from service.referrals.lifecycle import Status

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from zoneinfo import ZoneInfo

    from geodata.models import Facility, Service
    from service.database import Referral

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
    #: checks one value before the search runs (a BadParameterError naming the parameter)
    check: Callable[[str], None] | None = None


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


def _check_near(value: str) -> None:
    parse_near(value)


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
    "near": Param(
        "special", _near, "`latitude|longitude|distance|units` (km or m; 50 km by default)", check=_check_near
    ),
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


@dataclass(frozen=True, slots=True)
class ReferralRow:
    """A referral the caller may read, as a search candidate: whether they see its patient, the
    keyed hash that finds a NIK (``service.sealing``), the jurisdiction's zone (local days)."""  # noqa: D205, D209

    referral: Referral
    patient: bool
    nik_hash: Callable[[str], str]
    zone: ZoneInfo


_PREFIXES = ("eq", "ge", "le", "gt", "lt")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_date(value: str, zone: ZoneInfo | None = None) -> tuple[str, dt.datetime, dt.datetime]:
    """A date parameter: its prefix and the interval it names (a day, local to ``zone``, or a second).

    Years 1900 to 9000 only: no referral is older, and the calendar's edges cannot overflow.
    """
    prefix, when = (value[:2], value[2:]) if value[:2] in _PREFIXES else ("eq", value)
    lo: dt.datetime | None
    hi: dt.datetime | None
    try:
        if _DATE.fullmatch(when):
            lo = dt.datetime.combine(dt.date.fromisoformat(when), dt.time(), tzinfo=zone or dt.UTC)
            hi = lo + dt.timedelta(days=1)
        else:
            lo = dt.datetime.fromisoformat(when)
            hi = lo + dt.timedelta(seconds=1)
    except (ValueError, OverflowError):
        lo = hi = None
    if lo is None or hi is None or lo.tzinfo is None or lo.utcoffset() is None:
        msg = "write [eq|ge|le|gt|lt]YYYY-MM-DD (a local day) or a date-time with its offset"
        raise BadParameterError("authored", msg)
    if not 1900 <= lo.year <= 9000:
        raise BadParameterError("authored", "the year must be between 1900 and 9000")
    return prefix, lo, hi


def _authored(row: ReferralRow, value: str) -> bool:
    prefix, lo, hi = parse_date(value, row.zone)
    at = row.referral.created_at
    at = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
    return {
        "eq": lo <= at < hi,
        "ge": at >= lo,
        "gt": at >= hi,
        "le": at < hi,
        "lt": at < lo,
    }[prefix]


def _nik(row: ReferralRow, value: str) -> bool:
    """``system|nik``, ``|nik`` is no NIK, ``nik``: found only where the caller sees the patient."""
    system, bar, nik = value.rpartition("|")
    if bar and system != sid.SYSTEM_NIK:
        return False
    r = row.referral
    if not row.patient or r.nik_hash is None:
        return False
    return not nik or r.nik_hash == row.nik_hash(nik)


def _org_ref(get: Callable[[Referral], str]) -> Test:
    return lambda row, v: get(row.referral) == reference_id(v, "Organization")


def _referral_ids(row: ReferralRow, value: str) -> bool:
    return row.referral.id == value


def _referral_identifier(row: ReferralRow, value: str) -> bool:
    return token_matches(ref.identifiers(row.referral), value, key="value")


def _check_authored(value: str) -> None:
    parse_date(value)


SERVICE_REQUEST: dict[str, Param] = {
    "_id": Param("token", _referral_ids, "the referral id"),
    "identifier": Param("token", _referral_identifier, "the referral id or its letter number"),
    "status": Param(
        "token",
        lambda row, v: ref.SERVICE_REQUEST_STATUS[Status(row.referral.status)] == v,
        "draft, active, completed or revoked (docs/fhir.md's map of rujuk's states)",
    ),
    "requester": Param("reference", _org_ref(lambda r: r.origin_id), "the referring Organization"),
    "performer": Param("reference", _org_ref(lambda r: r.destination_id), "the receiving Organization"),
    "authored": Param(
        "date",
        _authored,
        "when the letter was written: `[eq|ge|le|gt|lt]YYYY-MM-DD` (a day in the jurisdiction's "
        "time zone) or a date-time with offset; repeat to give a range",
        check=_check_authored,
    ),
    "patient.identifier": Param(
        "token",
        _nik,
        "chained to Patient.identifier, the NIK only (`https://fhir.kemkes.go.id/id/nik|<16 digits>` "
        "or the digits); finds only referrals whose patient the caller may see",
    ),
}
TASK: dict[str, Param] = {
    "_id": Param("token", _referral_ids, "the referral id"),
    "identifier": Param("token", _referral_identifier, "the referral id or its letter number"),
    "status": Param(
        "token",
        lambda row, v: ref.TASK_STATUS[Status(row.referral.status)] == v,
        "draft, requested, accepted, rejected, in-progress, completed or cancelled",
    ),
    "owner": Param("reference", _org_ref(lambda r: r.destination_id), "the receiving Organization"),
    "requester": Param("reference", _org_ref(lambda r: r.origin_id), "the referring Organization"),
}
#: the search parameters of each resource type
PARAMS: dict[str, dict[str, Param]] = {
    "Organization": ORGANIZATION,
    "Location": LOCATION,
    "HealthcareService": HEALTHCARE_SERVICE,
    "ServiceRequest": SERVICE_REQUEST,
    "Task": TASK,
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
        if param.check is not None:  # refused before searching, not per candidate
            for v in values:
                param.check(v)
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
