"""The HTTP API on the bundled Sambas data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from geodata.dataset import Dataset
from service.app import create_app
from service.settings import Settings


@pytest.fixture
def client(sambas: Dataset, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=tmp_path), dataset=sambas)) as c:
        yield c


def test_health_says_the_network_is_modelled(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["dataset"] == "Kabupaten Sambas"
    assert body["road_network"]["modelled"] is True
    assert "MODELLED" in body["road_network"]["note"]


def test_facilities_list_and_filters(client: TestClient) -> None:
    all_ = client.get("/api/facilities").json()
    assert len(all_) == 40
    pkm = client.get("/api/facilities", params={"kind": "puskesmas"}).json()
    assert len(pkm) == 28
    obgyn = client.get("/api/facilities", params={"service": "obgyn", "receiving": True}).json()
    assert "6101022" in {f["id"] for f in obgyn}
    assert all("obgyn" in f["services"] for f in obgyn)
    tebas = client.get("/api/facilities", params={"kecamatan": "tebas"}).json()
    assert {f["id"] for f in tebas} == {"PKM-TEBAS", "PKM-SEGARAU", "PKM-SUNGAI-KELAMBU"}


def test_bad_filter_names_the_field(client: TestClient) -> None:
    r = client.get("/api/facilities", params={"kind": "hotel"})
    assert r.status_code == 422
    body = r.json()
    assert body["type"] == "validation_error"
    assert body["errors"][0]["field"] == "query.kind"
    assert "query.kind" in body["detail"]


def test_facilities_by_region(client: TestClient) -> None:
    ids = {f["id"] for f in client.get("/api/facilities", params={"region": "regional-3"}).json()}
    assert "PKM-SEGARAU" in ids and "6101137" in ids
    assert "PKM-TEBAS" not in ids
    assert len(ids) == 9  # 8 Puskesmas and RSUD Teluk Keramat (Pasal 12(3) huruf c)
    r = client.get("/api/facilities", params={"region": "regional-9"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "region"


def test_facility_detail_and_not_found(client: TestClient) -> None:
    f = client.get("/api/facilities/6101022").json()
    assert f["name"] == "RSUD Sambas"
    assert f["beds"]["icu"] == 6
    r = client.get("/api/facilities/NOPE")
    assert r.status_code == 404
    assert r.json() == {"type": "not_found", "detail": "no facility with id 'NOPE'"}


def test_geojson(client: TestClient) -> None:
    fc = client.get("/api/facilities.geojson").json()
    assert fc["type"] == "FeatureCollection"
    assert len(fc["features"]) == 40
    lon, lat = fc["features"][0]["geometry"]["coordinates"]
    assert 108 < lon < 110
    assert -1 < lat < 2.1


def test_facilities_carry_their_phone_or_say_none_is_known(client: TestClient) -> None:
    f = client.get("/api/facilities/6101022").json()
    assert f["phone"] == {
        "display": "(0562) 391020",
        "dial": "+62562391020",
        "tel": "tel:+62562391020",
        "kind": "main",
        "note": "nomor rumah sakit (RS Online 2021), belum diverifikasi sebagai nomor IGD",
    }
    # unknown is explicit: the key is there, null (never an empty string)
    assert "phone" in (pkm := client.get("/api/facilities/PKM-SEGARAU").json())
    assert pkm["phone"] is None
    every = client.get("/api/facilities").json()
    assert all("phone" in x for x in every)
    assert sum(x["phone"] is not None for x in every) == 9
    fc = client.get("/api/facilities.geojson").json()
    props = next(x["properties"] for x in fc["features"] if x["id"] == "6101033")
    assert props["phone"]["tel"] == "tel:+62562241203"
