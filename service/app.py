"""The FastAPI application: facilities and the road network of the loaded dataset."""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from geodata.dataset import Dataset, load_dataset
from geodata.models import SERVICE_LABELS, Facility, FacilityKind, Service
from service.matching import Matcher
from service.settings import Settings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

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


def create_app(settings: Settings | None = None, *, dataset: Dataset | None = None) -> FastAPI:
    """Build the app; the dataset is loaded once at start-up (or passed in, for tests)."""
    cfg = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.dataset = dataset or load_dataset(cfg.dataset_path)
        app.state.matcher = Matcher.load(app.state.dataset)
        # start-up objects (dataset, trees, rule pack) stay: keep them out of the collector's scans
        gc.collect()
        gc.freeze()
        yield

    app = FastAPI(title="rujuk", version="0.1.0", lifespan=lifespan)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        body = exc.detail if isinstance(exc.detail, dict) else {"type": "error", "detail": exc.detail}
        return JSONResponse(body, status_code=exc.status_code)

    def ds(request: Request) -> Dataset:
        d: Dataset = request.app.state.dataset
        return d

    @app.get("/health")
    def health(request: Request) -> dict[str, Any]:
        d = ds(request)
        return {"status": "ok", "dataset": d.name, "road_network": network_json(d)}

    @app.get("/api/network")
    def network(request: Request) -> dict[str, Any]:
        return network_json(ds(request))

    @app.get("/api/facilities")
    def facilities(
        request: Request,
        kind: Annotated[FacilityKind | None, Query()] = None,
        service: Annotated[Service | None, Query()] = None,
        kecamatan: Annotated[str | None, Query(max_length=100)] = None,
        receiving: Annotated[bool | None, Query()] = None,
    ) -> list[dict[str, Any]]:
        out = [
            f
            for f in ds(request).facilities
            if (kind is None or f.kind == kind)
            and (service is None or service in f.services)
            and (kecamatan is None or f.kecamatan.casefold() == kecamatan.casefold())
            and (receiving is None or f.receiving == receiving)
        ]
        return [facility_json(f) for f in out]

    @app.get("/api/facilities.geojson")
    def facilities_geojson(request: Request) -> dict[str, Any]:
        feats = []
        for f in ds(request).facilities:
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
        try:
            return facility_json(ds(request).facility(facility_id))
        except KeyError:
            raise HTTPException(
                404, {"type": "facility_not_found", "detail": f"no facility with id {facility_id!r}"}
            ) from None

    return app
