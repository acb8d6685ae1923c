"""Capacitated regionalisation: which regional hospital each Puskesmas refers to.

Each origin (Puskesmas) goes to exactly one hospital; a hospital takes at most its capacity
(referrals in the period); the objective is the demand-weighted road travel time. This is a
single-source capacitated assignment (NP-hard), solved with CP-SAT:

- candidate pruning: each origin considers its ``max_candidates`` fastest hospitals, plus the
  hospital the splittable relaxation sends it to and its hospital in the reference assignment
  (e.g. the regulation's), so the reference is always a feasible answer;
- a lower bound from the splittable relaxation on *all* pairs, solved exactly as a min-cost flow
  in milliseconds: the gap reported is against it, so it holds for the unpruned problem;
- the relaxation, rounded and repaired, as the solver's hint;
- always a time limit and a seed.

An immutable problem in, an immutable solution out (``from_matrix`` checks the input).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from ortools.graph.python import min_cost_flow
from ortools.sat.python import cp_model

from routing.errors import InvalidProblemError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import numpy.typing as npt


@dataclass(frozen=True)
class RegionalisationProblem:
    """Origins (demand) x hospitals (capacity), road times in seconds (inf: no road)."""

    origin_ids: tuple[str, ...]
    hospital_ids: tuple[str, ...]
    demand: tuple[int, ...]
    capacity: tuple[int, ...]
    time_s: npt.NDArray[np.float64]

    @classmethod
    def from_matrix(
        cls,
        time_s: Sequence[Sequence[float]] | npt.NDArray[np.float64],
        *,
        origin_ids: Sequence[str],
        hospital_ids: Sequence[str],
        demand: Sequence[int],
        capacity: Sequence[int],
    ) -> RegionalisationProblem:
        """A checked problem: unique ids, shapes, demand and capacity whole and >= 0, times >= 0."""
        for name, ids in (("origin_ids", origin_ids), ("hospital_ids", hospital_ids)):
            if len(set(ids)) != len(ids):
                raise InvalidProblemError(name, "ids must be unique")
        t = np.asarray(time_s, dtype=np.float64)
        if t.shape != (len(origin_ids), len(hospital_ids)):
            raise InvalidProblemError(
                "time_s", f"shape {t.shape}, expected {(len(origin_ids), len(hospital_ids))}"
            )
        if np.isnan(t).any() or (t < 0).any():
            raise InvalidProblemError("time_s", "times must be >= 0 (inf where there is no road)")
        for name, vals, n in (("demand", demand, len(origin_ids)), ("capacity", capacity, len(hospital_ids))):
            if len(vals) != n:
                raise InvalidProblemError(name, f"{len(vals)} values for {n} entries")
            for i, v in enumerate(vals):
                if int(v) != v or v < 0:
                    raise InvalidProblemError(f"{name}[{i}]", f"{v!r} is not a whole number >= 0")
        return cls(
            tuple(origin_ids),
            tuple(hospital_ids),
            tuple(int(d) for d in demand),
            tuple(int(c) for c in capacity),
            t,
        )


@dataclass(frozen=True)
class RegionalisationSolution:
    """Who goes where, and how good that is."""

    status: str  # "optimal" | "feasible" | "infeasible"
    assignment: Mapping[str, str]  # origin -> hospital
    weighted_time_s: float  # sum of demand x time
    mean_time_s: float  # per referral
    lower_bound_s: float  # splittable relaxation on all pairs (a bound for the full problem)
    gap: float  # (weighted - lower bound) / weighted
    load: Mapping[str, int]
    solve_s: float
    reason: str = ""


def synthetic_province(
    n_origins: int, n_hospitals: int, *, seed: int
) -> tuple[RegionalisationProblem, dict[str, str]]:
    """A random province for tests and benchmarks, and a reference assignment that fits.

    Puskesmas and hospitals at random in a 300 x 300 km square; road time = straight line x 1.3
    at 50 km/h; 50-500 referrals per Puskesmas; every hospital 1.25 x the mean load. The
    reference sends the largest origins first to the nearest hospital with room.
    """
    rng = np.random.default_rng(seed)
    o_xy, h_xy = rng.uniform(0, 300_000, (n_origins, 2)), rng.uniform(0, 300_000, (n_hospitals, 2))
    t = np.linalg.norm(o_xy[:, None, :] - h_xy[None, :, :], axis=2) * 1.3 / 13.9
    demand = rng.integers(50, 500, n_origins)
    capacity = np.full(n_hospitals, int(demand.sum() * 1.25 / n_hospitals))
    problem = RegionalisationProblem.from_matrix(
        t,
        origin_ids=[f"P{i}" for i in range(n_origins)],
        hospital_ids=[f"H{j}" for j in range(n_hospitals)],
        demand=demand.tolist(),
        capacity=capacity.tolist(),
    )
    load = np.zeros(n_hospitals)
    reference = {}
    for i in np.argsort(-demand):
        for j in np.argsort(t[i]):
            if load[j] + demand[i] <= capacity[j]:
                load[j] += demand[i]
                reference[f"P{i}"] = f"H{j}"
                break
    return problem, reference


def splittable_bound(p: RegionalisationProblem) -> tuple[float, npt.NDArray[np.float64]] | None:
    """The optimum when an origin may split its demand (min-cost flow, exact), and the flows.

    None when the total capacity reachable cannot absorb the demand.
    """
    n_o, n_h = len(p.origin_ids), len(p.hospital_ids)
    flow = min_cost_flow.SimpleMinCostFlow()
    src, sink = n_o + n_h, n_o + n_h + 1
    arcs: list[tuple[int, int, int]] = []
    for i in range(n_o):
        if p.demand[i]:
            flow.add_arc_with_capacity_and_unit_cost(src, i, p.demand[i], 0)
            arcs.extend(
                (
                    flow.add_arc_with_capacity_and_unit_cost(i, n_o + j, p.demand[i], round(p.time_s[i, j])),
                    i,
                    j,
                )
                for j in range(n_h)
                if math.isfinite(p.time_s[i, j])
            )
    for j in range(n_h):
        flow.add_arc_with_capacity_and_unit_cost(n_o + j, sink, p.capacity[j], 0)
    total = sum(p.demand)
    flow.set_node_supply(src, total)
    flow.set_node_supply(sink, -total)
    if flow.solve() != flow.OPTIMAL:
        return None
    x = np.zeros((n_o, n_h))
    for arc, i, j in arcs:
        x[i, j] = flow.flow(arc)
    return float(flow.optimal_cost()), x


class Regionalisation:
    """The CP-SAT model; ``solve`` returns an immutable solution."""

    def __init__(
        self,
        problem: RegionalisationProblem,
        *,
        reference: Mapping[str, str] | None = None,
        max_candidates: int | None = 10,
        time_limit_s: float = 30.0,
        seed: int = 0,
        workers: int = 2,
    ) -> None:
        self.p = problem
        self.reference = dict(reference or {})
        self.max_candidates = max_candidates
        self.time_limit_s = time_limit_s
        self.seed = seed
        self.workers = workers

    def _candidates(self, relaxed: npt.NDArray[np.float64], *, limit: int | None) -> list[list[int]]:
        p = self.p
        col = {h: j for j, h in enumerate(p.hospital_ids)}
        out = []
        for i, oid in enumerate(p.origin_ids):
            ok = [j for j in np.argsort(p.time_s[i], kind="stable").tolist() if math.isfinite(p.time_s[i, j])]
            keep = set(ok if limit is None else ok[:limit])
            keep |= {int(j) for j in np.flatnonzero(relaxed[i] > 0)}
            ref = self.reference.get(oid)
            if ref in col and math.isfinite(p.time_s[i, col[ref]]):
                keep.add(col[ref])
            out.append(sorted(keep))
        return out

    def _hint(self, relaxed: npt.NDArray[np.float64], cands: list[list[int]]) -> list[int]:
        """The relaxation rounded (largest share), then overloaded hospitals relieved greedily."""
        p = self.p
        pick = [
            max(c, key=lambda j: (relaxed[i, j], -p.time_s[i, j])) if c else -1 for i, c in enumerate(cands)
        ]
        load = np.zeros(len(p.hospital_ids))
        for i, j in enumerate(pick):
            if j >= 0:
                load[j] += p.demand[i]
        for i in sorted(range(len(pick)), key=lambda i: p.demand[i]):
            j = pick[i]
            if j < 0 or load[j] <= p.capacity[j]:
                continue
            for alt in sorted(cands[i], key=lambda a: p.time_s[i, a]):
                if load[alt] + p.demand[i] <= p.capacity[alt]:
                    load[j] -= p.demand[i]
                    load[alt] += p.demand[i]
                    pick[i] = alt
                    break
        return pick

    def _run(
        self, cands: list[list[int]], hint: list[int], time_limit_s: float
    ) -> tuple[cp_model.CpSolverStatus, list[int], float]:
        """One CP-SAT solve over these candidates: (status, hospital per origin or -1, bound)."""
        model = cp_model.CpModel()
        x: dict[tuple[int, int], cp_model.IntVar] = {}
        self._add_constraints(model, x, cands)
        self._add_objective(model, x)
        for (i, j), var in x.items():
            model.add_hint(var, int(hint[i] == j))
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(0.01, time_limit_s)
        solver.parameters.random_seed = self.seed
        solver.parameters.num_workers = self.workers
        status = solver.solve(model)
        pick = [-1] * len(cands)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            for (i, j), var in x.items():
                if solver.value(var):
                    pick[i] = j
        return status, pick, float(solver.best_objective_bound)

    def solve(self) -> RegionalisationSolution:
        """The best assignment found within the time limit, with the gap to a valid lower bound.

        With candidate pruning: first the pruned model (a good answer fast, in a third of the
        time), then the whole model started from it, whose bound holds for the whole problem.
        """
        started = time.perf_counter()
        p = self.p
        relaxed = splittable_bound(p)
        if relaxed is None:
            return RegionalisationSolution(
                "infeasible", {}, math.inf, math.inf, math.inf, math.inf, {}, time.perf_counter() - started,
                "the hospitals' capacity cannot absorb the demand (even split across hospitals)",
            )  # fmt: skip
        bound, x_relaxed = relaxed
        full = self._candidates(x_relaxed, limit=None)
        hint = self._hint(x_relaxed, full)
        if self.max_candidates is not None:
            pruned = self._candidates(x_relaxed, limit=self.max_candidates)
            status, pick, _ = self._run(pruned, self._hint(x_relaxed, pruned), self.time_limit_s / 3)
            if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                hint = pick
        left = self.time_limit_s - (time.perf_counter() - started)
        status, pick, cp_bound = self._run(full, hint, left)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return RegionalisationSolution(
                "infeasible", {}, math.inf, math.inf, bound, math.inf, {}, time.perf_counter() - started,
                "no single-hospital assignment fits the capacities",
            )  # fmt: skip
        assignment = {}
        load = dict.fromkeys(p.hospital_ids, 0)
        weighted = 0.0
        for i, j in enumerate(pick):
            if j >= 0:
                assignment[p.origin_ids[i]] = p.hospital_ids[j]
                load[p.hospital_ids[j]] += p.demand[i]
                weighted += p.demand[i] * float(p.time_s[i, j])
        total = sum(p.demand)
        optimal = status == cp_model.OPTIMAL
        # the whole model's bound and the splittable relaxation both hold; the model counts whole
        # seconds, so its bound is lowered by the most rounding can hide (half a second each)
        lb = weighted if optimal else max(bound, cp_bound - 0.5 * total, 0.0)
        gap = 0.0 if weighted <= 0 or optimal else max(0.0, (weighted - lb) / weighted)
        return RegionalisationSolution(
            "optimal" if optimal else "feasible",
            assignment,
            weighted,
            weighted / total if total else 0.0,
            lb,
            gap,
            load,
            time.perf_counter() - started,
        )

    def _add_constraints(
        self, model: cp_model.CpModel, x: dict[tuple[int, int], cp_model.IntVar], cands: list[list[int]]
    ) -> None:
        p = self.p
        for i, c in enumerate(cands):
            if not c:  # no road to any hospital (and no demand, or the relaxation would have failed)
                continue
            for j in c:
                x[i, j] = model.new_bool_var(f"x_{i}_{j}")
            model.add_exactly_one(x[i, j] for j in c)
        by_h: dict[int, list[int]] = {}
        for i, j in x:
            by_h.setdefault(j, []).append(i)
        for j, origins in by_h.items():
            model.add(sum(p.demand[i] * x[i, j] for i in origins) <= p.capacity[j])

    def _add_objective(self, model: cp_model.CpModel, x: dict[tuple[int, int], cp_model.IntVar]) -> None:
        p = self.p
        model.minimize(sum(p.demand[i] * round(float(p.time_s[i, j])) * v for (i, j), v in x.items()))
