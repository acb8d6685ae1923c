"""Ambulance tracking and dispatch against a real Redis (and SQLite / PostgreSQL for the rest)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from geodata.dataset import Dataset
from service.app import create_app
from service.logs import NoQueryString
from service.settings import Settings
from tests.servers import RedisProcess
from tests.service.conftest import USERS, Api, Clock, _seed, letter_body, new_key

SAMBAS, PEMANGKAT, TELUK_KERAMAT = "6101022", "6101033", "6101137"
T0 = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)


class Tr(Api):
    prefix: str = ""

    def register(self, home: str = SAMBAS, kind: str = "emergency") -> tuple[str, str]:
        amb = "AMB-" + uuid.uuid4().hex[:8]
        r = self.post("/api/ambulances", "admin", json={"id": amb, "home_facility_id": home, "kind": kind})
        assert r.status_code == 201, r.text
        return amb, r.json()["device_token"]

    def send(self, amb: str, token: str, body: Any) -> Any:
        return self.client.post(f"/api/ambulances/{amb}/positions", json=body,
                                headers={"Authorization": f"Bearer {token}"})  # fmt: skip

    def fix(self, lon: float, lat: float, *, ago_s: float = 0.0, **kw: Any) -> dict[str, Any]:
        t = self.clock.now - dt.timedelta(seconds=ago_s)
        return {"lat": lat, "lon": lon, "timestamp": t.isoformat(), **kw}

    def board(self) -> dict[str, Any]:
        r = self.get("/api/dispatch/ambulances", "dispatch")
        assert r.status_code == 200, r.text
        return {a["id"]: a for a in r.json()["ambulances"]} | {"_": r.json()}


def _app(
    database_url: str, redis_url: str, tmp: Any, sambas: Dataset, clock: Clock, **extra: Any
) -> TestClient:
    cfg = Settings(
        data_dir=tmp,
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-for-hs256",
        escalation_interval_s=3600,
        redis_url=redis_url,
        redis_prefix=f"rujuk:{{t-{uuid.uuid4().hex[:8]}}}:",
        **extra,
    )
    return TestClient(create_app(cfg, dataset=sambas, clock=clock))


@pytest.fixture(scope="module")
def tr(
    database_url: str, redis_url: str, sambas: Dataset, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tr]:
    clock = Clock(T0)
    with _app(database_url, redis_url, tmp_path_factory.mktemp("var"), sambas, clock) as c:
        a = Tr(c, clock, "sqlite" if database_url.startswith("sqlite") else "postgresql")
        _seed(a.rt)
        yield a


def facility_lonlat(tr: Tr, fid: str) -> tuple[float, float]:
    f = tr.rt.dataset.facility(fid)
    return f.location.lon, f.location.lat


# ------------------------------------------------------------------------------------ ingestion


def test_batch_out_of_order_and_duplicates(tr: Tr) -> None:
    amb, tok = tr.register()
    lon, lat = facility_lonlat(tr, SAMBAS)
    fixes = [tr.fix(lon + 0.001 * i, lat, ago_s=60 - 10 * i, speed=10.0, heading=90.0) for i in range(5)]
    shuffled = [fixes[3], fixes[0], fixes[4], fixes[1], fixes[2]]
    r = tr.send(amb, tok, {"positions": shuffled})
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == 5 and r.json()["duplicates"] == 0
    # the same fixes again, and an older one late: stored once, and the latest stays the newest
    late = tr.fix(lon - 0.01, lat, ago_s=300)
    r = tr.send(amb, tok, {"positions": [*fixes[:2], late]})
    assert r.json() == {"ambulance_id": amb, "stored": 1, "duplicates": 2, "latest_moved": False}
    pos = tr.board()[amb]["position"]
    assert pos["lon"] == pytest.approx(lon + 0.004) and pos["age_s"] == pytest.approx(20)
    assert pos["speed_ms"] == 10.0 and pos["heading"] == 90.0
    # history in time order, the late fix first
    track = tr.get(f"/api/ambulances/{amb}/track", "dispatch").json()["positions"]
    assert [p["lon"] for p in track] == pytest.approx([lon - 0.01] + [lon + 0.001 * i for i in range(5)])
    # a single position moves the latest
    r = tr.send(amb, tok, tr.fix(lon + 0.01, lat))
    assert r.json()["latest_moved"] is True
    assert tr.board()[amb]["position"]["age_s"] == 0


def test_track_replay_window(tr: Tr) -> None:
    amb, tok = tr.register()
    lon, lat = facility_lonlat(tr, PEMANGKAT)
    tr.send(amb, tok, {"positions": [tr.fix(lon, lat + 0.001 * i, ago_s=600 - 60 * i) for i in range(10)]})
    since = (tr.clock.now - dt.timedelta(seconds=450)).isoformat()
    until = (tr.clock.now - dt.timedelta(seconds=150)).isoformat()
    got = tr.get(f"/api/ambulances/{amb}/track", "dispatch", params={"since": since, "until": until}).json()
    assert "positions" in got, got
    ats = [p["at"] for p in got["positions"]]
    assert len(ats) == 5 and ats == sorted(ats)  # taken 420, 360, 300, 240 and 180 s ago
    bad = tr.get(f"/api/ambulances/{amb}/track", "dispatch", params={"since": until, "until": since})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "since"
    assert tr.get("/api/ambulances/AMB-NONE/track", "dispatch").status_code == 404


def test_osmand_protocol_as_traccar_client_sends_it(tr: Tr) -> None:
    amb, tok = tr.register()
    lon, lat = facility_lonlat(tr, TELUK_KERAMAT)
    ts = int(tr.clock.now.timestamp())
    q = {
        "id": tok,
        "lat": lat,
        "lon": lon,
        "timestamp": ts - 5,
        "speed": 20.0,
        "bearing": 45.0,
        "accuracy": 12,
    }
    r = tr.client.get("/api/osmand", params=q)
    assert r.status_code == 200, r.text
    pos = tr.board()[amb]["position"]
    assert pos["speed_ms"] == pytest.approx(20.0 * 1852 / 3600)  # knots
    assert pos["heading"] == 45.0 and pos["accuracy_m"] == 12
    # form body
    r = tr.client.post("/api/osmand", data={**q, "timestamp": ts - 2, "lat": lat + 0.001})
    assert r.status_code == 200 and r.json()["latest_moved"] is True
    # Traccar Client 9 JSON, milliseconds in ISO
    body = {"device_id": tok, "location": {"timestamp": tr.clock.now.isoformat(),
            "coords": {"latitude": lat + 0.002, "longitude": lon, "speed": 5.0, "heading": -1, "accuracy": 4}}}  # fmt: skip
    r = tr.client.post("/api/osmand", json=body)
    assert r.status_code == 200, r.text
    pos = tr.board()[amb]["position"]
    assert pos["lat"] == pytest.approx(lat + 0.002) and pos["speed_ms"] == 5.0 and pos["heading"] is None


def test_query_strings_are_not_logged() -> None:
    rec = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d', (
        "127.0.0.1:5000", "GET", "/api/osmand?id=rjk_amb_secret&lat=1", "1.1", 200), None)  # fmt: skip
    assert NoQueryString().filter(rec)
    assert "rjk_amb_secret" not in rec.getMessage()
    assert "/api/osmand?" in rec.getMessage()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"lat": NaN, "lon": 109.3, "timestamp": 1}', "body"),
        ({"lat": 91, "lon": 109.3}, "lat"),
        ({"lat": 1.2, "lon": 181}, "lon"),
        # inside [-90, 90] but outside what Redis GEO and web maps hold (was a 500 after the history
        # was written, and the device's retry was then answered "duplicate")
        ({"lat": 85.06, "lon": 109.3}, "lat"),
        ({"lat": -89.99, "lon": 109.3}, "lat"),
        ({"lat": 1.2, "lon": 109.3, "timestamp": 1e20}, "timestamp"),  # was a 500 (date overflow)
        ({"lat": 1.2, "lon": 109.3, "timestamp": "1e20"}, "timestamp"),
        ({"lat": 1.2, "lon": 109.3, "timestamp": "2099-01-01T00:00:00Z"}, "timestamp"),
        ({"lat": 1.2, "lon": 109.3, "speed": -3}, "speed"),
        ({"lat": 1.2, "lon": 109.3, "speed": 200}, "speed"),
        ({"lat": 1.2, "lon": 109.3, "heading": 400}, "heading"),
        ({"lat": 1.2, "lon": 109.3, "timestamp": "yesterday"}, "timestamp"),
        ({"lat": 1.2, "lon": 109.3, "timestamp": "2026-11-23T01:00:00"}, "timestamp"),  # no zone
        ({"lat": 1.2, "lon": 109.3, "altitude": 3}, "altitude"),
        ({"lat": "1,2", "lon": 109.3}, "lat"),
        ({"positions": []}, "positions"),
        ({"positions": [{"lat": 1.2, "lon": 109.3}, {"lat": 1.2, "lon": 999}]}, "positions[1].lon"),
    ],
)
def test_bad_positions_are_refused_and_nothing_is_stored(tr: Tr, body: Any, field: str) -> None:
    amb, tok = tr.register()
    lon, lat = facility_lonlat(tr, SAMBAS)
    assert tr.send(amb, tok, tr.fix(lon, lat, ago_s=30)).status_code == 200
    before = tr.board()[amb]["position"]
    if isinstance(body, dict):
        base = {"timestamp": tr.clock.now.isoformat()}
        if "positions" in body:
            body = {"positions": [{**base, **p} for p in body["positions"]]}
        else:
            body = {**base, **body}
        r = tr.send(amb, tok, body)
    else:
        r = tr.client.post(f"/api/ambulances/{amb}/positions", content=body,
                           headers={"Authorization": f"Bearer {tok}", "Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field
    assert tr.board()[amb]["position"] == before
    track = tr.get(f"/api/ambulances/{amb}/track", "dispatch").json()["positions"]
    assert len(track) == 1


def test_osmand_bad_inputs(tr: Tr) -> None:
    amb, tok = tr.register()
    for q, field in (
        ({"id": tok, "lat": "NaN", "lon": 109.3}, "lat"),
        ({"id": tok, "lat": 91, "lon": 109.3}, "lat"),
        ({"id": tok, "lat": 1.2, "lon": 181}, "lon"),
        ({"id": tok, "lat": 1.2, "lon": 109.3, "timestamp": 4070908800}, "timestamp"),  # 2099
        ({"id": tok, "lat": 1.2, "lon": 109.3, "speed": -1}, "speed"),
        ({"lat": 1.2, "lon": 109.3}, "id"),
    ):
        r = tr.client.get("/api/osmand", params=q)
        assert r.status_code == 422, (q, r.text)
        assert r.json()["errors"][0]["field"] == field
    assert tr.board()[amb]["position"] is None


def test_unknown_or_wrong_devices_are_refused(tr: Tr) -> None:
    a, tok_a = tr.register()
    b, tok_b = tr.register()
    fix = tr.fix(109.3, 1.2)
    assert tr.send(a, "rjk_amb_" + "x" * 43, fix).status_code == 401  # unknown device
    r = tr.send(a, tok_b, fix)  # another device's token
    assert r.status_code == 403 and "another ambulance" in r.json()["detail"]
    assert (
        tr.client.post(f"/api/ambulances/{a}/positions", json=fix, headers=tr.h("dispatch")).status_code
        == 401
    )
    assert tr.client.get("/api/osmand", params={"id": "AMB-1", "lat": 1, "lon": 109}).status_code == 401
    r = tr.client.get("/api/osmand", params={"id": tok_a, "lat": 1.2, "lon": 109.3},
                      headers={"Authorization": f"Bearer {tok_b}"})  # fmt: skip
    assert r.status_code == 403
    board = tr.board()
    assert board[a]["position"] is None and board[b]["position"] is None
    # dispatch views are for dispatchers
    assert tr.get("/api/dispatch/ambulances", "segarau").status_code == 403
    assert (
        tr.client.get("/api/dispatch/ambulances", headers={"Authorization": f"Bearer {tok_a}"}).status_code
        == 401
    )


def test_history_is_bounded(redis_url: str, sambas: Dataset, tmp_path_factory: Any) -> None:
    clock = Clock(T0)
    tmp = tmp_path_factory.mktemp("v")
    # 0.05 h: fixes older than 3 minutes are refused; at most ~180 kept per ambulance
    with _app(f"sqlite:///{tmp / 'db.sqlite3'}", redis_url, tmp, sambas, clock, track_retention_h=0.05) as c:
        t = Tr(c, clock, "x")
        _seed(t.rt)
        amb, tok = t.register()
        r = t.send(amb, tok, t.fix(109.3, 1.2, ago_s=240))
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "timestamp"
        for k in range(6):
            batch = [t.fix(109.3, 1.2 + i * 1e-5, ago_s=179 - (k * 1000 + i) * 0.01) for i in range(1000)]
            assert t.send(amb, tok, {"positions": batch}).status_code == 200
        tracker = t.rt.tracker
        assert tracker is not None
        n = redis.Redis.from_url(redis_url).xlen(tracker.track_key(amb))
        assert tracker.max_fixes <= n < tracker.max_fixes + 200  # approximate trimming: whole nodes


# ---------------------------------------------------------------------------- staleness, nearest


def test_stale_positions_are_marked_and_not_nearest(tr: Tr) -> None:
    lon, lat = facility_lonlat(tr, PEMANGKAT)
    fresh, tok_f = tr.register(home=PEMANGKAT)
    old, tok_o = tr.register(home=PEMANGKAT)
    tr.send(fresh, tok_f, tr.fix(lon + 0.05, lat, ago_s=10))
    tr.send(old, tok_o, tr.fix(lon + 0.001, lat, ago_s=600))  # closer, but 10 minutes old
    board = tr.board()
    assert board[old]["position"]["stale"] is True and board[fresh]["position"]["stale"] is False
    got = tr.get("/api/dispatch/nearest", "dispatch", params={"facility_id": PEMANGKAT, "k": 20}).json()
    ids = [a["id"] for a in got["ambulances"]]
    assert fresh in ids and old not in ids
    got = tr.get("/api/dispatch/nearest", "dispatch",
                 params={"facility_id": PEMANGKAT, "k": 20, "include_stale": True}).json()  # fmt: skip
    assert old in [a["id"] for a in got["ambulances"]]


def test_nearest_is_by_road_eta(tr: Tr) -> None:
    engine = tr.rt.matcher.engine
    ds = tr.rt.dataset
    spots = [(s.centroid.lon, s.centroid.lat) for s in ds.settlements]
    # find a pickup and two places where the nearer by straight line is the farther by road
    chosen = None
    for fac in ds.facilities:
        plon, plat = fac.location.lon, fac.location.lat
        road = engine.times_to_point([(x, y, None) for x, y in spots], plon, plat, with_distance=False)
        by_line = sorted(
            (math.dist((x, y), (plon, plat)), i) for i, (x, y) in enumerate(spots) if road[i][0] is not None
        )[:10]
        for (_, i), (_, j) in itertools.combinations(by_line, 2):
            ti, tj = road[i][0], road[j][0]
            assert ti is not None and tj is not None
            if ti > tj * 1.2:  # i is nearer in a straight line, j clearly nearer by road
                chosen = (fac.id, i, j)
                break
        if chosen:
            break
    assert chosen is not None
    fid, i_line, i_road = chosen
    a_line, tok_l = tr.register(kind="transport")
    a_road, tok_r = tr.register(kind="transport")
    tr.send(a_line, tok_l, tr.fix(*spots[i_line]))
    tr.send(a_road, tok_r, tr.fix(*spots[i_road]))
    got = tr.get(
        "/api/dispatch/nearest", "dispatch", params={"facility_id": fid, "kind": "transport", "k": 20}
    ).json()
    order = [a["id"] for a in got["ambulances"] if a["id"] in (a_line, a_road)]
    assert order == [a_road, a_line]  # by road, not by straight line
    etas = [a["eta_s"] for a in got["ambulances"]]
    assert etas == sorted(etas) and all(a["distance_m"] > 0 for a in got["ambulances"])
    assert got["road_network_modelled"] is True
    # kind filters; bad input names the field
    got = tr.get(
        "/api/dispatch/nearest", "dispatch", params={"facility_id": fid, "kind": "emergency", "k": 20}
    ).json()
    assert a_line not in [a["id"] for a in got["ambulances"]]
    r = tr.get("/api/dispatch/nearest", "dispatch", params={"facility_id": "RS-NOWHERE"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "facility_id"
    r = tr.get("/api/dispatch/nearest", "dispatch", params={"lat": 1.2})
    assert r.status_code == 422


# ---------------------------------------------------------------------------------- dispatch, ETA


def _accepted_referral(tr: Tr, *, emergency: bool = True) -> str:
    body = letter_body() if emergency else letter_body(service_type="rawat_inap", emergency=False)
    r = tr.post("/api/referrals", "segarau", json=body, headers={"Idempotency-Key": new_key()})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert tr.post(f"/api/referrals/{rid}/send", "segarau").status_code == 200
    assert tr.post(f"/api/referrals/{rid}/accept", "pemangkat").status_code == 200
    return str(rid)


def test_dispatch_eta_and_arrival_by_gps(tr: Tr) -> None:
    rid = _accepted_referral(tr)
    amb, tok = tr.register(home=SAMBAS)
    origin = facility_lonlat(tr, "PKM-SEGARAU")
    dest = facility_lonlat(tr, PEMANGKAT)
    tr.send(amb, tok, tr.fix(*origin, ago_s=5))
    r = tr.post("/api/dispatch/assign", "dispatch", json={"referral_id": rid, "ambulance_id": amb})
    assert r.status_code == 200, r.text
    assert r.json()["referral_status"] == "dispatched" and r.json()["ambulance"]["status"] == "dispatched"
    assert tr.get(f"/api/referrals/{rid}", "segarau").json()["status"] == "dispatched"
    # busy now
    r2 = tr.post(
        "/api/dispatch/assign", "dispatch", json={"referral_id": _accepted_referral(tr), "ambulance_id": amb}
    )
    assert r2.status_code == 409
    assert tr.post(f"/api/referrals/{rid}/depart", "dispatch").status_code == 200
    assert tr.board()[amb]["status"] == "transporting"
    r = tr.send(amb, tok, tr.fix(*origin, heading=None))
    assert r.json()["eta_s"] > 60 and r.json()["destination_id"] == PEMANGKAT
    first = tr.board()[amb]["eta"]
    assert first["destination_id"] == PEMANGKAT and first["eta_s"] == pytest.approx(r.json()["eta_s"])
    expected = tr.rt.matcher.engine.eta(*origin, PEMANGKAT).time_s
    assert first["eta_s"] == pytest.approx(expected)
    # closer: the ETA falls; at the door: arrived, by GPS
    tr.clock.advance(minutes=5)
    mid = ((origin[0] + dest[0]) / 2, (origin[1] + dest[1]) / 2)
    r = tr.send(amb, tok, tr.fix(*mid))
    assert r.json()["eta_s"] < first["eta_s"]
    tr.clock.advance(minutes=5)
    r = tr.send(amb, tok, tr.fix(dest[0] + 0.0005, dest[1]))
    assert "arrived" not in r.json() and r.json()["inside_s"] == 0  # at the door: the dwell starts
    tr.clock.advance(seconds=tr.rt.settings.geofence_dwell_s)
    r = tr.send(amb, tok, tr.fix(dest[0] + 0.0004, dest[1]))
    assert r.json()["arrived"] is True
    ref = tr.get(f"/api/referrals/{rid}", "pemangkat").json()
    assert ref["status"] == "arrived"
    events = tr.get(f"/api/referrals/{rid}/events", "pemangkat").json()
    assert "GPS" in events[-1]["note"]
    assert tr.board()[amb]["status"] == "at_hospital"
    # another fix at the door does nothing more
    r = tr.send(amb, tok, tr.fix(dest[0], dest[1] + 0.0001, ago_s=-1))
    assert "arrived" not in r.json()
    assert (
        tr.patch(f"/api/ambulances/{amb}/status", "dispatch", json={"status": "available"}).json()["status"]
        == "available"
    )


def test_status_rules(tr: Tr) -> None:
    amb, _ = tr.register()
    r = tr.patch(f"/api/ambulances/{amb}/status", "dispatch", json={"status": "transporting"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.status"
    r = tr.patch(
        f"/api/ambulances/{amb}/status", "dispatch", json={"status": "out_of_service", "reason": " "}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"  # out of service: say why
    r = tr.patch(
        f"/api/ambulances/{amb}/status", "dispatch", json={"status": "out_of_service", "reason": "ban bocor"}
    )
    assert r.status_code == 200 and r.json()["status_reason"] == "ban bocor"
    assert tr.board()[amb]["status_reason"] == "ban bocor"
    rid = _accepted_referral(tr)
    r = tr.post("/api/dispatch/assign", "dispatch", json={"referral_id": rid, "ambulance_id": amb})
    assert r.status_code == 409 and "out_of_service" in r.json()["detail"]
    assert (
        tr.patch(f"/api/ambulances/{amb}/status", "segarau", json={"status": "available"}).status_code == 403
    )
    assert (
        tr.patch("/api/ambulances/AMB-NONE/status", "dispatch", json={"status": "available"}).status_code
        == 404
    )


def test_batch_proposal_is_optimal(tr: Tr) -> None:
    # start from a clean board: every other ambulance out of service
    for a in tr.get("/api/ambulances", "dispatch").json():
        if a["status"] == "available":
            tr.patch(
                f"/api/ambulances/{a['id']}/status",
                "dispatch",
                json={"status": "out_of_service", "reason": "uji"},
            )
    rids = [_accepted_referral(tr, emergency=e) for e in (True, False)]
    spots = ["PKM-SAMBAS", "PKM-TEBAS", "PKM-PALOH"]
    ambs = []
    for fid in spots:
        amb, tok = tr.register()
        tr.send(amb, tok, tr.fix(*facility_lonlat(tr, fid)))
        ambs.append(amb)
    r = tr.post("/api/dispatch/proposal", "dispatch", json={"referral_ids": rids})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["unassigned"] == [] and out["ambulances_considered"] == 3
    got = {a["referral_id"]: a["ambulance_id"] for a in out["assignments"]}
    assert len(set(got.values())) == 2
    # brute force over the same road ETAs (both pickups are Puskesmas Segarau; emergency x2)
    engine = tr.rt.matcher.engine
    pickup = facility_lonlat(tr, "PKM-SEGARAU")
    eta = {
        a: engine.times_to_point([(*facility_lonlat(tr, f), None)], *pickup)[0][0]
        for a, f in zip(ambs, spots, strict=True)
    }
    best = min(2 * eta[x] + eta[y] for x, y in itertools.permutations(ambs, 2))
    assert 2 * eta[got[rids[0]]] + eta[got[rids[1]]] == pytest.approx(best)
    bad = tr.post("/api/dispatch/proposal", "dispatch", json={"referral_ids": ["nope"]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "referral_ids[0]"


# ------------------------------------------------------------------------------------ live feed


def test_live_feed_sends_positions_statuses_and_stale_alerts(tr: Tr) -> None:
    amb, tok = tr.register()
    old, tok_o = tr.register()
    lon, lat = facility_lonlat(tr, SAMBAS)
    tr.send(old, tok_o, tr.fix(lon, lat, ago_s=3600))

    def later() -> None:
        time.sleep(0.8)
        tr.send(amb, tok, tr.fix(lon, lat + 0.001))
        tr.patch(
            f"/api/ambulances/{amb}/status", "dispatch", json={"status": "out_of_service", "reason": "uji"}
        )

    th = threading.Thread(target=later)
    th.start()
    events: list[dict[str, Any]] = []
    with tr.client.stream(
        "GET", "/api/dispatch/stream", headers=tr.h("dispatch"), params={"timeout_s": 6}
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line[5:]))
                kinds = {(e["type"], e.get("ambulance_id")) for e in events}
                if {("position", amb), ("status", amb), ("stale", old)} <= kinds:
                    break
    th.join()
    kinds = {(e["type"], e.get("ambulance_id")) for e in events}
    assert {("position", amb), ("status", amb), ("stale", old)} <= kinds


# ----------------------------------------------------------------------------- Redis goes away


def test_redis_down_gives_503_then_recovers_without_restart(sambas: Dataset, tmp_path_factory: Any) -> None:
    clock = Clock(T0)
    tmp = tmp_path_factory.mktemp("v")
    with RedisProcess() as rp, _app(f"sqlite:///{tmp / 'db.sqlite3'}", rp.url, tmp, sambas, clock) as c:
        t = Tr(c, clock, "x")
        _seed(t.rt)
        amb, tok = t.register()
        assert t.send(amb, tok, t.fix(109.3, 1.2, ago_s=10)).status_code == 200
        rp.kill()
        r = t.send(amb, tok, t.fix(109.3, 1.21))
        assert r.status_code == 503 and r.headers["Retry-After"] == "5"
        assert r.json()["type"] == "positions_unavailable"
        board = t.board()
        assert board["_"]["positions_available"] is False and board[amb]["position"] is None
        assert t.get("/api/dispatch/nearest", "dispatch", params={"facility_id": SAMBAS}).status_code == 503
        # the rest of the service goes on
        s = t.post("/api/suggestions", "segarau",
                   json={"origin_id": "PKM-SEGARAU", "age_years": 30, "sex": "female", "icd10": ["O72.1"]})  # fmt: skip
        assert s.status_code == 200
        assert (
            t.post(
                "/api/referrals", "segarau", json=letter_body(), headers={"Idempotency-Key": new_key()}
            ).status_code
            == 201
        )
        rp.start()  # the same port; nothing kept
        for _ in range(50):
            r = t.send(amb, tok, t.fix(109.3, 1.22))
            if r.status_code == 200:
                break
            time.sleep(0.1)
        assert r.status_code == 200, r.text
        assert t.board()["_"]["positions_available"] is True


_ = USERS


def test_a_refused_fix_leaves_nothing_behind_and_its_retry_counts(tr: Tr) -> None:
    amb, tok = tr.register()
    lon, lat = facility_lonlat(tr, SAMBAS)
    at = tr.clock.now.isoformat()
    r = tr.send(amb, tok, {"lat": 87.0, "lon": lon, "timestamp": at})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "lat"
    r = tr.send(amb, tok, {"lat": lat, "lon": lon, "timestamp": at})  # the corrected retry, same time
    assert r.status_code == 200 and r.json()["stored"] == 1 and r.json()["latest_moved"] is True
    assert tr.board()[amb]["position"]["lat"] == lat


@pytest.mark.parametrize("lat", [86.0, -86.0, 89.9])
def test_nearest_refuses_latitudes_no_map_holds(tr: Tr, lat: float) -> None:
    r = tr.get(f"/api/dispatch/nearest?lon=109.3&lat={lat}", "dispatch")
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "query.lat"


def test_the_receiving_er_sees_accepted_patients_on_their_way_with_the_ambulances_eta(tr: Tr) -> None:
    rid = _accepted_referral(tr)

    def mine() -> dict[str, Any]:
        r = tr.get("/api/incoming", "pemangkat")
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["facility_id"] == PEMANGKAT
        return next(x for x in got["patients"] if x["referral"]["id"] == rid)

    # accepted, no ambulance yet: the road time from the Puskesmas is the estimate
    first = mine()
    assert first["ambulance"] is None
    assert first["referral"]["patient"]["name"] == "Siti Contoh"  # the receiving ER prepares for them
    expected = tr.rt.matcher.travel_from_facility("PKM-SEGARAU")[PEMANGKAT]
    assert expected is not None
    assert first["road_time_s"] == pytest.approx(expected[0], abs=0.1)
    # an ambulance assigned, then transporting: its live ETA here
    amb, tok = tr.register(home=SAMBAS)
    origin = facility_lonlat(tr, "PKM-SEGARAU")
    tr.send(amb, tok, tr.fix(*origin, ago_s=5))
    assert (
        tr.post(
            "/api/dispatch/assign", "dispatch", json={"referral_id": rid, "ambulance_id": amb}
        ).status_code
        == 200
    )
    got = mine()
    assert got["ambulance"]["id"] == amb
    assert got["ambulance"]["eta"]["leg"] == "pickup"  # not on the road to us yet: to the pickup first
    assert got["ambulance"]["eta"]["destination_id"] == "PKM-SEGARAU"
    assert tr.post(f"/api/referrals/{rid}/depart", "dispatch").status_code == 200
    sent = tr.send(amb, tok, tr.fix(*origin)).json()
    got = mine()
    assert got["referral"]["status"] == "in_transit", (sent, got)
    assert got["ambulance"]["eta"] is not None, (sent, got, tr.board()[amb])
    assert got["ambulance"]["eta"]["eta_s"] == pytest.approx(sent["eta_s"])
    assert got["ambulance"]["position"]["stale"] is False
    # other facilities, dispatchers and Puskesmas see nothing of it
    assert rid not in {x["referral"]["id"] for x in tr.get("/api/incoming", "sambas").json()["patients"]}
    assert tr.get("/api/incoming", "dispatch").status_code == 403
    assert tr.get("/api/incoming", "segarau").json()["patients"] == []
    assert tr.client.get("/api/incoming").status_code == 401
    # arrived by GPS: no longer on the way
    dest = facility_lonlat(tr, PEMANGKAT)
    tr.clock.advance(minutes=20)
    tr.send(amb, tok, tr.fix(dest[0] + 0.0005, dest[1]))
    tr.clock.advance(minutes=2)
    assert tr.send(amb, tok, tr.fix(dest[0] + 0.0004, dest[1])).json()["arrived"] is True
    assert rid not in {x["referral"]["id"] for x in tr.get("/api/incoming", "pemangkat").json()["patients"]}
