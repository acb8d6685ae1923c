"""What the web pages read from the server: pages, static files, the offline base map, ICD-10
search, the planner's scenario check and maps."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from geodata.dataset import Dataset
from rules import icd
from service.app import create_app
from service.settings import Settings
from service.web.routes import PAGES, WEB_DIR, base_map
from tests.service.conftest import PASSWORD, _seed

LEAFLET = WEB_DIR / "node_modules" / "leaflet" / "dist"


def settings(data_dir: Path, **over: Any) -> Settings:
    return Settings(data_dir=data_dir, secret_key="test-secret-key-that-is-long-enough-for-hs256",
                    escalation_interval_s=3600, **over)  # fmt: skip


@pytest.fixture(scope="module")
def client(sambas: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    var = tmp_path_factory.mktemp("var")
    cfg = settings(var, database_url=f"sqlite:///{var / 'rujuk.sqlite3'}")
    with TestClient(create_app(cfg, dataset=sambas)) as c:
        _seed(c.app.state.runtime)  # type: ignore[attr-defined]
        yield c


def auth(c: TestClient, user: str) -> dict[str, str]:
    r = c.post("/api/token", data={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


# ------------------------------------------------------------------------------- pages, files


@pytest.mark.parametrize("path", sorted(PAGES))
def test_every_page_is_served_in_indonesian_with_only_local_assets(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert '<html lang="id">' in r.text
    assert 'name="viewport"' in r.text
    assert "http://" not in r.text
    assert "https://" not in r.text


def test_static_files_are_gzipped_on_the_wire(client: TestClient) -> None:
    r = client.get("/static/i18n.js", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert "Rujuk pasien" in r.text
    assert client.get("/static/nothing-here.js").status_code == 404


@pytest.mark.skipif(not LEAFLET.is_dir(), reason="the map library is not installed (make setup runs npm ci)")
def test_the_map_library_comes_from_npm_at_set_up(client: TestClient) -> None:
    r = client.get("/static/vendor/leaflet/leaflet.js")
    assert r.status_code == 200
    assert r.content == (LEAFLET / "leaflet.js").read_bytes()
    assert client.get("/api/web/config").json()["map_library"] is True


def test_web_config_has_no_tile_layer_unless_configured(client: TestClient) -> None:
    cfg = client.get("/api/web/config").json()
    assert cfg["tile_url"] is None
    assert cfg["road_network_modelled"] is True
    assert cfg["service_labels"]["obgyn"]


def test_base_map_is_rujuks_own_data(client: TestClient, sambas: Dataset) -> None:
    r = client.get("/api/map/base", headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200
    doc = r.json()
    layers: dict[str, list[dict[str, Any]]] = {}
    for f in doc["features"]:
        layers.setdefault(f["properties"]["layer"], []).append(f)
    assert {f["id"] for f in layers["boundary"]} == {sambas.region.id, *(s.id for s in sambas.subregions)}
    assert {f["id"] for f in layers["facility"]} == {f.id for f in sambas.facilities}
    (roads,) = layers["roads"]
    assert roads["properties"]["modelled"] is True
    g = sambas.roads
    one_way = sum(1 for u, v in zip(g.edge_u.tolist(), g.edge_v.tolist(), strict=True) if u < v)
    assert len(roads["geometry"]["coordinates"]) == one_way
    # cached by the browser, small on the wire
    etag = r.headers["etag"]
    assert client.get("/api/map/base", headers={"If-None-Match": etag}).status_code == 304
    gz = client.get("/api/map/base", headers={"Accept-Encoding": "gzip"})
    assert gz.headers["content-encoding"] == "gzip"
    assert len(gzip.compress(r.content)) < len(r.content) / 3
    assert orjson.loads(orjson.dumps(base_map(sambas))) == doc


# ---------------------------------------------------------------------------------- ICD-10


@pytest.mark.parametrize(
    ("q", "first"),
    [("o72", "O72"), ("O72.1", "O72.1"), ("o721", "O72.1"), ("perdarahan postpartum", "O72"), ("bblr", "P07.1"),
     ("demam berdarah", "A97"), ("postpartum haemorrhage", "O72"), ("stroke", "I64"), ("pendarahan", "O72")],
)  # fmt: skip
def test_icd10_search_by_code_indonesian_or_english(client: TestClient, q: str, first: str) -> None:
    r = client.get("/api/icd10", params={"q": q, "limit": 5})
    assert r.status_code == 200
    hits = r.json()
    assert hits[0]["code"] == first, hits
    assert len(hits) <= 5
    assert all(icd.validate(h["code"]) == h["code"] for h in hits)


def test_icd10_search_errors_name_the_field(client: TestClient) -> None:
    r = client.get("/api/icd10", params={"q": ""})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "query.q"
    r = client.get("/api/icd10", params={"q": "o72", "limit": 0})
    assert r.json()["errors"][0]["field"] == "query.limit"
    assert client.get("/api/icd10", params={"q": "zzzz qqqq"}).json() == []


def test_icd10_search_prefers_the_users_field_and_refuses_an_unknown_one(client: TestClient) -> None:
    plain = client.get("/api/icd10", params={"q": "kejang", "limit": 5}).json()
    assert plain[0]["code"] == "R56"  # "Kejang" is exactly its name
    child = client.get("/api/icd10", params={"q": "kejang d", "prefer": "anak"}).json()
    assert child[0]["code"] == "R56.0"
    r = client.get("/api/icd10", params={"q": "kejang", "prefer": "obstetri"})
    assert r.status_code == 200 and r.json()[0]["code"] == "R56"  # an exact name still comes first
    r = client.get("/api/icd10", params={"q": "kejang", "prefer": "astrologi"})
    assert r.status_code == 422
    err = r.json()["errors"][0]
    assert err["field"] == "query.prefer" and "obstetri" in err["message"]


# ---------------------------------------------------------------------------------- planner


def test_example_scenarios_are_valid(client: TestClient) -> None:
    h = auth(client, "planner")
    examples = client.get("/api/plan/examples", headers=h).json()
    assert len(examples) >= 3
    for x in examples:
        r = client.post("/api/plan/scenario", json={"yaml": x["yaml"]}, headers=h)
        assert r.status_code == 200, r.text
        assert r.json()["scenario"] == x["scenario"]
    assert client.get("/api/plan/examples", headers=auth(client, "segarau")).status_code == 403


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("name: x\nchanges: [\n", "yaml", "line"),
        (
            "name: x\nchanges:\n  - close_facility: {facility: RS-X}\n",
            "yaml.changes[0].close_facility.facility",
            "RS-X",
        ),
        ("name: x\nchanges:\n  - explode: {}\n", "yaml.changes[0].explode", "Extra"),
        ("changes: []\n", "yaml.name", "required"),
    ],
)
def test_an_uploaded_scenario_with_a_mistake_is_refused_naming_it(
    client: TestClient, text: str, field: str, message: str
) -> None:
    r = client.post("/api/plan/scenario", json={"yaml": text}, headers=auth(client, "planner"))
    assert r.status_code == 422, r.text
    err = r.json()["errors"][0]
    assert err["field"].startswith(field), err
    assert message.lower() in err["message"].lower(), err


def test_plan_map_gives_each_desa_its_hospital_and_time(client: TestClient, sambas: Dataset) -> None:
    h = auth(client, "planner")
    base = client.post("/api/plan/map", json={"referrals": 2000, "seed": 3}, headers=h).json()
    assert len(base["desa"]) == len(sambas.settlements)
    colours = {x["id"]: x["colour"] for x in base["hospitals"]}
    assert len(set(colours.values())) == len(colours) or len(colours) > 12
    assert sum(x["referrals"] for x in base["hospitals"]) == sum(d["referrals"] for d in base["desa"])
    assert all(d["destination_id"] in colours for d in base["desa"] if d["destination_id"])
    closed = client.post(
        "/api/plan/map",
        json={"referrals": 2000, "seed": 3, "scenario": {"name": "c", "changes": [{"close_facility": {"facility": "6101033"}}]}},
        headers=h,
    ).json()  # fmt: skip
    assert "6101033" in colours
    assert "6101033" not in {x["id"] for x in closed["hospitals"]}
    r = client.post("/api/plan/map", json={"referrals": 0}, headers=h)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body.referrals"


def test_an_online_tile_layer_only_when_configured(sambas: Dataset, tmp_path: Path) -> None:
    url = "https://tile.example.org/{z}/{x}/{y}.png"
    cfg = settings(tmp_path, tile_url=url, tile_attribution="© OpenStreetMap contributors")
    with TestClient(create_app(cfg, dataset=sambas)) as c:
        got = c.get("/api/web/config").json()
    assert got["tile_url"] == url
    assert got["tile_attribution"] == "© OpenStreetMap contributors"


def test_without_the_map_library_the_pages_are_still_served(sambas: Dataset, tmp_path: Path) -> None:
    cfg = settings(tmp_path, web_modules_dir=tmp_path / "none")
    with TestClient(create_app(cfg, dataset=sambas)) as c:
        assert c.get("/rujuk").status_code == 200
        assert c.get("/static/vendor/leaflet/leaflet.js").status_code == 404
        assert c.get("/api/web/config").json()["map_library"] is False


def test_the_pages_json_is_compressed_for_browsers_and_nothing_else_changes(client: TestClient) -> None:
    h = auth(client, "segarau")
    body = {
        "origin_id": "PKM-SEGARAU",
        "age_years": 28,
        "sex": "female",
        "icd10": ["O72.1"],
        "emergency": True,
    }
    gz = client.post("/api/suggestions", json=body, headers={**h, "Accept-Encoding": "gzip"})
    plain = client.post("/api/suggestions", json=body, headers={**h, "Accept-Encoding": "identity"})
    assert gz.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert gz.json()["candidates"] == plain.json()["candidates"]
    assert (
        client.get("/api/facilities", headers={"Accept-Encoding": "gzip"}).headers["content-encoding"]
        == "gzip"
    )
    # routes not named are passed through untouched
    assert "content-encoding" not in client.get("/api/ping", headers={"Accept-Encoding": "gzip"}).headers
    assert "content-encoding" not in client.get("/health", headers={"Accept-Encoding": "gzip"}).headers


SECURITY = ("content-security-policy", "x-frame-options", "x-content-type-options", "referrer-policy",
            "permissions-policy")  # fmt: skip


@pytest.mark.parametrize(
    ("method", "url"),
    [("GET", "/"), ("GET", "/rujuk"), ("GET", "/api/facilities"),
     ("GET", "/api/nothing-here"), ("GET", "/api/me"), ("POST", "/api/suggestions"), ("GET", "/docs"),
     ("GET", "/openapi.json")],
)  # fmt: skip
def test_every_answer_carries_the_security_headers(client: TestClient, method: str, url: str) -> None:
    r = client.request(method, url)
    for h in SECURITY:
        assert h in r.headers, (url, h)
    csp = r.headers["content-security-policy"]
    assert (
        "script-src 'self';" in csp and "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";")[0]
    )
    assert "frame-ancestors 'none'" in csp
    # a page frames only what it made itself (the attachment viewer's PDF): no URL, no other site
    assert "frame-src blob:;" in csp and "object-src 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"


def test_an_online_tile_layer_is_the_one_image_source_from_elsewhere(sambas: Dataset, tmp_path: Path) -> None:
    cfg = settings(tmp_path, tile_url="https://{s}.tile.example.org/{z}/{x}/{y}.png")
    with TestClient(create_app(cfg, dataset=sambas)) as c:
        csp = c.get("/rujuk").headers["content-security-policy"]
    assert "img-src 'self' data: blob: https://*.tile.example.org;" in csp


@pytest.mark.skipif(
    not (WEB_DIR / "node_modules" / "swagger-ui-dist").is_dir(), reason="make setup installs Swagger UI"
)
def test_the_api_docs_come_from_this_server_not_a_cdn(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "http://" not in page.text and "https://" not in page.text and "<script>" not in page.text
    for asset in ("/static/vendor/swagger-ui/swagger-ui-bundle.js", "/static/vendor/swagger-ui/swagger-ui.css",
                  "/static/docs.js"):  # fmt: skip
        assert client.get(asset).status_code == 200, asset
    assert client.get("/redoc").status_code == 404  # ReDoc loads from a CDN: not served


def test_static_files_carry_nosniff_only(client: TestClient) -> None:
    r = client.get("/static/rujuk.js")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in r.headers  # a script is no page: the page's policy governs it
