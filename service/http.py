"""What every route module shares to answer: fast JSON, and the OpenAPI declaration of answers.

Each operation declares its success schema and every error status it can give.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from fastapi import Response

from service.errors import DESCRIPTIONS
from service.schemas import ErrorOut

if TYPE_CHECKING:
    from pydantic import BaseModel


#: schemas of the non-JSON answers: a stream of events is described by its media type alone
_SCHEMAS: dict[str, dict[str, Any]] = {
    "text/event-stream": {},
    "application/octet-stream": {"type": "string", "format": "binary"},
}


def fast_json(content: Any, status_code: int = 200) -> Response:  # noqa: ANN401  any JSON value
    """Serialise with orjson straight to bytes (FastAPI's encoder costs milliseconds on big answers)."""
    return Response(
        orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS),
        status_code=status_code,
        media_type="application/json",
    )


def doc(
    model: type[BaseModel] | Any | None,  # noqa: ANN401  a model, or a list[...] / dict[...] of models
    *errors: int,
    status: int = 200,
    media_type: str = "application/json",
    description: str = "Success",
    also: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Keyword arguments for a route decorator: the success schema and the error answers.

    The model documents the answer without FastAPI re-validating it (``response_model=None``): the
    routes build their answers themselves, the hot ones as bytes; the conformance test in
    ``tests/service/test_openapi.py`` checks the answers against these declarations. 422 is always
    declared in the service's shape (FastAPI would otherwise describe its own, which is not what
    the service answers).
    """
    ok: dict[str, Any] = {"description": description}
    if model is not None and media_type == "application/json":
        ok["model"] = model
    elif media_type != "application/json":
        ok["content"] = {media_type: {"schema": _SCHEMAS.get(media_type, {"type": "string"})}}
    if also:  # other representations of the same answer (e.g. format=csv)
        more = {m: {"schema": _SCHEMAS.get(m, {"type": "string"})} for m in also}
        ok.setdefault("content", {}).update(more)
    responses: dict[int | str, dict[str, Any]] = {status: ok}
    for code in sorted({*errors, 422}):
        if code < 400:  # e.g. 304 Not Modified: no body
            responses[code] = {"description": DESCRIPTIONS[code]}
        else:
            responses[code] = {"model": ErrorOut, "description": DESCRIPTIONS[code]}
    return {"response_model": None, "responses": responses, "status_code": status}
