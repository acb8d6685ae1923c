"""The CapabilityStatement: what this server does, and nothing it does not."""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.fhir import systems as sid
from service.fhir.api import TYPES
from service.fhir.referral_api import READ_ONLY
from service.fhir.referral_api import TYPES as REFERRAL_TYPES
from service.fhir.search import PARAMS

if TYPE_CHECKING:
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement

#: when this statement's content last changed (the profile's version, not the server's start)
PROFILE_DATE = "2026-12-02"

SECURITY = (
    "Facilities are public, as in the JSON API (GET /api/facilities): no sign-in needed. A "
    "Location carries the live-status extension only for a signed-in caller (Authorization: Bearer "
    "<token> from POST /api/token, any role), as GET /api/facilities/{id}/status; an invalid or "
    "expired token is refused (401). Referrals (ServiceRequest, Task, Patient, Condition) need a "
    "token (401 without) and follow the JSON API's rule: a caller reads a referral exactly when GET "
    "/api/referrals/{id} shows it to them, and its patient (the Patient resource, the reference to "
    "it, the NIK) only where that API shows the patient; anything else is 404, as for a resource "
    "that does not exist. A search returns only what the caller may read. A referral is created "
    "(POST to the base, a transaction Bundle) by a facility's staff for their own facility, or by "
    "another rujuk deployment's peer account for the facilities it may refer from. No SMART scopes yet."
)


def capability_statement(base: str, *, version: str) -> CapabilityStatement:
    """The server's statement: the facility and referral types, their interactions and parameters."""
    resources = []
    for t in (*TYPES, *REFERRAL_TYPES, *READ_ONLY):
        params = [
            {"name": name, "type": p.type, "documentation": p.doc}
            for name, p in sorted(PARAMS.get(t, {}).items())
        ]
        searched = t in PARAMS
        resources.append(
            {
                "type": t,
                "interaction": [{"code": "read"}, *([{"code": "search-type"}] if searched else [])],
                "versioning": "no-version",
                "readHistory": False,
                "updateCreate": False,
                "conditionalCreate": False,
                "conditionalUpdate": False,
                "conditionalDelete": "not-supported",
                "searchParam": params or None,
            }
        )
    common = [
        {"name": "_count", "type": "number", "documentation": "entries per page (0 to 100; 20 by default)"},
        {
            "name": "_offset",
            "type": "number",
            "documentation": "entries skipped (the Bundle's next link sets it)",
        },
    ]
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement  # noqa: PLC0415  the models load at first use

    return CapabilityStatement.model_validate(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": PROFILE_DATE,
            "publisher": "rujuk",
            "kind": "instance",
            "software": {"name": "rujuk", "version": version},
            "implementation": {
                "description": "rujuk: facilities, and referrals read, searched, created (docs/fhir.md)",
                "url": base,
            },
            "fhirVersion": sid.FHIR_VERSION,
            "format": ["json", sid.MEDIA_TYPE],
            "rest": [
                {
                    "mode": "server",
                    "documentation": "The dataset's facilities; referrals: read, search, and create by a "
                    "transaction Bundle (docs/fhir.md).",
                    "security": {"cors": False, "description": SECURITY},
                    "resource": resources,
                    "interaction": [
                        {
                            "code": "transaction",
                            "documentation": "creates one referral: ServiceRequest, Patient, Condition(s), "
                            "Consent, and Observations (vital signs) and Procedures; idempotent by the "
                            "Idempotency-Key header or the ServiceRequest entry's ifNoneExist "
                            "(identifier=system|value)",
                        }
                    ],
                    "searchParam": common,
                }
            ],
        }
    )
