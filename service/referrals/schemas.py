"""Request and answer shapes of the referral letter (Pasal 17), its lifecycle, attachments, reports.

Validation errors name the field (pydantic's ``loc``); nothing here touches storage.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from geodata.models import Service
from rules import procedures
from rules.model import Payer, ServiceType, Sex
from service.referrals import identity
from service.schemas import Strict

CONSENT_ITEMS = {
    "a": "diagnosis",
    "b": "indikasi",
    "c": "tindakan pelayanan kesehatan yang dilakukan dan tujuannya",
    "d": "risiko dan komplikasi yang mungkin terjadi",
    "e": "alternatif tindakan lain dan risikonya",
    "f": "risiko apabila tindakan tidak dilakukan",
    "g": "prognosis setelah memperoleh tindakan",
    "h": "transportasi rujukan",
}

Short = Annotated[str, Field(min_length=1, max_length=200)]
LongText = Annotated[str, Field(max_length=4000)]


class PatientIn(Strict):
    """Patient identity (Pasal 17(1)a). Personal data: stored, shown to the two facilities, never logged."""

    name: Short
    nik: str = Field(pattern=r"^\d{16}$", description="Nomor Induk Kependudukan, 16 digits")
    medical_record_number: str = Field(min_length=1, max_length=40)
    date_of_birth: date
    sex: Sex
    address: str = Field(default="", max_length=500)
    phone: str = Field(default="", pattern=r"^(\+?\d{8,15})?$")
    jkn_number: str = Field(
        default="", max_length=13, description="BPJS Kesehatan card number (Nomor Kartu JKN), 13 digits"
    )
    nik_confirmed: bool = Field(
        default=False,
        description="staff read the NIK off the KTP or KK: a region code or birth digits from before a "
        "change (pemekaran, a corrected birth date) are accepted as printed (docs/identity.md)",
    )

    @field_validator("date_of_birth")
    @classmethod
    def _not_future(cls, v: date) -> date:
        if v > datetime.now(UTC).date() or v.year < 1890:
            raise PydanticCustomError("birth_date", "must be a real date of birth, not in the future")
        return v

    @field_validator("jkn_number")
    @classmethod
    def _jkn(cls, v: str) -> str:
        if v and not identity.jkn_number_ok(v):
            raise PydanticCustomError("jkn_number", "must be the 13 digits of a BPJS Kesehatan card")
        return v

    @model_validator(mode="after")
    def _nik_agrees(self) -> PatientIn:
        """The NIK checked for structure and against the date of birth and sex (docs/identity.md)."""
        found = identity.nik_problems(self.nik, date_of_birth=self.date_of_birth, sex=self.sex)
        refused = [p for p in found if not (p.confirmable and self.nik_confirmed)]
        if refused:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError(p.code, p.message, {"confirmable": p.confirmable}),
                        loc=(p.field,),
                        input=getattr(self, p.field),
                    )
                    for p in refused
                ],
            )
        return self


class VitalSigns(Strict):
    """Vital signs at referral."""

    bp_systolic: int | None = Field(default=None, ge=20, le=300)
    bp_diastolic: int | None = Field(default=None, ge=10, le=200)
    pulse: int | None = Field(default=None, ge=10, le=300)
    respiratory_rate: int | None = Field(default=None, ge=2, le=100)
    temperature_c: float | None = Field(default=None, ge=25, le=45)
    spo2: int | None = Field(default=None, ge=30, le=100)
    gcs: int | None = Field(default=None, ge=3, le=15)


class ProcedureIn(Strict):
    """A procedure done before the referral, by its ICD-9-CM code (``rules.procedures``)."""

    code: str = Field(min_length=2, max_length=8, description="ICD-9-CM volume 3, e.g. 99.04 or 9904")
    note: str = Field(default="", max_length=500, description="what was done, in the staff's words")

    @field_validator("code")
    @classmethod
    def _known(cls, v: str) -> str:
        found = procedures.lookup(v)
        if found is None:
            raise PydanticCustomError(
                "icd9cm_unknown", "'{code}' is not an ICD-9-CM procedure code (e.g. 99.04)", {"code": v[:8]}
            )
        return found.code


class MedicalIn(Strict):
    """The medical summary (Pasal 17(1)d)."""

    history: LongText = ""
    vital_signs: VitalSigns = Field(default_factory=VitalSigns)
    diagnosis_text: Short
    icd10: list[Annotated[str, Field(min_length=1, max_length=10)]] = Field(min_length=1, max_length=10)
    therapy: LongText = ""
    stabilisation: LongText = Field(min_length=1, description="first aid / stabilisation done (Pasal 13(2))")
    procedures: list[ProcedureIn] = Field(
        default_factory=list, max_length=20, description="procedures done, ICD-9-CM (checked against CMS v32)"
    )


class ConsentIn(Strict):
    """Consent after explanation (Pasal 13(3)-(5)): every item a-h explained."""

    given: bool
    given_by: Literal["patient", "representative"]
    representative_relation: str = Field(default="", max_length=100)
    explained_by: Short
    explained_items: dict[Literal["a", "b", "c", "d", "e", "f", "g", "h"], bool]
    form: Literal["oral", "written", "oral_and_written"]
    at: AwareDatetime

    @field_validator("explained_items")
    @classmethod
    def _all_items(cls, v: dict[str, bool]) -> dict[str, bool]:
        missing = [k for k in CONSENT_ITEMS if not v.get(k)]
        if missing:
            raise PydanticCustomError(
                "consent_items",
                "Pasal 13(5): items {missing} must be explained",
                {"missing": ", ".join(missing)},
            )
        return v


class OfflineIn(Strict):
    """A referral made on paper or offline (Pasal 20(3)), entered afterwards."""

    occurred_at: AwareDatetime
    note: str = Field(min_length=1, max_length=1000)


class ReferralIn(Strict):
    """A referral letter (Pasal 17) as created by the referring staff."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "destination_id": "6101033",
                    "receiving_unit": "IGD Kebidanan",
                    "patient": {
                        "name": "Siti Contoh",
                        "nik": "6101014107980001",
                        "medical_record_number": "RM-000123",
                        "date_of_birth": "1998-07-01",
                        "sex": "female",
                        "address": "Segarau Parit, Tebas",
                        "phone": "081234567890",
                        "jkn_number": "0001234567890",
                    },
                    "medical": {
                        "history": "P1A0, partus 2 jam lalu, perdarahan terus",
                        "vital_signs": {"bp_systolic": 85, "bp_diastolic": 50, "pulse": 124, "spo2": 95},
                        "diagnosis_text": "Perdarahan postpartum",
                        "icd10": ["O72.1"],
                        "therapy": "Oksitosin 10 IU IM, infus RL 2 jalur",
                        "stabilisation": "Kompresi bimanual, 2 jalur infus",
                    },
                    "reason": "Perlu transfusi dan penanganan spesialis Obgyn",
                    "consent": {
                        "given": True,
                        "given_by": "representative",
                        "representative_relation": "suami",
                        "explained_by": "Bidan Ani",
                        "form": "written",
                        "at": "2026-11-22T01:55:00+07:00",
                        "explained_items": dict.fromkeys("abcdefgh", True),
                    },
                    "service_type": "gawat_darurat",
                    "emergency": True,
                    "payer": "jkn_pbi",
                }
            ]
        },
    )

    destination_id: str = Field(min_length=1, max_length=64)
    receiving_unit: Short
    patient: PatientIn
    medical: MedicalIn
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    consent: ConsentIn
    service_type: ServiceType
    emergency: bool = False
    disaster: bool = False
    payer: Payer
    specialty: Service | None = None
    tacc: str = Field(default="", max_length=500)
    back_referral_of: str | None = Field(default=None, max_length=36)
    offline: OfflineIn | None = None

    @field_validator("consent")
    @classmethod
    def _consent_given(cls, v: ConsentIn) -> ConsentIn:
        if not v.given:
            raise PydanticCustomError(
                "no_consent", "no referral without consent (Pasal 13(3), 14(1)b): treat locally"
            )
        return v


class DeclineIn(Strict):
    """A decline needs a reason (Pasal 19(4))."""

    reason: Annotated[str, Field(min_length=3, max_length=1000)]


class RedirectIn(Strict):
    """Ask another facility (the next candidate, or one the sender chooses)."""

    destination_id: str = Field(min_length=1, max_length=64)
    receiving_unit: str | None = Field(default=None, min_length=1, max_length=200)
    #: the reason for referral, written for the new destination (else the letter's stays)
    reason: str | None = Field(default=None, min_length=1, max_length=2000)


class NoteIn(Strict):
    """An optional note with a transition."""

    note: str = Field(default="", max_length=1000)


# ------------------------------------------------------------------------------------- answers


class ReferralOut(BaseModel):
    """A referral letter and where it is in its lifecycle (``patient`` only for its two facilities)."""

    id: str
    number: str | None = Field(
        default=None,
        description="the letter's number for people, per facility and month: 007/RJK/PKM-SEGARAU/XII/2026 "
        "(none on letters made before numbers were given)",
    )
    status: str
    origin_id: str
    destination_id: str
    receiving_unit: str
    service_type: str
    emergency: bool
    payer: str
    icd10: list[str]
    specialty: str | None
    non_specialist: bool
    tacc: str
    reason: str
    medical: dict[str, Any]
    consent: dict[str, Any]
    offline: bool
    offline_note: str
    back_referral_of: str | None
    suggestion: dict[str, Any]
    tried: list[str]
    proposed_next_id: str | None
    ambulance_id: str | None = Field(default=None, description="the ambulance on its way for it, if any")
    incident_id: str | None = Field(
        default=None, description="the mass-casualty incident it is part of (Pasal 6)"
    )
    decline_reason: str | None
    decline_count: int
    escalation_count: int
    response_time_s: float | None
    version: int
    times: dict[str, str | None]
    patient: dict[str, Any] | None = Field(
        default=None,
        description="for those who may see the patient; in lists also `age_years` (today, local)",
    )
    waiting_s: int | None = Field(default=None, description="in lists: seconds since it was sent")
    unread_messages: int | None = Field(
        default=None, description="in the inbox and outbox: messages from the other side not read yet"
    )
    back_referrals: list[str] | None = Field(
        default=None, description="in a single read: the back-referrals of this referral the caller may read"
    )
    delivery: dict[str, Any] | None = Field(
        default=None,
        description="in a single read or an action's answer, for its two facilities: its hand-over to the "
        "rujuk deployment serving the destination (state pending: waiting to be delivered, with attempts, "
        "the last error and its kind, `problem`: unreachable, failing, sign_in, refused; delivered; "
        "refused: choose another destination; withdrawn; done)",
    )


class EventOut(BaseModel):
    """One change of a referral."""

    model_config = ConfigDict(populate_by_name=True)

    id: int
    referral_id: str
    at: str | None
    kind: str
    from_: str | None = Field(alias="from")
    to: str
    origin_id: str
    destination_id: str
    note: str


class AttachmentOut(BaseModel):
    """An attachment's metadata."""

    id: int
    kind: str
    filename: str
    content_type: str
    size: int


class DicomWindowOut(BaseModel):
    """A VOI window: centre (level) and width, in the modality's units (HU for CT)."""

    center: float
    width: float


class DicomOut(BaseModel):
    """A DICOM attachment's key tags, frames and the windows that apply; never the patient."""

    kind: Literal["image", "waveform"]
    modality: str | None
    body_part: str | None
    study_date: str | None
    series_description: str | None
    rows: int | None
    columns: int | None
    frames: int
    transfer_syntax: str
    photometric: str | None
    colour: bool
    window: DicomWindowOut | None = Field(description="the file's own window, when it has one")
    presets: list[str] = Field(description="the windows that apply, the default first (none for colour)")


class ReportOut(BaseModel):
    """The monthly report of Pasal 23 and the annex tables."""

    facility: dict[str, Any]
    month: str
    #: the time zone the month is counted in (the jurisdiction's, e.g. Asia/Jakarta: WIB)
    timezone: str
    indicators: dict[str, Any]
    tables: dict[str, Any]
    #: the rule pack the facility reports under: its regency's, else the province's
    #: (``rules.jurisdiction``); id, version, title, regency
    rule_pack: dict[str, str] | None = None


class MessageIn(Strict):
    """A message in the referral's conversation: text, a quick reply, an attachment, or some of them."""

    text: str = Field(default="", max_length=2000)
    quick: Literal["can_accept", "send_lab", "room_full", "call_us", "patient_worse", "on_the_way"] | None = (
        Field(default=None, description="a quick reply (the pages' words for it), completed by `text`")
    )
    attachment_id: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="one of the letter's attachments"
    )

    @model_validator(mode="after")
    def _something(self) -> MessageIn:
        if not self.text.strip() and self.quick is None and self.attachment_id is None:
            raise PydanticCustomError("empty_message", "write something, pick a quick reply or an attachment")
        return self


class ReadIn(Strict):
    """How far the caller has read the conversation."""

    up_to: int = Field(ge=0, le=2**63 - 1, description="the id of the newest message read")


class MessageOut(BaseModel):
    """One message of the conversation."""

    id: int
    at: str | None
    side: Literal["sender", "receiver"]
    facility_id: str
    destination_id: str
    author: str
    mine: bool
    text: str
    quick: str | None
    attachment_id: int | None


class ConversationOut(BaseModel):
    """A referral's conversation as the caller reads it."""

    messages: list[MessageOut]
    read_up_to: int
    can_write: bool
    elsewhere: bool = Field(
        default=False, description="the facility answers on another rujuk deployment: no conversation here"
    )
    side: Literal["sender", "receiver"] | None
    quick: list[str]


class ReadOut(BaseModel):
    """How far the caller has read."""

    read_up_to: int


class SignalIn(Strict):
    """A WebRTC signalling message for the other side of a call."""

    kind: Literal["offer", "answer", "candidate", "audio_only"]
    payload: dict[str, Any] = Field(
        default_factory=dict, description="the SDP or ICE candidate, as the browser gives it"
    )


class CallEndIn(Strict):
    """Hang up, or decline a call that rings."""

    declined: bool = False


class CallOut(BaseModel):
    """A video call of a referral."""

    id: str
    referral_id: str
    state: Literal["ringing", "active", "ended"]
    caller_side: Literal["sender", "receiver"]
    my_side: Literal["sender", "receiver"] | None
    started_at: str | None
    answered_at: str | None
    ended_at: str | None
    participants: list[dict[str, Any]]
    audio_only: bool
    ice_servers: list[dict[str, Any]] | None = Field(
        default=None, description="to the two sides starting or answering: the STUN/TURN servers to use"
    )


class SignalOut(BaseModel):
    """A stored signalling message."""

    id: int


# ------------------------------------------------------------- prefilled from a medical record


class PatientPrefill(BaseModel):
    """The patient's identity as far as the medical record holds it (``PatientIn``'s fields)."""

    name: str | None = None
    nik: str | None = None
    medical_record_number: str | None = None
    jkn_number: str | None = None
    date_of_birth: date | None = None
    sex: Sex | None = None
    address: str | None = None
    phone: str | None = None


class MedicalPrefill(BaseModel):
    """The medical summary as far as the record holds it (``MedicalIn``'s fields)."""

    diagnosis_text: str | None = None
    icd10: list[str] | None = None
    vital_signs: VitalSigns | None = None
    therapy: str | None = None
    stabilisation: str | None = None
    procedures: list[ProcedureIn] | None = None


class LetterPrefill(BaseModel):
    """The parts of the letter (``ReferralIn``) a medical record fills: only the fields found."""

    patient: PatientPrefill | None = None
    medical: MedicalPrefill | None = None


class SkippedOut(BaseModel):
    """Something of the record left out of the letter: where, why, and a code pages say in words."""

    entry: int | None = Field(description="the Bundle entry (0-based); none for the Bundle as a whole")
    element: str = Field(description="the element, as FHIRPath from the resource (`Observation.code`)")
    reason: str
    code: str = Field(
        description="not_in_letter, no_resource, no_patient, other_patient, not_current, words_only, "
        "unknown_icd10, unknown_icd9cm, too_many, too_long, not_vital, no_value, unit, out_of_range, "
        "superseded, no_medication, no_text, nik_shape, jkn_number_shape, partial_date, birth_date, gender, "
        "phone"
    )
    params: dict[str, str | int | float]


class ConvertedOut(BaseModel):
    """A vital sign converted to the letter's unit: the value and unit the record wrote."""

    field: str
    value: float
    unit: str


class PrefillOut(BaseModel):
    """A medical record export read into the letter: nothing of it is stored."""

    letter: LetterPrefill
    imported: list[str] = Field(
        description="the letter's fields filled (`patient.name`, `medical.vital_signs.pulse`)"
    )
    skipped: list[SkippedOut]
    converted: list[ConvertedOut]
