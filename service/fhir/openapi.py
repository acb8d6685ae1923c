"""How the FHIR routes declare themselves in the OpenAPI document (media type application/fhir+json).

``service.http.doc`` declares the JSON API's answers (``application/json``, errors as ``ErrorOut``);
FHIR answers are ``application/fhir+json`` and their errors OperationOutcomes, so the FHIR routes
declare both here, in the same form. The schemas are the envelope a client relies on (resource
type, id, the Bundle's paging); the full resources are checked by fhir.resources in the tests.
Search parameters are declared for the document and read by ``service.fhir.search`` (strictly:
unknown ones are a 400 OperationOutcome), never by FastAPI (which would answer 422 in its own shape).
"""

from __future__ import annotations

from typing import Any

from fastapi import Response

from service.fhir.search import MAX_COUNT, MAX_OFFSET, PARAMS
from service.fhir.systems import MEDIA_TYPE

_ID = {"type": "string", "pattern": r"^[A-Za-z0-9\-.]{1,64}$"}


class FhirJSON(Response):
    """The media type of every FHIR answer (declared once, for the OpenAPI document)."""

    media_type = MEDIA_TYPE


def resource_schema(resource_type: str | None) -> dict[str, Any]:
    """A resource of one type (None: of the facility types)."""
    types = [resource_type] if resource_type else ["Organization", "Location", "HealthcareService"]
    return {
        "type": "object",
        "required": ["resourceType"],
        "properties": {"resourceType": {"type": "string", "enum": types}, "id": _ID},
    }


OPERATION_OUTCOME = {
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
        "issue": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {"type": "string", "enum": ["fatal", "error", "warning", "information"]},
                    "code": {"type": "string"},
                    "diagnostics": {"type": "string"},
                    "expression": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}


def bundle_schema(resource_type: str) -> dict[str, Any]:
    """A searchset Bundle of one type."""
    entry = {
        "type": "object",
        "required": ["fullUrl", "resource", "search"],
        "properties": {
            "fullUrl": {"type": "string"},
            "resource": resource_schema(resource_type),
            "search": {"type": "object", "properties": {"mode": {"type": "string", "enum": ["match"]}}},
        },
    }
    link = {
        "type": "object",
        "required": ["relation", "url"],
        "properties": {"relation": {"type": "string"}, "url": {"type": "string"}},
    }
    return {
        "type": "object",
        "required": ["resourceType", "type", "total", "link"],
        "properties": {
            "resourceType": {"type": "string", "enum": ["Bundle"]},
            "type": {"type": "string", "enum": ["searchset"]},
            "total": {"type": "integer", "minimum": 0},
            "link": {"type": "array", "items": link},
            "entry": {"type": "array", "items": entry},
        },
    }


CAPABILITY_STATEMENT = {
    "type": "object",
    "required": ["resourceType", "fhirVersion", "format", "rest"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["CapabilityStatement"]},
        "fhirVersion": {"type": "string", "enum": ["4.0.1"]},
    },
}

_ERRORS = {
    400: "A search parameter not supported, or a bad value: an OperationOutcome naming the parameter.",
    401: "An Authorization header with an invalid or expired token: an OperationOutcome.",
    403: "Not yours to do (another facility as requester): an OperationOutcome naming the element.",
    404: "No such resource (or resource type not supported): an OperationOutcome naming the element.",
    409: "The Idempotency-Key was used for another referral: an OperationOutcome.",
    422: "The Bundle describes no acceptable referral: an OperationOutcome, one issue per problem, "
    "each naming the entry and element (``Bundle.entry[2].resource.birthDate``).",
}

TRANSACTION = {
    "type": "object",
    "required": ["resourceType", "type", "entry"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["Bundle"]},
        "type": {"type": "string", "enum": ["transaction"]},
        "entry": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "fullUrl": {"type": "string"},
                    "resource": {"type": "object", "required": ["resourceType"]},
                    "request": {
                        "type": "object",
                        "properties": {
                            "method": {"type": "string"},
                            "url": {"type": "string"},
                            "ifNoneExist": {"type": "string"},
                        },
                    },
                },
            },
        },
    },
}
TRANSACTION_RESPONSE = {
    "type": "object",
    "required": ["resourceType", "type", "entry"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["Bundle"]},
        "type": {"type": "string", "enum": ["transaction-response"]},
        "entry": {"type": "array", "items": {"type": "object", "required": ["response"]}},
    },
}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def _search_parameters(resource_type: str) -> list[dict[str, Any]]:
    out = [
        _query(f"{name}:{modifier}" if modifier else name, p.doc, {"type": "string"})
        for name, p in sorted(PARAMS[resource_type].items())
        for modifier in ["", *p.modifiers]
    ]
    return [
        *out,
        _query("_count", "entries per page", {"type": "integer", "minimum": 0, "maximum": MAX_COUNT}),
        _query("_offset", "entries skipped", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}),
        _query(
            "_total",
            "the total is always exact",
            {"type": "string", "enum": ["none", "estimate", "accurate"]},
        ),
    ]


def fhir_doc(
    schema: dict[str, Any],
    *errors: int,
    search: str | None = None,
    path: tuple[str, ...] = (),
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for a FHIR route: the answer's schema, its errors, its parameters.

    ``path`` names the path parameters, declared here and read from ``request.path_params`` (a
    parameter FastAPI reads makes it declare a 422 in the JSON API's shape, which FHIR routes
    never answer).
    """
    responses: dict[int | str, dict[str, Any]] = {
        200: {"description": "Success", "content": {MEDIA_TYPE: {"schema": schema}}}
    }
    for code in sorted({*errors, 400}):
        responses[code] = {
            "description": _ERRORS[code],
            "content": {MEDIA_TYPE: {"schema": OPERATION_OUTCOME}},
        }
    out: dict[str, Any] = {"response_model": None, "response_class": FhirJSON, "responses": responses}
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in path
    ]
    if search is not None:
        parameters += _search_parameters(search)
    extra: dict[str, Any] = {}
    if parameters:
        extra["parameters"] = parameters
    if body is not None:
        extra["requestBody"] = {"required": True, "content": {MEDIA_TYPE: {"schema": body}}}
    if extra:
        out["openapi_extra"] = extra
    return out
