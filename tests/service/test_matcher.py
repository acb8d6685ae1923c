"""The matcher: one code path for suggestions and for mass-casualty distribution (Pasal 6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from geodata.dataset import Dataset
from geodata.models import BedType, Service
from routing.errors import InvalidProblemError
from rules.errors import RequestError
from rules.model import FacilityStatus, ReferralRequest, ServiceType, Sex
from service.matcher import Casualty, FacilityLookupError, Matcher

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
PEMANGKAT, SAMBAS, TELUK_KERAMAT = "6101033", "6101022", "6101137"


@pytest.fixture(scope="module")
def matcher(sambas: Dataset) -> Matcher:
    return Matcher.load(sambas)


def _status(fid: str, **beds: int) -> FacilityStatus:
    return FacilityStatus(
        fid,
        NOW - timedelta(minutes=5),
        beds_available={BedType(k): v for k, v in beds.items()},
        specialists_on_duty=frozenset({Service.BEDAH, Service.UMUM}),
    )


def _trauma(i: int, severity: float) -> Casualty:
    # a road crash near Tebas: injuries needing a general bed, triaged by severity
    req = ReferralRequest("PKM-TEBAS", 35, Sex.MALE, ("T07",), service_type=ServiceType.RAWAT_INAP)
    return Casualty(f"P{i:02d}", req, severity)


def test_find_facility_by_id_name_and_fragment(matcher: Matcher) -> None:
    assert matcher.find_facility("6101022").name == "RSUD Sambas"
    assert matcher.find_facility("rsud sambas").id == "6101022"  # exact name beats fragments
    assert matcher.find_facility("Segarau").id == "PKM-SEGARAU"
    with pytest.raises(FacilityLookupError, match="matches"):
        matcher.find_facility("Puskesmas")
    with pytest.raises(FacilityLookupError, match="no facility"):
        matcher.find_facility("Atlantis")


def test_suggest_from_a_point_uses_the_point(matcher: Matcher, sambas: Dataset) -> None:
    req = ReferralRequest("PKM-SEGARAU", 28, Sex.FEMALE, ("O72.1",), emergency=True)
    at_origin = matcher.suggest(req, statuses={}, now=NOW)
    pem = sambas.facility(PEMANGKAT).location
    near_pemangkat = matcher.suggest(req, statuses={}, now=NOW, lon=pem.lon + 0.001, lat=pem.lat)
    t0 = {c.facility_id: c.travel_time_s for c in at_origin.candidates}
    t1 = {c.facility_id: c.travel_time_s for c in near_pemangkat.candidates}
    assert t1[PEMANGKAT] < t0[PEMANGKAT]
    assert near_pemangkat.candidates[0].facility_id == PEMANGKAT


def test_distribution_respects_free_beds_and_severity(matcher: Matcher) -> None:
    statuses = {
        PEMANGKAT: _status(PEMANGKAT, general=2),
        SAMBAS: _status(SAMBAS, general=3),
        TELUK_KERAMAT: _status(TELUK_KERAMAT, general=1),
    }
    batch = [_trauma(i, sev) for i, sev in enumerate([3, 3, 2, 2, 1, 1, 1])]
    plan = matcher.distribute(batch, statuses=statuses, now=NOW, time_limit_s=10, seed=1)
    assert plan.assignment.status == "OPTIMAL" and plan.assignment.gap == 0
    load: dict[str, int] = {}
    for h in plan.assignment.assigned.values():
        load[h] = load.get(h, 0) + 1
    for (h, bed), n in plan.capacity.items():
        if bed == "general":
            assert load.get(h, 0) <= n
    # Teluk Keramat has no surgery, so its free bed does not count; other hospitals reported nothing
    assert TELUK_KERAMAT not in plan.assignment.assigned.values()
    assert len(plan.assignment.assigned) == 5
    assert set(plan.assignment.unplaced.values()) == {"no capacity left at the capable hospitals"}
    assert len(plan.assignment.unplaced) == 2
    assert all(p in plan.assignment.assigned for p in ("P00", "P01", "P02", "P03"))  # the least severe wait
    # the most severe patients get the shortest trips
    by_time = sorted(plan.travel_time_s.items(), key=lambda kv: kv[1])
    severe = {"P00", "P01"}
    assert {p for p, _ in by_time[:2]} == severe
    # every patient's options come from the same matching engine (disaster: regionalisation waived)
    s = plan.suggestions["P00"]
    assert s.decision.value == "refer"
    assert any("Pasal 6" in ref for r in s.reasons for ref in r.references)


def test_explicit_capacity_and_unplaced_reasons(matcher: Matcher) -> None:
    batch = [_trauma(0, 2), _trauma(1, 1)]
    plan = matcher.distribute(batch, statuses={}, now=NOW, capacity={(SAMBAS, "general"): 1})
    assert plan.assignment.assigned == {"P00": SAMBAS}
    assert plan.assignment.unplaced == {"P01": "no capacity left at the capable hospitals"}


def test_no_capable_hospital_at_all(matcher: Matcher) -> None:
    # a service no hospital in the dataset offers
    req = ReferralRequest("PKM-TEBAS", 50, Sex.MALE, ("R11",), specialty=Service.ALIH_RAWAT)
    plan = matcher.distribute([Casualty("P00", req, 1.0)], statuses={}, now=NOW)
    assert plan.assignment.assigned == {}
    assert plan.assignment.unplaced == {"P00": "no capable hospital reachable"}


def test_bad_batches_are_refused(matcher: Matcher) -> None:
    with pytest.raises(RequestError, match="casualties"):
        matcher.distribute([], statuses={}, now=NOW)
    with pytest.raises(RequestError, match=r"casualties\[1\]\.id"):
        matcher.distribute([_trauma(0, 1), _trauma(0, 1)], statuses={}, now=NOW)
    with pytest.raises(InvalidProblemError, match="severity"):
        matcher.distribute([_trauma(0, -1)], statuses={}, now=NOW, capacity={(SAMBAS, "general"): 1})
