"""Fixtures for the rules tests: the Sambas pack and road times from the bundled network."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from geodata.dataset import Dataset
from routing.engine import RoutingEngine
from rules.matching import suggest
from rules.model import FacilityStatus, ReferralRequest, Suggestion
from rules.pack import RulePack, bundled_pack_path, load_rule_pack

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)  # 2 a.m.


@pytest.fixture(scope="session")
def pack(sambas: Dataset) -> RulePack:
    return load_rule_pack(bundled_pack_path(), facilities=sambas.facilities)


@pytest.fixture(scope="session")
def engine(sambas: Dataset) -> RoutingEngine:
    fac = {f.id: (f.location.lon, f.location.lat) for f in sambas.facilities}
    return RoutingEngine(sambas.roads, fac, max_snap_m=sambas.snap_max_m)


Travel = dict[str, tuple[float, float | None] | None]


@pytest.fixture(scope="session")
def travel_from(engine: RoutingEngine, sambas: Dataset) -> Callable[[str], Travel]:
    cache: dict[str, Travel] = {}

    def get(origin_id: str) -> Travel:
        if origin_id not in cache:
            o = sambas.facility(origin_id)
            tt = engine.travel_times(o.location.lon, o.location.lat)
            cache[origin_id] = {
                t.facility_id: (t.time_s, t.distance_m) if t.time_s is not None else None for t in tt.times
            }
        return cache[origin_id]

    return get


@pytest.fixture
def run(pack: RulePack, sambas: Dataset, travel_from: Callable[[str], Travel]) -> Callable[..., Suggestion]:
    def go(request: ReferralRequest, statuses: dict[str, FacilityStatus] | None = None) -> Suggestion:
        return suggest(
            request,
            pack=pack,
            facilities=sambas.facilities,
            statuses=statuses or {},
            travel=travel_from(request.origin_id),
            now=NOW,
        )

    return go
