"""The app factory: load the runtime once, install the routers of every domain, document them.

Each domain's routes live in its own folder (``service/<domain>/routes*.py``); this module only
wires them. See ``docs/architecture.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from geodata.dataset import Dataset, load_dataset
from rules import icd
from service import GC_THRESHOLD
from service.accounts import routes as accounts
from service.accounts import routes_stations
from service.accounts.throttle import Throttle
from service.auth import dummy_hash, load_tokens
from service.body_limit import BodyLimit
from service.database import make_engine, session_factory
from service.deps import SECURITY_SCHEME
from service.errors import DESCRIPTIONS, install_error_handlers
from service.facilities import routes as facilities
from service.facilities.status import engine_statuses
from service.fhir import routes as fhir
from service.incidents import routes as incidents
from service.matcher import Matcher
from service.migrate import upgrade
from service.notifications import routes as notifications
from service.notifications.notifier import build_notifier, notifier_loop
from service.peers.config import Peers, load_peers
from service.peers.outbox import delivery_loop
from service.planning import routes as planning
from service.planning.answers import warm_in_background as warm_planner
from service.referrals import routes as referrals
from service.referrals import (
    routes_attachments,
    routes_calls,
    routes_import,
    routes_messages,
    routes_reports,
    routes_stream,
    routes_suggestions,
)
from service.referrals.escalation import escalation_loop
from service.referrals.identity import load_regions
from service.referrals.registry import population_registry
from service.referrals.suggestions import ReferralRequestIn
from service.roads import routes as roads
from service.roads.sync import road_sync_loop, sync_once
from service.runtime import Cached, Runtime, utc_now
from service.settings import Settings
from service.tracking import routes_ambulances, routes_dispatch, routes_incoming, routes_positions
from service.tracking import routes_stream as dispatch_stream
from service.tracking.ambulances import snapshot
from service.tracking.redis_client import connect
from service.tracking.tracker import Tracker
from service.web.routes import install_web

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import AsyncIterator, Callable, Iterable, Iterator

    from fastapi.dependencies.models import Dependant
    from starlette.routing import BaseRoute

log = logging.getLogger(__name__)

#: every domain's routers. Starlette tries routes in order, so the hot paths come first: a
#: suggestion and a device's positions are matched after a handful of patterns, not fifty.
ROUTERS = (
    routes_suggestions.router,
    routes_positions.router,
    facilities.router,
    accounts.router,
    routes_stations.router,
    referrals.router,
    routes_attachments.router,
    routes_messages.router,
    routes_calls.router,
    routes_import.router,
    routes_stream.router,
    routes_reports.router,
    routes_ambulances.router,
    routes_dispatch.router,
    routes_incoming.router,
    dispatch_stream.router,
    notifications.router,
    roads.router,
    incidents.router,
    planning.router,
    fhir.router,
)
#: seconds the live statuses and the ambulance registry are reused (see ``service.runtime.Cached``)
STATUS_TTL_S = 1.0
REGISTRY_TTL_S = 2.0
#: seconds after start-up before the warm-ups (region codes, repair kernels, the planner's first
#: view) begin: the service answers first
WARM_AFTER_S = 1.0


def _peers(cfg: Settings, ds: Dataset) -> Peers | None:
    if cfg.peers_file is None:
        return None
    receiving = [f.id for f in ds.facilities if f.receiving]
    return load_peers(cfg.peers_file, [f.id for f in ds.facilities], receiving)


def build_runtime(cfg: Settings, dataset: Dataset | None = None) -> Runtime:
    """Load the dataset, the matcher and the database (migrated to the latest schema)."""
    ds = dataset or load_dataset(cfg.dataset_path)
    # the ICD-10 codes the packs are checked against, kept with the trees (``rules.icd``)
    icd.use_cache_dir(cfg.resolved_tree_cache_dir())
    # the packs first: a bad one stops the start before anything is opened
    matcher = Matcher.load(
        ds,
        jurisdictions_path=cfg.jurisdictions_path,
        cache_dir=cfg.resolved_tree_cache_dir(),
        workers=cfg.resolved_tree_workers(),
        warm=False,
    )
    engine = make_engine(cfg.resolved_database_url(), keyring=cfg.keyring())
    upgrade(engine)
    return Runtime(
        settings=cfg,
        dataset=ds,
        matcher=matcher,
        engine=engine,
        sessions=session_factory(engine),
        secret=cfg.resolved_secret_key(),
        statuses=Cached(engine_statuses, STATUS_TTL_S),
        registry=Cached(snapshot, REGISTRY_TTL_S),
        population_registry=population_registry(cfg),
        peers=_peers(cfg, ds),
    )


def warm_up(rt: Runtime) -> None:
    """What no request needs at once, loaded after start-up rather than before the first answer or
    in a patient's request: the NIK's region codes, the hash an unknown user's password is checked
    against, the token library, the routing engine's repair kernels (numba)."""  # noqa: D205, D209
    load_regions()
    dummy_hash()
    load_tokens()
    rt.matcher.engine.warm_up()


async def _after_start(rt: Runtime, app: FastAPI) -> None:
    """Once the worker has had a moment to answer its first requests: the warm-ups, one after
    the other (each holds the GIL most of its time; run during start-up they delayed it)."""  # noqa: D205, D209
    await asyncio.sleep(WARM_AFTER_S)
    try:
        await run_in_threadpool(app.openapi)  # builds every route's models (``service``: deferred)
        await run_in_threadpool(warm_up, rt)
    except Exception:
        log.exception("start-up: warming up failed (the first letter or road condition loads it)")
    await warm_planner(rt)


def _tracker(cfg: Settings) -> Tracker | None:
    if not cfg.redis_url:
        return None
    return Tracker(
        connect(cfg.redis_url, cluster=cfg.redis_cluster),
        prefix=cfg.redis_prefix,
        retention_s=cfg.track_retention_h * 3600,
        wait_replicas=cfg.wait_replicas(),
        wait_timeout_ms=cfg.redis_wait_timeout_ms,
    )


def _lifespan(
    cfg: Settings, dataset: Dataset | None, clock: Callable[[], dt.datetime] | None
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # a few threads per worker are enough for CPU-bound endpoints under the GIL; forty (the
        # default) only add contention
        anyio.to_thread.current_default_thread_limiter().total_tokens = cfg.threads
        rt = await run_in_threadpool(build_runtime, cfg, dataset)
        rt.clock = clock or utc_now
        rt.tracker = _tracker(cfg)
        rt.throttle = throttle = Throttle(
            cfg.redis_url,
            account=cfg.signin_account_limit,
            address=cfg.signin_address_limit,
            key_prefix=cfg.redis_prefix,
            cluster=cfg.redis_cluster,
        )
        app.state.runtime = rt
        # start-up objects (dataset, trees, rule pack) stay: keep them out of the collector's scans.
        # No collection first: it took 0.3 s of the start (every object made by the imports is
        # still in the youngest generation) and found ~2,000 unreachable objects to free.
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLD)  # a request's short-lived objects do not set it off
        gc.enable()  # off during start-up under ``rujuk serve`` (``service.GC_OFF_UNTIL_STARTED``)
        rt.notifier = notifier = await run_in_threadpool(build_notifier, rt)
        await run_in_threadpool(sync_once, rt)  # the roads as they are before the first request
        tasks = [asyncio.create_task(escalation_loop(rt)), asyncio.create_task(notifier_loop(rt, notifier)),
                 asyncio.create_task(road_sync_loop(rt)), asyncio.create_task(delivery_loop(rt)),
                 asyncio.create_task(_after_start(rt, app))]  # fmt: skip
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            notifier.close()
            if rt.tracker is not None:
                await rt.tracker.client.aclose()
            await throttle.aclose()
            rt.engine.dispose()

    return lifespan


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


def _document(app: FastAPI) -> None:
    """The OpenAPI document, with what FastAPI cannot see by itself.

    Requests are authenticated by one plain dependency (``service.deps``), not by FastAPI's
    security classes, so the OAuth2 password flow is named here on every operation that needs
    it; the hand-parsed suggestion body's schema is added here too.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = doc.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schema = ReferralRequestIn.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[ReferralRequestIn.__name__] = schema
        password_flow = {"password": {"tokenUrl": "/api/token", "scopes": {}}}
        components["securitySchemes"] = {SECURITY_SCHEME: {"type": "oauth2", "flows": password_flow}}
        for ops in doc["paths"].values():  # every body has a limit (service.body_limit)
            for op in ops.values():
                if "requestBody" in op:
                    error = {"schema": {"$ref": "#/components/schemas/ErrorOut"}}
                    too_large = {"description": DESCRIPTIONS[413], "content": {"application/json": error}}
                    op["responses"].setdefault("413", too_large)
        for route in _api_routes(app.routes):
            if _needs_sign_in(route.dependant):
                for method in route.methods or ():
                    op = doc["paths"].get(route.path_format, {}).get(method.lower())
                    if op is not None:
                        op["security"] = [{SECURITY_SCHEME: []}]
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    settings: Settings | None = None,
    *,
    dataset: Dataset | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> FastAPI:
    """Build the app; everything is loaded once at start-up (``app.state.runtime``)."""
    cfg = settings or Settings()
    app = FastAPI(
        title="rujuk",
        version="0.1.0",
        description="Referral matching and ambulance routing for SISRUTE (Perbup Sambas 49/2025).",
        lifespan=_lifespan(cfg, dataset, clock),
        docs_url=None,  # served by service.web from the npm-installed Swagger UI, not from a CDN
        redoc_url=None,
    )
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(BodyLimit)
    install_web(app, cfg.web_modules_dir, tile_url=cfg.tile_url)
    _document(app)
    return app
