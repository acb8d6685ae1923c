"""The FHIR R4 API: facilities as Organization, Location and HealthcareService (docs/fhir.md)."""
