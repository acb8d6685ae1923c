"""The FastAPI application: wiring, errors, start-up, and the public facility and network routes."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any

import anyio.to_thread
import redis.asyncio as aioredis
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from geodata.dataset import Dataset, load_dataset
from geodata.models import SERVICE_LABELS, Facility, FacilityKind, Service
from routing.errors import RoutingError
from service import store
from service.api import router
from service.api_ambulances import router as ambulance_router
from service.api_planning import router as planning_router
from service.api_tracking import router as tracking_router
from service.db import make_engine, session_factory
from service.lifecycle import TransitionError
from service.matching import Matcher
from service.migrate import upgrade
from service.runtime import SECURITY_SCHEME, Runtime, utc_now
from service.schemas import ReferralRequestIn
from service.settings import Settings
from service.tracking import Tracker
from service.web import install_web

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import AsyncIterator, Callable, Iterable, Iterator

    from fastapi.dependencies.models import Dependant
    from starlette.routing import BaseRoute

log = logging.getLogger("rujuk")

MODELLED_NOTE = (
    "Travel times come from a MODELLED road network (settlements, facilities and main corridors "
    "with detour factors), not from a surveyed road map; treat them as estimates."
)


def facility_json(f: Facility) -> dict[str, Any]:
    """The public JSON form of a facility."""
    return {
        "id": f.id,
        "name": f.name,
        "kind": f.kind.value,
        "level": f.level.value,
        "hospital_class": f.hospital_class.value if f.hospital_class else None,
        "competency": f.competency.value if f.competency else None,
        "kecamatan": f.kecamatan,
        "regency": f.regency,
        "location": {"lon": f.location.lon, "lat": f.location.lat},
        "coordinate_quality": f.coordinate_quality.value,
        "receiving": f.receiving,
        "services": sorted(s.value for s in f.services),
        "service_labels": sorted(SERVICE_LABELS[s] for s in f.services),
        "equipment": sorted(e.value for e in f.equipment),
        "beds": {b.value: n for b, n in sorted(f.beds.items())},
    }


def network_json(ds: Dataset) -> dict[str, Any]:
    """What the road network is, and whether its travel times are modelled."""
    r = ds.roads
    out: dict[str, Any] = {
        "source": r.source,
        "modelled": r.modelled,
        "version": r.version,
        "nodes": r.n_nodes,
        "edges": r.n_edges,
    }
    if r.modelled:
        out["note"] = MODELLED_NOTE
    return out


def _error(status: int, kind: str, detail: str, errors: list[dict[str, str]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": kind, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(x) for x in loc)


def install_error_handlers(app: FastAPI) -> None:
    """One JSON error shape: ``{type, detail, errors: [{field, message}]}``."""

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        if isinstance(exc.detail, dict):
            return JSONResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
        return JSONResponse(
            {"type": "error", "detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(e.get("loc", ())), "message": str(e.get("msg", ""))} for e in exc.errors()]
        first = errors[0] if errors else {"field": "", "message": "invalid input"}
        return _error(422, "validation_error", f"field '{first['field']}': {first['message']}", errors)

    @app.exception_handler(store.InputError)
    async def input_error(_: Request, exc: store.InputError) -> JSONResponse:
        return _error(
            422,
            "validation_error",
            f"field '{exc.field}': {exc}",
            [{"field": exc.field, "message": str(exc)}],
        )

    @app.exception_handler(RoutingError)
    async def routing_error(_: Request, exc: RoutingError) -> JSONResponse:
        return _error(422, "validation_error", str(exc), [{"field": "body", "message": str(exc)}])

    @app.exception_handler(store.NotFoundError)
    async def not_found(_: Request, exc: store.NotFoundError) -> JSONResponse:
        return _error(404, "not_found", str(exc.args[0]) if exc.args else "not found")

    @app.exception_handler(store.ConflictError)
    async def conflict(_: Request, exc: store.ConflictError) -> JSONResponse:
        return _error(409, "conflict", str(exc))

    @app.exception_handler(TransitionError)
    async def bad_transition(_: Request, exc: TransitionError) -> JSONResponse:
        return _error(409, "invalid_transition", str(exc))

    @app.exception_handler(PermissionError)
    async def forbidden(_: Request, exc: PermissionError) -> JSONResponse:
        return _error(403, "forbidden", str(exc))


def _needs_sign_in(dependant: Dependant) -> bool:
    return any(getattr(d.call, "needs_sign_in", False) or _needs_sign_in(d) for d in dependant.dependencies)


def _api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every API route, including those of included routers (FastAPI keeps them apart)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _api_routes(inner.routes)


def _document_sign_in(app: FastAPI) -> None:
    """Name the OAuth2 password flow in the OpenAPI document on every operation that needs it.

    Requests are authenticated by one plain dependency (``service.runtime.principal``), not by
    FastAPI's security classes, so the scheme is added here.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = doc.setdefault("components", {})
        # models read by hand-parsed routes (service.api.suggestions) are described here
        schemas = components.setdefault("schemas", {})
        for model in (ReferralRequestIn,):
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
        password_flow = {"password": {"tokenUrl": "/api/token", "scopes": {}}}
        components["securitySchemes"] = {SECURITY_SCHEME: {"type": "oauth2", "flows": password_flow}}
        for route in _api_routes(app.routes):
            if _needs_sign_in(route.dependant):
                for method in route.methods or ():
                    op = doc["paths"].get(route.path_format, {}).get(method.lower())
                    if op is not None:
                        op["security"] = [{SECURITY_SCHEME: []}]
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def build_runtime(cfg: Settings, dataset: Dataset | None = None) -> Runtime:
    """Load the dataset, the matcher and the database (migrated to the latest schema)."""
    ds = dataset or load_dataset(cfg.dataset_path)
    engine = make_engine(cfg.resolved_database_url())
    upgrade(engine)
    return Runtime(
        settings=cfg,
        dataset=ds,
        matcher=Matcher.load(ds),
        engine=engine,
        sessions=session_factory(engine),
        secret=cfg.resolved_secret_key(),
    )


def escalation_tick(rt: Runtime) -> list[str]:
    """Escalate what is due now (any worker may run it: each referral is claimed once)."""
    with rt.sessions() as s:
        done = store.escalate_due(s, rt.clock())
        s.commit()
    return done


async def _escalation_loop(rt: Runtime) -> None:
    while True:
        await asyncio.sleep(rt.settings.escalation_interval_s)
        try:
            done = await run_in_threadpool(escalation_tick, rt)
            if done:
                log.info("escalated %d unanswered referral(s)", len(done))
        except Exception:  # the loop must survive a database hiccup
            log.exception("escalation tick failed")


def create_app(
    settings: Settings | None = None,
    *,
    dataset: Dataset | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> FastAPI:
    """Build the app; everything is loaded once at start-up (``app.state.runtime``)."""
    cfg = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # a few threads per worker are enough for CPU-bound endpoints under the GIL; forty (the
        # default) only add contention
        anyio.to_thread.current_default_thread_limiter().total_tokens = cfg.threads
        rt = await run_in_threadpool(build_runtime, cfg, dataset)
        rt.clock = clock or utc_now
        app.state.runtime = rt
        app.state.dataset = rt.dataset
        app.state.matcher = rt.matcher
        # start-up objects (dataset, trees, rule pack) stay: keep them out of the collector's scans
        gc.collect()
        gc.freeze()
        redis_client = None
        if cfg.redis_url:
            redis_client = aioredis.Redis.from_url(
                cfg.redis_url, socket_connect_timeout=0.5, socket_timeout=2.0, health_check_interval=30
            )
            rt.tracker = Tracker(
                redis_client, prefix=cfg.redis_prefix, retention_s=cfg.track_retention_h * 3600
            )
        task = asyncio.create_task(_escalation_loop(rt))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if redis_client is not None:
                await redis_client.aclose()
            rt.engine.dispose()

    app = FastAPI(
        title="rujuk",
        version="0.1.0",
        description="Referral matching and ambulance routing for SISRUTE (Perbup Sambas 49/2025).",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(ambulance_router)
    app.include_router(tracking_router)
    app.include_router(planning_router)
    install_web(app, cfg.web_modules_dir)
    _document_sign_in(app)

    def ds(request: Request) -> Dataset:
        d: Dataset = request.app.state.dataset
        return d

    @app.get("/health")
    def health(request: Request) -> dict[str, Any]:
        """Liveness, the dataset, whether its road network is modelled, and this worker's pid."""
        d = ds(request)
        return {"status": "ok", "dataset": d.name, "road_network": network_json(d), "worker_pid": os.getpid()}

    @app.get("/api/ping")
    async def ping() -> dict[str, bool]:
        """A trivial endpoint (load-test baseline)."""
        return {"ok": True}

    @app.get("/api/ping-sync")
    def ping_sync() -> dict[str, bool]:
        """The same in a worker thread, like every endpoint that touches the database."""
        return {"ok": True}

    @app.get("/api/network")
    def network(request: Request) -> dict[str, Any]:
        """The road network: source, version, size, and whether travel times are modelled."""
        return network_json(ds(request))

    def select_facilities(
        request: Request,
        kind: FacilityKind | None,
        service: Service | None,
        kecamatan: str | None,
        receiving: bool | None,
        region: str | None,
    ) -> list[Facility]:
        pack = request.app.state.matcher.pack
        if region is not None and region not in {r.id for r in pack.regions}:
            raise store.InputError(
                "region", f"unknown region {region!r} (known: {', '.join(r.id for r in pack.regions)})"
            )
        members: set[str] = set()
        if region is not None:
            reg = next(r for r in pack.regions if r.id == region)
            members = {*reg.origins, reg.hospital}
        return [
            f
            for f in ds(request).facilities
            if (kind is None or f.kind == kind)
            and (service is None or service in f.services)
            and (kecamatan is None or f.kecamatan.casefold() == kecamatan.casefold())
            and (receiving is None or f.receiving == receiving)
            and (region is None or f.id in members)
        ]

    @app.get("/api/facilities")
    def facilities(
        request: Request,
        kind: Annotated[FacilityKind | None, Query()] = None,
        service: Annotated[Service | None, Query()] = None,
        kecamatan: Annotated[str | None, Query(max_length=100)] = None,
        receiving: Annotated[bool | None, Query()] = None,
        region: Annotated[str | None, Query(max_length=40, description="e.g. regional-3")] = None,
    ) -> list[dict[str, Any]]:
        """Facilities, filtered by kind, service, kecamatan, receiving flag or referral region."""
        return [
            facility_json(f) for f in select_facilities(request, kind, service, kecamatan, receiving, region)
        ]

    @app.get("/api/facilities.geojson")
    def facilities_geojson(
        request: Request,
        kind: Annotated[FacilityKind | None, Query()] = None,
        service: Annotated[Service | None, Query()] = None,
        kecamatan: Annotated[str | None, Query(max_length=100)] = None,
        receiving: Annotated[bool | None, Query()] = None,
        region: Annotated[str | None, Query(max_length=40)] = None,
    ) -> dict[str, Any]:
        """The same, as a GeoJSON FeatureCollection."""
        feats = []
        for f in select_facilities(request, kind, service, kecamatan, receiving, region):
            props = facility_json(f)
            loc = props.pop("location")
            feats.append(
                {
                    "type": "Feature",
                    "id": f.id,
                    "properties": props,
                    "geometry": {"type": "Point", "coordinates": [loc["lon"], loc["lat"]]},
                }
            )
        return {"type": "FeatureCollection", "features": feats}

    @app.get("/api/facilities/{facility_id}")
    def facility(request: Request, facility_id: str) -> dict[str, Any]:
        """One facility."""
        try:
            return facility_json(ds(request).facility(facility_id))
        except KeyError:
            raise HTTPException(
                404, {"type": "not_found", "detail": f"no facility with id {facility_id!r}"}
            ) from None

    return app
