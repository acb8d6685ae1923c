"""Referrals and their lifecycle in storage: create (idempotent), read (scoped), act, list, events.

Every function takes an open session and the current time; the caller commits. Every state
change writes a referral event and an audit entry in the same transaction. Nothing here logs
personal data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from geodata.timezones import WIB
from rules.model import Payer, ReferralRequest, ServiceType, Sex
from service.audit import audit
from service.database import Ambulance, Delivery, Referral, ReferralEvent, aware, keyring_of
from service.errors import ConflictError, ForbiddenError, InputError
from service.referrals.lifecycle import RULES, Action, Side, Status, transition
from service.referrals.numbers import assign_number
from service.referrals.queries import sides_of
from service.tracking.moves import move

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.orm import Session

    from rules.model import Suggestion
    from service.auth import Principal
    from service.referrals.schemas import ReferralIn
    from service.sealing import Keyring


def request_hash(body: ReferralIn) -> str:
    """A digest of a create request, to tell a retry from a different request under the same key."""
    return hashlib.sha256(json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Created:
    """The referral, and whether this call created it (False: an idempotent retry)."""

    referral: Referral
    created: bool


def _prior(s: Session, origin_id: str, idempotency_key: str, digest: str) -> Created | None:
    """The referral already made under this key (None: none), 409 if it was for another request."""
    prior = s.scalar(
        select(Referral).where(Referral.origin_id == origin_id, Referral.idempotency_key == idempotency_key)
    )
    if prior is None:
        return None
    if prior.request_hash != digest:
        raise ConflictError("this Idempotency-Key was used for a different referral")
    return Created(prior, created=False)


#: how far a device or a person's clock may run ahead of the service's
CLOCK_SKEW = dt.timedelta(minutes=5)
#: how long after the fact a paper referral may be entered, and a consent recorded before the letter
ENTRY_WINDOW = dt.timedelta(days=31)


def check_times(body: ReferralIn, now: dt.datetime) -> None:
    """The letter's times in a sane window: not in the future, not before the patient was born,
    not older than ``ENTRY_WINDOW`` (an InputError naming the field otherwise)."""  # noqa: D205, D209
    born = dt.datetime.combine(body.patient.date_of_birth, dt.time(), tzinfo=dt.UTC)
    floor = now - ENTRY_WINDOW
    times = [("consent.at", body.consent.at)]
    if body.offline:
        times.append(("offline.occurred_at", body.offline.occurred_at))
    for field, t in times:
        if t > now + CLOCK_SKEW:
            raise InputError(field, "cannot be in the future", code="in_future")
        if t < born:
            raise InputError(field, "is before the patient's date of birth", code="before_birth")
        if t < floor:
            raise InputError(
                field, f"is more than {ENTRY_WINDOW.days} days ago; enter referrals within a month"
            )


#: states in which a referral's patient has been received, so may be referred back (Pasal 11 ayat (1))
BACK_REFERABLE = frozenset({Status.ARRIVED.value, Status.COMPLETED.value})


def referred_from(s: Session, body: ReferralIn, origin_id: str) -> str | None:
    """For a back-referral: the facility that referred the patient here (None: not a back-referral).

    The referral named must be one this facility received and whose patient arrived; an
    InputError naming ``back_referral_of`` otherwise.
    """
    if body.back_referral_of is None:
        return None
    orig = s.get(Referral, body.back_referral_of)
    if orig is None or orig.destination_id != origin_id:
        raise InputError("back_referral_of", "must be a referral this facility received")
    if orig.status not in BACK_REFERABLE:
        raise InputError(
            "back_referral_of",
            f"that referral is {orig.status}: a patient is referred back once arrived (Pasal 11 ayat (1))",
        )
    return orig.origin_id


def domain_request(
    body: ReferralIn, origin_id: str, today: dt.date, *, referred_from: str | None = None
) -> ReferralRequest:
    """The engine's request for a letter (age on ``today``), to check it against the rule pack."""
    dob = body.patient.date_of_birth
    return ReferralRequest(
        origin_id=origin_id,
        age_years=max(0.0, (today - dob).days / 365.25),
        sex=Sex(body.patient.sex),
        icd10=tuple(c.strip().upper() for c in body.medical.icd10),
        service_type=ServiceType(body.service_type),
        emergency=body.emergency,
        disaster=body.disaster,
        payer=body.payer,
        specialty=body.specialty,
        tacc=body.tacc,
        back_referral=body.back_referral_of is not None,
        referred_from=referred_from,
    )


def snapshot_of(s: Suggestion, destination_id: str) -> dict[str, Any]:
    """What the engine suggested when the letter was made, kept with it (candidates, pack)."""
    return {
        "decision": s.decision.value,
        "candidates": [c.facility_id for c in s.candidates],
        "rank_of_destination": next((c.rank for c in s.candidates if c.facility_id == destination_id), None),
        "pack": {"id": s.pack_id, "version": s.pack_version},
        "specialty": s.need.specialty.value if s.need.specialty else None,
    }


def create_referral(
    s: Session,
    body: ReferralIn,
    *,
    principal: Principal,
    origin_id: str,
    idempotency_key: str | None,
    suggestion: Suggestion,
    now: dt.datetime,
    timezone: str = WIB,
) -> Created:
    """Store a new referral letter (status created, or as it happened for an offline entry), its
    number given in the month of ``now`` in the jurisdiction's ``timezone``."""  # noqa: D205, D209
    digest = request_hash(body)
    if idempotency_key is not None and (prior := _prior(s, origin_id, idempotency_key, digest)):
        return prior
    if body.back_referral_of is not None:
        referred_from(s, body, origin_id)
    r = _new_referral(body, digest, keyring=keyring_of(s.get_bind().dialect), origin_id=origin_id,
                      idempotency_key=idempotency_key, suggestion=suggestion, created_by=principal.user_id,
                      now=now)  # fmt: skip
    s.add(r)
    try:
        s.flush()
    except IntegrityError:
        # a concurrent retry with the same key won the race: return its referral
        s.rollback()
        prior = _prior(s, origin_id, idempotency_key, digest) if idempotency_key is not None else None
        if prior is None:
            raise ConflictError("this Idempotency-Key was used for a different referral") from None
        return prior
    assign_number(s, r, timezone=timezone, now=now)
    record_event(
        s,
        r,
        kind="created",
        frm=None,
        actor=principal.user_id,
        now=now,
        note="rujukan kertas (Pasal 20 ayat (3))" if r.offline else "",
    )
    audit(
        s,
        actor=principal.user_id,
        action="referral.create",
        entity="referral",
        entity_id=r.id,
        now=now,
        origin=origin_id,
        destination=r.destination_id,
        offline=r.offline,
        icd10=r.icd10,
    )
    return Created(r, created=True)


@dataclass(frozen=True, slots=True)
class Casualty:
    """A casualty of a mass-casualty incident as triaged at the scene (no identity yet)."""

    incident_id: str
    incident_name: str
    label: str
    triage: str
    age_years: int
    sex: str
    icd10: list[str]
    note: str = ""


def create_incident_referral(
    s: Session,
    c: Casualty,
    *,
    origin_id: str,
    destination_id: str,
    suggestion: Suggestion,
    principal: Principal,
    answer_within_min: float,
    now: dt.datetime,
) -> Referral:
    """A casualty of a mass-casualty incident referred (Pasal 6: the regional rules waived): sent
    at once to the hospital the distribution chose. The patient is not identified yet: a label
    and what was seen at the scene; consent is deferred (an emergency, Pasal 13)."""  # noqa: D205, D209
    incident_id, incident_name, label, triage, icd10, note = (
        c.incident_id,
        c.incident_name,
        c.label,
        c.triage,
        c.icd10,
        c.note,
    )
    triage_id = {"red": "merah", "yellow": "kuning", "green": "hijau"}.get(triage, triage)
    r = Referral(
        id=str(uuid.uuid4()),
        idempotency_key=None,
        request_hash=hashlib.sha256(f"incident\x1f{incident_id}\x1f{label}".encode()).hexdigest(),
        origin_id=origin_id,
        destination_id=destination_id,
        receiving_unit="IGD",
        status=Status.SENT.value,
        sent_at=now,
        due_at=now + dt.timedelta(minutes=answer_within_min),
        service_type=ServiceType.RAWAT_INAP.value,
        emergency=True,
        payer=Payer.UMUM.value,
        icd10=icd10,
        specialty=suggestion.need.specialty.value if suggestion.need.specialty else None,
        non_specialist=suggestion.need.non_specialist,
        tacc="",
        patient={
            "name": f"Korban {label} (belum dikenal)",
            "nik": "",
            "medical_record_number": "",
            "date_of_birth": "",
            "sex": c.sex,
            "age_estimate_years": c.age_years,
            "unidentified": True,
        },
        nik_hash=None,
        medical={
            "history": f"Korban insiden: {incident_name}",
            "vital_signs": {},
            "icd10": icd10,
            "diagnosis_text": f"Triase {triage_id} di lokasi kejadian",
            "therapy": "",
            "stabilisation": note or "Triase dan pertolongan pertama di lokasi",
        },
        reason=f"Korban massal ({incident_name}): pembagian ke rumah sakit menurut kapasitas dan waktu "
        "tempuh (Pasal 6: regionalisasi tidak berlaku)",
        consent={
            "given": False,
            "deferred": True,
            "note": "gawat darurat massal: persetujuan menyusul (Pasal 13)",
        },
        offline=False,
        offline_note="",
        back_referral_of=None,
        incident_id=incident_id,
        suggestion=snapshot_of(suggestion, destination_id),
        tried=[destination_id],
        proposed_next_id=None,
        created_by=principal.user_id,
        created_at=now,
        updated_at=now,
        version=1,
    )
    s.add(r)
    s.flush()
    record_event(
        s, r, kind="created", frm=None, actor=principal.user_id, now=now, note=f"insiden {incident_id}"
    )
    record_event(s, r, kind="send", frm=Status.CREATED.value, actor=principal.user_id, now=now,
                 note=f"korban {label}, triase {triage_id}")  # fmt: skip
    audit(s, actor=principal.user_id, action="referral.create", entity="referral", entity_id=r.id, now=now,
          origin=origin_id, destination=destination_id, incident=incident_id, icd10=icd10)  # fmt: skip
    return r


def _new_referral(
    body: ReferralIn,
    digest: str,
    *,
    keyring: Keyring,
    origin_id: str,
    idempotency_key: str | None,
    suggestion: Suggestion,
    created_by: int,
    now: dt.datetime,
) -> Referral:
    snapshot = snapshot_of(suggestion, body.destination_id)
    m = body.medical
    # a paper referral (Pasal 20 ayat (3)) is entered after the fact: the patient went with the
    # paper letter and the receiver took them in, so it is accepted as of when it happened, with
    # no answer deadline; the receiver records it served and completed
    paper_at = body.offline.occurred_at.astimezone(dt.UTC) if body.offline else None
    return Referral(
        id=str(uuid.uuid4()),
        idempotency_key=idempotency_key,
        request_hash=digest,
        origin_id=origin_id,
        destination_id=body.destination_id,
        receiving_unit=body.receiving_unit,
        status=Status.ACCEPTED.value if paper_at else Status.CREATED.value,
        sent_at=paper_at,
        accepted_at=paper_at,
        service_type=body.service_type.value,
        emergency=body.emergency,
        payer=body.payer.value,
        icd10=[c.strip().upper() for c in m.icd10],
        specialty=body.specialty.value if body.specialty else snapshot["specialty"],
        non_specialist=suggestion.need.non_specialist,
        tacc=body.tacc,
        patient=body.patient.model_dump(mode="json"),
        nik_hash=keyring.lookup_hash(body.patient.nik),
        medical=m.model_dump(mode="json"),
        reason=body.reason,
        consent=body.consent.model_dump(mode="json"),
        offline=body.offline is not None,
        offline_note=body.offline.note if body.offline else "",
        back_referral_of=body.back_referral_of,
        suggestion=snapshot,
        tried=[body.destination_id],
        proposed_next_id=None,
        created_by=created_by,
        created_at=paper_at or now,
        updated_at=now,
        version=1,
    )


def note_identity(r: Referral, checked: Mapping[str, str]) -> None:
    """What was checked of the patient's identity, kept (sealed) with the patient's data."""
    r.patient = {**r.patient, "identity": dict(checked)}


def record_event(
    s: Session, r: Referral, *, kind: str, frm: str | None, actor: int | None, now: dt.datetime, note: str
) -> None:
    """One entry of the referral's history (and of the facilities' live feeds)."""
    s.add(
        ReferralEvent(
            referral_id=r.id,
            at=now,
            actor_id=actor,
            kind=kind,
            from_status=frm,
            to_status=r.status,
            origin_id=r.origin_id,
            destination_id=r.destination_id,
            note=note,
        )
    )


@dataclass(frozen=True, slots=True)
class Terms:
    """What the lifecycle needs to know of the deployment: answer time, who may receive."""

    answer_within_min: float
    receiving_ids: frozenset[str] | None = None
    #: every facility (a back-referral may go to any); None: not checked
    facility_ids: frozenset[str] | None = None
    #: facilities served by another rujuk deployment: facility id -> that deployment's name
    #: (a referral sent there is handed over through the outbox, ``service.peers``)
    peers: Mapping[str, str] | None = None
    #: the answer time of a referral by its origin facility where the packs differ
    #: (``rules.jurisdiction``: the origin's pack governs); else ``answer_within_min``
    answer_within_by_origin: Mapping[str, float] | None = None

    def answer_within(self, origin_id: str) -> float:
        """Minutes the receiver has to answer a referral from this origin."""
        by = self.answer_within_by_origin
        return self.answer_within_min if by is None else by.get(origin_id, self.answer_within_min)


@dataclass(frozen=True, slots=True)
class Redirect:
    """Where the sender sends the referral instead."""

    destination_id: str
    receiving_unit: str | None = None
    #: the reason for referral written for the new destination (None: the letter's stays)
    reason: str | None = None


def act(  # noqa: PLR0913  the action, and who or what reports it
    s: Session,
    p: Principal | None,
    r: Referral,
    action: Action,
    *,
    now: dt.datetime,
    terms: Terms,
    note: str = "",
    redirect: Redirect | None = None,
    sides: frozenset[Side] | None = None,
) -> Referral:
    """Apply one lifecycle action to a referral the caller may read, with its event and audit entry.

    ``p`` None with ``sides``: an action reported by another deployment (``service.peers``),
    recorded without a local actor.
    """
    frm = Status(r.status)
    outpatient = r.service_type == "rawat_jalan"
    actor = p.user_id if p is not None else None
    who = sides_of(p, r) if p is not None else sides
    to = transition(action, frm, who or frozenset(), outpatient=outpatient)
    if p is not None and action in ANSWERS and r.destination_id in (terms.peers or {}):
        raise ForbiddenError("this facility answers at its own rujuk deployment; the answer comes from there")
    if action is Action.DECLINE and len(note.strip()) < 3:
        raise InputError("reason", "a decline needs a reason (Pasal 19(4))", code="required")
    if action is Action.REDIRECT:
        _redirect(r, frm, redirect, terms.facility_ids if r.back_referral_of else terms.receiving_ids)
    r.status = to.value
    _stamp(r, action, to, now=now, terms=terms, note=note)
    r.updated_at = now
    r.version += 1
    _ambulance_follows(s, r, action, now=now, actor=actor)
    _hand_over(s, r, action, now=now, peers=terms.peers or {})
    record_event(s, r, kind=action.value, frm=frm.value, actor=actor, now=now, note=note)
    audit(
        s,
        actor=actor,
        action=f"referral.{action.value}",
        entity="referral",
        entity_id=r.id,
        now=now,
        frm=frm.value,
        to=r.status,
        destination=r.destination_id,
    )
    return r


def _hand_over(
    s: Session, r: Referral, action: Action, *, now: dt.datetime, peers: Mapping[str, str]
) -> None:
    """The outbox: a referral sent to a facility of another deployment is queued for delivery
    there; one redirected away or cancelled is withdrawn (the other side told, if it has it)."""  # noqa: D205, D209
    if action in {Action.REDIRECT, Action.CANCEL}:
        for d in s.scalars(
            select(Delivery).where(Delivery.referral_id == r.id, Delivery.state.in_(OPEN_DELIVERY))
        ):
            d.cancel_pending = d.state == "delivered"
            d.state = "withdrawn" if d.state == "pending" else d.state
            d.updated_at = now
    if action in {Action.SEND, Action.REDIRECT} and r.destination_id in peers:
        s.add(
            Delivery(
                referral_id=r.id,
                peer=peers[r.destination_id],
                destination_id=r.destination_id,
                state="pending",
                attempts=0,
                next_attempt_at=now,
                last_error="",
                remote_id=None,
                remote_status=None,
                problem=None,
                cancel_pending=False,
                created_at=now,
                updated_at=now,
            )
        )


#: the receiver's answers, given at the deployment that serves the receiver
ANSWERS = frozenset({Action.ACCEPT, Action.DECLINE, Action.COMPLETE})
#: deliveries the other side may still act on
OPEN_DELIVERY = ("pending", "delivered")


def _redirect(
    r: Referral, frm: Status, redirect: Redirect | None, receiving_ids: frozenset[str] | None
) -> None:
    """Point the referral at another facility (checked), forgetting the last one's answer."""
    destination_id = redirect.destination_id if redirect else None
    if not destination_id or (receiving_ids is not None and destination_id not in receiving_ids):
        raise InputError(
            "destination_id", f"{destination_id!r} is not a receiving facility", code="not_receiving"
        )
    if destination_id == r.destination_id and frm is Status.DECLINED:
        raise InputError(
            "destination_id", "that facility has just declined; choose another", code="declined_already"
        )
    if destination_id == r.origin_id:
        raise InputError("destination_id", "a referral cannot go back to its origin", code="same_facility")
    assert redirect is not None
    r.destination_id = destination_id
    if redirect.receiving_unit:
        r.receiving_unit = redirect.receiving_unit
    if redirect.reason:
        r.reason = redirect.reason
    r.decline_reason = None  # the last facility's answer is in the history, not in the new letter
    r.tried = [*r.tried, destination_id]
    r.proposed_next_id = None
    r.escalated_at = None
    r.answered_at = None
    r.response_time_s = None
    r.declined_at = None


#: actions whose only effect beyond the status is one timestamp
_STAMPED = {
    Action.DISPATCH: "dispatched_at",
    Action.DEPART: "in_transit_at",
    Action.ARRIVE: "arrived_at",
    Action.COMPLETE: "completed_at",
}


def _stamp(r: Referral, action: Action, to: Status, *, now: dt.datetime, terms: Terms, note: str) -> None:
    """The timestamps, deadline and counters an action sets."""
    if to is Status.SENT or (action in (Action.SEND, Action.REDIRECT) and to is Status.ACCEPTED):
        r.sent_at = now
        r.due_at = now + dt.timedelta(minutes=terms.answer_within(r.origin_id)) if to is Status.SENT else None
        if to is Status.ACCEPTED:  # outpatient: no acceptance needed
            r.accepted_at = now
    elif action is Action.ACCEPT:
        r.accepted_at = r.answered_at = now
        r.response_time_s = (now - aware(r.sent_at)).total_seconds() if r.sent_at else None  # type: ignore[operator]
        r.due_at = None
    elif action is Action.DECLINE:
        r.declined_at = r.answered_at = now
        r.response_time_s = (now - aware(r.sent_at)).total_seconds() if r.sent_at else None  # type: ignore[operator]
        r.decline_reason = note.strip()
        r.decline_count += 1
        r.due_at = None
        r.escalated_at = now  # Pasal 19(4): a decline is escalated
        r.escalation_count += 1
        r.proposed_next_id = next_candidate(r)
    elif action in _STAMPED:
        setattr(r, _STAMPED[action], now)
    elif action is Action.CANCEL:
        r.cancelled_at = now
        r.due_at = None


#: Where the referral's ambulance is after each action (the referral's transport drives it).
_AMBULANCE_AFTER = {Action.DEPART: "transporting", Action.ARRIVE: "at_hospital", Action.CANCEL: "available"}


def _ambulance_follows(
    s: Session, r: Referral, action: Action, *, now: dt.datetime, actor: int | None, by: str | None = None
) -> None:
    """The referral's ambulance follows its transport (transporting, at hospital, free again)."""
    status = _AMBULANCE_AFTER.get(action)
    if r.ambulance_id is None or status is None:
        return
    a = s.get(Ambulance, r.ambulance_id)
    if a is None or a.referral_id != r.id or a.status == status:
        return
    move(s, a, status, actor=actor, now=now, by=by)


#: the transport steps an ambulance's trip drives on its referral
TRANSPORT_ACTIONS = frozenset({Action.DEPART, Action.ARRIVE, Action.RELEASE})


def transport_step(
    s: Session,
    referral_id: str,
    ambulance_id: str,
    action: Action,
    *,
    now: dt.datetime,
    actor: int | None,
    by: str,
    note: str,
) -> Referral | None:
    """The referral follows its ambulance's trip: departed with the patient, arrived, or released
    (the ambulance taken off before the patient was aboard: the referral waits for another).

    Set by the dispatcher, the crew's device or a GPS geofence (``by``). Nothing happens (None)
    if the referral has moved on already, e.g. another worker saw the same position first or
    the receiving staff recorded the arrival by hand: a step is never counted twice.
    """  # noqa: D205
    assert action in TRANSPORT_ACTIONS
    r = s.get(Referral, referral_id)
    if r is None or r.ambulance_id != ambulance_id:
        return None
    frm = Status(r.status)
    if frm not in RULES[action].sources:
        return None
    to = transition(action, frm, frozenset({Side.DISPATCHER}))
    # claimed by a conditional update: with several workers seeing the same fix, one records it
    claimed = s.execute(
        update(Referral)
        .where(Referral.id == referral_id, Referral.status == frm.value)
        .values(status=to.value, updated_at=now, version=Referral.version + 1)
    ).rowcount  # type: ignore[attr-defined]
    if claimed != 1:
        return None
    s.refresh(r)
    if action in _STAMPED:
        setattr(r, _STAMPED[action], now)
    if action is Action.RELEASE:
        r.ambulance_id = None
        r.dispatched_at = None
    else:
        _ambulance_follows(s, r, action, now=now, actor=actor, by=by)
    record_event(s, r, kind=action.value, frm=frm.value, actor=actor, now=now, note=note)
    audit(s, actor=actor, action=f"referral.{action.value}", entity="referral", entity_id=r.id, now=now,
          frm=frm.value, to=r.status, by=by)  # fmt: skip
    return r


def note_event(
    s: Session, referral_id: str, *, kind: str, actor: int | None, now: dt.datetime, note: str
) -> None:
    """An entry in the referral's history that changes no status (the ambulance at the pickup, the
    patient handed over)."""  # noqa: D205, D209
    r = s.get(Referral, referral_id)
    if r is not None:
        record_event(s, r, kind=kind, frm=r.status, actor=actor, now=now, note=note)


def next_candidate(r: Referral) -> str | None:
    """The best-ranked suggested facility not yet asked."""
    for fid in r.suggestion.get("candidates", []):
        if fid not in r.tried and fid != r.origin_id:
            return str(fid)
    return None
