"""A mass-casualty incident's ambulances go in waves, the reds first (the batch proposal weighs an
incident's casualties by triage)."""

from __future__ import annotations

from tests.service.tracking.test_tracking import SAMBAS, Tr, facility_lonlat


def test_one_free_ambulance_takes_the_red_casualty_first(tr: Tr) -> None:
    r = tr.patch("/api/facilities/6101033/status", "pemangkat", json={"beds_available": {"general": 8}})
    assert r.status_code == 200, r.text
    tr.rt.statuses.forget()
    cs = [{"triage": t, "age_years": 30, "sex": "male", "icd10": ["T07"]} for t in ("green", "yellow", "red")]
    body = {"name": "Bus terbalik", "kind": "accident", "facility_id": "PKM-SEGARAU", "casualties": cs}
    inc = tr.post("/api/incidents", "dispatch", json=body).json()
    assert tr.post(f"/api/incidents/{inc['id']}/plan", "dispatch").status_code == 200
    board = tr.post(f"/api/incidents/{inc['id']}/send", "dispatch").json()
    red = next(c["referral"]["id"] for c in board["casualties"] if c["triage"] == "red")
    ids = [c["referral"]["id"] for c in board["casualties"]]
    for rid in ids:
        assert tr.post(f"/api/referrals/{rid}/accept", "pemangkat").status_code == 200
    for a in tr.get("/api/ambulances", "dispatch").json():  # only the one below is free
        tr.patch(
            f"/api/ambulances/{a['id']}/status",
            "dispatch",
            json={"status": "out_of_service", "reason": "uji"},
        )
    amb, tok = tr.register(home=SAMBAS)
    lon, lat = facility_lonlat(tr, "PKM-SEGARAU")
    tr.send(amb, tok, tr.fix(lon + 0.01, lat, ago_s=1))
    r = tr.post("/api/dispatch/proposal", "dispatch", json={"referral_ids": ids})
    assert r.status_code == 200, r.text
    assert [a["referral_id"] for a in r.json()["assignments"]] == [red]
    assert len(r.json()["unassigned"]) == 2
