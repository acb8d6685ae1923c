"""Properties of the matching engine under random live status, travel times and requests."""

from __future__ import annotations

import random
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geodata.dataset import Dataset
from geodata.models import BedType, Service
from rules.matching import suggest
from rules.model import Decision, FacilityStatus, Payer, ReferralRequest, ServiceType, Sex, Suggestion
from rules.pack import RulePack
from tests.rules.conftest import NOW

CODES = ["O72.1", "P07.3", "I21.0", "S06.5", "R11", "J18.9", "J00", "N18.5", "F20.0", "H25.9"]
PROPS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def worlds(draw: st.DrawFn, sambas: Dataset) -> tuple[ReferralRequest, dict, dict]:
    fac = sambas.facilities
    origin = draw(st.sampled_from([f.id for f in fac]))
    request = ReferralRequest(
        origin_id=origin,
        age_years=draw(st.floats(0, 95)),
        sex=draw(st.sampled_from(list(Sex))),
        icd10=tuple(draw(st.lists(st.sampled_from(CODES), min_size=1, max_size=2, unique=True))),
        service_type=draw(st.sampled_from(list(ServiceType))),
        emergency=draw(st.booleans()),
        disaster=draw(st.booleans()),
        back_referral=draw(st.booleans()),
    )
    statuses = {}
    for f in fac:
        if not f.receiving or not draw(st.booleans()):
            continue
        statuses[f.id] = FacilityStatus(
            f.id,
            NOW - timedelta(minutes=draw(st.sampled_from([5, 60, 300, 2000]))),
            beds_available={b: draw(st.integers(0, 3)) for b in f.beds},
            specialists_on_duty=frozenset(draw(st.lists(st.sampled_from(sorted(f.services)), max_size=4)))
            if f.services
            else frozenset(),
            specialists_on_call={
                s: draw(st.integers(5, 60))
                for s in draw(st.lists(st.sampled_from(list(Service)), max_size=2))
            },
            not_accepting_until=NOW + timedelta(hours=1) if draw(st.integers(0, 9)) == 0 else None,
            occupancy=draw(st.floats(0, 1)),
        )
    travel = {}
    for f in fac:
        r = draw(st.integers(0, 20))
        travel[f.id] = None if r == 0 else (float(draw(st.integers(60, 30000))), None)
    return request, statuses, travel


def run(
    pack: RulePack,
    sambas: Dataset,
    request: ReferralRequest,
    statuses: dict,
    travel: dict,
    facilities: list | None = None,
) -> Suggestion:
    return suggest(
        request,
        pack=pack,
        facilities=facilities or list(sambas.facilities),
        statuses=statuses,
        travel=travel,
        now=NOW,
    )


@PROPS
@given(data=st.data())
def test_ranking_is_invariant_under_candidate_order(
    pack: RulePack, sambas: Dataset, data: st.DataObject
) -> None:
    request, statuses, travel = data.draw(worlds(sambas))
    a = run(pack, sambas, request, statuses, travel)
    shuffled = list(sambas.facilities)
    random.Random(data.draw(st.integers(0, 10_000))).shuffle(shuffled)
    b = run(pack, sambas, request, statuses, travel, shuffled)
    assert a == b


@PROPS
@given(data=st.data())
def test_excluded_never_ranked_and_every_ranked_has_a_reason(
    pack: RulePack, sambas: Dataset, data: st.DataObject
) -> None:
    request, statuses, travel = data.draw(worlds(sambas))
    s = run(pack, sambas, request, statuses, travel)
    ranked = [c.facility_id for c in s.candidates]
    out = [x.facility_id for x in s.excluded]
    assert not set(ranked) & set(out)
    if s.decision is not Decision.TREAT_LOCALLY:
        assert sorted(ranked + out) == sorted(f.id for f in sambas.facilities)
    assert [c.rank for c in s.candidates] == list(range(1, len(ranked) + 1))
    assert all(c.reasons for c in s.candidates)
    assert all(x.reasons for x in s.excluded)
    keys = [(c.score, c.travel_time_s, c.facility_id) for c in s.candidates]
    assert keys == sorted(keys)
    assert (s.decision is Decision.REFER) == bool(ranked)


@PROPS
@given(data=st.data())
def test_adding_capacity_never_removes_a_candidate(
    pack: RulePack, sambas: Dataset, data: st.DataObject
) -> None:
    request, statuses, travel = data.draw(worlds(sambas))
    before = {c.facility_id for c in run(pack, sambas, request, statuses, travel).candidates}
    fid = data.draw(st.sampled_from(sorted(statuses))) if statuses else None
    if fid is None:
        return
    old = statuses[fid]
    more = dict(statuses)
    more[fid] = FacilityStatus(
        fid,
        old.updated_at,
        beds_available={b: n + 2 for b, n in old.beds_available.items()},
        specialists_on_duty=old.specialists_on_duty,
        specialists_on_call=old.specialists_on_call,
        equipment_out_of_order=old.equipment_out_of_order,
        not_accepting_until=old.not_accepting_until,
        occupancy=old.occupancy,
    )
    after = {c.facility_id for c in run(pack, sambas, request, more, travel).candidates}
    assert before <= after


@PROPS
@given(data=st.data(), payer=st.sampled_from(list(Payer)))
def test_payer_never_changes_the_suggestion(
    pack: RulePack, sambas: Dataset, data: st.DataObject, payer: Payer
) -> None:
    request, statuses, travel = data.draw(worlds(sambas))
    a = run(pack, sambas, request, statuses, travel)
    b = run(
        pack,
        sambas,
        ReferralRequest(**{**{k: getattr(request, k) for k in request.__slots__}, "payer": payer}),
        statuses,
        travel,
    )
    assert a == b


def test_beds_of_unknown_type_are_not_invented(pack: RulePack, sambas: Dataset) -> None:
    # RSUD Teluk Keramat has no ICU at all: a status cannot make one appear
    st_ = {"6101137": FacilityStatus("6101137", NOW, beds_available={BedType.ICU: 5})}
    req = ReferralRequest("PKM-PALOH", 30, Sex.MALE, ("S06.5",), service_type=ServiceType.RAWAT_INAP)
    s = run(pack, sambas, req, st_, {f.id: (600.0, None) for f in sambas.facilities})
    assert "6101137" not in {c.facility_id for c in s.candidates}


@PROPS
@given(data=st.data())
def test_cached_plans_never_change_an_answer(pack: RulePack, sambas: Dataset, data: st.DataObject) -> None:
    # a tuple of facilities is planned once per request shape and reused; a list never is
    fac = tuple(sambas.facilities)
    request, statuses, travel = data.draw(worlds(sambas))
    _, statuses2, travel2 = data.draw(worlds(sambas))
    for st_, tr in ((statuses, travel), (statuses2, travel), (statuses, travel2), (statuses, travel)):
        warm = suggest(request, pack=pack, facilities=fac, statuses=st_, travel=tr, now=NOW)
        assert warm == run(pack, sambas, request, st_, tr)
    # the same mapping changed in place (a road closed) is seen too
    closed = data.draw(st.sampled_from(sorted(travel)))
    travel[closed] = None
    warm = suggest(request, pack=pack, facilities=fac, statuses=statuses, travel=travel, now=NOW)
    assert warm == run(pack, sambas, request, statuses, travel)
    assert closed not in {c.facility_id for c in warm.candidates}
