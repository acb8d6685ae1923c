"""HTTP routes for ambulances' devices: positions as JSON (one or a batch) or the OsmAnd protocol.

Positions live in Redis: when it cannot be reached, ingestion answers 503 with Retry-After and
everything else (suggestions, referrals) goes on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter, Request, Response

from service.errors import ForbiddenError
from service.http import doc
from service.tracking import ingest, positions
from service.tracking.devices import device_ambulance_id
from service.tracking.schemas import StoredOut

if TYPE_CHECKING:
    from collections.abc import Mapping

    from service.runtime import Runtime

router = APIRouter(prefix="/api", tags=["tracking"])

_POSITION_EXAMPLE = {"lat": 1.2891, "lon": 109.3004, "timestamp": "2026-11-23T02:00:05Z", "speed": 13.9,
                     "heading": 84.0, "accuracy": 8.0}  # fmt: skip
_DEVICE_ERRORS = (401, 403, 413, 503)


@router.post(
    "/ambulances/{ambulance_id}/positions",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "examples": {
                        "one": {"value": _POSITION_EXAMPLE},
                        "batch": {"value": {"positions": [_POSITION_EXAMPLE]}},
                    }
                }
            },
        }
    },
    **doc(StoredOut, *_DEVICE_ERRORS),
)
async def post_positions(ambulance_id: str, request: Request) -> dict[str, Any]:
    """The ambulance's device reports one position, or a batch ``{"positions": [...]}`` (up to
    1,000, e.g. after a stretch without signal). Fields: ``lat``, ``lon``, ``timestamp`` (ISO 8601
    or epoch seconds or milliseconds), ``speed`` (m/s), ``heading`` (degrees), ``accuracy`` (m).
    The whole request is refused, naming the field, if any position is bad; a duplicate is stored
    once; a late fix goes to the history without replacing a newer position."""  # noqa: D205, D209
    rt: Runtime = request.app.state.runtime
    amb = await device_ambulance_id(rt, request.headers.get("authorization"))
    if amb != ambulance_id:
        raise ForbiddenError(f"this device token belongs to another ambulance, not {ambulance_id!r}")
    body = ingest.json_body(await request.body())
    batch = ingest.parse_batch(body, now=rt.clock(), limits=ingest.limits(rt))
    return await ingest.store(rt, amb, batch)


@router.get("/osmand", **doc(StoredOut, *_DEVICE_ERRORS))
async def osmand_get(request: Request) -> Response:
    """The OsmAnd protocol with the fix in the query string (as OsmAnd and older Traccar Clients
    send it): ``id`` = the device token, ``lat``, ``lon``, ``timestamp``, ``speed`` in knots,
    ``bearing``, ``accuracy``."""  # noqa: D205, D209
    return await osmand(request)


@router.post("/osmand", **doc(StoredOut, *_DEVICE_ERRORS))
async def osmand(request: Request) -> Response:
    """The OsmAnd protocol, as Traccar Client sends it: set the client's server URL to this
    address and its device identifier to the ambulance's device token. Query string or form
    (``id``, ``lat``, ``lon``, ``timestamp``, ``speed`` in knots, ``bearing``, ``accuracy``), or
    Traccar Client 9's JSON (``device_id``, ``location.coords``)."""  # noqa: D205, D209
    rt: Runtime = request.app.state.runtime
    now = rt.clock()
    limits = ingest.limits(rt)
    params: Mapping[str, str] = request.query_params
    ctype = request.headers.get("content-type", "")
    if request.method == "POST" and ctype.startswith("application/json"):
        device, pos = positions.from_traccar_json(
            ingest.json_body(await request.body()), now=now, limits=limits
        )
    else:
        if request.method == "POST" and ctype.startswith("application/x-www-form-urlencoded"):
            form = await request.form()
            params = {**params, **{k: str(v) for k, v in form.items()}}
        device, pos = positions.from_osmand(params, now=now, limits=limits)
    amb = await device_ambulance_id(rt, f"Bearer {device}")
    header = request.headers.get("authorization")
    if header and await device_ambulance_id(rt, header) != amb:
        raise ForbiddenError("the id and the Authorization header name different devices")
    out = await ingest.store(rt, amb, [pos])
    return Response(orjson.dumps(out), media_type="application/json")
