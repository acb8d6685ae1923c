"""HTTP routes of the referral letter and its lifecycle: create, list, read, act, history, print.

Endpoints that touch the database or the engines are plain ``def``: FastAPI runs them in its
thread pool, so routing and matching never block the event loop.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import HTMLResponse

from service.auth import Role
from service.database import aware
from service.deps import AnyUser, CurrentReferral, Db, Rt, Staff, check_role
from service.http import doc, fast_json
from service.referrals import creation, lists, messages, queries, store
from service.referrals.letter import letter_for, pdf_of
from service.referrals.lifecycle import Action, Status
from service.referrals.schemas import DeclineIn, EventOut, NoteIn, RedirectIn, ReferralIn, ReferralOut
from service.referrals.views import delivery_json, event_json, referral_json
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
    res = creation.create(rt, db, p, body, idempotency_key=idempotency_key)
    db.commit()
    return fast_json(referral_json(res.referral), 201 if res.created else 200)


#: the headers of a list's page (declared in the OpenAPI document)
_PAGE_HEADERS = {
    "Link": {
        "description": 'the next page, when there is one: `<url>; rel="next"` (RFC 8288), the same '
        "query with a `cursor`",
        "schema": {"type": "string"},
    },
    "Rujuk-Searched-Until": {
        "description": "a search that stopped at its bound of rows examined: the date (ISO 8601) it "
        "reached; the next page searches on from there",
        "schema": {"type": "string", "format": "date-time"},
    },
}


def _with_headers(kw: dict[str, Any], headers: dict[str, Any]) -> dict[str, Any]:
    """A route's ``doc()`` with the headers of its success answer declared."""
    ok = kw["responses"][kw["status_code"]]
    ok["headers"] = headers
    return kw


@router.get("/referrals", **_with_headers(doc(list[ReferralOut], 401, 403), _PAGE_HEADERS))
def list_referrals(  # noqa: PLR0913  one parameter per query field
    request: Request,
    rt: Rt,
    db: Db,
    p: AnyUser,
    box: Annotated[Literal["inbox", "outbox", "transport"], Query()] = "outbox",
    status: Annotated[Status | None, Query(description="one state of the lifecycle")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[dt.datetime | None, Query()] = None,
    nik: Annotated[str | None, Query(pattern=r"^\d{16}$", description="one patient's (16-digit NIK)")] = None,
    q: Annotated[
        str | None,
        Query(max_length=100, description="patient name, NIK, medical record no., ICD-10 code or diagnosis"),
    ] = None,
    since: Annotated[dt.date | None, Query(description="from this local day (the referral's date)")] = None,
    until: Annotated[dt.date | None, Query(description="to this local day, inclusive")] = None,
    cursor: Annotated[
        str | None, Query(max_length=200, description="where the page starts: from a `Link` rel=next")
    ] = None,
) -> Response:
    """The facility's outbox or inbox (or, for dispatchers, referrals needing transport), newest first.

    A page of ``limit`` rows; the ``Link`` header gives the next one. ``q`` searches the patient
    (name, medical record number; a 16-digit NIK exactly, through a keyed hash: the NIK is never
    stored in clear) on the rows whose patient the caller sees, and the diagnosis (ICD-10 code, the
    text written, the code's names) on every row; ``status``, ``since`` and ``until`` (local days)
    filter. The transport list cannot be searched.
    """
    check_role(p, *((Role.DISPATCHER,) if box == "transport" else (Role.REFERRER, Role.RECEIVER)))
    state = status.value if status else None
    filters = lists.Filters(status=state, since=since, until=until, text=q, nik=nik)
    lists.check(filters, box)
    after = lists.Position.decode(cursor) if cursor is not None else None
    page = lists.list_referrals(db, p, box=box, filters=filters, timezone=rt.dataset.timezone, limit=limit,
                                after=after, before=before)  # fmt: skip
    now = rt.clock()
    today = now.astimezone(ZoneInfo(rt.dataset.timezone)).date()
    unread = messages.unread_counts(db, p, [r.id for r in page.rows]) if box != "transport" else {}
    out = []
    for r in page.rows:
        j = referral_json(r, with_patient=box != "transport" and queries.sees_patient(p, r))
        if "patient" in j:
            j["patient"] = {**j["patient"], "age_years": lists.age_years(j["patient"], today)}
        sent = aware(r.sent_at)
        j["waiting_s"] = round((now - sent).total_seconds()) if sent and r.due_at else None
        if box != "transport":
            j["unread_messages"] = unread.get(r.id, 0)
        out.append(j)
    res = fast_json(out)
    if page.next is not None:
        url = request.url.include_query_params(cursor=page.next.encode())
        res.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
    if page.searched_until is not None:
        res.headers["Rujuk-Searched-Until"] = page.searched_until.isoformat()
    return res


@router.get("/referrals/{referral_id}", **doc(ReferralOut, 401, 404))
def get_referral(r: CurrentReferral, db: Db, p: AnyUser) -> dict[str, Any]:
    """One referral (404 when it does not exist or is not yours to see), with its back-referrals."""
    sees = queries.sees_patient(p, r)
    out = referral_json(r, with_patient=sees)
    out["back_referrals"] = queries.back_referrals_of(db, p, r.id)
    out["delivery"] = delivery_json(queries.delivery_of(db, r.id)) if sees else None
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
    store.act(db, p, r, action, now=rt.clock(), terms=creation.terms(rt), note=note, redirect=redirect)
    db.commit()
    if r.ambulance_id is not None:
        rt.registry.forget()  # its ambulance may have moved with it (transporting, free again)
    # the answer shows the patient only to those who may see it (a dispatcher acts on transport)
    sees = queries.sees_patient(p, r)
    out = referral_json(r, with_patient=sees)
    out["delivery"] = delivery_json(queries.delivery_of(db, r.id)) if sees else None
    return out


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
