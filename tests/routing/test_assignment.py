"""Disaster distribution (Pasal 6): capacities, unplaced reasons, brute-force optimum."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.assignment import (
    NO_CAPABLE_HOSPITAL,
    NO_CAPACITY,
    AssignmentProblem,
    DisasterAssignment,
)
from routing.errors import InvalidProblemError

INF = math.inf


def _problem(
    t: list[list[float]], sev: list[float], res: list[str], cap: dict[tuple[str, str], int]
) -> AssignmentProblem:
    return AssignmentProblem.from_cost_matrix(
        t,
        patient_ids=[f"p{i}" for i in range(len(t))],
        hospital_ids=[f"h{j}" for j in range(len(t[0]) if t else 0)],
        severity=sev,
        resource=res,
        capacity=cap,
    )


def test_nearest_until_full_then_next() -> None:
    # three patients all nearest to h0, which has two beds
    p = _problem(
        [[600, 1800], [600, 1800], [600, 1800]],
        [3.0, 1.0, 2.0],
        ["icu", "icu", "icu"],
        {("h0", "icu"): 2, ("h1", "icu"): 5},
    )
    a = DisasterAssignment(p, time_limit_s=5).solve()
    assert a.status == "OPTIMAL" and a.gap == 0
    # the least severe patient takes the longer trip
    assert a.assigned == {"p0": "h0", "p1": "h1", "p2": "h0"}
    assert a.unplaced == {}
    assert a.weighted_travel_s == pytest.approx(3 * 600 + 1 * 1800 + 2 * 600)
    assert a.bound_travel_s == pytest.approx(a.weighted_travel_s)


def test_unplaced_patients_and_why() -> None:
    p = _problem(
        [[600, INF], [INF, INF], [900, INF]],
        [1.0, 5.0, 4.0],
        ["general", "general", "general"],
        {("h0", "general"): 1},
    )
    a = DisasterAssignment(p).solve()
    assert a.unplaced == {"p0": NO_CAPACITY, "p1": NO_CAPABLE_HOSPITAL}
    assert a.assigned == {"p2": "h0"}  # the single bed goes to the more severe patient
    assert a.placed_severity == pytest.approx(4.0)


def test_capacity_is_per_resource() -> None:
    p = _problem(
        [[60, 600], [60, 600]],
        [1.0, 1.0],
        ["nicu", "maternity"],
        {("h0", "maternity"): 1, ("h1", "nicu"): 1, ("h1", "maternity"): 1},
    )
    a = DisasterAssignment(p).solve()
    assert a.assigned == {"p0": "h1", "p1": "h0"}  # h0 has no NICU bed, however near


def test_same_answer_every_run() -> None:
    rng = np.random.default_rng(7)
    t = rng.integers(60, 7200, size=(40, 6)).astype(float).tolist()
    sev = rng.integers(1, 5, size=40).astype(float).tolist()
    cap = {(f"h{j}", "general"): 6 for j in range(6)}
    p = _problem(t, sev, ["general"] * 40, cap)
    runs = [DisasterAssignment(p, time_limit_s=10, seed=3).solve() for _ in range(2)]
    assert runs[0].assigned == runs[1].assigned
    assert runs[0].weighted_travel_s == runs[1].weighted_travel_s


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"severity": [1.0]}, "severity"),
        ({"severity": [1.0, math.nan]}, "severity"),
        ({"severity": [1.0, 0.0]}, "severity"),
        ({"resource": ["general"]}, "resource"),
        ({"capacity": {("h0", "general"): -1}}, "capacity"),
        ({"capacity": {("hX", "general"): 1}}, "capacity"),
        ({"time_s": [[1.0], [2.0]]}, "time_s"),
        ({"time_s": [[1.0, -2.0], [2.0, 3.0]]}, "time_s"),
        ({"time_s": [[1.0, math.nan], [2.0, 3.0]]}, "time_s"),
        ({"patient_ids": ["a", "a"]}, "patient_ids"),
    ],
)
def test_bad_input_names_the_field(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {
        "time_s": [[1.0, 2.0], [2.0, 3.0]],
        "patient_ids": ["a", "b"],
        "hospital_ids": ["h0", "h1"],
        "severity": [1.0, 2.0],
        "resource": ["general", "general"],
        "capacity": {("h0", "general"): 1},
    }
    args.update(kwargs)
    with pytest.raises(InvalidProblemError, match=f"field '{field}'") as err:
        AssignmentProblem.from_cost_matrix(**args)  # type: ignore[arg-type]
    assert err.value.field == field


def _brute_force(p: AssignmentProblem) -> tuple[int, int]:
    """Best (placed severity in hundredths, weighted travel) over every assignment."""
    n_p, n_h = p.time_s.shape
    best: tuple[int, int] | None = None
    for choice in itertools.product(range(-1, n_h), repeat=n_p):
        used: dict[tuple[str, str], int] = {}
        placed = travel = 0
        ok = True
        for i, j in enumerate(choice):
            if j < 0:
                continue
            if not math.isfinite(p.time_s[i, j]):
                ok = False
                break
            key = (p.hospital_ids[j], p.resource[i])
            used[key] = used.get(key, 0) + 1
            if used[key] > p.capacity.get(key, 0):
                ok = False
                break
            w = round(p.severity[i] * 100)
            placed += w
            travel += w * round(float(p.time_s[i, j]))
        if ok and (best is None or (-placed, travel) < (-best[0], best[1])):
            best = (placed, travel)
    assert best is not None
    return best


@st.composite
def small_problems(draw: st.DrawFn) -> AssignmentProblem:
    n_p = draw(st.integers(1, 5))
    n_h = draw(st.integers(1, 3))
    time_s = [
        [draw(st.one_of(st.just(INF), st.integers(0, 5000).map(float))) for _ in range(n_h)]
        for _ in range(n_p)
    ]
    sev = [draw(st.sampled_from([0.5, 1.0, 2.0, 3.5])) for _ in range(n_p)]
    res = [draw(st.sampled_from(["icu", "general"])) for _ in range(n_p)]
    cap = {(f"h{j}", r): draw(st.integers(0, 2)) for j in range(n_h) for r in ("icu", "general")}
    return _problem(time_s, sev, res, cap)


@settings(max_examples=60, deadline=None)
@given(small_problems())
def test_matches_brute_force_optimum(p: AssignmentProblem) -> None:
    a = DisasterAssignment(p, time_limit_s=10).solve()
    placed, travel = _brute_force(p)
    assert a.status == "OPTIMAL"
    assert round(a.placed_severity * 100) == placed
    w = {pid: round(s * 100) for pid, s in zip(p.patient_ids, p.severity, strict=True)}
    got = sum(
        w[pid] * round(float(p.time_s[p.patient_ids.index(pid), p.hospital_ids.index(h)]))
        for pid, h in a.assigned.items()
    )
    assert got == travel
    # feasibility: capacities respected, only finite trips
    used: dict[tuple[str, str], int] = {}
    for pid, h in a.assigned.items():
        i = p.patient_ids.index(pid)
        assert math.isfinite(p.time_s[i, p.hospital_ids.index(h)])
        key = (h, p.resource[i])
        used[key] = used.get(key, 0) + 1
    assert all(n <= p.capacity.get(k, 0) for k, n in used.items())
    assert set(a.assigned) | set(a.unplaced) == set(p.patient_ids)
    assert not set(a.assigned) & set(a.unplaced)
