"""An ambulance's trip, closed end to end: dispatched, at the pickup, transporting, at the hospital,
handed over, available again; by GPS geofences (with dwell), by the dispatcher, by the crew's
device; released before the patient is aboard; never counted twice."""

from __future__ import annotations

from typing import Any

import pytest

from tests.service.tracking.test_tracking import (
    PEMANGKAT,
    SAMBAS,
    Tr,
    _accepted_referral,
    facility_lonlat,
)

PICKUP = "PKM-SEGARAU"


def dev(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def dispatched(tr: Tr) -> tuple[str, str, str]:
    """An accepted referral from Segarau to Pemangkat, with an ambulance 3 km from the pickup."""
    rid = _accepted_referral(tr)
    amb, tok = tr.register(home=SAMBAS)
    lon, lat = facility_lonlat(tr, PICKUP)
    tr.send(amb, tok, tr.fix(lon + 0.03, lat, ago_s=5))
    r = tr.post("/api/dispatch/assign", "dispatch", json={"referral_id": rid, "ambulance_id": amb})
    assert r.status_code == 200, r.text
    return rid, amb, tok


def events(tr: Tr, rid: str) -> list[dict[str, Any]]:
    r = tr.get(f"/api/referrals/{rid}/events", "pemangkat")
    assert r.status_code == 200, r.text
    return list(r.json())


def transport(tr: Tr, rid: str, user: str = "segarau") -> dict[str, Any]:
    r = tr.get(f"/api/referrals/{rid}/transport", user)
    assert r.status_code == 200, r.text
    return dict(r.json())


def in_pool(tr: Tr, amb: str) -> bool:
    got = tr.get("/api/dispatch/nearest", "dispatch", params={"facility_id": PICKUP, "k": 20}).json()
    return amb in {a["id"] for a in got["ambulances"]}


def test_a_whole_trip_driven_by_positions(tr: Tr) -> None:
    dwell = tr.rt.settings.geofence_dwell_s
    rid, amb, tok = dispatched(tr)
    pickup, dest = facility_lonlat(tr, PICKUP), facility_lonlat(tr, PEMANGKAT)
    # dispatched: its ETA is to the pickup, and the sender sees it
    seen = transport(tr, rid)
    assert seen["ambulance"]["id"] == amb and seen["ambulance"]["status"] == "dispatched"
    assert seen["ambulance"]["eta"]["leg"] == "pickup" and seen["ambulance"]["eta"]["eta_s"] > 60
    assert not in_pool(tr, amb)
    # passing by the pickup is not arriving: inside for less than the dwell, then away
    tr.clock.advance(minutes=4)
    assert tr.send(amb, tok, tr.fix(pickup[0] + 0.0005, pickup[1])).json()["inside_s"] == 0
    tr.clock.advance(seconds=dwell / 3)
    r = tr.send(amb, tok, tr.fix(pickup[0] - 0.0005, pickup[1])).json()
    assert r.get("step") is None and r["leg"] == "pickup"
    tr.clock.advance(seconds=dwell / 3)
    r = tr.send(amb, tok, tr.fix(pickup[0] - 0.01, pickup[1])).json()  # 1 km on
    assert "inside_s" not in r and tr.board()[amb]["status"] == "dispatched"
    # back, and parked at the Puskesmas: at the pickup
    tr.clock.advance(minutes=2)
    tr.send(amb, tok, tr.fix(pickup[0] + 0.0004, pickup[1]))
    tr.clock.advance(seconds=dwell)
    r = tr.send(amb, tok, tr.fix(pickup[0] + 0.0003, pickup[1])).json()
    assert r["step"] == "at_pickup"
    assert tr.board()[amb]["status"] == "at_pickup"
    assert tr.get(f"/api/referrals/{rid}", "segarau").json()["status"] == "dispatched"
    assert events(tr, rid)[-1]["kind"] == "at_pickup"
    # leaving with the patient: transporting, the referral in transit, the ETA now to the hospital
    tr.clock.advance(minutes=10)
    r = tr.send(amb, tok, tr.fix(pickup[0] + 0.02, pickup[1] + 0.01)).json()
    assert r["step"] == "transporting" and r["leg"] == "destination" and r["destination_id"] == PEMANGKAT
    assert r["eta_s"] > 60
    assert tr.get(f"/api/referrals/{rid}", "pemangkat").json()["status"] == "in_transit"
    er = next(
        x for x in tr.get("/api/incoming", "pemangkat").json()["patients"] if x["referral"]["id"] == rid
    )
    assert er["ambulance"]["eta"]["leg"] == "destination"
    assert er["ambulance"]["eta"]["eta_s"] == pytest.approx(r["eta_s"])
    # at the hospital after the dwell: arrived, once
    tr.clock.advance(minutes=20)
    tr.send(amb, tok, tr.fix(dest[0] + 0.0005, dest[1]))
    tr.clock.advance(seconds=dwell + 1)
    r = tr.send(amb, tok, tr.fix(dest[0] + 0.0004, dest[1])).json()
    assert r["step"] == "at_hospital" and r["arrived"] is True
    tr.clock.advance(seconds=30)
    assert tr.send(amb, tok, tr.fix(dest[0] + 0.0003, dest[1])).json().get("step") is None
    assert tr.get(f"/api/referrals/{rid}", "pemangkat").json()["status"] == "arrived"
    assert [e["kind"] for e in events(tr, rid)].count("arrive") == 1
    # driving off: handed over, available again, back among the nearest
    tr.clock.advance(minutes=15)
    r = tr.send(amb, tok, tr.fix(dest[0] + 0.01, dest[1])).json()
    assert r["step"] == "handed_over"
    assert tr.board()[amb]["status"] == "available" and tr.board()[amb]["trip"] is None
    assert in_pool(tr, amb)
    assert events(tr, rid)[-1]["kind"] == "handover"
    # the trip: every step with its time and author
    (trip,) = transport(tr, rid, "pemangkat")["trips"]
    assert trip["outcome"] == "handed_over" and trip["ambulance_id"] == amb
    assert trip["dispatched_by"].startswith("user:")
    for k in ("at_pickup", "transporting", "at_hospital", "ended"):
        assert trip[f"{k}_by"] == "gps" and trip[f"{k}_at"] is not None
    times = [trip[f"{k}_at"] for k in ("dispatched", "at_pickup", "transporting", "at_hospital", "ended")]
    assert times == sorted(times)
    assert transport(tr, rid)["ambulance"] is None  # it has left this referral


def test_steps_by_the_dispatcher_and_the_crews_device(tr: Tr) -> None:
    rid, amb, tok = dispatched(tr)
    step = f"/api/ambulances/{amb}/trip"
    other, other_tok = tr.register()
    # who may: a dispatcher, or this ambulance's own device; nobody else
    assert tr.client.post(step, json={"step": "at_pickup"}).status_code == 401
    assert tr.client.post(step, json={"step": "at_pickup"}, headers=dev(other_tok)).status_code == 403
    assert tr.post(step, "segarau", json={"step": "at_pickup"}).status_code == 403
    assert tr.client.post(step, json={"step": "at_pickup"}, headers=dev("rjk_amb_nope")).status_code == 401
    r = tr.post(step, "dispatch", json={"step": "flying"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.step"
    assert tr.post("/api/ambulances/AMB-NONE/trip", "dispatch", json={"step": "at_pickup"}).status_code == 404
    # out of order: 409, nothing changes
    r = tr.post(step, "dispatch", json={"step": "at_hospital"})
    assert r.status_code == 409 and tr.board()[amb]["status"] == "dispatched"
    assert tr.post(step, "dispatch", json={"step": "at_pickup"}).json()["status"] == "at_pickup"
    assert tr.post(step, "dispatch", json={"step": "at_pickup"}).status_code == 409  # once
    r = tr.client.post(step, json={"step": "transporting"}, headers=dev(tok))
    assert r.status_code == 200 and r.json()["status"] == "transporting"
    assert tr.get(f"/api/referrals/{rid}", "segarau").json()["status"] == "in_transit"
    # transporting: cannot be freed by hand
    r = tr.patch(f"/api/ambulances/{amb}/status", "dispatch", json={"status": "available"})
    assert r.status_code == 409
    assert tr.post(step, "dispatch", json={"step": "at_hospital"}).json()["status"] == "at_hospital"
    assert tr.get(f"/api/referrals/{rid}", "segarau").json()["status"] == "arrived"
    r = tr.client.post(step, json={"step": "handed_over"}, headers=dev(tok))
    assert r.json()["status"] == "available" and r.json()["referral_id"] is None
    (trip,) = transport(tr, rid)["trips"]
    assert trip["at_pickup_by"].startswith("user:") and trip["transporting_by"] == "device"
    assert trip["at_hospital_by"].startswith("user:") and trip["ended_by"] == "device"
    assert trip["outcome"] == "handed_over"
    assert [e["kind"] for e in events(tr, rid)].count("arrive") == 1
    # every step audited
    with tr.rt.sessions() as s:
        from sqlalchemy import select

        from service.database import AuditEntry

        moves = s.scalars(
            select(AuditEntry).where(AuditEntry.entity_id == amb, AuditEntry.action == "ambulance.status")
        ).all()
    assert [m.detail["to"] for m in moves] == [
        "dispatched",
        "at_pickup",
        "transporting",
        "at_hospital",
        "available",
    ]
    assert other  # its device could not touch this ambulance


def test_arrival_recorded_by_hand_is_not_counted_again_by_gps(tr: Tr) -> None:
    rid, amb, tok = dispatched(tr)
    assert tr.post(f"/api/referrals/{rid}/depart", "dispatch").status_code == 200
    assert tr.post(f"/api/referrals/{rid}/arrive", "pemangkat").status_code == 200  # the ER: "Pasien tiba"
    assert tr.board()[amb]["status"] == "at_hospital"
    dest = facility_lonlat(tr, PEMANGKAT)
    tr.send(amb, tok, tr.fix(dest[0] + 0.0005, dest[1]))
    tr.clock.advance(seconds=tr.rt.settings.geofence_dwell_s + 5)
    assert tr.send(amb, tok, tr.fix(dest[0] + 0.0004, dest[1])).json().get("arrived") is None
    assert [e["kind"] for e in events(tr, rid)].count("arrive") == 1


def test_released_before_the_patient_is_aboard_the_referral_waits_again(tr: Tr) -> None:
    rid, amb, _ = dispatched(tr)
    status = f"/api/ambulances/{amb}/status"
    r = tr.patch(status, "dispatch", json={"status": "out_of_service"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    assert tr.board()[amb]["status"] == "dispatched"  # nothing half-written
    r = tr.patch(status, "dispatch", json={"status": "out_of_service", "reason": "mesin mati di jalan"})
    assert r.status_code == 200 and r.json()["status"] == "out_of_service"
    ref = tr.get(f"/api/referrals/{rid}", "segarau").json()
    assert ref["status"] == "accepted" and ref["ambulance_id"] is None
    waiting = tr.get("/api/referrals", "dispatch", params={"box": "transport", "status": "accepted"}).json()
    assert rid in {x["id"] for x in waiting}
    assert events(tr, rid)[-1]["kind"] == "release" and "mesin mati" in events(tr, rid)[-1]["note"]
    (trip,) = transport(tr, rid)["trips"]
    assert trip["outcome"] == "released" and trip["end_reason"] == "mesin mati di jalan"
    assert not in_pool(tr, amb)
    # another ambulance takes it
    amb2, tok2 = tr.register(home=SAMBAS)
    lon, lat = facility_lonlat(tr, PICKUP)
    tr.send(amb2, tok2, tr.fix(lon + 0.02, lat, ago_s=5))
    r = tr.post("/api/dispatch/assign", "dispatch", json={"referral_id": rid, "ambulance_id": amb2})
    assert r.status_code == 200, r.text
    assert [t["ambulance_id"] for t in transport(tr, rid)["trips"]] == [amb, amb2]
    # the first back in service
    assert tr.patch(status, "dispatch", json={"status": "available"}).json()["status_reason"] is None


def test_who_sees_a_referrals_transport(tr: Tr) -> None:
    rid, amb, _ = dispatched(tr)
    assert transport(tr, rid, "segarau")["ambulance"]["id"] == amb
    assert transport(tr, rid, "pemangkat")["ambulance"]["id"] == amb
    assert transport(tr, rid, "dispatch")["ambulance"]["id"] == amb
    assert tr.get(f"/api/referrals/{rid}/transport", "sambas").status_code == 404  # another facility
    assert tr.get(f"/api/referrals/{rid}/transport", "tebas").status_code == 404
    assert tr.client.get(f"/api/referrals/{rid}/transport").status_code == 401
    assert tr.get("/api/referrals/nope/transport", "segarau").status_code == 404


def test_an_eta_and_the_nearest_say_which_road_condition_changed_them(tr: Tr) -> None:
    _, amb, tok = dispatched(tr)
    step = f"/api/ambulances/{amb}/trip"
    assert tr.post(step, "dispatch", json={"step": "transporting"}).status_code == 200
    pickup = facility_lonlat(tr, PICKUP)
    route = tr.rt.matcher.engine.route(*pickup, PEMANGKAT).coordinates
    (x1, y1), (x2, y2) = route[len(route) // 2 - 1], route[len(route) // 2]
    r = tr.post("/api/road-conditions", "dispatch",
                json={"kind": "closed", "at": {"lon": (x1 + x2) / 2, "lat": (y1 + y2) / 2}, "reason": "Jembatan putus"})  # fmt: skip
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    tr.clock.advance(seconds=30)
    tr.send(amb, tok, tr.fix(*pickup))
    eta = tr.board()[amb]["eta"]
    assert eta["leg"] == "destination"
    assert [c["id"] for c in eta["road_conditions"]] == [cid]
    assert eta["road_conditions"][0]["text"]["id"] == "Jembatan putus (ditutup)"
    # the nearest to the hospital from the Puskesmas: the same closure named on that unit's row
    other, tok2 = tr.register(home=SAMBAS)
    tr.send(other, tok2, tr.fix(*pickup))
    got = tr.get("/api/dispatch/nearest", "dispatch", params={"facility_id": PEMANGKAT, "k": 20}).json()
    row = next(a for a in got["ambulances"] if a["id"] == other)
    assert [c["id"] for c in row["road_conditions"]] == [cid]
    assert tr.delete(f"/api/road-conditions/{cid}", "dispatch").status_code == 200
    got = tr.get("/api/dispatch/nearest", "dispatch", params={"facility_id": PEMANGKAT, "k": 20}).json()
    assert next(a for a in got["ambulances"] if a["id"] == other)["road_conditions"] == []
    tr.patch(
        f"/api/ambulances/{other}/status", "dispatch", json={"status": "out_of_service", "reason": "uji"}
    )


def test_dispatchers_do_not_read_staff_notes_of_an_arrival(tr: Tr) -> None:
    rid, _, _ = dispatched(tr)
    assert tr.post(f"/api/referrals/{rid}/depart", "dispatch").status_code == 200
    note = {"note": "Ny. S., GCS 8, perdarahan berlanjut"}
    assert tr.post(f"/api/referrals/{rid}/arrive", "pemangkat", json=note).status_code == 200
    by_er = {e["kind"]: e["note"] for e in tr.get(f"/api/referrals/{rid}/events", "pemangkat").json()}
    by_dispatch = {e["kind"]: e["note"] for e in tr.get(f"/api/referrals/{rid}/events", "dispatch").json()}
    assert "GCS 8" in by_er["arrive"] and by_dispatch["arrive"] == ""
    assert by_dispatch["dispatch"].startswith("ambulans")  # the ambulance's own notes stay
