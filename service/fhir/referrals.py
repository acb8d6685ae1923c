"""A referral as FHIR R4 resources: ServiceRequest, Task, Patient, Condition (docs/fhir.md).

Pure mapping: who may see what is decided by the caller (``service.fhir.referral_api``, on
``service.referrals.queries``' rule). ``with_patient`` False masks every trace of the patient
(the reference to Patient, the name): the JSON API shows the identity only where
``sees_patient`` allows, and so does this mapping.

Ids: the ServiceRequest, the Task and the Patient of a referral all carry the referral's id (one
patient record per referral: rujuk has no patient register); its Conditions are
``{referral id}.{n}``, n counting its ICD-10 codes from 1.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from rules import icd
from rules.errors import RulesError
from service.fhir import systems as sid
from service.referrals.lifecycle import Status
from service.referrals.views import iso

if TYPE_CHECKING:
    from collections.abc import Callable

    from fhir.resources.R4B.condition import Condition
    from fhir.resources.R4B.patient import Patient
    from fhir.resources.R4B.servicerequest import ServiceRequest
    from fhir.resources.R4B.task import Task

    from service.database import Referral

#: ServiceRequest.status of each lifecycle state: the request is a draft until sent, active while
#: it is being answered or carried out (a declined one waits for the sender to redirect or cancel
#: it), completed once the patient arrived, revoked when cancelled
SERVICE_REQUEST_STATUS: dict[Status, str] = {
    Status.CREATED: "draft",
    Status.SENT: "active",
    Status.ACCEPTED: "active",
    Status.DECLINED: "active",
    Status.DISPATCHED: "active",
    Status.IN_TRANSIT: "active",
    Status.ARRIVED: "completed",
    Status.COMPLETED: "completed",
    Status.CANCELLED: "revoked",
}
#: Task.status of each lifecycle state (the receiving facility's work on the request)
TASK_STATUS: dict[Status, str] = {
    Status.CREATED: "draft",
    Status.SENT: "requested",
    Status.ACCEPTED: "accepted",
    Status.DECLINED: "rejected",
    Status.DISPATCHED: "in-progress",
    Status.IN_TRANSIT: "in-progress",
    Status.ARRIVED: "completed",
    Status.COMPLETED: "completed",
    Status.CANCELLED: "cancelled",
}
#: the lifecycle states' names, for Task.businessStatus
STATUS_LABELS: dict[Status, str] = {
    Status.CREATED: "Dibuat (draf)",
    Status.SENT: "Dikirim",
    Status.ACCEPTED: "Diterima",
    Status.DECLINED: "Ditolak",
    Status.DISPATCHED: "Ambulans ditugaskan",
    Status.IN_TRANSIT: "Dalam perjalanan",
    Status.ARRIVED: "Tiba",
    Status.COMPLETED: "Selesai",
    Status.CANCELLED: "Dibatalkan",
}
_SERVICE_TYPES = {"rawat_jalan": "Rawat jalan", "gawat_darurat": "Gawat darurat", "rawat_inap": "Rawat inap"}
#: SNOMED CT 3457005 "Patient referral", the category of a referral ServiceRequest
_REFERRAL = {"system": "http://snomed.info/sct", "code": "3457005", "display": "Patient referral"}
_MASKED = {"extension": [{"url": sid.EXT_DATA_ABSENT, "valueCode": "masked"}]}


def _status(r: Referral) -> Status:
    return Status(r.status)


def condition_id(r: Referral, n: int) -> str:
    """The id of the referral's n-th Condition (from 1)."""
    return f"{r.id}.{n}"


def parse_condition_id(resource_id: str) -> tuple[str, int] | None:
    """The referral id and the position of a Condition id (None: not one of ours)."""
    referral_id, dot, n = resource_id.rpartition(".")
    if not dot or not n.isdigit() or n.startswith("0") or len(n) > 3:
        return None
    return referral_id, int(n)


def _org(fid: str, names: Callable[[str], str | None]) -> dict[str, Any]:
    ref: dict[str, Any] = {"reference": f"Organization/{fid}"}
    name = names(fid)
    if name:
        ref["display"] = name
    return ref


def patient_reference(r: Referral, *, with_patient: bool) -> dict[str, Any]:
    """The referral's Patient, or a masked reference for a caller who may not see the patient."""
    if not with_patient:
        return dict(_MASKED)
    ref: dict[str, Any] = {"reference": f"Patient/{r.id}"}
    name = (r.patient or {}).get("name")
    if name:
        ref["display"] = str(name)
    return ref


def identifiers(r: Referral) -> list[dict[str, Any]]:
    """The referral's identifiers: its id and, once it has one, its letter number."""
    out: list[dict[str, Any]] = [{"use": "usual", "system": sid.SYSTEM_REFERRAL_ID, "value": r.id}]
    if r.number:
        out.append({"use": "official", "system": sid.SYSTEM_REFERRAL_NUMBER, "value": r.number})
    return out


def service_request(r: Referral, *, with_patient: bool, names: Callable[[str], str | None]) -> ServiceRequest:
    """The clinical request: who asks whom, for what, how urgently."""
    codes = [str(c) for c in r.icd10 or ()]
    diagnosis = str((r.medical or {}).get("diagnosis_text") or "")
    service = _SERVICE_TYPES.get(r.service_type, r.service_type)
    from fhir.resources.R4B.servicerequest import ServiceRequest  # noqa: PLC0415  the models load at first use

    return ServiceRequest.model_validate(
        {
            "resourceType": "ServiceRequest",
            "id": r.id,
            "identifier": identifiers(r),
            "status": SERVICE_REQUEST_STATUS[_status(r)],
            "intent": "order",
            "category": [{"coding": [_REFERRAL]}],
            "priority": "stat" if r.emergency else "routine",
            "code": {
                "coding": [{"system": sid.CS_SERVICE_TYPE, "code": r.service_type, "display": service}],
                "text": r.receiving_unit or service,
            },
            "subject": patient_reference(r, with_patient=with_patient),
            "authoredOn": iso(r.created_at),
            "requester": _org(r.origin_id, names),
            "performer": [_org(r.destination_id, names)],
            "reasonCode": [{"text": diagnosis}] if diagnosis else None,
            "reasonReference": [
                {"reference": f"Condition/{condition_id(r, n)}", "display": code}
                for n, code in enumerate(codes, 1)
            ]
            or None,
            "note": [{"text": r.reason}] if r.reason else None,
        }
    )


def task(r: Referral, *, with_patient: bool, names: Callable[[str], str | None]) -> Task:
    """The receiving facility's work on the referral: where the lifecycle is."""
    status = _status(r)
    declined = status is Status.DECLINED and r.decline_reason
    from fhir.resources.R4B.task import Task  # noqa: PLC0415  the models load at first use

    return Task.model_validate(
        {
            "resourceType": "Task",
            "id": r.id,
            "identifier": identifiers(r),
            "status": TASK_STATUS[status],
            "statusReason": {"text": r.decline_reason} if declined else None,
            "businessStatus": {
                "coding": [
                    {"system": sid.CS_REFERRAL_STATUS, "code": status.value, "display": STATUS_LABELS[status]}
                ],
                "text": STATUS_LABELS[status],
            },
            "intent": "order",
            "priority": "stat" if r.emergency else "routine",
            "focus": {"reference": f"ServiceRequest/{r.id}"},
            "for": patient_reference(r, with_patient=with_patient),
            "authoredOn": iso(r.created_at),
            "lastModified": iso(r.updated_at),
            "requester": _org(r.origin_id, names),
            "owner": _org(r.destination_id, names),
        }
    )


def patient(r: Referral, *, names: Callable[[str], str | None]) -> Patient:
    """The referral's patient: NIK (SATUSEHAT's system), medical record number, name, sex, birth date.

    Only for a caller who may see the patient. An unidentified casualty has no NIK nor birth date.
    """
    pt = r.patient or {}
    ids: list[dict[str, Any]] = []
    if pt.get("nik"):
        ids.append({"use": "official", "system": sid.SYSTEM_NIK, "value": str(pt["nik"])})
    if pt.get("medical_record_number"):
        ids.append(
            {
                "use": "usual",
                "system": sid.SYSTEM_MEDICAL_RECORD,
                "value": str(pt["medical_record_number"]),
                "assigner": _org(r.origin_id, names),
            }
        )
    sex = pt.get("sex")
    from fhir.resources.R4B.patient import Patient  # noqa: PLC0415  the models load at first use

    return Patient.model_validate(
        {
            "resourceType": "Patient",
            "id": r.id,
            "identifier": ids or None,
            "name": [{"use": "official", "text": str(pt["name"])}] if pt.get("name") else None,
            "gender": sex if sex in {"male", "female"} else "unknown",
            "birthDate": pt.get("date_of_birth") or None,
            "managingOrganization": _org(r.origin_id, names),
        }
    )


def _icd10_coding(code: str) -> dict[str, Any]:
    out = {"system": sid.ICD10, "code": code}
    with contextlib.suppress(RulesError):  # a code WHO's table lacks: no display, none made up
        out["display"] = icd.description(code)
    return out


def condition(r: Referral, n: int, *, with_patient: bool) -> Condition:
    """The referral's n-th ICD-10 code (from 1) as the diagnosis it was referred for."""
    code = str(r.icd10[n - 1])
    from fhir.resources.R4B.condition import Condition  # noqa: PLC0415  the models load at first use

    return Condition.model_validate(
        {
            "resourceType": "Condition",
            "id": condition_id(r, n),
            "clinicalStatus": {"coding": [{"system": sid.CONDITION_CLINICAL, "code": "active"}]},
            "category": [
                {
                    "coding": [
                        {
                            "system": sid.CONDITION_CATEGORY,
                            "code": "encounter-diagnosis",
                            "display": "Encounter Diagnosis",
                        }
                    ]
                }
            ],
            "code": {"coding": [_icd10_coding(code)], "text": code},
            "subject": patient_reference(r, with_patient=with_patient),
            "recordedDate": iso(r.created_at),
        }
    )
