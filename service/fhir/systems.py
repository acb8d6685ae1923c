"""The URIs of the FHIR profile: identifier systems, code systems and extensions (docs/fhir.md).

rujuk has no published domain yet: its own names live under ``CANONICAL``, a ``.invalid`` name
(RFC 6761) that can never belong to anyone else. An operator publishing the profile replaces
this one constant before exchanging data with another system.
"""

from __future__ import annotations

#: FHIR version served (the models that check it are fhir.resources' R4B, identical for these resources)
FHIR_VERSION = "4.0.1"
MEDIA_TYPE = "application/fhir+json"

CANONICAL = "https://rujuk.invalid/fhir"

#: a facility's id in the rujuk dataset (``Facility.id``)
SYSTEM_FACILITY_ID = f"{CANONICAL}/sid/facility-id"
#: the Kemenkes hospital code (kode RS, 7 digits: the regency's code and a number), as in the
#: Kemenkes hospital register and RS Online; SATUSEHAT publishes no identifier system for it
SYSTEM_KODE_RS = f"{CANONICAL}/sid/kode-rs"

#: HL7's organization types (``prov``: healthcare provider), as SATUSEHAT's Organization examples use
ORGANIZATION_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
#: HL7 v3 RoleCode: service delivery location types (HOSP hospital, PC primary care clinic,
#: OF outpatient facility)
V3_ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
#: HL7 location physical types (``bu``: building)
LOCATION_PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"

#: rujuk's code systems: the values of ``geodata.models`` enums, as the JSON API spells them
CS_FACILITY_KIND = f"{CANONICAL}/CodeSystem/facility-kind"
CS_HOSPITAL_CLASS = f"{CANONICAL}/CodeSystem/hospital-class"
CS_SERVICE = f"{CANONICAL}/CodeSystem/service"
CS_BED_TYPE = f"{CANONICAL}/CodeSystem/bed-type"

#: rujuk's extensions
EXT_REGISTERED_BEDS = f"{CANONICAL}/StructureDefinition/registered-beds"
EXT_LIVE_STATUS = f"{CANONICAL}/StructureDefinition/live-status"
#: HL7's translation of a string (the English of a Bahasa display)
EXT_TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"

#: SATUSEHAT's system of the NIK (Nomor Induk Kependudukan), as its Patient search takes it
#: (``identifier=https://fhir.kemkes.go.id/id/nik|<nik>``; docs/fhir.md)
SYSTEM_NIK = "https://fhir.kemkes.go.id/id/nik"
#: ICD-10 (WHO), HL7's canonical URI for it
ICD10 = "http://hl7.org/fhir/sid/icd-10"
#: HL7's condition categories (``encounter-diagnosis``) and clinical statuses
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
#: HL7's reason a value is absent (``masked``: there, but not for this caller)
EXT_DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"

#: a referral's id in rujuk, and its letter number (``007/RJK/PKM-SEGARAU/XII/2026``)
SYSTEM_REFERRAL_ID = f"{CANONICAL}/sid/referral-id"
SYSTEM_REFERRAL_NUMBER = f"{CANONICAL}/sid/referral-number"
#: a patient's medical record number at the referring facility (assigner: that Organization)
SYSTEM_MEDICAL_RECORD = f"{CANONICAL}/sid/medical-record-number"
#: rujuk's code systems of a referral: its lifecycle state and its service type
CS_REFERRAL_STATUS = f"{CANONICAL}/CodeSystem/referral-status"
CS_SERVICE_TYPE = f"{CANONICAL}/CodeSystem/service-type"
