"""HTTP routes of the referral letter and its lifecycle: create, list, read, act, history, print.

Endpoints that touch the database or the engines are plain ``def``: FastAPI runs them in its
thread pool, so routing and matching never block the event loop.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import HTMLResponse

from rules.errors import RulesError
from service.auth import Role
from service.database import aware
from service.deps import AnyUser, CurrentReferral, Db, Rt, Staff, check_role
from service.errors import ForbiddenError, InputError
from service.http import doc, fast_json
from service.referrals import queries, store
from service.referrals.letter import letter_for, pdf_of
from service.referrals.lifecycle import Action, Status
from service.referrals.schemas import DeclineIn, EventOut, NoteIn, RedirectIn, ReferralIn, ReferralOut
from service.referrals.views import event_json, referral_json
from service.runtime import Runtime

if TYPE_CHECKING:
    from service.auth import Principal
    from service.database import Referral

router = APIRouter(prefix="/api", tags=["referrals"])

#: what every action on one referral may answer besides success
_ACT_ERRORS = (401, 403, 404, 409)


@router.post(
    "/referrals", **doc(ReferralOut, 401, 403, 409, status=201, description="Created (200: a retry)")
)
def create_referral(
    body: ReferralIn,
    rt: Rt,
    db: Db,
    p: Staff,
    idempotency_key: Annotated[str | None, Header(min_length=8, max_length=128)] = None,
) -> Response:
    """Create the referral letter (Pasal 17) with its consent record (Pasal 13).

    Send an ``Idempotency-Key`` header: a retry with the same key and body returns the same
    referral (200), never a duplicate; the same key with another body is a 409.
    """
    if p.facility_id is None:
        raise ForbiddenError("your account is not bound to a facility")
    if body.back_referral_of is None and body.destination_id not in rt.receiving_ids:
        raise InputError(
            "destination_id", f"{body.destination_id!r} is not a receiving facility", code="not_receiving"
        )
    if body.destination_id not in rt.facility_ids:  # a back-referral goes to any facility (Pasal 11(2))
        raise InputError(
            "destination_id", f"{body.destination_id!r} is not a facility", code="unknown_facility"
        )
    if body.destination_id == p.facility_id:
        raise InputError("destination_id", "a facility cannot refer to itself", code="same_facility")
    now = rt.clock()
    store.check_times(body, now)
    referred_from = store.referred_from(db, body, p.facility_id)
    req = store.domain_request(body, p.facility_id, now.date(), referred_from=referred_from)
    try:
        s = rt.matcher.suggest(req, statuses=rt.statuses.read(db), now=now)
    except RulesError as exc:
        field = getattr(exc, "field", "medical.icd10")
        raise InputError(field.replace("icd10", "medical.icd10"), getattr(exc, "message", str(exc))) from exc
    res = store.create_referral(db, body, principal=p, origin_id=p.facility_id,
                                idempotency_key=idempotency_key, suggestion=s, now=now,
                                timezone=rt.dataset.timezone)  # fmt: skip
    db.commit()
    return fast_json(referral_json(res.referral), 201 if res.created else 200)


@router.get("/referrals", **doc(list[ReferralOut], 401, 403))
def list_referrals(
    rt: Rt,
    db: Db,
    p: AnyUser,
    box: Annotated[Literal["inbox", "outbox", "transport"], Query()] = "outbox",
    status: Annotated[Status | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[dt.datetime | None, Query()] = None,
    nik: Annotated[str | None, Query(pattern=r"^\d{16}$", description="one patient's (16-digit NIK)")] = None,
) -> Response:
    """The facility's outbox or inbox (or, for dispatchers, referrals needing transport).

    ``nik`` finds one patient's referrals in the box (through a keyed hash: the NIK is never
    stored in clear); the transport list cannot be searched by patient.
    """
    check_role(p, *((Role.DISPATCHER,) if box == "transport" else (Role.REFERRER, Role.RECEIVER)))
    if nik is not None and box == "transport":
        raise InputError("query.nik", "the transport list carries no patient identity: no search by NIK")
    now = rt.clock()
    rows = queries.list_referrals(db, p, box=box, status=status.value if status else None, limit=limit,
                                before=before, nik=nik)  # fmt: skip
    out = []
    for r in rows:
        j = referral_json(r, with_patient=box != "transport" and queries.sees_patient(p, r))
        sent = aware(r.sent_at)
        j["waiting_s"] = round((now - sent).total_seconds()) if sent and r.due_at else None
        out.append(j)
    return fast_json(out)


@router.get("/referrals/{referral_id}", **doc(ReferralOut, 401, 404))
def get_referral(r: CurrentReferral, db: Db, p: AnyUser) -> dict[str, Any]:
    """One referral (404 when it does not exist or is not yours to see), with its back-referrals."""
    out = referral_json(r, with_patient=queries.sees_patient(p, r))
    out["back_referrals"] = queries.back_referrals_of(db, p, r.id)
    return out


@router.get("/referrals/{referral_id}/events", **doc(list[EventOut], 401, 404))
def referral_events(r: CurrentReferral, db: Db, p: AnyUser) -> list[dict[str, Any]]:
    """The referral's history, every transition with its time (a note only for those it is for:
    the two facilities; dispatchers and facilities it went on from read the ambulance's notes)."""  # noqa: D205, D209
    return [
        event_json(e) | ({} if queries.sees_note(p, e) else {"note": ""}) for e in queries.history(db, r.id)
    ]


def _act(
    rt: Runtime,
    db: Any,  # noqa: ANN401  a Session
    p: Any,  # noqa: ANN401  a Principal
    r: Any,  # noqa: ANN401  a Referral
    action: Action,
    *,
    note: str = "",
    redirect: store.Redirect | None = None,
) -> dict[str, Any]:
    terms = store.Terms(
        answer_within_min=rt.answer_within_min, receiving_ids=rt.receiving_ids, facility_ids=rt.facility_ids
    )
    store.act(db, p, r, action, now=rt.clock(), terms=terms, note=note, redirect=redirect)
    db.commit()
    if r.ambulance_id is not None:
        rt.registry.forget()  # its ambulance may have moved with it (transporting, free again)
    # the answer shows the patient only to those who may see it (a dispatcher acts on transport)
    return referral_json(r, with_patient=queries.sees_patient(p, r))


@router.post("/referrals/{referral_id}/send", **doc(ReferralOut, *_ACT_ERRORS))
def send(r: CurrentReferral, rt: Rt, db: Db, p: AnyUser) -> dict[str, Any]:
    """Send to the receiving facility (an outpatient referral is accepted at once: Pasal 16(3))."""
    return _act(rt, db, p, r, Action.SEND)


@router.post("/referrals/{referral_id}/accept", **doc(ReferralOut, *_ACT_ERRORS))
def accept(r: CurrentReferral, rt: Rt, db: Db, p: AnyUser, body: NoteIn | None = None) -> dict[str, Any]:
    """The receiver accepts."""
    return _act(rt, db, p, r, Action.ACCEPT, note=body.note if body else "")


@router.post("/referrals/{referral_id}/decline", **doc(ReferralOut, *_ACT_ERRORS))
def decline(r: CurrentReferral, body: DeclineIn, rt: Rt, db: Db, p: AnyUser) -> dict[str, Any]:
    """The receiver declines, with a reason; counted and escalated (Pasal 19(4))."""
    return _act(rt, db, p, r, Action.DECLINE, note=body.reason)


@router.post("/referrals/{referral_id}/redirect", **doc(ReferralOut, *_ACT_ERRORS))
def redirect(r: CurrentReferral, body: RedirectIn, rt: Rt, db: Db, p: AnyUser) -> dict[str, Any]:
    """The sender asks another facility (e.g. the proposed next candidate)."""
    to = store.Redirect(body.destination_id, receiving_unit=body.receiving_unit, reason=body.reason)
    return _act(rt, db, p, r, Action.REDIRECT, redirect=to)


def _simple(action: Action, doc_: str) -> Any:  # noqa: ANN401  a FastAPI endpoint
    def endpoint(
        r: CurrentReferral, rt: Rt, db: Db, p: AnyUser, body: NoteIn | None = None
    ) -> dict[str, Any]:
        return _act(rt, db, p, r, action, note=body.note if body else "")

    endpoint.__doc__ = doc_
    endpoint.__name__ = action.value
    return endpoint


for _action, _doc in (
    (Action.DISPATCH, "An ambulance is dispatched."),
    (Action.DEPART, "The patient is in transit."),
    (Action.ARRIVE, "Arrived and handed over (Pasal 18(1)b)."),
    (Action.COMPLETE, "Care at the receiving facility is complete."),
    (Action.CANCEL, "The sender cancels."),
):
    router.add_api_route(
        f"/referrals/{{referral_id}}/{_action.value}",
        _simple(_action, _doc),
        methods=["POST"],
        **doc(ReferralOut, *_ACT_ERRORS),
    )


@router.get("/referrals/{referral_id}/letter", **doc(None, 401, 404, media_type="text/html"))
def letter(
    r: CurrentReferral,
    rt: Rt,
    db: Db,
    p: AnyUser,
    lang: Annotated[Literal["id", "en"], Query(description="the letter's language")] = "id",
) -> HTMLResponse:
    """The referral letter (Pasal 17(2)) to read and print: A4 on paper, readable on a phone."""
    return HTMLResponse(_letter_html(r, rt, db, p, lang))


@router.get("/referrals/{referral_id}/letter.pdf", **doc(None, 401, 404, media_type="application/pdf"))
def letter_pdf(
    r: CurrentReferral,
    rt: Rt,
    db: Db,
    p: AnyUser,
    lang: Annotated[Literal["id", "en"], Query(description="the letter's language")] = "id",
) -> Response:
    """The referral letter as a PDF (A4), rendered from the same page (runs on a worker thread)."""
    body = pdf_of(_letter_html(r, rt, db, p, lang))
    name = (r.number or r.id).replace("/", "-")
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="surat-rujukan-{name}.pdf"'},
    )


def _letter_html(r: Referral, rt: Runtime, db: Any, p: Principal, lang: str) -> str:  # noqa: ANN401  a session
    facilities = {f.id: f for f in rt.dataset.facilities}
    return letter_for(
        db, r, p, facilities=facilities, now=rt.clock(), timezone=rt.dataset.timezone, lang=lang
    )
