"""The dispatch assignment: feasible, optimal against brute force, unassigned with reasons."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.dispatch import (
    NO_AMBULANCE_REACHES,
    TOO_FEW_AMBULANCES,
    DispatchAssignment,
    DispatchInputError,
    DispatchProblem,
)


@st.composite
def problems(draw: st.DrawFn) -> DispatchProblem:
    n_t, n_a = draw(st.integers(1, 5)), draw(st.integers(0, 5))
    eta = [
        [draw(st.one_of(st.none(), st.integers(60, 3600).map(float))) for _ in range(n_a)] for _ in range(n_t)
    ]
    prio = [draw(st.sampled_from([1.0, 2.0])) for _ in range(n_t)]
    return DispatchProblem.from_matrix(
        eta,
        transfer_ids=[f"R{i}" for i in range(n_t)],
        ambulance_ids=[f"A{j}" for j in range(n_a)],
        priority=prio,
    )


def brute_force(p: DispatchProblem) -> tuple[float, float]:
    """(weighted count served, weighted ETA) of the best assignment, by enumeration."""
    n_t, n_a = len(p.transfer_ids), len(p.ambulance_ids)
    best = (-1.0, math.inf)
    choices = [None, *range(n_a)]
    for combo in itertools.product(choices, repeat=n_t):
        used = [j for j in combo if j is not None]
        if len(used) != len(set(used)):
            continue
        if any(j is not None and p.eta_s[i][j] is None for i, j in enumerate(combo)):
            continue
        served = sum(p.priority[i] for i, j in enumerate(combo) if j is not None)
        cost = sum(p.eta_s[i][j] * p.priority[i] for i, j in enumerate(combo) if j is not None)  # type: ignore[operator]
        if served > best[0] or (served == best[0] and cost < best[1]):
            best = (served, cost)
    return best


@settings(max_examples=150, deadline=None)
@given(problems())
def test_feasible_and_optimal(p: DispatchProblem) -> None:
    out = DispatchAssignment(p).solve()
    ambulances = [a for a, _ in out.assigned.values()]
    assert len(ambulances) == len(set(ambulances))  # one transfer per ambulance
    assert set(out.assigned) | set(out.unassigned) == set(p.transfer_ids)
    assert not set(out.assigned) & set(out.unassigned)
    for tid, (aid, eta) in out.assigned.items():
        i, j = p.transfer_ids.index(tid), p.ambulance_ids.index(aid)
        assert p.eta_s[i][j] == eta
    served = sum(p.priority[p.transfer_ids.index(t)] for t in out.assigned)
    best_served, best_cost = brute_force(p)
    assert served == best_served
    assert out.weighted_eta_s == pytest.approx(best_cost, abs=0.05 * len(p.transfer_ids))


def test_reasons_for_what_is_left() -> None:
    p = DispatchProblem.from_matrix(
        [[600.0, 300.0], [None, None], [900.0, 100.0]],
        transfer_ids=["R1", "R2", "R3"],
        ambulance_ids=["A1", "A2"],
        priority=[2.0, 1.0, 1.0],
    )
    out = DispatchAssignment(p).solve()
    assert out.unassigned == {"R2": NO_AMBULANCE_REACHES}
    # R1 (an emergency, double weight) and R3 share the two ambulances: 2*600+100 < 2*300+900
    assert out.assigned == {"R1": ("A1", 600.0), "R3": ("A2", 100.0)}
    scarce = DispatchAssignment(
        DispatchProblem.from_matrix(
            [[60.0], [30.0]], transfer_ids=["R1", "R2"], ambulance_ids=["A1"], priority=[2.0, 1.0]
        )
    ).solve()
    assert scarce.assigned == {"R1": ("A1", 60.0)}  # the emergency is served first
    assert scarce.unassigned == {"R2": TOO_FEW_AMBULANCES}


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"eta_s": [[1.0]], "transfer_ids": ["R", "R"], "ambulance_ids": ["A"]}, "transfer_ids"),
        ({"eta_s": [[1.0, 2.0]], "transfer_ids": ["R"], "ambulance_ids": ["A"]}, "eta_s[0]"),
        ({"eta_s": [[float("nan")]], "transfer_ids": ["R"], "ambulance_ids": ["A"]}, "eta_s[0][0]"),
        ({"eta_s": [[-5.0]], "transfer_ids": ["R"], "ambulance_ids": ["A"]}, "eta_s[0][0]"),
        ({"eta_s": [[1.0]], "transfer_ids": ["R"], "ambulance_ids": ["A"], "priority": [0.0]}, "priority[0]"),
    ],
)
def test_bad_problems_name_the_field(kw: dict, field: str) -> None:
    eta = kw.pop("eta_s")
    with pytest.raises(DispatchInputError) as e:
        DispatchProblem.from_matrix(eta, **kw)
    assert e.value.field == field
    assert isinstance(e.value, ValueError)
