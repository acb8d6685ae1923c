"""Mass-casualty / disaster distribution (Perbup 49/2025 Pasal 6): patients to hospitals within capacity.

An immutable problem in, an immutable solution out; the CP-SAT model is built by
``_add_constraints`` and ``_add_objective``, always with a time limit and a seed, and the
optimality gap is reported. The objective is lexicographic: first place as much severity as
the capacities allow (a patient is never left out to shorten other patients' trips), then
minimise the severity-weighted travel time of those placed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from ortools.sat.python import cp_model

from routing.errors import InvalidProblemError, RoutingError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import numpy.typing as npt

NO_CAPABLE_HOSPITAL = "no capable hospital reachable"
NO_CAPACITY = "no capacity left at the capable hospitals"


@dataclass(frozen=True)
class AssignmentProblem:
    """Patients (severity, resource needed) x hospitals (capacity per resource), travel times.

    ``time_s[p, h]`` is inf where hospital h cannot take patient p (capability or no road).
    """

    patient_ids: tuple[str, ...]
    hospital_ids: tuple[str, ...]
    severity: tuple[float, ...]
    resource: tuple[str, ...]
    capacity: Mapping[tuple[str, str], int]
    time_s: npt.NDArray[np.float64]

    @classmethod
    def from_cost_matrix(
        cls,
        time_s: Sequence[Sequence[float]],
        *,
        patient_ids: Sequence[str],
        hospital_ids: Sequence[str],
        severity: Sequence[float],
        resource: Sequence[str],
        capacity: Mapping[tuple[str, str], int],
    ) -> AssignmentProblem:
        """Build and check a problem (shapes, severities > 0, capacities >= 0)."""
        n_p, n_h = len(patient_ids), len(hospital_ids)
        for name, ids in (("patient_ids", patient_ids), ("hospital_ids", hospital_ids)):
            if len(set(ids)) != len(ids):
                raise InvalidProblemError(name, "ids must be unique")
        try:
            t = np.asarray(time_s, dtype=np.float64)
        except ValueError as exc:
            raise InvalidProblemError("time_s", f"not a numeric matrix ({exc})") from exc
        if t.shape != (n_p, n_h):
            raise InvalidProblemError(
                "time_s", f"shape {t.shape}, expected (patients, hospitals) {(n_p, n_h)}"
            )
        if len(severity) != n_p:
            raise InvalidProblemError("severity", f"{len(severity)} entries for {n_p} patients")
        if len(resource) != n_p:
            raise InvalidProblemError("resource", f"{len(resource)} entries for {n_p} patients")
        for i, s in enumerate(severity):
            if not (math.isfinite(s) and 0.01 <= s <= 1000):
                raise InvalidProblemError("severity", f"{patient_ids[i]!r}: {s!r} not in 0.01..1000")
        for key, c in capacity.items():
            if c < 0:
                raise InvalidProblemError("capacity", f"{key}: {c} is negative")
            if key[0] not in hospital_ids:
                raise InvalidProblemError("capacity", f"{key}: unknown hospital {key[0]!r}")
        if np.any(np.isnan(t)) or np.any(t < 0):
            raise InvalidProblemError("time_s", "travel times must be >= 0 (inf where impossible)")
        return cls(
            tuple(patient_ids),
            tuple(hospital_ids),
            tuple(float(s) for s in severity),
            tuple(resource),
            dict(capacity),
            t,
        )


@dataclass(frozen=True)
class Assignment:
    """Who goes where; who could not be placed and why; how good the solution is.

    ``weighted_travel_s`` is the sum of severity x travel seconds of the placed patients and
    ``bound_travel_s`` the solver's proven lower bound for it given as much placed severity;
    ``gap`` is their relative difference (0 when the solution is proven optimal).
    """

    assigned: Mapping[str, str]
    unplaced: Mapping[str, str]
    placed_severity: float
    weighted_travel_s: float
    bound_travel_s: float
    gap: float
    status: str
    solve_time_s: float


class DisasterAssignment:
    """CP-SAT model of the distribution problem."""

    def __init__(self, problem: AssignmentProblem, *, time_limit_s: float = 10.0, seed: int = 0) -> None:
        self.problem = problem
        self.time_limit_s = time_limit_s
        self.seed = seed
        self.model = cp_model.CpModel()
        p = problem
        self.x: dict[tuple[int, int], cp_model.IntVar] = {
            (i, j): self.model.new_bool_var(f"x_{i}_{j}")
            for i in range(len(p.patient_ids))
            for j in range(len(p.hospital_ids))
            if math.isfinite(p.time_s[i, j])
        }
        finite = p.time_s[np.isfinite(p.time_s)]
        self.max_trip_s = math.ceil(float(finite.max())) + 1 if finite.size else 1
        self.w = [round(s * 100) for s in p.severity]
        self._add_constraints()
        self._add_objective()

    def _add_constraints(self) -> None:
        p = self.problem
        for i in range(len(p.patient_ids)):
            self.model.add_at_most_one(v for (a, _), v in self.x.items() if a == i)
        for j, h in enumerate(p.hospital_ids):
            for res in sorted(set(p.resource)):
                users = [v for (i, b), v in self.x.items() if b == j and p.resource[i] == res]
                if users:
                    self.model.add(sum(users) <= p.capacity.get((h, res), 0))

    def _add_objective(self) -> None:
        p = self.problem
        # integers: severity in hundredths, time in whole seconds. Placing patient i earns
        # w_i * big, where big exceeds any possible total weighted travel, so placed severity
        # dominates and travel time decides among equally good placements.
        w = self.w
        self.big = sum(w) * self.max_trip_s + 1
        self.model.minimize(
            sum(w[i] * (round(float(p.time_s[i, j])) - self.big) * v for (i, j), v in self.x.items())
        )

    def solve(self) -> Assignment:
        """Solve within the time limit (one worker, fixed seed: the same answer every run)."""
        p = self.problem
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = self.time_limit_s
        solver.parameters.random_seed = self.seed
        solver.parameters.num_workers = 1  # deterministic
        t0 = time.perf_counter()
        status = solver.solve(self.model)
        elapsed = time.perf_counter() - t0
        name = solver.status_name(status)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            msg = f"the solver found no solution ({name})"
            raise RoutingError(msg)
        assigned: dict[str, str] = {}
        weighted = 0.0
        placed_w = 0
        for (i, j), v in self.x.items():
            if solver.value(v):
                assigned[p.patient_ids[i]] = p.hospital_ids[j]
                weighted += p.severity[i] * float(p.time_s[i, j])
                placed_w += self.w[i]
        unplaced = {}
        for i, pid in enumerate(p.patient_ids):
            if pid not in assigned:
                capable = any(a == i for (a, _) in self.x)
                unplaced[pid] = NO_CAPACITY if capable else NO_CAPABLE_HOSPITAL
        travel_int = solver.objective_value + self.big * placed_w
        bound_int = solver.best_objective_bound + self.big * placed_w
        if status == cp_model.OPTIMAL:
            bound_int = travel_int
        gap = max(0.0, (travel_int - bound_int) / max(travel_int, 1.0))
        return Assignment(
            assigned=dict(sorted(assigned.items())),
            unplaced=dict(sorted(unplaced.items())),
            placed_severity=placed_w / 100,
            weighted_travel_s=weighted,
            bound_travel_s=bound_int / 100,
            gap=gap,
            status=name,
            solve_time_s=elapsed,
        )
