"""The FHIR R4 API on SQLite and PostgreSQL: every resource it emits validates, search, paging, errors.

Every answer is read back with fhir.resources' models (the R4B package, identical to R4 for these
resources); the expected values come from the dataset, never typed here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import pytest
from fhir.resources.R4B import get_fhir_model_class
from pyproj import Geod

from geodata.models import Facility, Service
from tests.service.conftest import Api

BASE = "/fhir/R4"
TYPES = ("Organization", "Location", "HealthcareService")
KODE_RS = "https://rujuk.invalid/fhir/sid/kode-rs"
FACILITY_ID = "https://rujuk.invalid/fhir/sid/facility-id"
LIVE = "https://rujuk.invalid/fhir/StructureDefinition/live-status"
BEDS = "https://rujuk.invalid/fhir/StructureDefinition/registered-beds"
PEMANGKAT = "6101033"


def valid(body: dict[str, Any]) -> Any:
    """The resource read back with fhir.resources (raises when it does not validate)."""
    return get_fhir_model_class(body["resourceType"]).model_validate(body)


def fhir_get(api: Api, url: str, user: str | None = None, **params: Any) -> Any:
    headers = api.h(user) if user else {}
    r = api.client.get(url, params=params or None, headers=headers)
    assert r.headers["content-type"].startswith("application/fhir+json"), r.headers
    return r


def all_pages(api: Api, resource_type: str, user: str | None = None, **params: Any) -> list[dict[str, Any]]:
    """Every entry of a search, following the Bundle's next links; each Bundle validated."""
    r = fhir_get(api, f"{BASE}/{resource_type}", user, **params)
    entries: list[dict[str, Any]] = []
    while True:
        assert r.status_code == 200, r.text
        bundle = r.json()
        valid(bundle)
        assert bundle["type"] == "searchset"
        entries += bundle.get("entry", [])
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not nxt:
            assert len(entries) == bundle["total"]
            return entries
        u = urlsplit(nxt[0])
        r = fhir_get(api, f"{u.path}?{u.query}", user)


def services(ds_facilities: list[Facility]) -> list[tuple[str, Service]]:
    return [(f.id, s) for f in ds_facilities for s in Service if s in f.services]


def ext(resource: dict[str, Any], url: str) -> list[dict[str, Any]]:
    return [e for e in resource.get("extension", []) if e["url"] == url]


def part(extension: dict[str, Any], url: str) -> list[dict[str, Any]]:
    return [e for e in extension["extension"] if e["url"] == url]


# ----------------------------------------------------------------------------- every resource validates


@pytest.mark.parametrize("user", [None, "segarau"])
def test_every_resource_searched_and_read_validates(api: Api, user: str | None) -> None:
    facilities = api.rt.dataset.facilities
    expected = {
        "Organization": [f.id for f in facilities],
        "Location": [f.id for f in facilities],
        "HealthcareService": [f"{fid}.{s.value.replace('_', '-')}" for fid, s in services(facilities)],
    }
    for resource_type in TYPES:
        entries = all_pages(api, resource_type, user, _count=37)
        assert [e["resource"]["id"] for e in entries] == expected[resource_type]
        for e in entries:
            resource = valid(e["resource"])
            assert resource.get_resource_type() == resource_type
            assert e["search"]["mode"] == "match"
            assert e["fullUrl"].endswith(f"{BASE}/{resource_type}/{resource.id}")
            r = fhir_get(api, f"{BASE}/{resource_type}/{resource.id}", user)
            assert r.status_code == 200, r.text
            assert r.json() == e["resource"]


def test_metadata_is_a_true_capability_statement(api: Api) -> None:
    r = fhir_get(api, f"{BASE}/metadata")
    assert r.status_code == 200
    cs = valid(r.json())
    assert cs.fhirVersion == "4.0.1" and cs.kind == "instance" and "json" in cs.format
    (rest,) = cs.rest
    facilities = rest.resource[: len(TYPES)]  # then the referrals' types (test_referrals.py)
    assert [res.type for res in facilities] == list(TYPES)
    for res in facilities:
        assert {i.code for i in res.interaction} == {"read", "search-type"}
        # every parameter it declares is accepted (none answers 400), and one it does not is refused
        for p in res.searchParam:
            value = {"near": "1.3|109.3|5|km", "organization": PEMANGKAT, "location": PEMANGKAT}.get(
                p.name, "x"
            )
            r = fhir_get(api, f"{BASE}/{res.type}", **{p.name: value})
            assert r.status_code == 200, (res.type, p.name, r.text)
        r = fhir_get(api, f"{BASE}/{res.type}", **{"address-city": "Sambas"})
        assert r.status_code == 400


# ----------------------------------------------------------------------------------------- mapping


def test_organization_identifiers_type_and_telecom(api: Api) -> None:
    for f in api.rt.dataset.facilities:
        org = fhir_get(api, f"{BASE}/Organization/{f.id}").json()
        ids = {(i["system"], i["value"]) for i in org["identifier"]}
        assert (FACILITY_ID, f.id) in ids
        has_code = f.is_hospital and f.id.isdigit() and len(f.id) == 7
        assert ((KODE_RS, f.id) in ids) is has_code
        codes = {(c["system"].rsplit("/", 1)[-1], c["code"]) for t in org["type"] for c in t["coding"]}
        assert ("organization-type", "prov") in codes and ("facility-kind", f.kind.value) in codes
        assert (f.hospital_class is not None) is any(s == "hospital-class" for s, _ in codes)
        if f.hospital_class is not None:
            assert ("hospital-class", f.hospital_class.value) in codes
        phones = [t["value"] for t in org.get("telecom", [])]
        assert phones == ([f.phone.dial] if f.phone else [])
        assert org["address"][0]["district"] == f.kecamatan and org["address"][0]["city"] == f.regency


def test_location_position_and_registered_beds(api: Api) -> None:
    for f in api.rt.dataset.facilities:
        loc = fhir_get(api, f"{BASE}/Location/{f.id}").json()
        assert loc["position"] == {"longitude": f.location.lon, "latitude": f.location.lat}
        assert loc["managingOrganization"]["reference"] == f"Organization/{f.id}"
        beds = {
            part(e, "type")[0]["valueCoding"]["code"]: part(e, "count")[0]["valueUnsignedInt"]
            for e in ext(loc, BEDS)
        }
        assert beds == {b.value: n for b, n in f.beds.items()}
        assert not ext(loc, LIVE), "live status is for signed-in callers only"


def test_healthcare_services_are_the_facility_services_with_both_languages(api: Api) -> None:
    f = api.rt.dataset.facility(PEMANGKAT)
    entries = all_pages(api, "HealthcareService", organization=f"Organization/{f.id}")
    codings = [e["resource"]["type"][0]["coding"][0] for e in entries]
    assert {c["code"] for c in codings} == {s.value for s in f.services}
    for e in entries:
        assert e["resource"]["providedBy"]["reference"] == f"Organization/{f.id}"
    obgyn = next(c for c in codings if c["code"] == "obgyn")
    translation = obgyn["_display"]["extension"][0]
    assert {
        x["url"]: next(v for k, v in x.items() if k.startswith("value")) for x in translation["extension"]
    } == {
        "lang": "en",
        "content": "Obstetrics and gynaecology",
    }


def test_live_status_for_a_signed_in_caller(api: Api) -> None:
    until = api.clock.now + dt.timedelta(hours=2)
    body = {
        "beds_available": {"icu": 2},
        "not_accepting_until": until.isoformat(),
        "not_accepting_reason": "listrik padam",
    }
    r = api.patch(f"/api/facilities/{PEMANGKAT}/status", "pemangkat", json=body)
    assert r.status_code == 200, r.text
    try:
        api.rt.statuses.forget()
        loc = fhir_get(api, f"{BASE}/Location/{PEMANGKAT}", "segarau").json()
        valid(loc)
        (live,) = ext(loc, LIVE)
        assert part(live, "accepting")[0]["valueBoolean"] is False
        assert dt.datetime.fromisoformat(part(live, "notAcceptingUntil")[0]["valueDateTime"]) == until
        (icu,) = part(live, "bedsAvailable")
        assert (
            part(icu, "type")[0]["valueCoding"]["code"] == "icu"
            and part(icu, "count")[0]["valueUnsignedInt"] == 2
        )
        assert not ext(fhir_get(api, f"{BASE}/Location/{PEMANGKAT}").json(), LIVE)
    finally:
        r = api.patch(f"/api/facilities/{PEMANGKAT}/status", "pemangkat", json={"accepting_again": True})
        assert r.status_code == 200, r.text
    api.rt.statuses.forget()
    (live,) = ext(fhir_get(api, f"{BASE}/Location/{PEMANGKAT}", "segarau").json(), LIVE)
    assert part(live, "accepting")[0]["valueBoolean"] is True and not part(live, "notAcceptingUntil")


# ------------------------------------------------------------------------------------------ search


def ids(entries: list[dict[str, Any]]) -> list[str]:
    return [e["resource"]["id"] for e in entries]


def test_search_parameters_select_what_the_dataset_says(api: Api) -> None:
    fs = api.rt.dataset.facilities
    expected = [f.id for f in fs if f.name.lower().startswith("puskesmas s")]
    assert 1 < len(expected) < len(fs)
    assert ids(all_pages(api, "Organization", name="puskesmas s")) == expected
    expected = [f.id for f in fs if "singkawang" in f.name.lower()]
    assert expected
    assert ids(all_pages(api, "Organization", **{"name:contains": "singkawang"})) == expected
    assert ids(all_pages(api, "Organization", name="singkawang")) == []  # starts with, not contains
    assert ids(all_pages(api, "Organization", identifier=f"{KODE_RS}|{PEMANGKAT}")) == [PEMANGKAT]
    assert ids(all_pages(api, "Organization", identifier=f"{KODE_RS}|PKM-SEGARAU")) == []
    assert ids(all_pages(api, "Organization", identifier="PKM-SEGARAU")) == ["PKM-SEGARAU"]
    by_class = all_pages(api, "Organization", type="https://rujuk.invalid/fhir/CodeSystem/hospital-class|C")
    expected = [f.id for f in fs if f.hospital_class is not None and f.hospital_class.value == "C"]
    assert expected and ids(by_class) == expected
    either = all_pages(api, "Location", type="PC,rumah_sakit_khusus")
    assert ids(either) == [f.id for f in fs if f.kind.value in {"puskesmas", "rumah_sakit_khusus"}]
    assert ids(all_pages(api, "Location", organization=f"Organization/{PEMANGKAT}")) == [PEMANGKAT]
    # repeated parameters AND: kind puskesmas and a name no puskesmas has
    assert ids(all_pages(api, "Location", type="PC", name="RSUD")) == []
    obgyn = all_pages(api, "HealthcareService", **{"service-type": "obgyn"})
    assert obgyn
    assert [e["resource"]["providedBy"]["reference"] for e in obgyn] == [
        f"Organization/{f.id}" for f in fs if Service.OBGYN in f.services
    ]


def test_near_finds_the_facilities_within_the_distance(api: Api) -> None:
    geod = Geod(ellps="WGS84")  # an ellipsoid, not the server's sphere: allow 0.5 % at the edge
    here = api.rt.dataset.facility("6101022").location
    sizes = []
    for km in (3, 25, 120):
        found = set(ids(all_pages(api, "Location", near=f"{here.lat}|{here.lon}|{km}|km")))
        sizes.append(len(found))
        for f in api.rt.dataset.facilities:
            d_km = geod.inv(here.lon, here.lat, f.location.lon, f.location.lat)[2] / 1000
            if d_km < km * 0.995:
                assert f.id in found
            elif d_km > km * 1.005:
                assert f.id not in found
        metres = set(ids(all_pages(api, "Location", near=f"{here.lat}|{here.lon}|{km * 1000}|m")))
        assert metres == found
    assert 1 <= sizes[0] < sizes[1] < sizes[2] < len(api.rt.dataset.facilities)


def test_paging_walks_every_match_once_with_previous_links(api: Api) -> None:
    total = sum(len(f.services) for f in api.rt.dataset.facilities)
    r = fhir_get(api, f"{BASE}/HealthcareService", _count=0)
    assert r.status_code == 200 and r.json()["total"] == total and "entry" not in r.json()
    r = fhir_get(api, f"{BASE}/HealthcareService", _count=50, _offset=100)
    bundle = r.json()
    prev = next(link["url"] for link in bundle["link"] if link["relation"] == "previous")
    assert "_offset=50" in prev and "_count=50" in prev
    seen = ids(all_pages(api, "HealthcareService", _count=9))
    assert len(seen) == len(set(seen)) == total


# ------------------------------------------------------------------------------------------ errors


def outcome(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    valid(body)
    assert body["resourceType"] == "OperationOutcome"
    (issue,) = body["issue"]
    assert issue["severity"] == "error"
    return issue


@pytest.mark.parametrize(
    ("resource_type", "params", "expression"),
    [
        ("Organization", {"colour": "blue"}, "colour"),
        ("Organization", {"name:fuzzy": "rsud"}, "name:fuzzy"),
        ("Organization", {"_count": "many"}, "_count"),
        ("Organization", {"_count": "101"}, "_count"),
        ("Organization", {"_offset": "-1"}, "_offset"),
        ("Organization", {"_sort": "name"}, "_sort"),
        ("Organization", {"_format": "xml"}, "_format"),
        ("Organization", {"_total": "roughly"}, "_total"),
        (
            "Organization",
            {"_totalMethod": "count"},
            "_totalMethod",
        ),  # Aidbox's, not FHIR's (fhirpy's count())
        ("Location", {"near": "1.3|north"}, "near"),
        ("Location", {"near": "1.3|109.3|5|miles"}, "near"),
        ("Location", {"near": "91|109.3"}, "near"),
        ("HealthcareService", {"specialty": "obgyn"}, "specialty"),
        ("HealthcareService", {"near": "1.3|109.3"}, "near"),
    ],
)
def test_bad_search_parameters_are_400_outcomes_naming_them(
    api: Api, resource_type: str, params: dict[str, str], expression: str
) -> None:
    issue = outcome(fhir_get(api, f"{BASE}/{resource_type}", **params), 400)
    assert issue["expression"] == [expression]


def test_a_parameter_given_twice_where_it_may_not_be(api: Api) -> None:
    r = api.client.get(f"{BASE}/Organization?_count=2&_count=3")
    assert outcome(r, 400)["expression"] == ["_count"]


@pytest.mark.parametrize(
    ("resource_type", "resource_id"),
    [("Organization", "PKM-NOWHERE"), ("Location", "6101999"), ("HealthcareService", "6101033.onkologi"),
     ("HealthcareService", "6101033"), ("HealthcareService", "6101033.nonsense")],
)  # fmt: skip
def test_unknown_ids_are_404_outcomes(api: Api, resource_type: str, resource_id: str) -> None:
    issue = outcome(fhir_get(api, f"{BASE}/{resource_type}/{resource_id}"), 404)
    assert issue["code"] == "not-found" and issue["expression"] == [f"{resource_type}.id"]


def test_types_not_served_and_bad_tokens(api: Api) -> None:
    assert outcome(fhir_get(api, f"{BASE}/Patient"), 404)["code"] == "not-supported"
    assert outcome(fhir_get(api, f"{BASE}/MedicationRequest/1"), 404)["code"] == "not-supported"
    r = api.client.get(f"{BASE}/Location/{PEMANGKAT}", headers={"Authorization": "Bearer not-a-token"})
    assert outcome(r, 401)["code"] == "login"
    assert r.headers["www-authenticate"] == "Bearer"


def test_a_facility_whose_id_cannot_be_a_fhir_id_is_not_served() -> None:
    from geodata.models import CareLevel, FacilityKind, LonLat
    from service.fhir.search import candidates

    def facility(ident: str) -> Facility:
        return Facility(id=ident, name=ident, kind=FacilityKind.KLINIK, level=CareLevel.FKTP, kecamatan="Sambas",
                        regency="Sambas", location=LonLat(109.3, 1.36), services=frozenset({Service.UMUM}))  # fmt: skip

    ok, underscore, long = facility("KLINIK-1"), facility("KLINIK_2"), facility("K" * 60)
    assert candidates("Organization", [ok, underscore, long]) == [ok, long]
    # 60 characters fit an Organization id, not with ".umum" a HealthcareService's (64 at most)
    assert candidates("HealthcareService", [ok, underscore, long]) == [(ok, Service.UMUM)]
