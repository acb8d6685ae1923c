"""What a scenario changes: the optimised regions compared with today, names next to ids."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geodata.dataset import Dataset
from rules.model import Decision
from service.matcher import Matcher
from service.planning import demand as dem
from service.planning.changes import changes
from service.planning.optimise import optimise, plan_tables
from service.planning.scenario import apply
from service.planning.simulate import Outcome, compare, matcher_for, metrics, rounded, simulate


@pytest.fixture(scope="module")
def matcher(sambas: Dataset) -> Matcher:
    return Matcher.load(sambas)


@pytest.fixture(scope="module")
def runs(
    matcher: Matcher, sambas: Dataset
) -> tuple[list[dem.DemandRecord], list[Outcome], list[Outcome], Matcher]:
    """The page's defaults: 5,000 referrals, seed 1, the optimised regions against today."""
    demand = dem.synthetic(sambas, referrals=5000, seed=1)
    plan = optimise(matcher, demand, time_limit_s=10, seed=1)
    assert plan.scenario.changes, "the optimiser moves some Puskesmas on this demand"
    scen = matcher_for(apply(plan.scenario, matcher.dataset, matcher.pack), matcher)
    return demand, simulate(matcher, demand), simulate(scen, demand), scen


def _mean_min(outcomes: list[Outcome]) -> float:
    t = [
        o.travel_time_s
        for o in outcomes
        if o.decision == Decision.REFER.value and o.travel_time_s is not None
    ]
    return float(np.mean(t)) / 60


def test_the_difference_is_the_exact_one_not_a_difference_of_rounded_figures(
    runs: tuple[list[dem.DemandRecord], list[Outcome], list[Outcome], Matcher], matcher: Matcher
) -> None:
    demand, a, b, scen = runs
    exact = _mean_min(b) - _mean_min(a)
    moved = changes(demand, a, b, scen.dataset)
    assert moved["referrals"] == sum(x.destination_id != y.destination_id for x, y in zip(a, b, strict=True))
    assert moved["referrals"] > 0
    assert exact != 0  # the moved referrals travel differently, so the mean moves (a little)
    table = compare(metrics(a, demand, matcher), metrics(b, demand, scen))
    overall = table["overall"].iloc[0]
    assert overall["mean_min_diff"] == pytest.approx(exact, abs=1e-9)
    # rounded only after the difference: the page shows it (was 40.1 - 40.1 = 0.0 on every metric)
    shown = rounded(table)["overall"].iloc[0]
    assert shown["mean_min_diff"] == round(exact, 2)
    assert shown["mean_min_diff"] != 0
    # the overall change is the changed referrals' change spread over every referral
    referred = int(overall["referred_base"])
    assert int(overall["referred_scenario"]) == referred
    assert moved["timed"] * moved["mean_min_diff"] / referred == pytest.approx(exact, abs=1e-9)


def test_changes_by_flow_puskesmas_and_desa_add_up(
    runs: tuple[list[dem.DemandRecord], list[Outcome], list[Outcome], Matcher], matcher: Matcher
) -> None:
    demand, a, b, scen = runs
    moved = changes(demand, a, b, scen.dataset)
    n = moved["referrals"]
    assert sum(f["referrals"] for f in moved["flows"]) == n
    assert sum(r["referrals"] for r in moved["by_puskesmas"]) == n
    assert sum(d["referrals"] for d in moved["desa"]) == n
    names = {f.id: f.name for f in scen.dataset.facilities}
    for f in moved["flows"]:
        assert f["from_id"] != f["to_id"]
        assert f["from_name"] == names[f["from_id"]] and f["to_name"] == names[f["to_id"]]
    assert len({f["colour"] for f in moved["flows"]}) == len(moved["flows"])
    today = {r.id: r.origins for r in matcher.pack.regions}
    moved_origins = {o for r in scen.pack.regions for o in r.origins if o not in today[r.id]}
    assert {r["origin_id"] for r in moved["by_puskesmas"]} <= moved_origins
    per_desa: dict[str, int] = {}
    for rec in demand:
        per_desa[rec.settlement_id] = per_desa.get(rec.settlement_id, 0) + 1
    for d in moved["desa"]:
        assert 0 < d["referrals"] <= d["of"] == per_desa[d["id"]]
        assert math.isfinite(d["lon"]) and math.isfinite(d["lat"])


def test_no_change_no_difference(
    runs: tuple[list[dem.DemandRecord], list[Outcome], list[Outcome], Matcher], matcher: Matcher
) -> None:
    demand, a, _, _ = runs
    moved = changes(demand, a, a, matcher.dataset)
    assert moved["referrals"] == 0 and moved["flows"] == [] and moved["desa"] == []
    assert moved["mean_min_diff"] is None
    overall = compare(metrics(a, demand, matcher), metrics(a, demand, matcher))["overall"].iloc[0]
    assert overall["mean_min_diff"] == 0


def test_names_next_to_ids(
    runs: tuple[list[dem.DemandRecord], list[Outcome], list[Outcome], Matcher],
    matcher: Matcher,
    sambas: Dataset,
) -> None:
    demand, a, b, scen = runs
    names = {f.id: f.name for f in sambas.facilities}
    tables = compare(metrics(a, demand, matcher), metrics(b, demand, scen))
    for key, table in (("origin_id", "by_puskesmas"), ("hospital_id", "by_hospital")):
        df = tables[table]
        assert list(df.columns[:2]) == [key, "name"]  # the name once, next to the id
        assert not any(c.startswith("name_") for c in df.columns)
        for fid, name in zip(df[key], df["name"], strict=True):
            assert name == names[fid]
    plan = optimise(matcher, demand, time_limit_s=10, seed=1)
    t = plan_tables(plan, matcher)
    for row in t["assignment"]:
        assert row["name"] == names[row["origin_id"]]
        assert row["today_name"] == names[row["today_id"]]
        assert row["optimised_name"] == names[row["optimised_id"]]
        assert row["moved"] == (row["today_id"] != row["optimised_id"])
    assert sum(r["moved"] for r in t["assignment"]) == len(plan.scenario.changes)
    for row in t["load"]:
        assert row["name"] == names[row["hospital_id"]]
    assert sum(r["load"] for r in t["load"]) == sum(r["referrals"] for r in t["assignment"])
    assert sum(r["today_load"] for r in t["load"]) == sum(r["referrals"] for r in t["assignment"])
