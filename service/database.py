"""Storage: the SQLAlchemy 2 schema, engines for SQLite (the zero-setup default) and PostgreSQL.

SQLite runs in WAL mode with ``synchronous=FULL`` (an acknowledged write survives a crash) and
foreign keys on; PostgreSQL is reached with psycopg 3. The schema is created and upgraded by
Alembic (``service/migrations``), never by ``create_all`` in production.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from service.sealing import Keyring, KeyringError

if TYPE_CHECKING:
    from sqlalchemy.engine.interfaces import Dialect


def keyring_of(dialect: Dialect) -> Keyring:
    """The keyring of the engine this dialect belongs to (``make_engine(..., keyring=)``)."""
    ring = getattr(dialect, "rujuk_keyring", None)
    if not isinstance(ring, Keyring):
        msg = "this engine has no patient keys: make it with make_engine(url, keyring=...)"
        raise KeyringError(msg)
    return ring


class SealedJSON(TypeDecorator[dict[str, Any]]):
    """A JSON object stored sealed (``service.sealing``): personal data at rest.

    The column stays JSON; it holds one JSON string, the sealed value.
    """

    impl = JSON
    cache_ok = True

    def __init__(self, aad: str) -> None:
        super().__init__()
        self.aad = aad.encode()

    def process_bind_param(self, value: dict[str, Any] | None, dialect: Dialect) -> str | None:
        """Seal on the way in."""
        if value is None:
            return None
        return keyring_of(dialect).seal_text(orjson.dumps(value).decode(), aad=self.aad)

    def process_result_value(self, value: str | None, dialect: Dialect) -> dict[str, Any] | None:
        """Open on the way out."""
        if value is None:
            return None
        out: dict[str, Any] = orjson.loads(keyring_of(dialect).open_text(value, aad=self.aad))
        return out


class SealedBytes(TypeDecorator[bytes]):
    """Bytes stored sealed (``service.sealing``): files that carry personal data."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, aad: str) -> None:
        super().__init__()
        self.aad = aad.encode()

    def process_bind_param(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        """Seal on the way in."""
        return None if value is None else keyring_of(dialect).seal(value, aad=self.aad)

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        """Open on the way out."""
        return None if value is None else keyring_of(dialect).open(bytes(value), aad=self.aad)


#: associated data of the sealed columns (a value copied to another column does not open)
PATIENT_AAD = "referrals.patient"
ATTACHMENT_AAD = "attachments.data"
MESSAGE_AAD = "messages.content"


class Base(DeclarativeBase):
    """Declarative base of every table."""

    type_annotation_map = {  # noqa: RUF012  SQLAlchemy reads this class attribute
        dict[str, Any]: JSON,
        list[Any]: JSON,
        dt.datetime: DateTime(timezone=True),
    }


class User(Base):
    """A staff account bound to a facility, with its roles."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    roles: Mapped[list[Any]]
    facility_id: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime]
    #: the person, as a letter names them ("Ani Lestari, A.Md.Keb.") and what they are ("Bidan")
    full_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    profession: Mapped[str] = mapped_column(String(100), default="", server_default="")


class StatusFigure(Base):
    """One live-status figure of a facility (e.g. ``beds_available.icu``), its time and author."""

    __tablename__ = "status_figures"

    facility_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]]  # {"v": ...}
    updated_at: Mapped[dt.datetime]
    updated_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


#: the states the waiting, escalation and transport queries ask for: their indexes hold these only
OPEN_STATES = ("sent", "accepted", "dispatched", "in_transit")
_OPEN = text("status IN ('sent', 'accepted', 'dispatched', 'in_transit')")
_BACK = text("back_referral_of IS NOT NULL")
_BACK_TRACE = text("back_referral")
#: the hand-overs still to make or follow (``service.referrals.store.OPEN_DELIVERY``)
_OUTBOX = text("state IN ('pending', 'delivered') OR cancel_pending")


class Referral(Base):
    """The electronic referral letter (Pasal 17) and its lifecycle."""

    __tablename__ = "referrals"
    __table_args__ = (
        UniqueConstraint("origin_id", "idempotency_key", name="uq_referral_idempotency"),
        Index("uq_referrals_number", "number", unique=True),
        # open states only (partial): escalation, the transport list, the station's waiting count
        Index("ix_referrals_due", "status", "due_at", postgresql_where=_OPEN, sqlite_where=_OPEN),
        Index(
            "ix_referrals_open_destination",
            "destination_id",
            "status",
            postgresql_where=_OPEN,
            sqlite_where=_OPEN,
        ),
        Index("ix_referrals_origin", "origin_id", "created_at"),
        Index("ix_referrals_destination", "destination_id", "created_at"),
        Index("ix_referrals_created", "created_at"),
        Index("ix_referrals_back_referral", "back_referral_of", postgresql_where=_BACK, sqlite_where=_BACK),
        # the back-referrals a facility received, newest first (its referring staff's inbox)
        Index(
            "ix_referrals_back_destination",
            "destination_id",
            "created_at",
            postgresql_where=_BACK,
            sqlite_where=_BACK,
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    #: the letter's number for people: ``007/RJK/PKM-SEGARAU/XII/2026`` (per facility and month)
    number: Mapped[str | None] = mapped_column(String(100))
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    origin_id: Mapped[str] = mapped_column(String(64))
    destination_id: Mapped[str] = mapped_column(String(64))
    receiving_unit: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    service_type: Mapped[str] = mapped_column(String(20))
    emergency: Mapped[bool] = mapped_column(Boolean)
    payer: Mapped[str] = mapped_column(String(20))
    icd10: Mapped[list[Any]]
    specialty: Mapped[str | None] = mapped_column(String(40))
    non_specialist: Mapped[bool] = mapped_column(Boolean, default=False)
    tacc: Mapped[str] = mapped_column(Text, default="")
    #: personal data: sealed at rest (``service.sealing``), never logged
    patient: Mapped[dict[str, Any]] = mapped_column(SealedJSON(PATIENT_AAD))
    #: keyed hash of the patient's NIK, to find a patient's referrals without the NIK in clear
    nik_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    medical: Mapped[dict[str, Any]]
    reason: Mapped[str] = mapped_column(Text)
    consent: Mapped[dict[str, Any]]
    offline: Mapped[bool] = mapped_column(Boolean, default=False)
    offline_note: Mapped[str] = mapped_column(Text, default="")
    back_referral_of: Mapped[str | None] = mapped_column(ForeignKey("referrals.id"))
    #: the mass-casualty incident it is part of (Pasal 6: regional rules waived)
    incident_id: Mapped[str | None] = mapped_column(String(36), index=True)
    suggestion: Mapped[dict[str, Any]]  # ranked candidate ids, pack id and version at creation
    tried: Mapped[list[Any]]  # destinations asked so far, in order
    proposed_next_id: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime | None]
    due_at: Mapped[dt.datetime | None]
    answered_at: Mapped[dt.datetime | None]
    response_time_s: Mapped[float | None] = mapped_column(Float)
    accepted_at: Mapped[dt.datetime | None]
    declined_at: Mapped[dt.datetime | None]
    decline_reason: Mapped[str | None] = mapped_column(Text)
    decline_count: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[dt.datetime | None]
    escalation_count: Mapped[int] = mapped_column(Integer, default=0)
    dispatched_at: Mapped[dt.datetime | None]
    in_transit_at: Mapped[dt.datetime | None]
    arrived_at: Mapped[dt.datetime | None]
    completed_at: Mapped[dt.datetime | None]
    cancelled_at: Mapped[dt.datetime | None]
    #: the ambulance dispatched for the transfer, if any
    ambulance_id: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime]
    version: Mapped[int] = mapped_column(Integer, default=1)


class ReferralTrace(Base):
    """A facility a referral was sent to and has left since: its inbox keeps a trace of it.

    The referral was redirected elsewhere; the facility keeps a read-only trace
    (``service.referrals.traces``).

    Written with the redirect that moves the referral on (and removed if it comes back), so the
    inbox reads the facility's traces in the lists' order from their own index instead of
    looking through all the events ever addressed to it (docs/scale.md). ``created_at`` and
    ``back_referral`` are the referral's, which never change.
    """

    __tablename__ = "referral_traces"
    __table_args__ = (
        Index("ix_traces_facility", "facility_id", "created_at"),
        Index(
            "ix_traces_back",
            "facility_id",
            "created_at",
            postgresql_where=_BACK_TRACE,
            sqlite_where=_BACK_TRACE,
        ),
    )

    facility_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    referral_id: Mapped[str] = mapped_column(ForeignKey("referrals.id"), primary_key=True)
    created_at: Mapped[dt.datetime]
    back_referral: Mapped[bool] = mapped_column(Boolean)


class Delivery(Base):
    """A referral handed to another rujuk deployment (the outbox): delivered once, retried until then."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_due", "state", "next_attempt_at"),
        # the open ones (the delivery worker's next, service.peers.outbox), a few among all
        Index("ix_deliveries_open", "next_attempt_at", postgresql_where=_OUTBOX, sqlite_where=_OUTBOX),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    referral_id: Mapped[str] = mapped_column(ForeignKey("referrals.id"), index=True)
    #: the deployment's name in the peers file, and the facility asked there
    peer: Mapped[str] = mapped_column(String(64))
    destination_id: Mapped[str] = mapped_column(String(64))
    #: pending (not yet accepted by the other side), delivered, refused (the other side said no
    #: for good: the sender must choose another), withdrawn (redirected or cancelled here), done
    #: (completed or cancelled: nothing more to follow)
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime]
    #: why the last attempt failed (HTTP status and the other side's words; never patient data)
    last_error: Mapped[str] = mapped_column(Text, default="")
    #: what kind of problem that was, for the pages' words: unreachable, failing, sign_in, refused
    problem: Mapped[str | None] = mapped_column(String(20))
    #: the referral's id at the other deployment, and its state there as last seen
    remote_id: Mapped[str | None] = mapped_column(String(64))
    remote_status: Mapped[str | None] = mapped_column(String(20))
    #: a cancellation still to tell the other side
    cancel_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class LetterCounter(Base):
    """The last letter number given by a facility in a month (the month in the jurisdiction's zone)."""

    __tablename__ = "letter_counters"

    facility_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    last: Mapped[int] = mapped_column(Integer)


class Message(Base):
    """One message of a referral's conversation between its sender and a receiving facility."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_referral", "referral_id", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    referral_id: Mapped[str] = mapped_column(ForeignKey("referrals.id"))
    at: Mapped[dt.datetime]
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: the author's side (sender, receiver) and facility
    side: Mapped[str] = mapped_column(String(10))
    facility_id: Mapped[str] = mapped_column(String(64))
    #: the receiving facility of the thread (the referral's destination when it was written)
    destination_id: Mapped[str] = mapped_column(String(64))
    #: personal data: {"text", "quick", "attachment_id"}, sealed at rest, never logged
    content: Mapped[dict[str, Any]] = mapped_column(SealedJSON(MESSAGE_AAD))


class MessageRead(Base):
    """How far a user has read a referral's conversation (the unread counts)."""

    __tablename__ = "message_reads"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    referral_id: Mapped[str] = mapped_column(ForeignKey("referrals.id"), primary_key=True)
    last_read_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))


class Call(Base):
    """A video (or audio) call between a referral's two facilities, inside the referral."""

    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    referral_id: Mapped[str] = mapped_column(ForeignKey("referrals.id"), index=True)
    #: ringing, active, ended
    state: Mapped[str] = mapped_column(String(10))
    #: the side that called (sender, receiver) and the receiving facility of the call
    caller_side: Mapped[str] = mapped_column(String(10))
    destination_id: Mapped[str] = mapped_column(String(64))
    started_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[dt.datetime]
    answered_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]
    #: who took part: [{"user_id", "name", "facility_id", "side", "at"}]
    participants: Mapped[list[Any]]
    #: a side fell back to audio only (a weak connection, or no camera)
    audio_only: Mapped[bool] = mapped_column(Boolean, default=False)


class CallSignal(Base):
    """A WebRTC signalling message of a call, for the other side (an offer, an answer, a candidate)."""

    __tablename__ = "call_signals"
    __table_args__ = (Index("ix_call_signals_call", "call_id", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"))
    at: Mapped[dt.datetime]
    #: the side it comes from (the other side reads it)
    side: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]]


class ReferralEvent(Base):
    """Every change of a referral, in order: the audit of the lifecycle and the inbox feed."""

    __tablename__ = "referral_events"
    __table_args__ = (
        Index("ix_events_origin", "origin_id", "id"),
        Index("ix_events_destination", "destination_id", "id"),
        Index("ix_events_referral", "referral_id", "id"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    referral_id: Mapped[str] = mapped_column(ForeignKey("referrals.id"))
    at: Mapped[dt.datetime]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(20))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    origin_id: Mapped[str] = mapped_column(String(64))
    destination_id: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")


class Attachment(Base):
    """A file attached to a referral (lab, radiology, ECG)."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    referral_id: Mapped[str] = mapped_column(ForeignKey("referrals.id"))
    kind: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(SealedBytes(ATTACHMENT_AAD))  # sealed at rest
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[dt.datetime]


class ServiceVolume(Base):
    """Patients served by a facility in a month (the denominator of Pasal 23(2)a)."""

    __tablename__ = "service_volumes"

    facility_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    patients_served: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[dt.datetime]


class AuditEntry(Base):
    """Who changed what, when. ``detail`` never holds a patient's name, NIK or phone."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[dt.datetime]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(40))
    entity: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]]


class Ambulance(Base):
    """An ambulance and its tracking device; the device's token is kept only as a SHA-256 hash."""

    __tablename__ = "ambulances"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    home_facility_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))  # emergency | transport
    plate: Mapped[str] = mapped_column(String(20), default="")
    crew: Mapped[list[Any]]
    status: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_issued_at: Mapped[dt.datetime | None]
    #: the referral it is serving (dispatched, at pickup, transporting, at hospital)
    referral_id: Mapped[str | None] = mapped_column(String(36))
    #: why it is out of service (empty otherwise)
    status_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class Trip(Base):
    """One ambulance's trip for one referral: each step with its time and who (or what) set it.

    ``*_by`` is ``user:<id>`` (staff), ``device`` (the crew's device) or ``gps`` (a geofence).
    A trip ends handed over (the patient reached the hospital) or released (the ambulance was
    taken off it before the patient was aboard: the referral waits for another).
    """

    __tablename__ = "trips"
    __table_args__ = (
        Index("ix_trips_ambulance", "ambulance_id", "dispatched_at"),
        Index("ix_trips_referral", "referral_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ambulance_id: Mapped[str] = mapped_column(ForeignKey("ambulances.id"))
    referral_id: Mapped[str] = mapped_column(ForeignKey("referrals.id"))
    pickup_id: Mapped[str] = mapped_column(String(64))
    destination_id: Mapped[str] = mapped_column(String(64))
    dispatched_at: Mapped[dt.datetime]
    dispatched_by: Mapped[str] = mapped_column(String(20))
    at_pickup_at: Mapped[dt.datetime | None]
    at_pickup_by: Mapped[str | None] = mapped_column(String(20))
    transporting_at: Mapped[dt.datetime | None]
    transporting_by: Mapped[str | None] = mapped_column(String(20))
    at_hospital_at: Mapped[dt.datetime | None]
    at_hospital_by: Mapped[str | None] = mapped_column(String(20))
    ended_at: Mapped[dt.datetime | None]
    ended_by: Mapped[str | None] = mapped_column(String(20))
    #: handed_over | released (None while the trip goes on)
    outcome: Mapped[str | None] = mapped_column(String(20))
    end_reason: Mapped[str] = mapped_column(Text, default="")


class RoadConditionRow(Base):
    """A live road condition: a stretch closed (bridge out, landslide) or slowed (flood, works).

    Chosen as a road segment picked on the map or an area; applied by every worker until lifted
    or expired.
    """

    __tablename__ = "road_conditions"
    __table_args__ = (Index("ix_road_conditions_active", "lifted_at", "expires_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    #: closed | slow
    kind: Mapped[str] = mapped_column(String(10))
    #: travel time multiplier of a slowdown (None: closed)
    factor: Mapped[float | None] = mapped_column(Float)
    #: what was chosen, as GeoJSON: the segment (LineString) or the area (Polygon)
    geometry: Mapped[dict[str, Any]]
    #: a picked segment's road node ids, [[u, v], ...] (None for an area)
    segments: Mapped[list[Any] | None]
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime | None]
    lifted_at: Mapped[dt.datetime | None]
    lifted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[dt.datetime]


class Incident(Base):
    """A mass-casualty incident (Pasal 6: disasters waive the usual matching): where, when, who
    declared it; its casualties are distributed over the hospitals and referred in one step."""  # noqa: D205, D209

    __tablename__ = "incidents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: accident | flood | fire | outbreak | other
    kind: Mapped[str] = mapped_column(String(20))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    #: the facility its referrals come from (the nearest to the scene unless chosen)
    origin_id: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[dt.datetime]
    declared_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    declared_at: Mapped[dt.datetime]
    closed_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime]


class IncidentCasualty(Base):
    """One casualty of an incident: triage, what they need, where the plan sends them, their
    referral once sent. No identity: a label (K-01) until the receiving hospital records one."""  # noqa: D205, D209

    __tablename__ = "incident_casualties"
    __table_args__ = (UniqueConstraint("incident_id", "label", name="uq_casualty_label"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), index=True)
    label: Mapped[str] = mapped_column(String(20))
    #: red | yellow | green
    triage: Mapped[str] = mapped_column(String(10))
    age_years: Mapped[int] = mapped_column(Integer)
    sex: Mapped[str] = mapped_column(String(10))
    icd10: Mapped[list[Any]]
    #: the bed type needed (None: what the diagnosis needs, else a general bed)
    bed: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    plan_hospital_id: Mapped[str | None] = mapped_column(String(64))
    plan_travel_s: Mapped[float | None] = mapped_column(Float)
    #: solver | hand (who chose the hospital), or the reason it could not be placed
    plan_by: Mapped[str | None] = mapped_column(String(10))
    plan_note: Mapped[str] = mapped_column(Text, default="")
    referral_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[dt.datetime]


class Station(Base):
    """A receiving facility's screen: its alerts go on without a staff sign-in.

    The secret is kept only as a SHA-256 hash; it opens the facility's live feed and the count of
    referrals waiting for an answer, nothing else (``service.accounts.stations``).
    """

    __tablename__ = "stations"
    __table_args__ = (Index("ix_stations_facility", "facility_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    facility_id: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    last_used_at: Mapped[dt.datetime | None]


class PushSubscription(Base):
    """A browser's Web Push subscription: where to reach a facility's staff with the page closed.

    ``endpoint`` is the push service's URL for that browser (a capability: never logged);
    ``p256dh`` and ``auth`` are the browser's keys the notice is encrypted to (RFC 8291). The row
    goes when the push service answers 404 or 410 (``service.notifications``).
    """

    __tablename__ = "push_subscriptions"
    __table_args__ = (
        Index("ix_push_subscriptions_facility", "facility_id"),
        Index("ix_push_subscriptions_user", "user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    facility_id: Mapped[str] = mapped_column(String(64))
    endpoint: Mapped[str] = mapped_column(String(1024), unique=True)
    p256dh: Mapped[str] = mapped_column(String(100))
    auth: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[dt.datetime]
    last_ok_at: Mapped[dt.datetime | None]
    #: failed sends since the last one that went through (404/410 delete the row instead)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class NotifierCursor(Base):
    """One row: the last referral event whose notices were claimed (by any worker, once)."""

    __tablename__ = "notifier_cursor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_event_id: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime]


def aware(t: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives naive datetimes back: they were stored in UTC."""
    if t is None or t.tzinfo is not None:
        return t
    return t.replace(tzinfo=dt.UTC)


def _private_file(url: str) -> None:
    """A SQLite file holds patient data (UU 27/2022): created 0600 (its -wal and -shm files take the
    same mode from it), and an existing one is made 0600 too."""  # noqa: D205, D209
    path = url.split(":///", 1)[1] if ":///" in url else ""
    if not path or path.startswith(":memory:") or "mode=memory" in path:
        return
    file = Path(path.split("?", 1)[0])
    fd = os.open(file, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    file.chmod(0o600)


def make_engine(url: str, keyring: Keyring | None = None) -> Engine:
    """An engine for SQLite (WAL, synchronous FULL, foreign keys) or PostgreSQL (psycopg 3).

    ``keyring`` seals and opens the patient data (without it, reading or writing them fails).
    """
    engine = _engine(url)
    engine.dialect.rujuk_keyring = keyring  # type: ignore[attr-defined]
    return engine


def _engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        _private_file(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _: Any) -> None:  # noqa: ANN401  DB-API connection
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def session_factory(engine: Engine) -> sessionmaker[Any]:
    """Sessions that keep loaded values after commit (responses are built after it)."""
    return sessionmaker(engine, expire_on_commit=False)
