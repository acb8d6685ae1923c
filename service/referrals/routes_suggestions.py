"""HTTP routes for finding a destination: ranked suggestions for a patient, ICD-10 search."""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from rules import icd, procedures
from rules.errors import RulesError
from service.auth import Role
from service.deps import SECURITY_SCHEME, authenticate, check_role, own_facility
from service.errors import InputError
from service.http import doc, fast_json
from service.referrals.road_reasons import reason_json
from service.referrals.suggestions import (
    IcdOut,
    ProcedureOut,
    ReasonLang,
    ReferralRequestIn,
    SuggestionOut,
    suggestion_json,
)
from service.runtime import Runtime

router = APIRouter(prefix="/api", tags=["suggestions"])

#: Up to this many candidates, rule evaluation on known road times (well under a millisecond)
#: runs on the event loop; a thread hop would cost more than the work. Road computations,
#: database reads and bigger candidate sets always go to the thread pool.
INLINE_MAX_CANDIDATES = 40

_LANGS: frozenset[str] = frozenset(("id", "en", "all"))
_STAFF_ROLES = (Role.REFERRER, Role.RECEIVER)


@router.post(
    "/suggestions",
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
    **doc(SuggestionOut, 401, 403),
)
async def suggestions(request: Request) -> Response:
    """Decide and rank receiving facilities for a patient, with reasons and exclusions.

    The hot path of the service: sign-in, query and body are read here directly rather than
    through FastAPI's dependency and body machinery (about a third of the request's cost), with
    the same checks, errors and OpenAPI description (the body schema is ``ReferralRequestIn``).
    """
    rt: Runtime = request.app.state.runtime
    p = authenticate(rt, request.headers.get("authorization"))
    check_role(p, *_STAFF_ROLES)
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
    if body.referred_from is not None and body.referred_from not in rt.facility_ids:
        raise InputError("referred_from", f"unknown facility {body.referred_from!r}", code="unknown_facility")
    now = rt.clock()
    req = body.to_domain()
    statuses = rt.statuses.fresh()
    if statuses is None:
        statuses = await run_in_threadpool(rt.read, rt.statuses)
    travel = (
        rt.matcher.cached_travel(body.origin_id, back_referral=body.back_referral)
        if body.lon is None or body.lat is None
        else None
    )

    def compute() -> Response:
        assert statuses is not None
        try:
            s = rt.matcher.suggest(req, statuses=statuses, now=now, lon=body.lon, lat=body.lat, travel=travel)
        except RulesError as exc:
            raise InputError(getattr(exc, "field", "body"), getattr(exc, "message", str(exc))) from exc
        out = suggestion_json(s, now=now, lang=cast("ReasonLang", lang))
        out["road_network"] = {"modelled": rt.dataset.roads.modelled, "version": rt.matcher.engine.version}
        _road_reasons(rt, out, body.lon, body.lat, body.origin_id, lang)
        return fast_json(out)

    candidates = rt.matcher.everyone if body.back_referral else rt.matcher.receiving
    if (
        travel is not None
        and len(candidates) <= INLINE_MAX_CANDIDATES
        and not rt.matcher.engine.has_conditions
    ):
        return compute()  # lookups only; naming road conditions (when any) walks trees: a thread
    return await run_in_threadpool(compute)


def _road_reasons(
    rt: Runtime, out: dict[str, Any], lon: float | None, lat: float | None, origin_id: str, lang: str
) -> None:
    """Add to each candidate (and each facility left out) whose road time a live condition changed
    the reason saying which (nothing at all when no condition is in force)."""  # noqa: D205, D209
    if not rt.matcher.engine.has_conditions:
        return
    if lon is None or lat is None:
        f = rt.dataset.facility(origin_id)
        lon, lat = f.location.lon, f.location.lat
    rows = [*out["candidates"], *out["excluded"]]
    hit = rt.matcher.road_conditions_on(lon, lat, [r["facility_id"] for r in rows])
    for r in rows:
        conds = hit.get(r["facility_id"])
        if conds:
            r["reasons"] = [*r["reasons"], reason_json(conds, lang)]


@router.get("/icd10", **doc(list[IcdOut]))
async def icd10_search(
    q: Annotated[str, Query(min_length=1, max_length=100, description="a code (o72, O72.1) or words")],
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
    prefer: Annotated[
        str | None,
        Query(max_length=40, description="the user's field (e.g. obstetri): its codes first within a tier"),
    ] = None,
) -> list[dict[str, Any]]:
    """WHO ICD-10 codes for what staff type: by code, Indonesian name, abbreviation or WHO's English title."""
    if prefer is not None and prefer not in icd.areas():
        raise InputError("query.prefer", f"unknown field; one of: {', '.join(sorted(icd.areas()))}")
    hits = await run_in_threadpool(icd.search, q, limit=limit, prefer=prefer)
    return [{"code": c, "title": t, "name_id": n} for c, t, n in hits]


@router.get("/icd9cm", **doc(list[ProcedureOut]))
async def icd9cm_search(
    q: Annotated[
        str, Query(min_length=1, max_length=100, description="a code (99.04, 9904, 99.0) or English words")
    ],
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> list[dict[str, Any]]:
    """ICD-9-CM procedure codes (CMS v32) for the procedures done before a referral."""
    hits = await run_in_threadpool(procedures.search, q, limit)
    return [{"code": p.code, "title": p.title} for p in hits]
