"""Mass-casualty incidents: declared, distributed over the hospitals, adjusted, sent in one step.

The distribution goes by live free beds and road time (``Matcher.distribute``, CP-SAT).

Pasal 6: in a disaster or an outbreak the usual matching is waived; each casualty is still an
ordinary referral with its lifecycle (sent, accepted, dispatched, arrived), marked as part of
the incident. A casualty carries no identity here (a label, K-01): the receiving hospital
records it. Every change is audited.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update

from geodata.models import BedType
from rules.errors import UnknownCodeError
from rules.icd import validate as valid_icd
from rules.model import ReferralRequest, ServiceType, Sex
from service.audit import audit
from service.auth import Role
from service.database import Incident, IncidentCasualty, Referral, aware
from service.errors import ConflictError, InputError, NotFoundError
from service.matcher import Casualty
from service.referrals import store as referrals
from service.referrals.numbers import assign_number

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlalchemy.orm import Session

    from rules.model import FacilityStatus
    from service.auth import Principal
    from service.matcher import Matcher

#: triage category -> the weight of a casualty's minutes on the road (and who is placed first)
SEVERITY = {"red": 3.0, "yellow": 2.0, "green": 1.0}
#: at most this many casualties per incident
MAX_CASUALTIES = 500


@dataclass(frozen=True, slots=True)
class NewCasualty:
    """A casualty as entered (fast: triage and a few facts)."""

    triage: str
    age_years: int
    sex: str
    icd10: tuple[str, ...]
    bed: str | None = None
    label: str | None = None
    note: str = ""


def get(s: Session, incident_id: str, *, for_update: bool = False) -> Incident:
    """One incident (NotFoundError if unknown); ``for_update`` locks its row until the commit, so
    two changes to one incident (a double click on "send") run one after the other."""  # noqa: D205, D209
    inc = s.get(Incident, incident_id, with_for_update=for_update)
    if inc is None:
        raise NotFoundError(f"no incident {incident_id!r}")
    return inc


def casualties_of(s: Session, incident_id: str) -> list[IncidentCasualty]:
    """An incident's casualties, in the order entered."""
    return list(
        s.scalars(
            select(IncidentCasualty)
            .where(IncidentCasualty.incident_id == incident_id)
            .order_by(IncidentCasualty.id)
        )
    )


@dataclass(frozen=True, slots=True)
class Scene:
    """What happened, where, when; the facility its referrals come from."""

    name: str
    kind: str
    lon: float
    lat: float
    origin_id: str
    occurred_at: dt.datetime


def declare(s: Session, scene: Scene, *, actor: int, now: dt.datetime) -> Incident:
    """A new incident (open)."""
    inc = Incident(
        id="ins-" + uuid.uuid4().hex[:12],
        name=scene.name,
        kind=scene.kind,
        lon=scene.lon,
        lat=scene.lat,
        origin_id=scene.origin_id,
        occurred_at=scene.occurred_at,
        declared_by=actor,
        declared_at=now,
        updated_at=now,
    )
    s.add(inc)
    s.flush()
    audit(
        s,
        actor=actor,
        action="incident.declare",
        entity="incident",
        entity_id=inc.id,
        now=now,
        kind=scene.kind,
        origin=scene.origin_id,
    )
    return inc


def _check_open(inc: Incident) -> None:
    if inc.closed_at is not None:
        raise ConflictError(f"incident {inc.id} is closed")


def add_casualties(
    s: Session, inc: Incident, new: Sequence[NewCasualty], *, actor: int, now: dt.datetime
) -> list[IncidentCasualty]:
    """Add casualties (labels K-01, K-02... unless given); each ICD-10 code checked."""
    _check_open(inc)
    have = (
        s.scalar(
            select(func.count()).select_from(IncidentCasualty).where(IncidentCasualty.incident_id == inc.id)
        )
        or 0
    )
    if have + len(new) > MAX_CASUALTIES:
        raise InputError("casualties", f"at most {MAX_CASUALTIES} casualties per incident")
    labels = {c.label for c in casualties_of(s, inc.id)}
    out = []
    n = have
    for i, c in enumerate(new):
        codes = []
        for j, code in enumerate(c.icd10):
            try:
                codes.append(valid_icd(code))
            except UnknownCodeError:
                raise InputError(f"casualties[{i}].icd10[{j}]", f"{code!r} is not an ICD-10 code") from None
        label = c.label
        if label is None:
            n += 1
            label = f"K-{n:02d}"
            while label in labels:
                n += 1
                label = f"K-{n:02d}"
        if label in labels:
            raise InputError(f"casualties[{i}].label", f"{label!r} is already used in this incident")
        labels.add(label)
        row = IncidentCasualty(
            incident_id=inc.id,
            label=label,
            triage=c.triage,
            age_years=c.age_years,
            sex=c.sex,
            icd10=codes,
            bed=c.bed,
            note=c.note,
            plan_note="",
            created_at=now,
        )
        s.add(row)
        out.append(row)
    s.flush()
    inc.updated_at = now
    audit(
        s,
        actor=actor,
        action="incident.casualties",
        entity="incident",
        entity_id=inc.id,
        now=now,
        added=len(out),
        triage=dict(Counter(c.triage for c in out)),
    )
    return out


def request_of(inc: Incident, c: IncidentCasualty) -> ReferralRequest:
    """The matching engine's request for a casualty: an emergency under disaster status (Pasal 6)."""
    return ReferralRequest(
        origin_id=inc.origin_id,
        age_years=float(c.age_years),
        sex=Sex(c.sex),
        icd10=tuple(c.icd10),
        service_type=ServiceType.RAWAT_INAP,
        emergency=True,
        disaster=True,
        beds=(BedType(c.bed),) if c.bed else (),
    )


def plan(
    s: Session,
    matcher: Matcher,
    inc: Incident,
    *,
    statuses: Mapping[str, FacilityStatus],
    actor: int,
    now: dt.datetime,
    time_limit_s: float = 5.0,
) -> dict[str, Any]:
    """Distribute the casualties not sent yet over the hospitals: free beds left after what was sent
    already, road times from the scene, triage weighing the minutes. Returns the solver's figures."""  # noqa: D205, D209
    _check_open(inc)
    rows = casualties_of(s, inc.id)
    todo = [c for c in rows if c.referral_id is None]
    if not todo:
        raise ConflictError("every casualty of this incident has been sent already")
    cap = capacity_left(rows, statuses)
    result = matcher.distribute(
        [
            Casualty(
                id=str(c.id),
                request=request_of(inc, c),
                severity=SEVERITY[c.triage],
                lon=inc.lon,
                lat=inc.lat,
            )
            for c in todo
        ],
        statuses=statuses,
        now=now,
        capacity=cap,
        time_limit_s=time_limit_s,
    )
    a = result.assignment
    for c in todo:
        hospital = a.assigned.get(str(c.id))
        c.plan_hospital_id = hospital
        c.plan_travel_s = result.travel_time_s.get(str(c.id)) if hospital else None
        c.plan_by = "solver" if hospital else None
        c.plan_note = "" if hospital else a.unplaced.get(str(c.id), "")
    inc.updated_at = now
    audit(
        s,
        actor=actor,
        action="incident.plan",
        entity="incident",
        entity_id=inc.id,
        now=now,
        placed=len(a.assigned),
        unplaced=len(a.unplaced),
        status=a.status,
    )
    return {
        "status": a.status,
        "gap": a.gap,
        "solve_time_s": round(a.solve_time_s, 3),
        "capacity": [{"hospital_id": h, "bed": b, "free": n} for (h, b), n in sorted(cap.items())],
    }


def bed_of(c: IncidentCasualty, matcher: Matcher, inc: Incident) -> str:
    """The bed type a casualty takes: the one asked for, else what the diagnosis needs, else general."""
    if c.bed:
        return c.bed
    need = matcher.suggest(request_of(inc, c), statuses={}, now=dt.datetime.now(dt.UTC)).need
    return (need.beds[0] if need.beds else BedType.GENERAL).value


def capacity_left(
    rows: Sequence[IncidentCasualty], statuses: Mapping[str, FacilityStatus]
) -> dict[tuple[str, str], int]:
    """Free beds per (hospital, bed type) as reported, less those this incident's sent casualties took."""
    cap: dict[tuple[str, str], int] = {}
    for h, st in statuses.items():
        for bed, n in st.beds_available.items():
            cap[h, bed.value] = max(0, int(n))
    for c in rows:
        if c.referral_id is not None and c.plan_hospital_id is not None:
            key = (c.plan_hospital_id, c.bed or BedType.GENERAL.value)
            if key in cap:
                cap[key] = max(0, cap[key] - 1)
    return cap


def adjust(
    s: Session,
    matcher: Matcher,
    inc: Incident,
    casualty_id: int,
    hospital_id: str | None,
    *,
    statuses: Mapping[str, FacilityStatus],
    actor: int,
    now: dt.datetime,
) -> IncidentCasualty:
    """Send a casualty elsewhere by hand (or nowhere): a hospital able to take them, with a bed left."""
    _check_open(inc)
    c = s.get(IncidentCasualty, casualty_id)
    if c is None or c.incident_id != inc.id:
        raise NotFoundError(f"no casualty {casualty_id} in incident {inc.id}")
    if c.referral_id is not None:
        raise ConflictError(f"casualty {c.label} was sent already: redirect its referral instead")
    if hospital_id is None:
        c.plan_hospital_id, c.plan_travel_s, c.plan_by, c.plan_note = (
            None,
            None,
            "hand",
            "dikeluarkan dari rencana",
        )
    else:
        s_ = matcher.suggest(request_of(inc, c), statuses=statuses, now=now, lon=inc.lon, lat=inc.lat)
        cand = next((x for x in s_.candidates if x.facility_id == hospital_id), None)
        if cand is None:
            raise InputError(
                "hospital_id", f"{hospital_id!r} cannot take this casualty (capability or no road)"
            )
        bed = (s_.need.beds[0] if s_.need.beds else BedType.GENERAL).value
        rows = casualties_of(s, inc.id)
        free = capacity_left(rows, statuses).get((hospital_id, bed), 0)
        taken = sum(
            1
            for x in rows
            if x.id != c.id
            and x.referral_id is None
            and x.plan_hospital_id == hospital_id
            and bed_of(x, matcher, inc) == bed
        )
        if taken + 1 > free:
            raise ConflictError(
                f"{hospital_id} has no {bed} bed left for this incident ({free} free, {taken} planned)"
            )
        c.plan_hospital_id, c.plan_travel_s, c.plan_by, c.plan_note = (
            hospital_id,
            cand.travel_time_s,
            "hand",
            "",
        )
    inc.updated_at = now
    audit(
        s,
        actor=actor,
        action="incident.adjust",
        entity="incident",
        entity_id=inc.id,
        now=now,
        casualty=c.label,
        hospital=hospital_id,
    )
    return c


def send(
    s: Session,
    matcher: Matcher,
    inc: Incident,
    *,
    principal: Principal,
    statuses: Mapping[str, FacilityStatus],
    answer_within_min: float,
    now: dt.datetime,
) -> list[Referral]:
    """Every planned casualty not sent yet becomes a referral, sent to its hospital, in one step."""
    _check_open(inc)
    made = []
    for c in casualties_of(s, inc.id):
        if c.referral_id is not None or c.plan_hospital_id is None:
            continue
        sug = matcher.suggest(request_of(inc, c), statuses=statuses, now=now, lon=inc.lon, lat=inc.lat)
        who = referrals.Casualty(
            inc.id, inc.name, c.label, c.triage, c.age_years, c.sex, list(c.icd10), c.note
        )
        r = referrals.create_incident_referral(
            s,
            who,
            origin_id=inc.origin_id,
            destination_id=c.plan_hospital_id,
            suggestion=sug,
            principal=principal,
            answer_within_min=answer_within_min,
            now=now,
        )
        assign_number(s, r, timezone=matcher.dataset.timezone, now=now)
        claimed = s.execute(
            update(IncidentCasualty)
            .where(IncidentCasualty.id == c.id, IncidentCasualty.referral_id.is_(None))
            .values(referral_id=r.id)
        ).rowcount  # type: ignore[attr-defined]
        if claimed != 1:
            raise ConflictError(f"casualty {c.label} was sent meanwhile: reload")
        c.referral_id = r.id
        if not c.bed:
            c.bed = (sug.need.beds[0] if sug.need.beds else BedType.GENERAL).value
        made.append(r)
    if not made:
        raise ConflictError("nothing to send: no planned casualty is waiting to be sent")
    inc.updated_at = now
    audit(
        s,
        actor=principal.user_id,
        action="incident.send",
        entity="incident",
        entity_id=inc.id,
        now=now,
        referrals=len(made),
    )
    return made


def close(s: Session, inc: Incident, *, actor: int, now: dt.datetime) -> Incident:
    """The incident is over (its referrals go on as ordinary referrals)."""
    _check_open(inc)
    inc.closed_at = now
    inc.updated_at = now
    audit(s, actor=actor, action="incident.close", entity="incident", entity_id=inc.id, now=now)
    return inc


def incident_json(inc: Incident) -> dict[str, Any]:
    """The public form of an incident."""
    closed = aware(inc.closed_at)
    return {
        "id": inc.id,
        "name": inc.name,
        "kind": inc.kind,
        "lon": inc.lon,
        "lat": inc.lat,
        "origin_id": inc.origin_id,
        "occurred_at": aware(inc.occurred_at).isoformat(),  # type: ignore[union-attr]
        "declared_at": aware(inc.declared_at).isoformat(),  # type: ignore[union-attr]
        "closed_at": closed.isoformat() if closed else None,
    }


def board(s: Session, inc: Incident) -> dict[str, Any]:
    """Where every casualty is: the plan, the referral's status and its ambulance; the share of each
    hospital."""  # noqa: D205, D209
    rows = casualties_of(s, inc.id)
    refs = {r.id: r for r in s.scalars(select(Referral).where(Referral.incident_id == inc.id))}
    out: list[dict[str, Any]] = []
    share: Counter[str] = Counter()
    for c in rows:
        r = refs.get(c.referral_id) if c.referral_id else None
        where = r.destination_id if r is not None else c.plan_hospital_id
        if where is not None:
            share[where] += 1
        out.append(
            {
                "id": c.id,
                "label": c.label,
                "triage": c.triage,
                "age_years": c.age_years,
                "sex": c.sex,
                "icd10": list(c.icd10),
                "bed": c.bed,
                "note": c.note,
                "plan": {
                    "hospital_id": c.plan_hospital_id,
                    "travel_time_s": None if c.plan_travel_s is None else round(c.plan_travel_s, 1),
                    "by": c.plan_by,
                    "note": c.plan_note or None,
                },
                "referral": None
                if r is None
                else {
                    "id": r.id,
                    "status": r.status,
                    "destination_id": r.destination_id,
                    "ambulance_id": r.ambulance_id,
                },
            }
        )
    return incident_json(inc) | {
        "casualties": out,
        "counts": dict(Counter(c.triage for c in rows)),
        "share": [{"hospital_id": h, "casualties": n} for h, n in sorted(share.items())],
    }


def summary(s: Session, inc: Incident, facility_id: str) -> dict[str, Any]:
    """What a receiving hospital sees of an incident: what happened, how many, its own share."""
    rows = casualties_of(s, inc.id)
    mine = s.scalars(
        select(Referral).where(Referral.incident_id == inc.id, Referral.destination_id == facility_id)
    ).all()
    return incident_json(inc) | {
        "casualties": len(rows),
        "counts": dict(Counter(c.triage for c in rows)),
        "here": len(mine),
        "here_by_status": dict(Counter(r.status for r in mine)),
    }


def open_incidents(s: Session, p: Principal) -> list[dict[str, Any]]:
    """Incidents open now: all for dispatchers and planners; for a hospital's staff, those that
    sent it casualties, as their summary."""  # noqa: D205, D209
    open_ = s.scalars(
        select(Incident).where(Incident.closed_at.is_(None)).order_by(Incident.declared_at)
    ).all()
    if p.is_admin or p.has(Role.DISPATCHER, Role.PLANNER):
        return [incident_json(i) | {"counts": board(s, i)["counts"]} for i in open_]
    if p.facility_id is None:
        return []
    mine = set(
        s.scalars(
            select(Referral.incident_id).where(
                Referral.destination_id == p.facility_id, Referral.incident_id.is_not(None)
            )
        )
    )
    return [summary(s, i, p.facility_id) for i in open_ if i.id in mine]
