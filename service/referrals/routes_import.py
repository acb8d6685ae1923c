"""HTTP route of the letter prefilled from a medical record export (docs/fhir.md, "Prefilling the letter")."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from service.deps import Rt, Staff
from service.errors import ForbiddenError
from service.http import doc, fast_json
from service.referrals import prefill
from service.referrals.schemas import PrefillOut

router = APIRouter(prefix="/api", tags=["referrals"])

#: any Bundle: the mapping reads what it can and says what it cannot (a JSON Schema of FHIR is not needed)
_BUNDLE: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["Bundle"]},
        "type": {"type": "string", "enum": ["collection", "document", "searchset", "transaction", "batch"]},
        "entry": {"type": "array", "items": {"type": "object"}},
    },
}


@router.post(
    "/letters/import",
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "the medical record's export: a FHIR R4 Bundle (at most 2 MB)",
            "content": {
                "application/fhir+json": {"schema": _BUNDLE},
                "application/json": {"schema": _BUNDLE},
            },
        }
    },
    **doc(PrefillOut, 401, 403, 413),
)
async def import_letter(request: Request, rt: Rt, p: Staff) -> Response:
    """Prefill the letter from an electronic medical record's export (a FHIR R4 Bundle).

    Read: the Patient (name, NIK, medical record number, date of birth, sex, address, phone), the
    ICD-10 diagnoses, the latest vital signs (converted to the letter's units), the therapy given
    and the procedures done (ICD-9-CM). Every entry or value not taken is listed with its entry,
    element and reason. Nothing is stored; the referring facility's staff only.
    """
    if p.facility_id is None:
        raise ForbiddenError("your account is not bound to a facility")
    body = await request.body()
    today = rt.clock().astimezone(ZoneInfo(rt.dataset.timezone)).date()  # a baby born tonight, local time
    answer = await run_in_threadpool(prefill.prefill, body, today=today)
    response = fast_json(answer)
    response.headers["Cache-Control"] = "no-store"
    return response
