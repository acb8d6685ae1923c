"""Live road conditions: a closure or a slowdown on some edges, chosen by id or by polygon."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry  # noqa: TC002  dataclass field type

from routing.errors import InvalidConditionError

if TYPE_CHECKING:
    from geodata.roadgraph import RoadGraph
    from routing.compiled import FloatArray, IntArray


@dataclass(frozen=True, slots=True)
class RoadCondition:
    """A closure (``factor`` = inf) or a slowdown (travel time x ``factor`` > 1).

    The affected stretch is ``edges`` (indices into the RoadGraph's edge arrays) and/or every
    edge that touches ``polygon`` (EPSG:4326).
    """

    id: str
    factor: float
    edges: tuple[int, ...] = ()
    polygon: BaseGeometry | None = None
    reason: str = ""

    @classmethod
    def closure(
        cls,
        condition_id: str,
        *,
        edges: tuple[int, ...] = (),
        polygon: BaseGeometry | None = None,
        reason: str = "",
    ) -> RoadCondition:
        """Close the stretch (flood, landslide, bridge out)."""
        return cls(id=condition_id, factor=math.inf, edges=edges, polygon=polygon, reason=reason)

    @classmethod
    def slowdown(
        cls,
        condition_id: str,
        factor: float,
        *,
        edges: tuple[int, ...] = (),
        polygon: BaseGeometry | None = None,
        reason: str = "",
    ) -> RoadCondition:
        """Multiply travel times on the stretch by ``factor`` (> 1)."""
        return cls(id=condition_id, factor=factor, edges=edges, polygon=polygon, reason=reason)


def condition_edges(cond: RoadCondition, graph: RoadGraph) -> IntArray:
    """Edge indices a condition applies to; an empty or invalid selection is an error."""
    if not cond.id:
        msg = "condition id is empty"
        raise InvalidConditionError(msg)
    if not (cond.factor > 1.0):  # also rejects NaN
        msg = f"condition {cond.id!r}: factor {cond.factor!r} must be > 1 (inf closes the road)"
        raise InvalidConditionError(msg)
    chosen = np.asarray(cond.edges, dtype=np.int64)
    if chosen.size and (chosen.min() < 0 or chosen.max() >= graph.n_edges):
        msg = f"condition {cond.id!r}: edge index out of range [0, {graph.n_edges})"
        raise InvalidConditionError(msg)
    if cond.polygon is not None:
        chosen = np.union1d(chosen, edges_touching(graph, cond.polygon))
    if chosen.size == 0:
        msg = f"condition {cond.id!r}: no road edge selected"
        raise InvalidConditionError(msg)
    return np.unique(chosen)


def edges_touching(graph: RoadGraph, polygon: BaseGeometry) -> IntArray:
    """Indices of the edges whose straight segment intersects the polygon."""
    if polygon.is_empty or not polygon.is_valid:
        msg = "polygon is empty or invalid"
        raise InvalidConditionError(msg)
    minx, miny, maxx, maxy = polygon.bounds
    lon_u, lat_u = graph.lon[graph.edge_u], graph.lat[graph.edge_u]
    lon_v, lat_v = graph.lon[graph.edge_v], graph.lat[graph.edge_v]
    near = ~(
        (np.maximum(lon_u, lon_v) < minx)
        | (np.minimum(lon_u, lon_v) > maxx)
        | (np.maximum(lat_u, lat_v) < miny)
        | (np.minimum(lat_u, lat_v) > maxy)
    )
    cand = np.flatnonzero(near)
    if cand.size == 0:
        return cand
    coords = np.stack(
        [np.column_stack([lon_u[cand], lat_u[cand]]), np.column_stack([lon_v[cand], lat_v[cand]])], axis=1
    )
    lines = shapely.linestrings(coords)
    return cand[shapely.intersects(lines, polygon)]


def multipliers(conditions: list[tuple[RoadCondition, IntArray]], n_edges: int) -> FloatArray:
    """Per-edge time multipliers of all conditions in force (overlaps: the strongest wins)."""
    m = np.ones(n_edges, dtype=np.float64)
    for cond, edges in conditions:
        m[edges] = np.maximum(m[edges], cond.factor)
    return m
