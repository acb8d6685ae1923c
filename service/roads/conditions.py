"""Road conditions as live data, applied to the routing engine of every worker.

Stored in the database; each worker syncs its engine with the stored set every few seconds;
lifted by hand or when they expire.

A condition is a road segment picked on the map (the segment nearest to the clicked point, both
ways) or an area (every road touching the polygon), closed or slowed by a factor, with a reason
(Pasal 4 ayat (4): geographic conditions) and an optional expiry. Every change is audited.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import shapely.geometry
from sqlalchemy import or_, select

from routing.conditions import RoadCondition, condition_edges
from routing.errors import InvalidConditionError, RoutingError, UnknownConditionError
from service.audit import audit
from service.database import RoadConditionRow, aware
from service.errors import ConflictError, InputError, NotFoundError

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy.orm import Session

    from routing.engine import RoutingEngine

log = logging.getLogger(__name__)

#: ids of live conditions in the engine (planner scenarios' conditions live in their own engines)
ID_PREFIX = "rc-"
#: one sync or change of the engine's live conditions at a time, per worker
LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Pick:
    """What the user chose: a segment's node ids and its line, or an area."""

    segments: list[list[int]] | None
    geometry: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Spec:
    """A new condition: closed or slowed (by ``factor``), where, why, until when."""

    kind: str
    factor: float | None
    pick: Pick
    reason: str
    expires_at: dt.datetime | None


def pick_segment(engine: RoutingEngine, lon: float, lat: float) -> Pick:
    """The road segment nearest to a clicked point (InputError naming ``at`` when none is near)."""
    try:
        snap = engine.snap(lon, lat)
    except RoutingError as exc:
        raise InputError("at", str(exc)) from None
    g = engine.graph
    a, b = snap.node_a, snap.node_b
    line = {
        "type": "LineString",
        "coordinates": [[float(g.lon[a]), float(g.lat[a])], [float(g.lon[b]), float(g.lat[b])]],
    }
    return Pick(segments=[[int(g.node_id[a]), int(g.node_id[b])]], geometry=line)


def pick_area(geometry: dict[str, Any]) -> Pick:
    """An area from GeoJSON (a Polygon); InputError naming ``polygon`` when it is not one."""
    try:
        shape = shapely.geometry.shape(geometry)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
        raise InputError("polygon", f"not a GeoJSON polygon: {exc}") from None
    if shape.geom_type != "Polygon" or shape.is_empty or not shape.is_valid:
        raise InputError(
            "polygon", "must be one valid polygon (at least 3 distinct corners, not crossing itself)"
        )
    minx, miny, maxx, maxy = shape.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise InputError("polygon", "corners must be longitude, latitude in degrees")
    return Pick(segments=None, geometry=shapely.geometry.mapping(shape))


def to_engine(row: RoadConditionRow, engine: RoutingEngine) -> RoadCondition:
    """The routing engine's form of a stored condition."""
    factor = math.inf if row.kind == "closed" else float(row.factor or 1.0)
    edges: tuple[int, ...] = ()
    polygon = None
    if row.segments:
        edges = tuple(e for u, v in row.segments for e in engine.edges_between(int(u), int(v)))
    else:
        polygon = shapely.geometry.shape(row.geometry)
    return RoadCondition(id=row.id, factor=factor, edges=edges, polygon=polygon, reason=row.reason)


def active(s: Session, now: dt.datetime) -> list[RoadConditionRow]:
    """The conditions in force: not lifted, not expired, oldest first."""
    return list(
        s.scalars(
            select(RoadConditionRow)
            .where(RoadConditionRow.lifted_at.is_(None))
            .where(or_(RoadConditionRow.expires_at.is_(None), RoadConditionRow.expires_at > now))
            .order_by(RoadConditionRow.created_at, RoadConditionRow.id)
        )
    )


def create(
    s: Session, engine: RoutingEngine, spec: Spec, *, actor: int, now: dt.datetime
) -> tuple[RoadConditionRow, int]:
    """Store a condition and put it in force on this worker; returns it and the edges it covers."""
    kind, pick, expires_at = spec.kind, spec.pick, spec.expires_at
    row = RoadConditionRow(
        id=ID_PREFIX + uuid.uuid4().hex[:12],
        kind=kind,
        factor=None if kind == "closed" else spec.factor,
        geometry=pick.geometry,
        segments=pick.segments,
        reason=spec.reason,
        created_by=actor,
        created_at=now,
        expires_at=expires_at,
        updated_at=now,
    )
    cond = to_engine(row, engine)
    try:
        n_edges = len(condition_edges(cond, engine.graph))
    except InvalidConditionError:
        raise InputError(
            "polygon" if pick.segments is None else "at", "touches no road of the network"
        ) from None
    s.add(row)
    s.flush()
    until = expires_at.isoformat() if expires_at else None
    audit(s, actor=actor, action="road_condition.create", entity="road_condition", entity_id=row.id, now=now,
          kind=kind, factor=row.factor, edges=n_edges, expires_at=until)  # fmt: skip
    with LOCK:
        engine.apply_condition(cond)
    return row, n_edges


def lift(
    s: Session, engine: RoutingEngine, condition_id: str, *, actor: int, now: dt.datetime
) -> RoadConditionRow:
    """Lift a condition in force (404 unknown, 409 already lifted or expired); off this worker's engine."""
    row = s.get(RoadConditionRow, condition_id)
    if row is None:
        raise NotFoundError(f"no road condition {condition_id!r}")
    expires = aware(row.expires_at)
    if row.lifted_at is not None or (expires is not None and expires <= now):
        raise ConflictError(f"road condition {condition_id} is no longer in force")
    row.lifted_at = now
    row.lifted_by = actor
    row.updated_at = now
    audit(s, actor=actor, action="road_condition.lift", entity="road_condition", entity_id=row.id, now=now)
    with LOCK, contextlib.suppress(UnknownConditionError):  # not applied here yet: nothing to undo
        engine.remove_condition(row.id)
    return row


def sync(engine: RoutingEngine, rows: list[RoadConditionRow]) -> tuple[int, int]:
    """Bring the engine's live conditions to the stored set: (applied, removed). A stored condition
    the engine refuses (its roads gone from a new road graph) is logged and skipped."""  # noqa: D205, D209
    with LOCK:
        have = {c.id for c in engine.conditions() if c.id.startswith(ID_PREFIX)}
        want = {r.id: r for r in rows}
        removed = 0
        for cid in sorted(have - want.keys()):
            engine.remove_condition(cid)
            removed += 1
        applied = 0
        for cid in sorted(want.keys() - have):
            try:
                engine.apply_condition(to_engine(want[cid], engine))
                applied += 1
            except (InvalidConditionError, ValueError, TypeError) as exc:
                log.warning("road condition %s cannot be applied: %s", cid, exc)
        return applied, removed


def condition_json(row: RoadConditionRow) -> dict[str, Any]:
    """The public form of a condition (for the pages' maps too)."""
    return {
        "id": row.id,
        "kind": row.kind,
        "factor": row.factor,
        "geometry": row.geometry,
        "segments": row.segments,
        "reason": row.reason,
        "created_by": row.created_by,
        "created_at": aware(row.created_at).isoformat(),  # type: ignore[union-attr]
        "expires_at": (e.isoformat() if (e := aware(row.expires_at)) else None),
        "lifted_at": (x.isoformat() if (x := aware(row.lifted_at)) else None),
    }
