"""Live road conditions: a road closed on the map changes suggestions and ETAs at once, lifting it
restores them exactly; bad input names the field and stores nothing; expiry; every change audited;
another worker (another host) applies a condition within the stated time."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy import select

from service.database import AuditEntry
from service.roads.sync import sync_once
from tests.service.conftest import PASSWORD, Api
from tests.service.test_deploy import Server, cli, make_env

SEGARAU = "PKM-SEGARAU"
SUGGEST = {"origin_id": SEGARAU, "age_years": 28, "sex": "female", "icd10": ["O72.1"], "emergency": True}


def suggest(api: Api) -> dict[str, Any]:
    r = api.post("/api/suggestions", "segarau", json=SUGGEST)
    assert r.status_code == 200, r.text
    return dict(r.json())


def times(s: dict[str, Any]) -> dict[str, float | None]:
    return {c["facility_id"]: c["travel_time_s"] for c in s["candidates"]}


def on_the_route(api: Api, facility_id: str) -> dict[str, float]:
    """A point in the middle of the fastest route from Segarau to the facility (on its road)."""
    f = api.rt.dataset.facility(SEGARAU)
    route = api.rt.matcher.engine.route(f.location.lon, f.location.lat, facility_id)
    pts = route.coordinates
    (x1, y1), (x2, y2) = pts[len(pts) // 2 - 1], pts[len(pts) // 2]
    return {"lon": (x1 + x2) / 2, "lat": (y1 + y2) / 2}


def test_a_closed_road_changes_the_suggestion_and_lifting_restores_it(api: Api) -> None:
    engine = api.rt.matcher.engine
    base_version = engine.version
    before = suggest(api)
    top = before["candidates"][0]["facility_id"]
    body = {"kind": "closed", "at": on_the_route(api, top), "reason": "Jembatan putus",
            "expires_at": (api.clock.now + dt.timedelta(hours=6)).isoformat()}  # fmt: skip
    r = api.post("/api/road-conditions", "dispatch", json=body)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["kind"] == "closed" and made["edges"] >= 1 and made["geometry"]["type"] == "LineString"
    assert engine.version != base_version
    during = suggest(api)
    assert during["road_network"]["version"] == engine.version
    t0, t1 = times(before)[top], times(during)[top]
    assert t0 is not None and (t1 is None or t1 > t0 + 1)  # a detour, or no road at all
    # the suggestion says so, for that hospital (and not for one whose road time did not change)
    rows = {r["facility_id"]: r for r in [*during["candidates"], *during["excluded"]]}
    said = [x for x in rows[top]["reasons"] if x["rule_id"] == "road-condition"]
    assert len(said) == 1 and "Jembatan putus (ditutup)" in said[0]["text"]["id"]
    assert said[0]["references"] == ["Pasal 4 ayat (4)"]
    for fid, t in times(during).items():
        if t is not None and t == times(before).get(fid):
            assert not [x for x in rows[fid]["reasons"] if x["rule_id"] == "road-condition"], fid
    assert not [x for r in before["candidates"] for x in r["reasons"] if x["rule_id"] == "road-condition"]
    listed = api.get("/api/road-conditions", "segarau").json()  # every signed-in user sees them
    assert [c["id"] for c in listed["conditions"]] == [made["id"]]
    assert listed["graph_version"] == engine.version
    # lifted: exactly as before
    r = api.delete(f"/api/road-conditions/{made['id']}", "planner")
    assert r.status_code == 200 and r.json()["lifted_at"] is not None
    assert engine.version == base_version
    assert times(suggest(api)) == times(before)
    assert api.get("/api/road-conditions", "dispatch").json()["conditions"] == []
    assert api.delete(f"/api/road-conditions/{made['id']}", "dispatch").status_code == 409
    with api.rt.sessions() as s:
        acts = s.scalars(select(AuditEntry.action).where(AuditEntry.entity_id == made["id"])).all()
    assert list(acts) == ["road_condition.create", "road_condition.lift"]


def test_an_area_slowed_by_a_flood(api: Api) -> None:
    f = api.rt.dataset.facility(SEGARAU)
    x, y = f.location.lon, f.location.lat
    square = {"type": "Polygon", "coordinates": [[[x - 0.05, y - 0.05], [x + 0.05, y - 0.05], [x + 0.05, y + 0.05],
                                                  [x - 0.05, y + 0.05], [x - 0.05, y - 0.05]]]}  # fmt: skip
    before = times(suggest(api))
    r = api.post("/api/road-conditions", "planner",
                 json={"kind": "slow", "factor": 3, "polygon": square, "reason": "Banjir Sungai Sambas"})  # fmt: skip
    assert r.status_code == 201, r.text
    slowed = times(suggest(api))
    assert all(slowed[k] is not None and slowed[k] > v for k, v in before.items() if v is not None)
    assert api.delete(f"/api/road-conditions/{r.json()['id']}", "dispatch").status_code == 200
    assert times(suggest(api)) == before


BAD: list[tuple[dict[str, Any], str]] = [
    ({"kind": "closed", "reason": "Jembatan putus"}, "at"),
    (
        {
            "kind": "closed",
            "at": {"lon": 109.2, "lat": 1.3},
            "polygon": {"type": "Polygon"},
            "reason": "x x x",
        },
        "at",
    ),
    ({"kind": "slow", "at": {"lon": 109.2, "lat": 1.3}, "reason": "Banjir"}, "factor"),
    ({"kind": "closed", "factor": 2, "at": {"lon": 109.2, "lat": 1.3}, "reason": "Banjir"}, "factor"),
    ({"kind": "slow", "factor": 0.5, "at": {"lon": 109.2, "lat": 1.3}, "reason": "Banjir"}, "body.factor"),
    ({"kind": "closed", "at": {"lon": 109.2, "lat": 1.3}, "reason": "x"}, "body.reason"),
    ({"kind": "closed", "at": {"lon": 200, "lat": 1.3}, "reason": "Banjir"}, "body.at.lon"),
    ({"kind": "closed", "at": {"lon": 100.0, "lat": -5.0}, "reason": "Jauh dari jalan"}, "at"),
    ({"kind": "flooded", "at": {"lon": 109.2, "lat": 1.3}, "reason": "Banjir"}, "body.kind"),
    (
        {"kind": "closed", "polygon": {"type": "Point", "coordinates": [109.2, 1.3]}, "reason": "Banjir"},
        "polygon",
    ),
    (
        {"kind": "closed", "polygon": {"type": "Polygon", "coordinates": "nope"}, "reason": "Banjir"},
        "polygon",
    ),
    (
        {
            "kind": "closed",
            "polygon": {
                "type": "Polygon",
                "coordinates": [[[100, -5], [100.01, -5], [100.01, -4.99], [100, -5]]],
            },
            "reason": "Tidak ada jalan",
        },
        "polygon",
    ),
    (
        {
            "kind": "closed",
            "at": {"lon": 109.2, "lat": 1.3},
            "reason": "Banjir",
            "expires_at": "2020-01-01T00:00:00Z",
        },
        "expires_at",
    ),
    (
        {"kind": "closed", "at": {"lon": 109.2, "lat": 1.3}, "reason": "Banjir", "until": "besok"},
        "body.until",
    ),
    (
        {
            "kind": "closed",
            "polygon": {
                "type": "Polygon",
                "coordinates": [[[10**400, 1], [109, 1.2], [109.1, 1.2], [10**400, 1]]],
            },
            "reason": "Angka terlalu besar",
        },
        "polygon",
    ),
]


@pytest.mark.parametrize(("body", "field"), BAD)
def test_bad_conditions_name_the_field_and_store_nothing(api: Api, body: dict[str, Any], field: str) -> None:
    version = api.rt.matcher.engine.version
    r = api.post("/api/road-conditions", "dispatch", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field
    assert api.get("/api/road-conditions", "dispatch").json()["conditions"] == []
    assert api.rt.matcher.engine.version == version


def test_who_may_close_a_road(api: Api) -> None:
    body = {"kind": "closed", "at": {"lon": 109.2, "lat": 1.3}, "reason": "Jembatan putus"}
    assert api.client.post("/api/road-conditions", json=body).status_code == 401
    assert api.client.get("/api/road-conditions").status_code == 401
    for who in ("segarau", "pemangkat"):
        assert api.post("/api/road-conditions", who, json=body).status_code == 403
    assert api.delete("/api/road-conditions/rc-nope", "dispatch").status_code == 404
    assert api.delete("/api/road-conditions/rc-nope", "segarau").status_code == 403
    r = api.post("/api/road-conditions", "admin", json=body)
    assert r.status_code == 201
    assert api.delete(f"/api/road-conditions/{r.json()['id']}", "segarau").status_code == 403
    assert api.delete(f"/api/road-conditions/{r.json()['id']}", "admin").status_code == 200


def test_a_condition_expires_by_itself(api: Api) -> None:
    engine = api.rt.matcher.engine
    version = engine.version
    until = api.clock.now + dt.timedelta(minutes=10)
    body = {
        "kind": "closed",
        "at": {"lon": 109.2, "lat": 1.3},
        "reason": "Perbaikan jalan",
        "expires_at": until.isoformat(),
    }
    assert api.post("/api/road-conditions", "dispatch", json=body).status_code == 201
    assert engine.version != version
    api.clock.advance(minutes=11)
    assert api.get("/api/road-conditions", "dispatch").json()["conditions"] == []
    assert sync_once(api.rt) == (0, 1)  # what every worker's loop does every road_sync_s
    assert engine.version == version


def test_a_condition_made_on_one_host_is_used_by_another_within_seconds(tmp_path: Path) -> None:
    """Two servers on one database (two hosts, or two workers): created on one, in force on the
    other within ``road_sync_s`` (+ the time to apply it); lifted likewise."""
    sync_s = 1.0
    env = make_env(tmp_path, RUJUK_ROAD_SYNC_S=str(sync_s))

    cli(env, "users", "create", "dispatch", "--role", "dispatcher", "--password-stdin", stdin=PASSWORD + "\n")
    a, b = Server(env, workers=1), Server(env, workers=1)
    a.start()
    b.start()
    try:
        dispatcher, sender = a.token("dispatch"), b.token("segarau")

        def version(server: Server, headers: dict[str, str]) -> str:
            r = httpx.get(f"{server.url}/api/road-conditions", headers=headers, timeout=10)
            assert r.status_code == 200, r.text
            return str(r.json()["graph_version"])

        base = version(b, sender)
        body = {"kind": "closed", "at": {"lon": 109.2, "lat": 1.3}, "reason": "Jembatan putus"}
        r = httpx.post(f"{a.url}/api/road-conditions", json=body, headers=dispatcher, timeout=30)
        assert r.status_code == 201, r.text
        made = time.monotonic()
        closed = version(a, dispatcher)
        assert closed != base
        while version(b, sender) != closed:
            assert time.monotonic() - made < sync_s + 5, "not in force on the other host in time"
            time.sleep(0.05)
        r = httpx.delete(f"{a.url}/api/road-conditions/{r.json()['id']}", headers=dispatcher, timeout=30)
        assert r.status_code == 200
        lifted = time.monotonic()
        while version(b, sender) != base:
            assert time.monotonic() - lifted < sync_s + 5, "not lifted on the other host in time"
            time.sleep(0.05)
    finally:
        a.stop()
        b.stop()
