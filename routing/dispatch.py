"""Which ambulance picks up which waiting patient: a min-cost assignment with OR-Tools.

Several transfers wait, several ambulances are free: assign at most one ambulance per transfer
and one transfer per ambulance, minimising the sum of pickup ETAs, each weighted by the
transfer's priority (an emergency's minutes count more). A transfer no ambulance can reach is
left unassigned with the reason; so is one for which there are too few ambulances (the
lowest-priority, costliest ones go first). Solved exactly as a min-cost flow (an assignment
problem is totally unimodular), in milliseconds for hundreds of ambulances.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from routing.errors import RoutingError

if TYPE_CHECKING:
    from collections.abc import Sequence

NO_AMBULANCE_REACHES = "no available ambulance can reach the pickup by road"
TOO_FEW_AMBULANCES = "more transfers wait than ambulances are available"


class DispatchInputError(ValueError, RoutingError):
    """A malformed dispatch problem; ``field`` names the part."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True, slots=True)
class DispatchProblem:
    """Transfers x ambulances: pickup ETAs in seconds (None: no road route)."""

    transfer_ids: tuple[str, ...]
    ambulance_ids: tuple[str, ...]
    eta_s: tuple[tuple[float | None, ...], ...]
    priority: tuple[float, ...]

    @classmethod
    def from_matrix(
        cls,
        eta_s: Sequence[Sequence[float | None]],
        *,
        transfer_ids: Sequence[str],
        ambulance_ids: Sequence[str],
        priority: Sequence[float] | None = None,
    ) -> DispatchProblem:
        """Checked: one row per transfer, one column per ambulance, ETAs finite and >= 0."""
        if len(set(transfer_ids)) != len(transfer_ids):
            raise DispatchInputError("transfer_ids", "ids must be unique")
        if len(set(ambulance_ids)) != len(ambulance_ids):
            raise DispatchInputError("ambulance_ids", "ids must be unique")
        if len(eta_s) != len(transfer_ids):
            raise DispatchInputError("eta_s", f"{len(eta_s)} rows for {len(transfer_ids)} transfers")
        rows = []
        for i, row in enumerate(eta_s):
            if len(row) != len(ambulance_ids):
                raise DispatchInputError(
                    f"eta_s[{i}]", f"{len(row)} columns for {len(ambulance_ids)} ambulances"
                )
            for j, t in enumerate(row):
                if t is not None and not (math.isfinite(t) and t >= 0):
                    raise DispatchInputError(f"eta_s[{i}][{j}]", f"{t!r} is not a time in seconds")
            rows.append(tuple(row))
        prio = tuple(priority) if priority is not None else (1.0,) * len(transfer_ids)
        if len(prio) != len(transfer_ids):
            raise DispatchInputError("priority", f"{len(prio)} values for {len(transfer_ids)} transfers")
        for i, w in enumerate(prio):
            if not (math.isfinite(w) and w > 0):
                raise DispatchInputError(f"priority[{i}]", f"{w!r} is not a positive weight")
        return cls(tuple(transfer_ids), tuple(ambulance_ids), tuple(rows), prio)


@dataclass(frozen=True, slots=True)
class DispatchProposal:
    """Who goes where, the ETAs, what is left, and the weighted objective (optimal)."""

    assigned: dict[str, tuple[str, float]]  # transfer -> (ambulance, pickup ETA s)
    unassigned: dict[str, str]  # transfer -> reason
    weighted_eta_s: float


class DispatchAssignment:
    """The assignment model: an immutable problem in, an immutable proposal out."""

    #: costs are integers: ETA seconds x priority, to this many decimals
    SCALE = 100

    def __init__(self, problem: DispatchProblem) -> None:
        self.problem = problem

    def solve(self) -> DispatchProposal:
        """The optimal proposal (min-cost flow: exact)."""
        p = self.problem
        n_t, n_a = len(p.transfer_ids), len(p.ambulance_ids)
        reachable = [any(t is not None for t in row) for row in p.eta_s]
        if n_t == 0:
            return DispatchProposal({}, {}, 0.0)
        # leaving a transfer unassigned costs more than any assignment could
        worst = max(
            (t * w for row, w in zip(p.eta_s, p.priority, strict=True) for t in row if t is not None),
            default=0,
        )
        skip_base = round((worst + 1) * self.SCALE) * (n_t + 1)
        from ortools.graph.python import min_cost_flow  # noqa: PLC0415  not at start-up

        flow = min_cost_flow.SimpleMinCostFlow()
        source, sink = 0, 1 + n_t + n_a
        for i in range(n_t):
            flow.add_arc_with_capacity_and_unit_cost(source, 1 + i, 1, 0)
            # skipping an important transfer costs more than skipping a minor one
            flow.add_arc_with_capacity_and_unit_cost(1 + i, sink, 1, round(skip_base * p.priority[i]))
            for j, t in enumerate(p.eta_s[i]):
                if t is not None:
                    flow.add_arc_with_capacity_and_unit_cost(
                        1 + i, 1 + n_t + j, 1, round(t * p.priority[i] * self.SCALE)
                    )
        for j in range(n_a):
            flow.add_arc_with_capacity_and_unit_cost(1 + n_t + j, sink, 1, 0)
        flow.set_node_supply(source, n_t)
        flow.set_node_supply(sink, -n_t)
        status = flow.solve()
        if status != flow.OPTIMAL:
            msg = f"the assignment solver ended with status {status}"
            raise RoutingError(msg)
        assigned: dict[str, tuple[str, float]] = {}
        for arc in range(flow.num_arcs()):
            u, v = flow.tail(arc), flow.head(arc)
            if flow.flow(arc) and 1 <= u <= n_t and n_t < v < sink:
                i, j = u - 1, v - 1 - n_t
                t = p.eta_s[i][j]
                assert t is not None
                assigned[p.transfer_ids[i]] = (p.ambulance_ids[j], t)
        unassigned = {
            tid: (TOO_FEW_AMBULANCES if reachable[i] else NO_AMBULANCE_REACHES)
            for i, tid in enumerate(p.transfer_ids)
            if tid not in assigned
        }
        weighted = sum(t * p.priority[p.transfer_ids.index(tid)] for tid, (_, t) in assigned.items())
        return DispatchProposal(assigned, unassigned, weighted)
