"""HTTP routes for staff: sign-in, live status, suggestions, referrals, the live inbox, reports.

Endpoints that touch the database or the engines are plain ``def``: FastAPI runs them in its
thread pool, so routing and matching never block the event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

import orjson
from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    Header,
    HTTPException,
    Query,
    Request,
    Response,
    UploadFile,
)
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, StreamingResponse
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import ValidationError
from sqlalchemy.orm import Session

from rules.errors import RulesError
from rules.model import ReferralRequest, ServiceType, Sex
from service import store
from service.auth import Principal, Role, issue_token
from service.letter import render_letter
from service.lifecycle import Action, Side, Status
from service.reports import monthly_report, report_csv, report_xlsx
from service.runtime import (
    SECURITY_SCHEME,
    Runtime,
    authenticate,
    own_facility,
    principal,
    require,
    runtime,
    session,
)
from service.schemas import (
    DeclineIn,
    NoteIn,
    ReasonLang,
    RedirectIn,
    ReferralIn,
    ReferralRequestIn,
    StatusUpdateIn,
    UserIn,
    VolumeIn,
    suggestion_json,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from service.db import Referral

router = APIRouter(prefix="/api")
Rt = Annotated[Runtime, Depends(runtime)]
Db = Annotated[Session, Depends(session)]
Staff = Annotated[Principal, Depends(require(Role.REFERRER, Role.RECEIVER))]
AnyUser = Annotated[Principal, Depends(principal)]


def fast_json(content: Any, status_code: int = 200) -> Response:  # noqa: ANN401  any JSON value
    """Serialise with orjson straight to bytes (FastAPI's encoder costs milliseconds on big answers)."""
    return Response(
        orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS),
        status_code=status_code,
        media_type="application/json",
    )


def _not_found(kind: str, ident: str) -> HTTPException:
    return HTTPException(404, {"type": "not_found", "detail": f"no {kind} {ident!r}"})


# ----------------------------------------------------------------------------------------- auth


@router.post("/token", tags=["auth"])
def token(rt: Rt, db: Db, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict[str, Any]:
    """OAuth2 password flow: a short-lived bearer token."""
    p = store.authenticate(db, form.username, form.password)
    if p is None:
        raise HTTPException(
            401,
            {"type": "unauthorized", "detail": "wrong username or password"},
            headers={"WWW-Authenticate": "Bearer"},
        )
    minutes = rt.settings.token_minutes
    return {
        "access_token": issue_token(p, key=rt.secret, minutes=minutes, now=rt.clock()),
        "token_type": "bearer",
        "expires_in": minutes * 60,
    }


@router.get("/me", tags=["auth"])
def me(p: AnyUser, rt: Rt) -> dict[str, Any]:
    """Who is signed in."""
    fac = next((f for f in rt.dataset.facilities if f.id == p.facility_id), None)
    return {
        "id": p.user_id,
        "username": p.username,
        "roles": sorted(r.value for r in p.roles),
        "facility": {"id": fac.id, "name": fac.name} if fac else None,
    }


@router.post("/users", status_code=201, tags=["auth"])
def create_user(
    body: UserIn, rt: Rt, db: Db, p: Annotated[Principal, Depends(require(Role.ADMIN))]
) -> dict[str, Any]:
    """Create an account (admins only)."""
    u = store.create_user(
        db,
        username=body.username,
        password=body.password,
        roles=body.roles,
        facility_id=body.facility_id,
        known_facilities=rt.facility_ids,
        actor=p.user_id,
        now=rt.clock(),
    )
    db.commit()
    return {"id": u.id, "username": u.username, "roles": u.roles, "facility_id": u.facility_id}


# ---------------------------------------------------------------------------------- live status


def _status_json(db: Session, facility_id: str, now: dt.datetime) -> dict[str, Any]:
    figures = []
    for f, author in store.status_figures(db, facility_id):
        at = store.aware(f.updated_at)
        assert at is not None
        item = {
            "key": f.key,
            "value": f.value.get("v"),
            "updated_at": at.isoformat(),
            "updated_by": author,
            "age_s": round((now - at).total_seconds()),
        }
        if f.key == "not_accepting_until":
            until = f.value.get("v")
            item["reason"] = f.value.get("reason", "")
            item["in_force"] = isinstance(until, str) and dt.datetime.fromisoformat(until) > now
        figures.append(item)
    return {"facility_id": facility_id, "figures": figures}


@router.get("/facilities/{facility_id}/status", tags=["status"])
def get_status(facility_id: str, rt: Rt, db: Db, _: AnyUser) -> dict[str, Any]:
    """A facility's live figures, each with its time, author and age."""
    if facility_id not in rt.facility_ids:
        raise _not_found("facility", facility_id)
    return _status_json(db, facility_id, rt.clock())


@router.patch("/facilities/{facility_id}/status", tags=["status"])
def patch_status(facility_id: str, body: StatusUpdateIn, rt: Rt, db: Db, p: Staff) -> dict[str, Any]:
    """Update some live figures (the facility's own staff). "Not accepting" reverts by itself."""
    if facility_id not in rt.facility_ids:
        raise _not_found("facility", facility_id)
    own_facility(p, facility_id)
    now = rt.clock()
    store.update_status(db, facility_id, body, p.user_id, now)
    db.commit()
    rt.statuses_changed()
    return _status_json(db, facility_id, now)


# ---------------------------------------------------------------------------------- suggestions


#: Up to this many candidates, rule evaluation on known road times (well under a millisecond)
#: runs on the event loop; a thread hop would cost more than the work. Road computations,
#: database reads and bigger candidate sets always go to the thread pool.
INLINE_MAX_CANDIDATES = 40


_LANGS: frozenset[str] = frozenset(("id", "en", "all"))
_STAFF_ROLES = (Role.REFERRER, Role.RECEIVER)


@router.post(
    "/suggestions",
    tags=["suggestions"],
    response_model=None,
    openapi_extra={
        "security": [{SECURITY_SCHEME: []}],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ReferralRequestIn"}}},
        },
        "parameters": [
            {
                "name": "lang",
                "in": "query",
                "required": False,
                "description": "reason texts in Bahasa Indonesia (id), English (en) or both (all)",
                "schema": {"type": "string", "enum": sorted(_LANGS), "default": "id"},
            }
        ],
    },
)
async def suggestions(request: Request) -> Response:
    """Decide and rank receiving facilities for a patient, with reasons and exclusions.

    The hot path of the service: sign-in, query and body are read here directly rather than
    through FastAPI's dependency and body machinery (about a third of the request's cost), with
    the same checks, errors and OpenAPI description (the body schema is ``ReferralRequestIn``).
    """
    rt: Runtime = request.app.state.runtime
    p = authenticate(rt, request.headers.get("authorization"))
    if not (p.is_admin or p.has(*_STAFF_ROLES)):
        raise HTTPException(403, {"type": "forbidden", "detail": "needs the role referrer or receiver"})
    lang = request.query_params.get("lang", "id")
    if lang not in _LANGS:
        raise RequestValidationError(
            [{"loc": ("query", "lang"), "msg": f"must be one of {', '.join(sorted(_LANGS))}", "type": "enum"}]
        )
    try:
        body = ReferralRequestIn.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None
    own_facility(p, body.origin_id)
    now = rt.clock()
    req = body.to_domain()
    statuses = rt.cached_statuses()
    if statuses is None:
        statuses = await run_in_threadpool(rt.load_statuses)
    travel = rt.matcher.cached_travel(body.origin_id) if body.lon is None or body.lat is None else None

    def compute() -> Response:
        assert statuses is not None
        try:
            s = rt.matcher.suggest(req, statuses=statuses, now=now, lon=body.lon, lat=body.lat, travel=travel)
        except RulesError as exc:
            raise store.InputError(getattr(exc, "field", "body"), str(exc)) from exc
        out = suggestion_json(s, now=now, lang=cast("ReasonLang", lang))
        out["road_network"] = {"modelled": rt.dataset.roads.modelled, "version": rt.matcher.engine.version}
        return fast_json(out)

    if travel is not None and len(rt.matcher.receiving) <= INLINE_MAX_CANDIDATES:
        return compute()
    return await run_in_threadpool(compute)


# ------------------------------------------------------------------------------------ referrals


def referral_json(r: Referral, *, with_patient: bool = True) -> dict[str, Any]:
    """The public JSON form of a referral (patient identity only for the two facilities)."""

    def iso(t: dt.datetime | None) -> str | None:
        t = store.aware(t)
        return t.isoformat() if t else None

    out: dict[str, Any] = {
        "id": r.id,
        "status": r.status,
        "origin_id": r.origin_id,
        "destination_id": r.destination_id,
        "receiving_unit": r.receiving_unit,
        "service_type": r.service_type,
        "emergency": r.emergency,
        "payer": r.payer,
        "icd10": r.icd10,
        "specialty": r.specialty,
        "non_specialist": r.non_specialist,
        "tacc": r.tacc,
        "reason": r.reason,
        "medical": r.medical,
        "consent": r.consent,
        "offline": r.offline,
        "offline_note": r.offline_note,
        "back_referral_of": r.back_referral_of,
        "suggestion": r.suggestion,
        "tried": r.tried,
        "proposed_next_id": r.proposed_next_id,
        "decline_reason": r.decline_reason,
        "decline_count": r.decline_count,
        "escalation_count": r.escalation_count,
        "response_time_s": r.response_time_s,
        "version": r.version,
        "times": {
            k: iso(getattr(r, f"{k}_at"))
            for k in (
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
        },
    }
    if with_patient:
        out["patient"] = r.patient
    return out


def _age_years(dob: dt.date, on: dt.date) -> float:
    return max(0.0, (on - dob).days / 365.25)


@router.post("/referrals", status_code=201, tags=["referrals"], response_model=None)
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
        raise HTTPException(403, {"type": "forbidden", "detail": "your account is not bound to a facility"})
    if body.destination_id not in rt.receiving_ids:
        raise store.InputError("destination_id", f"{body.destination_id!r} is not a receiving facility")
    if body.destination_id == p.facility_id:
        raise store.InputError("destination_id", "a facility cannot refer to itself")
    now = rt.clock()
    if body.offline and body.offline.occurred_at > now:
        raise store.InputError("offline.occurred_at", "cannot be in the future")
    req = ReferralRequest(
        origin_id=p.facility_id,
        age_years=_age_years(body.patient.date_of_birth, now.date()),
        sex=Sex(body.patient.sex),
        icd10=tuple(c.strip().upper() for c in body.medical.icd10),
        service_type=ServiceType(body.service_type),
        emergency=body.emergency,
        disaster=body.disaster,
        payer=body.payer,
        specialty=body.specialty,
        tacc=body.tacc,
        back_referral=body.back_referral_of is not None,
    )
    try:
        s = rt.matcher.suggest(req, statuses=rt.statuses(db), now=now)
    except RulesError as exc:
        field = getattr(exc, "field", "medical.icd10")
        raise store.InputError(field.replace("icd10", "medical.icd10"), str(exc)) from exc
    snapshot = {
        "decision": s.decision.value,
        "candidates": [c.facility_id for c in s.candidates],
        "rank_of_destination": next(
            (c.rank for c in s.candidates if c.facility_id == body.destination_id), None
        ),
        "pack": {"id": s.pack_id, "version": s.pack_version},
        "specialty": s.need.specialty.value if s.need.specialty else None,
    }
    res = store.create_referral(
        db,
        body,
        principal=p,
        origin_id=p.facility_id,
        idempotency_key=idempotency_key,
        suggestion=snapshot,
        non_specialist=s.need.non_specialist,
        now=now,
    )
    db.commit()
    return fast_json(referral_json(res.referral), 201 if res.created else 200)


@router.get("/referrals", tags=["referrals"], response_model=None)
def list_referrals(
    rt: Rt,
    db: Db,
    p: AnyUser,
    box: Annotated[Literal["inbox", "outbox", "transport"], Query()] = "outbox",
    status: Annotated[Status | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[dt.datetime | None, Query()] = None,
) -> Response:
    """The facility's outbox or inbox (or, for dispatchers, referrals needing transport)."""
    if box == "transport" and not (p.is_admin or p.has(Role.DISPATCHER)):
        raise HTTPException(403, {"type": "forbidden", "detail": "needs the role dispatcher"})
    if box != "transport" and not (p.is_admin or p.has(Role.REFERRER, Role.RECEIVER)):
        raise HTTPException(403, {"type": "forbidden", "detail": "needs the role referrer or receiver"})
    now = rt.clock()
    rows = store.list_referrals(
        db, p, box=box, status=status.value if status else None, limit=limit, before=before
    )
    out = []
    for r in rows:
        j = referral_json(r, with_patient=box != "transport")
        due = store.aware(r.due_at)
        j["waiting_s"] = round((now - store.aware(r.sent_at)).total_seconds()) if r.sent_at and due else None  # type: ignore[operator]
        out.append(j)
    return fast_json(out)


@router.get("/referrals/{referral_id}", tags=["referrals"])
def get_referral(referral_id: str, db: Db, p: AnyUser) -> dict[str, Any]:
    """One referral (404 when it does not exist or is not yours to see)."""
    r = store.get_referral(db, p, referral_id)
    return referral_json(
        r, with_patient=store.sides_of(p, r) - {Side.DISPATCHER} != frozenset() or p.is_admin
    )


@router.get("/referrals/{referral_id}/events", tags=["referrals"])
def referral_events(referral_id: str, db: Db, p: AnyUser) -> list[dict[str, Any]]:
    """The referral's history, every transition with its time."""
    from sqlalchemy import select  # noqa: PLC0415

    from service.db import ReferralEvent  # noqa: PLC0415

    store.get_referral(db, p, referral_id)
    rows = db.scalars(
        select(ReferralEvent).where(ReferralEvent.referral_id == referral_id).order_by(ReferralEvent.id)
    )
    return [_event_json(e) for e in rows]


def _event_json(e: Any) -> dict[str, Any]:  # noqa: ANN401  a ReferralEvent row
    at = store.aware(e.at)
    return {
        "id": e.id,
        "referral_id": e.referral_id,
        "at": at.isoformat() if at else None,
        "kind": e.kind,
        "from": e.from_status,
        "to": e.to_status,
        "origin_id": e.origin_id,
        "destination_id": e.destination_id,
        "note": e.note,
    }


def _act(
    rt: Runtime,
    db: Session,
    p: Principal,
    referral_id: str,
    action: Action,
    *,
    note: str = "",
    destination_id: str | None = None,
    receiving_unit: str | None = None,
) -> dict[str, Any]:
    r = store.act(
        db,
        p,
        referral_id,
        action,
        now=rt.clock(),
        answer_within_min=rt.answer_within_min,
        receiving_ids=rt.receiving_ids,
        note=note,
        destination_id=destination_id,
        receiving_unit=receiving_unit,
    )
    db.commit()
    return referral_json(r)


@router.post("/referrals/{referral_id}/send", tags=["referrals"])
def send(referral_id: str, rt: Rt, db: Db, p: AnyUser) -> dict[str, Any]:
    """Send to the receiving facility (an outpatient referral is accepted at once: Pasal 16(3))."""
    return _act(rt, db, p, referral_id, Action.SEND)


@router.post("/referrals/{referral_id}/accept", tags=["referrals"])
def accept(referral_id: str, rt: Rt, db: Db, p: AnyUser, body: NoteIn | None = None) -> dict[str, Any]:
    """The receiver accepts."""
    return _act(rt, db, p, referral_id, Action.ACCEPT, note=body.note if body else "")


@router.post("/referrals/{referral_id}/decline", tags=["referrals"])
def decline(referral_id: str, body: DeclineIn, rt: Rt, db: Db, p: AnyUser) -> dict[str, Any]:
    """The receiver declines, with a reason; counted and escalated (Pasal 19(4))."""
    return _act(rt, db, p, referral_id, Action.DECLINE, note=body.reason)


@router.post("/referrals/{referral_id}/redirect", tags=["referrals"])
def redirect(referral_id: str, body: RedirectIn, rt: Rt, db: Db, p: AnyUser) -> dict[str, Any]:
    """The sender asks another facility (e.g. the proposed next candidate)."""
    return _act(
        rt,
        db,
        p,
        referral_id,
        Action.REDIRECT,
        destination_id=body.destination_id,
        receiving_unit=body.receiving_unit,
    )


def _simple(action: Action, doc: str) -> Any:  # noqa: ANN401  a FastAPI endpoint
    def endpoint(referral_id: str, rt: Rt, db: Db, p: AnyUser, body: NoteIn | None = None) -> dict[str, Any]:
        return _act(rt, db, p, referral_id, action, note=body.note if body else "")

    endpoint.__doc__ = doc
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
        tags=["referrals"],
    )


@router.get("/referrals/{referral_id}/letter", response_class=HTMLResponse, tags=["referrals"])
def letter(referral_id: str, rt: Rt, db: Db, p: AnyUser) -> HTMLResponse:
    """The printable referral letter (Pasal 17(2))."""
    r = store.get_referral(db, p, referral_id)
    if not (p.is_admin or store.sides_of(p, r) - {Side.DISPATCHER}):
        raise _not_found("referral", referral_id)
    names = {f.id: f for f in rt.dataset.facilities}
    return HTMLResponse(render_letter(r, names, now=rt.clock()))


# ------------------------------------------------------------------------------------ live feed


def _latest_event_id(rt: Runtime) -> int:
    """The newest event's id (0 when there is none): a new client starts after it."""
    from sqlalchemy import func, select  # noqa: PLC0415

    from service.db import ReferralEvent  # noqa: PLC0415

    with rt.sessions() as s:
        return int(s.scalar(select(func.coalesce(func.max(ReferralEvent.id), 0))) or 0)


@router.get("/events/stream", tags=["referrals"])
async def stream(
    request: Request,
    rt: Rt,
    p: AnyUser,
    after: Annotated[int | None, Query(ge=0)] = None,
    last_event_id: Annotated[int | None, Header(ge=0)] = None,
    max_events: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    timeout_s: Annotated[float | None, Query(gt=0, le=86_400)] = None,
) -> StreamingResponse:
    """Server-sent events: new referrals and every change, for the caller's facility.

    Events come from the database, so a client connected to any worker sees every change; a
    reconnecting client resumes after ``Last-Event-ID`` (or ``after``) and misses nothing.
    """
    start = last_event_id if last_event_id is not None else after
    if start is None:
        start = await run_in_threadpool(_latest_event_id, rt)

    async def gen() -> AsyncIterator[str]:
        cursor, sent = start, 0
        loop = asyncio.get_running_loop()
        t_end = loop.time() + timeout_s if timeout_s else None
        last_beat = loop.time()
        yield f"retry: 2000\n: connected after {cursor}\n\n"
        while True:
            if await request.is_disconnected():
                return

            def poll(after_id: int) -> list[dict[str, Any]]:
                with rt.sessions() as s:
                    return [_event_json(e) for e in store.events_after(s, p, after_id)]

            for ev in await run_in_threadpool(poll, cursor):
                cursor = ev["id"]
                yield f"id: {ev['id']}\nevent: referral\ndata: {json.dumps(ev)}\n\n"
                sent += 1
                if max_events and sent >= max_events:
                    return
            now = loop.time()
            if t_end is not None and now >= t_end:
                return
            if now - last_beat > 15:
                last_beat = now
                yield ": keep-alive\n\n"
            await asyncio.sleep(0.5)

    return StreamingResponse(gen(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


# -------------------------------------------------------------------------------------- reports


@router.put("/facilities/{facility_id}/volumes", tags=["reports"])
def put_volume(facility_id: str, body: VolumeIn, rt: Rt, db: Db, p: Staff) -> dict[str, Any]:
    """Patients served in a month: the denominator of Pasal 23(2)a."""
    if facility_id not in rt.facility_ids:
        raise _not_found("facility", facility_id)
    own_facility(p, facility_id)
    store.set_volume(db, facility_id, body.month, body.patients_served, p.user_id, rt.clock())
    db.commit()
    return {"facility_id": facility_id, "month": body.month, "patients_served": body.patients_served}


@router.get("/reports/{facility_id}", tags=["reports"], response_model=None)
def report(
    facility_id: str,
    rt: Rt,
    db: Db,
    p: AnyUser,
    month: Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")],
    fmt: Annotated[Literal["json", "csv", "xlsx"], Query(alias="format")] = "json",
) -> dict[str, Any] | Response:
    """The monthly report of Pasal 23 and the annex (A.1-A.4 for a Puskesmas, B.1-B.2 for a hospital)."""
    if facility_id not in rt.facility_ids:
        raise _not_found("facility", facility_id)
    if not (p.is_admin or p.has(Role.PLANNER)):
        own_facility(p, facility_id)
    rep = monthly_report(db, rt.dataset, facility_id, month)
    if fmt == "csv":
        return Response(
            report_csv(rep),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="rujukan-{facility_id}-{month}.csv"'},
        )
    if fmt == "xlsx":
        return Response(
            report_xlsx(rep),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="rujukan-{facility_id}-{month}.xlsx"'},
        )
    return rep


# ---------------------------------------------------------------------------------- attachments

MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
MAX_ATTACHMENTS = 20
ATTACHMENT_TYPES = {"application/pdf", "image/png", "image/jpeg", "application/dicom", "text/plain"}


@router.post("/referrals/{referral_id}/attachments", status_code=201, tags=["referrals"])
def add_attachment(
    referral_id: str,
    rt: Rt,
    db: Db,
    p: AnyUser,
    file: Annotated[
        UploadFile, File(description="lab, radiology or ECG result (pdf, png, jpeg, dicom, txt; <= 5 MB)")
    ],
    kind: Annotated[Literal["lab", "radiology", "ecg", "other"], Form()] = "other",
) -> dict[str, Any]:
    """Attach a result to the letter (Pasal 17(1)d); the referring facility's staff only."""
    from sqlalchemy import func, select  # noqa: PLC0415

    from service.db import Attachment  # noqa: PLC0415

    r = store.get_referral(db, p, referral_id)
    if Side.SENDER not in store.sides_of(p, r):
        raise HTTPException(
            403, {"type": "forbidden", "detail": "only the referring facility attaches results"}
        )
    if r.status in ("completed", "cancelled"):
        raise store.ConflictError(f"the referral is {r.status}")
    ctype = (file.content_type or "").split(";")[0].strip()
    if ctype not in ATTACHMENT_TYPES:
        raise store.InputError(
            "file", f"type {ctype or '?'} not accepted ({', '.join(sorted(ATTACHMENT_TYPES))})"
        )
    data = file.file.read(MAX_ATTACHMENT_BYTES + 1)
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise HTTPException(413, {"type": "too_large", "detail": "field 'file': larger than 5 MB"})
    if not data:
        raise store.InputError("file", "empty file")
    name = (file.filename or "attachment").replace("/", "_").replace("\\", "_")[-200:]
    n = db.scalar(select(func.count()).select_from(Attachment).where(Attachment.referral_id == r.id)) or 0
    if n >= MAX_ATTACHMENTS:
        raise store.ConflictError(f"at most {MAX_ATTACHMENTS} attachments per referral")
    now = rt.clock()
    a = Attachment(referral_id=r.id, kind=kind, filename=name, content_type=ctype, size=len(data), data=data,
                   uploaded_by=p.user_id, uploaded_at=now)  # fmt: skip
    db.add(a)
    db.flush()
    store.audit(
        db, p.user_id, "referral.attach", "referral", r.id, now, attachment=a.id, kind=kind, size=len(data)
    )
    db.commit()
    return {"id": a.id, "kind": kind, "filename": name, "content_type": ctype, "size": len(data)}


@router.get("/referrals/{referral_id}/attachments", tags=["referrals"])
def list_attachments(referral_id: str, db: Db, p: AnyUser) -> list[dict[str, Any]]:
    """The letter's attachments (metadata)."""
    from sqlalchemy import select  # noqa: PLC0415

    from service.db import Attachment  # noqa: PLC0415

    r = store.get_referral(db, p, referral_id)
    rows = db.execute(
        select(Attachment.id, Attachment.kind, Attachment.filename, Attachment.content_type, Attachment.size)
        .where(Attachment.referral_id == r.id)
        .order_by(Attachment.id)
    )
    return [{"id": i, "kind": k, "filename": f, "content_type": c, "size": s} for i, k, f, c, s in rows]


@router.get("/referrals/{referral_id}/attachments/{attachment_id}", tags=["referrals"], response_model=None)
def get_attachment(referral_id: str, attachment_id: int, db: Db, p: AnyUser) -> Response:
    """Download one attachment."""
    from service.db import Attachment  # noqa: PLC0415

    r = store.get_referral(db, p, referral_id)
    a = db.get(Attachment, attachment_id)
    if a is None or a.referral_id != r.id:
        raise _not_found("attachment", str(attachment_id))
    return Response(a.data, media_type=a.content_type,
                    headers={"Content-Disposition": f'attachment; filename="{a.filename}"'})  # fmt: skip
