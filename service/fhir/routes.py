"""HTTP routes of the FHIR R4 API (``/fhir/R4``): metadata, the facilities, the referrals.

Facilities are public like ``/api/facilities``; a valid bearer token adds the live status to
Locations, as the JSON API shows it only to signed-in users. Referrals (ServiceRequest, Task,
Patient, Condition) need a token and show what ``GET /api/referrals/{id}`` would show the caller.
Errors are OperationOutcomes (``FhirRoute``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from service.deps import Rt, authenticate
from service.fhir import api, create, referral_api
from service.fhir.capability import capability_statement
from service.fhir.openapi import (
    CAPABILITY_STATEMENT,
    TRANSACTION,
    TRANSACTION_RESPONSE,
    bundle_schema,
    fhir_doc,
    resource_schema,
)
from service.fhir.outcome import FhirError, FhirRoute, fhir_response
from service.runtime import Runtime

PREFIX = "/fhir/R4"
ID = ("resource_id",)
router = APIRouter(prefix=PREFIX, route_class=FhirRoute, tags=["fhir"])


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


def _signed_in(rt: Runtime, request: Request) -> bool:
    """False without an Authorization header; True with a valid token; 401 with an invalid one."""
    header = request.headers.get("authorization")
    if header is None:
        return False
    authenticate(rt, header)
    return True


@router.get("/metadata", **fhir_doc(CAPABILITY_STATEMENT))
async def metadata(request: Request) -> Response:
    """The CapabilityStatement: the resource types, interactions and search parameters served."""
    statement = capability_statement(_base(request), version=request.app.version)
    return fhir_response(statement)


async def _search(rt: Runtime, request: Request, resource_type: str) -> Response:
    live = _signed_in(rt, request)
    items = request.query_params.multi_items()
    bundle = await run_in_threadpool(api.search, rt, resource_type, items, base=_base(request), live=live)
    return fhir_response(bundle)


async def _read(rt: Runtime, request: Request, resource_type: str) -> Response:
    resource_id = request.path_params["resource_id"]
    live = _signed_in(rt, request)
    resource = await run_in_threadpool(api.read, rt, resource_type, resource_id, live=live)
    return fhir_response(resource)


@router.post("", **fhir_doc(TRANSACTION_RESPONSE, 401, 403, 409, 422, body=TRANSACTION))
async def transaction(rt: Rt, request: Request) -> Response:
    """Create a referral: a ``transaction`` Bundle of ServiceRequest, Patient, Condition(s), Consent
    (and Observations, Procedures). Idempotent by ``Idempotency-Key`` or the ServiceRequest
    entry's ``ifNoneExist``; answered with a ``transaction-response`` naming where each is."""  # noqa: D205, D209
    p = authenticate(rt, request.headers.get("authorization"))
    body = await request.body()
    key = request.headers.get("idempotency-key")
    bundle = await run_in_threadpool(create.create, rt, p, body, idempotency_key=key)
    return fhir_response(bundle)


@router.get("/Organization", **fhir_doc(bundle_schema("Organization"), 401, search="Organization"))
async def search_organization(rt: Rt, request: Request) -> Response:
    """Facilities as Organizations: by name, identifier (facility id, kode RS), type."""
    return await _search(rt, request, "Organization")


@router.get("/Organization/{resource_id}", **fhir_doc(resource_schema("Organization"), 401, 404, path=ID))
async def read_organization(rt: Rt, request: Request) -> Response:
    """One facility as an Organization."""
    return await _read(rt, request, "Organization")


@router.get("/Location", **fhir_doc(bundle_schema("Location"), 401, search="Location"))
async def search_location(rt: Rt, request: Request) -> Response:
    """Facilities as Locations: by organization, name, identifier, type, near."""
    return await _search(rt, request, "Location")


@router.get("/Location/{resource_id}", **fhir_doc(resource_schema("Location"), 401, 404, path=ID))
async def read_location(rt: Rt, request: Request) -> Response:
    """One facility as a Location (with its live status for a signed-in caller)."""
    return await _read(rt, request, "Location")


@router.get(
    "/HealthcareService", **fhir_doc(bundle_schema("HealthcareService"), 401, search="HealthcareService")
)
async def search_healthcare_service(rt: Rt, request: Request) -> Response:
    """The services of the facilities: by organization, location, service-type."""
    return await _search(rt, request, "HealthcareService")


@router.get(
    "/HealthcareService/{resource_id}", **fhir_doc(resource_schema("HealthcareService"), 401, 404, path=ID)
)
async def read_healthcare_service(rt: Rt, request: Request) -> Response:
    """One service of one facility."""
    return await _read(rt, request, "HealthcareService")


async def _search_referrals(rt: Runtime, request: Request, resource_type: str) -> Response:
    p = authenticate(rt, request.headers.get("authorization"))
    items = request.query_params.multi_items()
    bundle = await run_in_threadpool(referral_api.search, rt, p, resource_type, items, base=_base(request))
    return fhir_response(bundle)


async def _read_referral(rt: Runtime, request: Request, resource_type: str) -> Response:
    p = authenticate(rt, request.headers.get("authorization"))
    resource_id = request.path_params["resource_id"]
    resource = await run_in_threadpool(referral_api.read, rt, p, resource_type, resource_id)
    return fhir_response(resource)


@router.get("/ServiceRequest", **fhir_doc(bundle_schema("ServiceRequest"), 401, search="ServiceRequest"))
async def search_service_request(rt: Rt, request: Request) -> Response:
    """Referrals as ServiceRequests (those the caller may read): status, requester, performer, authored."""
    return await _search_referrals(rt, request, "ServiceRequest")


@router.get("/ServiceRequest/{resource_id}", **fhir_doc(resource_schema("ServiceRequest"), 401, 404, path=ID))
async def read_service_request(rt: Rt, request: Request) -> Response:
    """One referral as a ServiceRequest (404 when it does not exist or is not the caller's to see)."""
    return await _read_referral(rt, request, "ServiceRequest")


@router.get("/Task", **fhir_doc(bundle_schema("Task"), 401, search="Task"))
async def search_task(rt: Rt, request: Request) -> Response:
    """Referrals' lifecycles as Tasks (those the caller may read): status, owner, requester."""
    return await _search_referrals(rt, request, "Task")


@router.get("/Task/{resource_id}", **fhir_doc(resource_schema("Task"), 401, 404, path=ID))
async def read_task(rt: Rt, request: Request) -> Response:
    """One referral's lifecycle as a Task."""
    return await _read_referral(rt, request, "Task")


@router.get("/Patient/{resource_id}", **fhir_doc(resource_schema("Patient"), 401, 404, path=ID))
async def read_patient(rt: Rt, request: Request) -> Response:
    """A referral's patient (its id is the referral's), for those who may see the patient."""
    return await _read_referral(rt, request, "Patient")


@router.get("/Condition/{resource_id}", **fhir_doc(resource_schema("Condition"), 401, 404, path=ID))
async def read_condition(rt: Rt, request: Request) -> Response:
    """A referral's diagnosis (ICD-10): ``{referral id}.{n}``."""
    return await _read_referral(rt, request, "Condition")


def _not_supported(request: Request) -> FhirError:
    name = request.path_params["resource_type"]
    if name in referral_api.READ_ONLY and "resource_id" not in request.path_params:
        msg = f"search of {name} is not supported (read it by id)"
        return FhirError(404, msg, expression="type", code="not-supported")
    return FhirError(404, f"resource type {name!r} is not supported", expression="type", code="not-supported")


@router.get("/{resource_type}", **fhir_doc(resource_schema(None), 404, path=("resource_type",)))
async def other_type(request: Request) -> Response:
    """Any other resource type: not supported (yet), said as an OperationOutcome."""
    raise _not_supported(request)


@router.get(
    "/{resource_type}/{resource_id}", **fhir_doc(resource_schema(None), 404, path=("resource_type", *ID))
)
async def other_read(request: Request) -> Response:
    """Any other resource type: not supported (yet), said as an OperationOutcome."""
    raise _not_supported(request)
