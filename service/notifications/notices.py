"""What a referral event tells whom: the notices, in Bahasa Indonesia, never naming the patient.

A notice goes to one facility, the referral's destination or its origin:

| event | destination (``/terima``) | origin (``/rujuk``) |
|---|---|---|
| ``send`` to *sent* | a new referral (or back-referral) | |
| ``redirect`` to *sent* | a new referral (redirected here) | |
| ``escalated`` | still unanswered | still unanswered, and the next candidate |
| ``accept`` | | accepted |
| ``decline`` | | declined, and the next candidate |

A notice holds the facilities' names, emergency or type of care and the ICD-10 codes: never the
patient's name, NIK, phone, date of birth or address, nor an event's free-text note (a reason may
name someone). Only plain columns of the referral are read; its sealed patient block is never
opened here. An outpatient referral accepted as it is sent waits for nobody's answer: no notice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select

from service.database import Referral, ReferralEvent, aware

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from sqlalchemy.orm import Session

    from geodata.dataset import Dataset

Side = Literal["destination", "origin"]
#: the page each side answers on
PAGES: dict[Side, str] = {"destination": "/terima", "origin": "/rujuk"}
_CARE = {"gawat_darurat": "Gawat darurat", "rawat_inap": "Rawat inap", "rawat_jalan": "Rawat jalan"}
#: ICD-10 codes named in a notice (a letter may carry more)
MAX_CODES = 3


@dataclass(frozen=True, slots=True)
class Notice:
    """One thing to tell one facility about one referral event."""

    event_id: int
    kind: str
    referral_id: str
    facility_id: str
    to: Side
    title: str
    body: str
    url: str
    emergency: bool
    at: dt.datetime

    @property
    def key(self) -> str:
        """Unique per notice and the same on every retry: an escalation gives two (one per side)."""
        return f"{self.event_id}:{self.to}"

    def push_payload(self) -> dict[str, Any]:
        """What the service worker receives (``sw-push.js``)."""
        return {
            "kind": self.kind,
            "referral_id": self.referral_id,
            "title": self.title,
            "body": self.body,
            "url": self.url,
            "emergency": self.emergency,
        }

    def webhook_payload(self) -> dict[str, Any]:
        """What the operator's gateway receives (docs/notifications.md)."""
        return {
            "event_id": self.event_id,
            "kind": self.kind,
            "referral_id": self.referral_id,
            "facility_id": self.facility_id,
            "to": self.to,
            "title": self.title,
            "body": self.body,
            "emergency": self.emergency,
            "at": self.at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Facts:
    """The referral's plain columns a notice may use."""

    id: str
    emergency: bool
    service_type: str
    icd10: tuple[str, ...]
    proposed_next_id: str | None
    #: a back-referral (rujuk balik): the patient comes back to where care goes on
    back_referral: bool = False


def facility_names(dataset: Dataset) -> dict[str, str]:
    """Facility id -> name, from the dataset."""
    return {f.id: f.name for f in dataset.facilities}


def _care(r: Facts) -> str:
    first = "Gawat darurat" if r.emergency else _CARE.get(r.service_type, r.service_type)
    codes = ", ".join(r.icd10[:MAX_CODES])
    return f"{first} · {codes}" if codes else first


def _next(r: Facts, name: Callable[[str], str]) -> str:
    if r.proposed_next_id:
        return f"usulan tujuan berikutnya: {name(r.proposed_next_id)}"
    return "pilih tujuan lain"


def _texts(e: ReferralEvent, r: Facts, name: Callable[[str], str]) -> list[tuple[Side, str, str]]:
    """(side, title, body) of each notice of an event; none for the events nobody waits on."""
    origin, destination = name(e.origin_id), name(e.destination_id)
    care = _care(r)
    new = "Rujukan balik" if r.back_referral else "Rujukan baru"
    if e.kind == "send" and e.to_status == "sent":
        return [("destination", f"{new} dari {origin}", care)]
    if e.kind == "redirect" and e.to_status == "sent":
        return [("destination", f"{new} dari {origin} (dialihkan)", care)]
    if e.kind == "escalated":
        return [
            ("destination", f"Rujukan dari {origin} belum dijawab", f"Batas waktu jawaban lewat · {care}"),
            ("origin", f"{destination} belum menjawab rujukan", f"{care} · {_next(r, name)}"),
        ]
    if e.kind == "accept":
        return [("origin", f"Rujukan diterima {destination}", care)]
    if e.kind == "call_from_sender":
        return [("destination", f"Panggilan video dari {origin}", care)]
    if e.kind == "call_from_receiver":
        return [("origin", f"Panggilan video dari {destination}", care)]
    if e.kind == "msg_sender":  # never the text: a notice leaves rujuk
        return [("destination", f"Pesan dari {origin}", f"{care} · buka rujukan untuk membaca")]
    if e.kind == "msg_receiver":
        return [("origin", f"Pesan dari {destination}", f"{care} · buka rujukan untuk membaca")]
    if e.kind == "decline":
        return [("origin", f"Rujukan ditolak {destination}", f"{care} · {_next(r, name)}")]
    return []


def _facts(s: Session, referral_ids: Iterable[str]) -> dict[str, Facts]:
    rows = s.execute(
        select(
            Referral.id,
            Referral.emergency,
            Referral.service_type,
            Referral.icd10,
            Referral.proposed_next_id,
            Referral.back_referral_of,
        ).where(Referral.id.in_(set(referral_ids)))
    ).all()
    return {
        r.id: Facts(
            r.id,
            bool(r.emergency),
            r.service_type,
            tuple(r.icd10 or ()),
            r.proposed_next_id,
            back_referral=r.back_referral_of is not None,
        )
        for r in rows
    }


def notices_of(s: Session, events: Sequence[ReferralEvent], names: Mapping[str, str]) -> list[Notice]:
    """Every notice of these events, in their order."""
    facts = _facts(s, (e.referral_id for e in events))

    def name(facility_id: str) -> str:
        return names.get(facility_id, facility_id)

    out = []
    for e in events:
        r = facts.get(e.referral_id)
        if r is None:
            continue
        at = aware(e.at) or dt.datetime.now(dt.UTC)
        for side, title, body in _texts(e, r, name):
            facility = e.destination_id if side == "destination" else e.origin_id
            out.append(
                Notice(e.id, e.kind, e.referral_id, facility, side, title, body, PAGES[side], r.emergency, at)
            )
    return out
