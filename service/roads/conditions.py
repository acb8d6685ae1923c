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
    from collections.abc import Callable

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
    except Exception as exc:  # noqa: BLE001  shapely raises many kinds on malformed input (OverflowError too)
        raise InputError("polygon", f"not a GeoJSON polygon: {type(exc).__name__}") from None
    if shape.geom_type != "Polygon" or shape.is_empty or not shape.is_valid:
        raise InputError(
            "polygon", "must be one valid polygon (at least 3 distinct corners, not crossing itself)"
        )
    minx, miny, maxx, maxy = shape.bounds
    if not all(math.isfinite(v) for v in shape.bounds) or not (
        -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90
    ):
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
    """Store a condition (checked against the road network); returns it and the edges it covers.

    The caller commits, then puts it in force here with :func:`put_in_force` (before the commit,
    a sync reading the stored set would take it off again).
    """
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
    return row, n_edges


def lift(s: Session, condition_id: str, *, actor: int, now: dt.datetime) -> RoadConditionRow:
    """Lift a condition in force (404 unknown, 409 already lifted or expired); the caller commits,
    then takes it off this worker's engine (:func:`take_off`)."""  # noqa: D205, D209
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
    return row


def put_in_force(engine: RoutingEngine, row: RoadConditionRow) -> None:
    """Apply a stored (committed) condition on this worker now."""
    with LOCK:
        if row.id not in {c.id for c in engine.conditions()}:
            engine.apply_condition(to_engine(row, engine))


def take_off(engine: RoutingEngine, condition_id: str) -> None:
    """Lift a (committed) condition on this worker now."""
    with LOCK, contextlib.suppress(UnknownConditionError):  # not applied here yet: nothing to undo
        engine.remove_condition(condition_id)


def sync(engine: RoutingEngine, read: Callable[[], list[RoadConditionRow]]) -> tuple[int, int]:
    """Bring the engine's live conditions to the stored set: (applied, removed). A stored condition
    the engine refuses (its roads gone from a new road graph) is logged and skipped."""  # noqa: D205, D209
    with LOCK:  # the stored set read under the lock: a change made here meanwhile is in it
        have = {c.id for c in engine.conditions() if c.id.startswith(ID_PREFIX)}
        want = {r.id: r for r in read()}
        removed = 0
        for cid in sorted(have - want.keys()):
            engine.remove_condition(cid)
            removed += 1
        applied = 0
        for cid in sorted(want.keys() - have):
            try:
                engine.apply_condition(to_engine(want[cid], engine))
                applied += 1
            except Exception:  # one bad condition must not keep the others out, on every worker
                log.exception("road condition %s cannot be applied", cid)
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
