"""The regionalisation optimiser: feasible, optimal on small instances against brute force, never
worse than the reference assignment, gap against a valid lower bound."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.errors import InvalidProblemError
from routing.regionalisation import (
    Regionalisation,
    RegionalisationProblem,
    splittable_bound,
    synthetic_province,
)


@st.composite
def problems(draw: st.DrawFn) -> RegionalisationProblem:
    n_o, n_h = draw(st.integers(1, 6)), draw(st.integers(1, 3))
    t = [
        [draw(st.one_of(st.just(math.inf), st.integers(60, 7200).map(float))) for _ in range(n_h)]
        for _ in range(n_o)
    ]
    demand = [draw(st.integers(0, 40)) for _ in range(n_o)]
    capacity = [draw(st.integers(0, 120)) for _ in range(n_h)]
    return RegionalisationProblem.from_matrix(
        t, origin_ids=[f"O{i}" for i in range(n_o)], hospital_ids=[f"H{j}" for j in range(n_h)],
        demand=demand, capacity=capacity,
    )  # fmt: skip


def brute_force(p: RegionalisationProblem) -> float | None:
    best = None
    for combo in itertools.product(range(len(p.hospital_ids)), repeat=len(p.origin_ids)):
        if any(not math.isfinite(p.time_s[i, j]) and p.demand[i] for i, j in enumerate(combo)):
            continue
        load = [0] * len(p.hospital_ids)
        for i, j in enumerate(combo):
            load[j] += p.demand[i]
        if any(load[j] > p.capacity[j] for j in range(len(load))):
            continue
        cost = sum(p.demand[i] * round(p.time_s[i, j]) for i, j in enumerate(combo) if p.demand[i])
        best = cost if best is None else min(best, cost)
    return best


@settings(max_examples=120, deadline=None)
@given(problems())
def test_matches_brute_force_and_is_feasible(p: RegionalisationProblem) -> None:
    sol = Regionalisation(p, max_candidates=None, time_limit_s=10, seed=1, workers=1).solve()
    best = brute_force(p)
    if best is None or splittable_bound(p) is None:
        assert sol.status == "infeasible" or best is None
        return
    assert sol.status in ("optimal", "feasible")
    for j, h in enumerate(p.hospital_ids):
        assert sol.load[h] <= p.capacity[j]
    for i, o in enumerate(p.origin_ids):
        if p.demand[i]:
            assert math.isfinite(p.time_s[i, p.hospital_ids.index(sol.assignment[o])])
    assert sum(p.demand[i] * round(p.time_s[i, p.hospital_ids.index(h)]) for i, h in
               ((p.origin_ids.index(o), h) for o, h in sol.assignment.items()) if p.demand[i]) == best  # fmt: skip
    assert sol.lower_bound_s <= sol.weighted_time_s + 1e-6 * max(1.0, sol.weighted_time_s) + len(p.origin_ids)
    assert 0 <= sol.gap <= 1


def test_never_worse_than_the_reference() -> None:
    p, ref = synthetic_province(60, 8, seed=3)
    ref_cost = sum(
        p.demand[p.origin_ids.index(o)] * p.time_s[p.origin_ids.index(o), p.hospital_ids.index(h)]
        for o, h in ref.items()
    )
    sol = Regionalisation(p, reference=ref, max_candidates=3, time_limit_s=5, seed=1).solve()
    assert sol.status in ("optimal", "feasible")
    assert sol.weighted_time_s <= ref_cost + 1e-6
    assert sol.lower_bound_s <= sol.weighted_time_s
    assert sol.gap < 0.05


def test_infeasible_is_a_result_with_a_reason() -> None:
    p = RegionalisationProblem.from_matrix([[100.0], [200.0]], origin_ids=["A", "B"], hospital_ids=["H"],
                                           demand=[10, 10], capacity=[15])  # fmt: skip
    sol = Regionalisation(p, time_limit_s=2).solve()
    assert sol.status == "infeasible" and "capacity" in sol.reason


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"origin_ids": ["A", "A"]}, "origin_ids"),
        ({"demand": [1.5, 2]}, "demand[0]"),
        ({"capacity": [-1]}, "capacity[0]"),
        ({"time_s": [[-1.0], [2.0]]}, "time_s"),
    ],
)
def test_bad_problems_name_the_field(kw: dict, field: str) -> None:
    base = {
        "time_s": [[1.0], [2.0]],
        "origin_ids": ["A", "B"],
        "hospital_ids": ["H"],
        "demand": [1, 2],
        "capacity": [5],
    }
    base.update(kw)
    t = base.pop("time_s")
    with pytest.raises(InvalidProblemError) as e:
        RegionalisationProblem.from_matrix(t, **base)
    assert e.value.field == field
