"""Every error the service answers, each kind mapped to one HTTP status and one JSON shape.

Domain code raises these (or the engines' own errors, mapped here too); route code never builds
an error response by hand. The shape is always ``{type, detail, errors?}``, described in the
OpenAPI document by ``service.schemas.ErrorOut``:

- ``type``: what kind of error (``validation_error``, ``unauthorized``, ``forbidden``,
  ``not_found``, ``conflict``, ``invalid_transition``, ``too_large``, ``too_many_requests``,
  ``positions_unavailable``);
- ``detail``: one sentence for a person, naming the field when there is one;
- ``errors``: for validation errors, every problem as ``{field, message}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from routing.errors import RoutingError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from fastapi import FastAPI, Request

#: a value a message's placeholder takes (a limit, a length, a list of choices as text)
Scalar = str | int | float | bool

#: seconds a client waits before retrying when positions are unavailable
RETRY_AFTER_S = 5


class ServiceError(Exception):
    """Base of the service's errors: an HTTP status, a ``type`` and a detail for a person."""

    status: ClassVar[int] = 500
    kind: ClassVar[str] = "error"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        self.detail = detail
        self.headers = headers
        super().__init__(detail)

    def body(self) -> dict[str, Any]:
        """The JSON body of the answer."""
        return {"type": self.kind, "detail": self.detail}


class InputError(ServiceError, ValueError):
    """Input that is well-formed but not acceptable; names the field (422)."""

    status = 422
    kind = "validation_error"

    def __init__(
        self, field: str, message: str, *, code: str = "invalid", params: Mapping[str, Scalar] | None = None
    ) -> None:
        self.field = field
        self.code = code
        self.params = dict(params or {})
        super().__init__(message)

    def item(self) -> dict[str, Any]:
        """The problem as one ``errors`` entry: field, message, and the code pages translate."""
        out: dict[str, Any] = {"field": self.field, "message": str(self), "code": self.code}
        if self.params:
            out["params"] = self.params
        return out

    def body(self) -> dict[str, Any]:
        """``detail`` names the field; ``errors`` lists it."""
        return {"type": self.kind, "detail": f"field '{self.field}': {self}", "errors": [self.item()]}


class UnauthorizedError(ServiceError):
    """No valid sign-in (401, with ``WWW-Authenticate: Bearer``, or the ``challenge`` given)."""

    status = 401
    kind = "unauthorized"

    def __init__(self, detail: str, *, challenge: str = "Bearer") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class ForbiddenError(ServiceError, PermissionError):
    """Signed in, but not allowed to do this (403)."""

    status = 403
    kind = "forbidden"


class NotFoundError(ServiceError, LookupError):
    """An id that does not exist, or that the caller may not see (404)."""

    status = 404
    kind = "not_found"


class ConflictError(ServiceError):
    """A request that conflicts with what is stored (409)."""

    status = 409
    kind = "conflict"


class TransitionError(ConflictError):
    """A lifecycle action that is not allowed from the referral's state (409)."""

    kind = "invalid_transition"


class TooLargeError(ServiceError):
    """A request body or file over its limit (413)."""

    status = 413
    kind = "too_large"


class TooManyRequestsError(ServiceError):
    """Too many refused sign-ins for this account or address: wait ``Retry-After`` seconds (429)."""

    status = 429
    kind = "too_many_requests"

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_s)})


class PositionsUnavailableError(ServiceError):
    """Ambulance positions cannot be read or written: Redis is down or not configured (503)."""

    status = 503
    kind = "positions_unavailable"

    def __init__(self, detail: str = "ambulance positions are unavailable (Redis cannot be reached)") -> None:
        super().__init__(detail, headers={"Retry-After": str(RETRY_AFTER_S)})


class PositionsNotReplicatedError(PositionsUnavailableError):
    """Positions written on the Redis primary but not confirmed by enough replicas in time (503):
    not acknowledged, since a failover could lose them; sending them again is safe (a fix is
    stored once)."""  # noqa: D205, D209

    kind = "positions_not_replicated"


#: status -> what it means, for the OpenAPI description of every operation's errors
DESCRIPTIONS: dict[int, str] = {
    304: "Not modified since the ETag given in `If-None-Match`.",
    401: "Not signed in, or the token is invalid or expired (`unauthorized`).",
    403: "Signed in without the role or the facility this needs (`forbidden`).",
    404: "No such object, or not yours to see (`not_found`).",
    409: "Conflicts with what is stored (`conflict`), or not allowed in the referral's state "
    "(`invalid_transition`).",
    413: "The body or file is over its limit (`too_large`).",
    422: "Invalid input; `detail` names the first field, `errors` lists every problem (`validation_error`).",
    429: "Too many refused sign-ins for this account or address (`too_many_requests`); retry after "
    "`Retry-After` seconds.",
    503: "Ambulance positions are unavailable (`positions_unavailable`); retry after `Retry-After`.",
}


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(x) for x in loc)


def _params(ctx: Mapping[str, Any] | None) -> dict[str, Scalar]:
    """Pydantic's context of an error (``min_length``, ``ge``, ``expected``...) as plain values."""
    out: dict[str, Scalar] = {}
    for k, v in (ctx or {}).items():
        if isinstance(v, bool | int | float | str):
            out[k] = v
        elif k != "error":
            out[k] = str(v)
    return out


def pydantic_item(e: Mapping[str, Any]) -> dict[str, Any]:
    """One pydantic error as an ``errors`` entry.

    Its type is the code pages translate (``missing``, ``string_too_short``, ``less_than_equal``...;
    a validator's own code where it raised a ``PydanticCustomError``), its context the placeholders.
    """
    item: dict[str, Any] = {
        "field": _field(e.get("loc", ())),
        "message": str(e.get("msg", "")),
        "code": str(e.get("type", "invalid")),
    }
    params = _params(e.get("ctx"))
    if params:
        item["params"] = params
    return item


def validation_body(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """The 422 body for a list of ``{field, message}`` problems."""
    first = errors[0] if errors else {"field": "", "message": "invalid input", "code": "invalid"}
    return {
        "type": InputError.kind,
        "detail": f"field '{first['field']}': {first['message']}",
        "errors": errors,
    }


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error in the one shape."""

    @app.exception_handler(ServiceError)
    async def service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI's "error parsing the body": bad input, named by field
            problem = {
                "field": "body",
                "message": f"cannot be read ({exc.detail}): send UTF-8 JSON or form",
                "code": "unreadable",
            }
            return JSONResponse(validation_body([problem]), status_code=422)
        # Starlette's own: 404 for an unknown path, 405 for a wrong method
        return JSONResponse(
            {"type": "error", "detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [pydantic_item(e) for e in exc.errors()]
        return JSONResponse(validation_body(errors), status_code=422)

    @app.exception_handler(RoutingError)
    async def routing_error(_: Request, exc: RoutingError) -> JSONResponse:
        body = {
            "type": InputError.kind,
            "detail": str(exc),
            "errors": [{"field": "body", "message": str(exc), "code": "routing"}],
        }
        return JSONResponse(body, status_code=422)
