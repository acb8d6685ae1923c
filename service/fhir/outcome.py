"""Errors of the FHIR API, answered as OperationOutcome resources naming the element or parameter.

Raised by the FHIR domain code; ``FhirRoute`` answers them, and turns the service's own errors
raised on the way (an invalid token) into OperationOutcomes too, so a FHIR client never meets
the JSON API's error shape on a route it knows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Response
from fastapi.routing import APIRoute
from fhir.resources.R4B.operationoutcome import OperationOutcome

from service.errors import ServiceError
from service.fhir.systems import MEDIA_TYPE

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from fastapi import Request

#: an HTTP status's FHIR issue type (http://hl7.org/fhir/R4/valueset-issue-type.html)
_ISSUE_TYPES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    409: "conflict",
    422: "invalid",
}


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem: FHIR issue type, what is wrong, and where (a FHIRPath expression)."""

    code: str
    diagnostics: str
    expression: str | None = None


class FhirError(Exception):
    """A refused FHIR request: HTTP status, FHIR issue type, what is wrong, and where."""

    def __init__(
        self, status: int, diagnostics: str, *, expression: str | None = None, code: str | None = None
    ) -> None:
        self.status = status
        self.diagnostics = diagnostics
        self.expression = expression
        self.code = code or _ISSUE_TYPES.get(status, "processing")
        super().__init__(diagnostics)


class OutcomeError(FhirError):
    """A resource refused for several reasons at once (422 Unprocessable Entity): every issue listed."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues or [Issue("invalid", "the resource was refused")]
        first = self.issues[0]
        super().__init__(422, first.diagnostics, expression=first.expression, code=first.code)


class NotFoundError(FhirError, LookupError):
    """No such resource (404)."""

    def __init__(self, resource_type: str, resource_id: str) -> None:
        super().__init__(404, f"no {resource_type} with id {resource_id!r}", expression=f"{resource_type}.id")


class BadParameterError(FhirError, ValueError):
    """A search parameter that is unknown, repeated where it may not be, or has a bad value (400)."""

    def __init__(self, parameter: str, diagnostics: str, *, code: str = "invalid") -> None:
        super().__init__(400, f"parameter {parameter!r}: {diagnostics}", expression=parameter, code=code)


def outcome(code: str, diagnostics: str, expression: str | None, *more: Issue) -> OperationOutcome:
    """Error issues, as FHIR says them: this one and ``more``."""
    issues = []
    for i in (Issue(code, diagnostics, expression), *more):
        issue: dict[str, Any] = {"severity": "error", "code": i.code, "diagnostics": i.diagnostics}
        if i.expression:
            issue["expression"] = [i.expression]
        issues.append(issue)
    return OperationOutcome.model_validate({"resourceType": "OperationOutcome", "issue": issues})


def fhir_response(resource: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:  # noqa: ANN401  any fhir.resources model
    """A resource as ``application/fhir+json``."""
    return Response(resource.model_dump_json(), status_code=status, media_type=MEDIA_TYPE, headers=headers)


def error_response(exc: Exception) -> Response | None:
    """The OperationOutcome answer for an error raised under a FHIR route (None: not one we answer)."""
    if isinstance(exc, OutcomeError):
        first, *rest = exc.issues
        return fhir_response(outcome(first.code, first.diagnostics, first.expression, *rest), exc.status)
    if isinstance(exc, FhirError):
        oo = outcome(exc.code, exc.diagnostics, exc.expression)
        return fhir_response(oo, exc.status)
    if isinstance(exc, ServiceError) and exc.status < 500:
        code = _ISSUE_TYPES.get(exc.status, "processing")
        return fhir_response(outcome(code, exc.detail, None), exc.status, exc.headers)
    return None


class FhirRoute(APIRoute):
    """A route whose errors are OperationOutcomes (the FHIR router's ``route_class``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The handler, answering the errors it raises as OperationOutcomes."""
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                answer = error_response(exc)
                if answer is None:
                    raise
                return answer

        return handle
