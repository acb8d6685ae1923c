"""Live status of a facility: figures written by its staff, each with its time and author.

Each figure (``beds_available.icu``, ``specialists_on_duty``, ``not_accepting_until``...) is a row
of its own, so its age is known; the engine reads them as one ``FacilityStatus`` per facility.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from geodata.models import BedType, Equipment, Service
from rules.model import FacilityStatus
from service.audit import audit
from service.database import StatusFigure, User, aware
from service.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.orm import Session

    from service.facilities.schemas import StatusUpdateIn

#: free beds of one type no facility can report: refused outright, confirmed or not (the largest
#: hospitals in Indonesia have about 1,500-2,000 beds of every type together)
BEDS_CEILING = 1000


def over_capacity(
    beds: Mapping[BedType, int], capacity: Mapping[BedType, int]
) -> dict[BedType, tuple[int, int]]:
    """The figures above the facility's registered capacity: bed type -> (reported, registered)."""
    return {
        bed: (n, capacity.get(bed, 0))
        for bed, n in sorted(beds.items(), key=lambda kv: list(BedType).index(kv[0]))
        if n > capacity.get(bed, 0)
    }


def _check_capacity(upd: StatusUpdateIn, capacity: Mapping[BedType, int]) -> dict[str, Any]:
    """Refuse figures above registered capacity unless the request confirms them.

    Returns what the audit records about them (empty when none is above).
    """
    over = over_capacity(upd.beds_available or {}, capacity)
    if not over:
        return {}
    if not upd.confirm_over_capacity:
        bed, (n, cap) = next(iter(over.items()))
        raise InputError(
            f"beds_available.{bed.value}",
            f"{n} free {bed.value} beds is above the registered capacity of {cap}: check the figure, "
            "or send confirm_over_capacity: true when it is right",
            code="over_capacity",
            params={"value": n, "capacity": cap},
        )
    return {
        "over_capacity": {b.value: {"reported": n, "registered": cap} for b, (n, cap) in over.items()},
        "confirmed_over_capacity": True,
    }


def _counts(upd: StatusUpdateIn) -> dict[str, Any]:
    """The figures of an update other than "not accepting", as stored."""
    figures: dict[str, Any] = {}
    if upd.beds_available is not None:
        for bed, n in upd.beds_available.items():
            figures[f"beds_available.{bed.value}"] = {"v": n}
    if upd.specialists_on_duty is not None:
        figures["specialists_on_duty"] = {"v": sorted({x.value for x in upd.specialists_on_duty})}
    if upd.specialists_on_call is not None:
        figures["specialists_on_call"] = {
            "v": {k.value: v for k, v in sorted(upd.specialists_on_call.items())}
        }
    if upd.equipment_out_of_order is not None:
        figures["equipment_out_of_order"] = {"v": sorted({x.value for x in upd.equipment_out_of_order})}
    if upd.stockouts is not None:
        figures["stockouts"] = {"v": sorted(set(upd.stockouts))}
    if upd.occupancy is not None:
        figures["occupancy"] = {"v": upd.occupancy}
    return figures


def _not_accepting(upd: StatusUpdateIn, now: dt.datetime) -> dict[str, Any]:
    """Not accepting until a time (checked: ahead, at most 72 h, with a reason), or accepting again."""
    if upd.not_accepting_until is not None:
        until = upd.not_accepting_until.astimezone(dt.UTC)
        if until <= now:
            raise InputError("not_accepting_until", "must be in the future")
        if until > now + dt.timedelta(hours=72):
            raise InputError("not_accepting_until", "at most 72 hours ahead; extend it when needed")
        if not upd.not_accepting_reason.strip():
            raise InputError("not_accepting_reason", "say why the facility is not accepting")
        return {"not_accepting_until": {"v": until.isoformat(), "reason": upd.not_accepting_reason.strip()}}
    if upd.accepting_again:
        return {"not_accepting_until": {"v": None, "reason": ""}}
    return {}


def update_status(
    s: Session,
    facility_id: str,
    upd: StatusUpdateIn,
    *,
    capacity: Mapping[BedType, int],
    actor: int,
    now: dt.datetime,
) -> list[str]:
    """Write the figures present in the update; returns the keys written.

    Every figure is checked first, so nothing is half-written. ``capacity`` is the facility's
    registered beds by type.
    """
    figures = {**_counts(upd), **_not_accepting(upd, now)}
    if not figures:
        raise InputError("body", "no figure to update")
    confirmed = _check_capacity(upd, capacity)
    for key, value in figures.items():
        row = s.get(StatusFigure, (facility_id, key))
        if row is None:
            s.add(
                StatusFigure(facility_id=facility_id, key=key, value=value, updated_at=now, updated_by=actor)
            )
        else:
            row.value, row.updated_at, row.updated_by = value, now, actor
    audit(
        s,
        actor=actor,
        action="status.update",
        entity="facility",
        entity_id=facility_id,
        now=now,
        figures=figures,
        **confirmed,
    )
    return sorted(figures)


def status_figures(s: Session, facility_id: str | None = None) -> list[tuple[StatusFigure, str]]:
    """Figures with their author's username."""
    q = select(StatusFigure, User.username).join(User, User.id == StatusFigure.updated_by)
    if facility_id is not None:
        q = q.where(StatusFigure.facility_id == facility_id)
    return [(f, name) for f, name in s.execute(q.order_by(StatusFigure.facility_id, StatusFigure.key))]


def engine_statuses(s: Session) -> dict[str, FacilityStatus]:
    """Every facility's live status in the engine's form: ``updated_at`` is its newest figure, and
    each figure carries its own time (the engine judges each figure by its own age)."""  # noqa: D205, D209
    by: dict[str, dict[str, Any]] = {}
    for f in s.scalars(select(StatusFigure)):
        d = by.setdefault(f.facility_id, {"beds": {}, "at": None, "times": {}})
        at = aware(f.updated_at)
        if d["at"] is None or (at is not None and at > d["at"]):
            d["at"] = at
        d["times"][f.key] = at
        v = f.value.get("v")
        if f.key.startswith("beds_available."):
            d["beds"][BedType(f.key.split(".", 1)[1])] = int(v or 0)
        else:
            d[f.key] = v
    out = {}
    for fid, d in by.items():
        until = d.get("not_accepting_until")
        out[fid] = FacilityStatus(
            facility_id=fid,
            updated_at=d["at"],
            beds_available=d["beds"],
            specialists_on_duty=frozenset(Service(x) for x in d.get("specialists_on_duty") or ()),
            specialists_on_call={Service(k): int(m) for k, m in (d.get("specialists_on_call") or {}).items()},
            equipment_out_of_order=frozenset(Equipment(x) for x in d.get("equipment_out_of_order") or ()),
            stockouts=frozenset(d.get("stockouts") or ()),
            not_accepting_until=dt.datetime.fromisoformat(until) if until else None,
            occupancy=d.get("occupancy"),
            figure_times=d["times"],
        )
    return out
