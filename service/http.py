"""What every route module shares to answer: fast JSON, live feeds, and the OpenAPI declaration of answers.

Each operation declares its success schema and every error status it can give.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from service.errors import DESCRIPTIONS
from service.schemas import ErrorOut

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from pydantic import BaseModel


#: schemas of the non-JSON answers: a stream of events is described by its media type alone
_SCHEMAS: dict[str, dict[str, Any]] = {
    "text/event-stream": {},
    "application/octet-stream": {"type": "string", "format": "binary"},
    "application/pdf": {"type": "string", "format": "binary"},
    "application/dicom": {"type": "string", "format": "binary"},
    "image/png": {"type": "string", "format": "binary"},
    "image/jpeg": {"type": "string", "format": "binary"},
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


#: seconds between polls of a live feed's source, and between keep-alive comments
FEED_POLL_S = 0.5
FEED_KEEP_ALIVE_S = 15.0


def event_feed(
    request: Request,
    poll: Callable[[int], tuple[list[dict[str, Any]], str | None]],
    *,
    start: int,
    max_events: int | None,
    timeout_s: float | None,
) -> StreamingResponse:
    """A live feed as server-sent events, resumable by event id.

    ``poll(after_id)`` (blocking: run in the thread pool) gives the events after an id, each with
    its ``id``, and a last event to send before the feed ends (None: it goes on). The feed ends
    when the client leaves, after ``max_events`` or ``timeout_s``; a comment keeps it alive.
    """

    async def gen() -> AsyncIterator[str]:
        cursor, sent = start, 0
        loop = asyncio.get_running_loop()
        t_end = loop.time() + timeout_s if timeout_s else None
        last_beat = loop.time()
        yield f"retry: 2000\n: connected after {cursor}\n\n"
        while not await request.is_disconnected():
            events, last = await run_in_threadpool(poll, cursor)
            for ev in events:
                cursor = ev["id"]
                yield f"id: {ev['id']}\nevent: referral\ndata: {json.dumps(ev)}\n\n"
                sent += 1
                if max_events and sent >= max_events:
                    return
            if last is not None:
                yield last
                return
            now = loop.time()
            if t_end is not None and now >= t_end:
                return
            if now - last_beat > FEED_KEEP_ALIVE_S:
                last_beat = now
                yield ": keep-alive\n\n"
            await asyncio.sleep(FEED_POLL_S)

    return StreamingResponse(gen(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})
