"""The public JSON forms of a referral and of an event of its history."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from service.database import aware

if TYPE_CHECKING:
    import datetime as dt

    from service.database import Delivery, Referral, ReferralEvent

#: the lifecycle's timestamps, as ``times`` of a referral's JSON
TIMES = (
    "created",
    "sent",
    "due",
    "answered",
    "accepted",
    "declined",
    "escalated",
    "dispatched",
    "in_transit",
    "arrived",
    "completed",
    "cancelled",
    "updated",
)

#: columns copied as they are
_PLAIN = (
    "id", "number", "status", "origin_id", "destination_id", "receiving_unit", "service_type", "emergency",
    "payer", "icd10", "specialty", "non_specialist", "tacc", "reason", "medical", "consent", "offline",
    "offline_note", "back_referral_of", "suggestion", "tried", "proposed_next_id", "decline_reason",
    "decline_count", "escalation_count", "response_time_s", "version", "ambulance_id", "incident_id",
)  # fmt: skip


def iso(t: dt.datetime | None) -> str | None:
    """A stored time in ISO 8601 with its zone (UTC)."""
    t = aware(t)
    return t.isoformat() if t else None


def referral_json(r: Referral, *, with_patient: bool = True) -> dict[str, Any]:
    """The public JSON form of a referral (patient identity only for the two facilities)."""
    out: dict[str, Any] = {k: getattr(r, k) for k in _PLAIN}
    out["times"] = {k: iso(getattr(r, f"{k}_at")) for k in TIMES}
    if with_patient:
        out["patient"] = r.patient
    return out


def event_json(e: ReferralEvent) -> dict[str, Any]:
    """One entry of a referral's history."""
    return {
        "id": e.id,
        "referral_id": e.referral_id,
        "at": iso(e.at),
        "kind": e.kind,
        "from": e.from_status,
        "to": e.to_status,
        "origin_id": e.origin_id,
        "destination_id": e.destination_id,
        "note": e.note,
    }


def delivery_json(d: Delivery | None) -> dict[str, Any] | None:
    """Where a referral's hand-over to another rujuk deployment is (``service.peers``; None: none)."""
    if d is None:
        return None
    return {
        "peer": d.peer,
        "destination_id": d.destination_id,
        "state": d.state,
        "attempts": d.attempts,
        "next_attempt_at": iso(d.next_attempt_at) if d.state == "pending" else None,
        "last_error": d.last_error,
        "problem": d.problem,
        "remote_status": d.remote_status,
    }
