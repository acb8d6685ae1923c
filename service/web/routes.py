"""The web pages: one per user (referring staff, receiving hospital, dispatcher, planner).

Plain HTML, CSS and JavaScript modules served by ``rujuk serve`` itself, no build step. The map
library (Leaflet) comes from the npm registry at set-up (``service/web/package.json``, installed by
``make setup`` into ``service/web/node_modules``) and is served from there. The base map is drawn
from rujuk's own data (``/api/map/base``: boundaries, the road network, facilities), so the pages
work with no internet beyond the rujuk server; an online tile layer is added only when
``RUJUK_TILE_URL`` is set.
"""

from __future__ import annotations

import gzip
import hashlib
import html
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from shapely.geometry import mapping
from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import StaticFiles

from geodata.models import SERVICE_LABELS, SERVICE_LABELS_EN
from geodata.timezones import zone_label
from service.deps import Rt
from service.http import doc
from service.web.compress import CompressSome
from service.web.security import SecurityHeaders

if TYPE_CHECKING:
    from geodata.dataset import Dataset

WEB_DIR = Path(__file__).parent
PAGES_DIR = WEB_DIR / "pages"
STATIC_DIR = WEB_DIR / "static"


@dataclass(frozen=True)
class Page:
    """A page: its body file, its title (Bahasa, and its key in the pages' catalogue), whether it
    draws a map, its script module."""  # noqa: D205, D209

    file: str
    title: str
    module: str
    map: bool = True
    title_key: str = ""


#: URL path -> page; the sign-in page sends each user on to the first page their roles open
PAGES: dict[str, Page] = {
    "/": Page("masuk.html", "Masuk", "masuk", map=False, title_key="title.masuk"),
    "/rujuk": Page("rujuk.html", "Rujuk pasien", "rujuk", title_key="title.rujuk"),
    "/terima": Page("terima.html", "Terima rujukan", "terima", map=False, title_key="title.terima"),
    "/dispatch": Page("dispatch.html", "Ambulans", "dispatch", title_key="title.dispatch"),
    "/rencana": Page("rencana.html", "Perencanaan", "rencana", title_key="title.rencana"),
    "/insiden": Page("insiden.html", "Insiden korban massal", "insiden", title_key="title.insiden"),
}

router = APIRouter()


class BaseMapOut(BaseModel):
    """A GeoJSON FeatureCollection: boundaries, roads, facilities."""

    type: str
    name: str
    features: list[dict[str, Any]]


class WebConfigOut(BaseModel):
    """What the pages need to know."""

    tile_url: str | None
    tile_attribution: str | None
    map_library: bool
    position_stale_s: float
    road_network_modelled: bool
    dataset: str
    #: the jurisdiction's time zone (IANA) and how people there name it (WIB, WITA, WIT)
    timezone: str
    timezone_label: str
    service_labels: dict[str, str]
    service_labels_en: dict[str, str]


def _head(p: Page) -> str:
    """The one <head> every page shares: no web fonts, nothing from outside the server."""
    leaflet = (
        '<link rel="stylesheet" href="/static/vendor/leaflet/leaflet.css">\n'
        '<script defer src="/static/vendor/leaflet/leaflet.js"></script>\n'
    )
    preload = (
        ""
        if p.module == "masuk"
        else "".join(f'<link rel="modulepreload" href="/static/{m}.js">\n' for m in ("common", "i18n", "map"))
    )
    return (
        '<!doctype html>\n<html lang="id">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<title data-i18n="{p.title_key}">rujuk · {html.escape(p.title)}</title>\n'
        '<link rel="icon" href="/static/icons/rujuk-192.png">\n'
        '<link rel="stylesheet" href="/static/rujuk.css">\n'
        '<link rel="manifest" href="/manifest.webmanifest">\n<meta name="theme-color" content="#0b6e4f">\n'
        f"{leaflet if p.map else ''}{preload}"
        f'<script type="module" src="/static/{p.module}.js"></script>\n</head>\n'
    )


@lru_cache(maxsize=len(PAGES))
def _page(p: Page) -> bytes:
    return (_head(p) + (PAGES_DIR / p.file).read_text(encoding="utf-8")).encode()


def _page_route(p: Page) -> Any:  # noqa: ANN401  a FastAPI endpoint
    def page() -> HTMLResponse:
        return HTMLResponse(_page(p), headers={"Cache-Control": "no-cache"})

    page.__name__ = f"page_{p.module}"
    page.__doc__ = f"The web page {p.file} (Bahasa Indonesia; English switchable)."
    return page


for _path, _p in PAGES.items():
    router.add_api_route(_path, _page_route(_p), methods=["GET"], include_in_schema=False)


@router.get("/sw.js", include_in_schema=False)
def service_worker() -> Response:
    """The service worker, at the root so that its scope is every page (offline app, push)."""
    return Response(
        (STATIC_DIR / "sw.js").read_bytes(),
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )


@router.get("/manifest.webmanifest", include_in_schema=False)
def manifest() -> Response:
    """The web app manifest: the pages install as an app (Bahasa Indonesia)."""
    return Response(
        (STATIC_DIR / "manifest.webmanifest").read_bytes(),
        media_type="application/manifest+json",
        headers={"Cache-Control": "no-cache"},
    )


def base_map(ds: Dataset) -> dict[str, Any]:
    """Rujuk's own base layer as GeoJSON: regency and kecamatan boundaries, roads, facilities."""
    feats: list[dict[str, Any]] = [
        {
            "type": "Feature",
            "id": r.id,
            "properties": {"layer": "boundary", "level": r.level, "name": r.name},
            "geometry": mapping(r.boundary.simplify(0.0005, preserve_topology=True)),
        }
        for r in (ds.region, *ds.subregions)
    ]
    g = ds.roads
    lon, lat = g.lon.tolist(), g.lat.tolist()
    lines = [
        [[round(lon[u], 5), round(lat[u], 5)], [round(lon[v], 5), round(lat[v], 5)]]
        for u, v in zip(g.edge_u.tolist(), g.edge_v.tolist(), strict=True)
        if u < v
    ]
    feats.append(
        {
            "type": "Feature",
            "id": "roads",
            "properties": {"layer": "roads", "modelled": g.modelled, "source": g.source},
            "geometry": {"type": "MultiLineString", "coordinates": lines},
        }
    )
    feats.extend(
        {
            "type": "Feature",
            "id": f.id,
            "properties": {
                "layer": "facility",
                "name": f.name,
                "kind": f.kind.value,
                "hospital": f.is_hospital,
                "receiving": f.receiving,
                "kecamatan": f.kecamatan,
            },
            "geometry": {"type": "Point", "coordinates": [f.location.lon, f.location.lat]},
        }
        for f in ds.facilities
    )
    return {"type": "FeatureCollection", "name": ds.name, "features": feats}


class _Encoded:
    """A JSON document kept as bytes, gzipped, with its ETag (built once per worker)."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.raw = orjson.dumps(doc)
        self.gz = gzip.compress(self.raw, compresslevel=9, mtime=0)
        self.etag = '"' + hashlib.sha256(self.raw).hexdigest()[:32] + '"'

    def response(self, request: Request) -> Response:
        headers = {"ETag": self.etag, "Cache-Control": "public, max-age=300", "Vary": "Accept-Encoding"}
        if request.headers.get("if-none-match") == self.etag:
            return Response(status_code=304, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", ""):
            return Response(
                self.gz, media_type="application/json", headers={**headers, "Content-Encoding": "gzip"}
            )
        return Response(self.raw, media_type="application/json", headers=headers)


@router.get("/api/map/base", tags=["maps"], **doc(BaseMapOut, 304))
async def map_base(request: Request, rt: Rt) -> Response:
    """The offline base map (GeoJSON): boundaries, the road network (``modelled`` when it is), facilities."""
    enc: _Encoded | None = getattr(request.app.state, "base_map", None)
    if enc is None:
        enc = await run_in_threadpool(lambda: _Encoded(base_map(rt.dataset)))
        request.app.state.base_map = enc
    return enc.response(request)


@router.get("/api/web/config", tags=["maps"], **doc(WebConfigOut))
def web_config(rt: Rt) -> dict[str, Any]:
    """What the pages need to know: the optional online tile layer, the map library's presence."""
    s = rt.settings
    return {
        "tile_url": s.tile_url or None,
        "tile_attribution": s.tile_attribution or None,
        "map_library": (s.web_modules_dir / "leaflet" / "dist" / "leaflet.js").is_file(),
        "position_stale_s": s.position_stale_s,
        "road_network_modelled": rt.dataset.roads.modelled,
        "dataset": rt.dataset.name,
        "timezone": rt.dataset.timezone,
        "timezone_label": zone_label(rt.dataset.timezone),
        "service_labels": {k.value: v for k, v in SERVICE_LABELS.items()},
        "service_labels_en": {k.value: v for k, v in SERVICE_LABELS_EN.items()},
    }


_DOCS = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rujuk · API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script>
</body>
</html>
"""
_NO_DOCS = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rujuk · API</title></head>
<body><p>The API documentation page needs Swagger UI from npm: run <code>make setup</code>.
The description itself is at <a href="/openapi.json">/openapi.json</a>.</p></body></html>
"""


def install_web(app: FastAPI, modules_dir: Path, *, tile_url: str = "") -> None:
    """The pages, their static files (gzipped on the wire), the npm-installed map library and API
    docs (Swagger UI), and the security headers on every answer."""  # noqa: D205, D209
    app.include_router(router)
    leaflet = modules_dir / "leaflet" / "dist"
    if leaflet.is_dir():
        app.mount("/static/vendor/leaflet", GZipMiddleware(StaticFiles(directory=leaflet)), name="leaflet")
    swagger = modules_dir / "swagger-ui-dist"
    if swagger.is_dir():
        app.mount(
            "/static/vendor/swagger-ui", GZipMiddleware(StaticFiles(directory=swagger)), name="swagger-ui"
        )
    page = _DOCS if swagger.is_dir() else _NO_DOCS

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    app.mount("/static", GZipMiddleware(StaticFiles(directory=STATIC_DIR)), name="static")
    app.add_middleware(CompressSome)
    app.add_middleware(SecurityHeaders, tile_url=tile_url)
