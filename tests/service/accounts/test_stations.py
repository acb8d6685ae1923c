"""Stations on SQLite and PostgreSQL: a receiving facility's screen keeps its alerts without a staff
sign-in, and its secret opens nothing but its facility's feed and the count of what waits.

Registered, listed and revoked by the facility's receivers; a secret stored only as a hash,
expiring, revoked at once (an open feed ends); scoped to one facility; no patient in anything it
opens; every other route of the OpenAPI document refuses it exactly as it refuses no credential;
every registration, revocation and refused use audited without the secret.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from typing import Any

import pytest
from sqlalchemy import select

from service.accounts.stations import MAX_ACTIVE, REFUSAL_AUDIT_EVERY_S
from service.database import AuditEntry, Station
from tests.service.conftest import Api, create, letter_body

PEMANGKAT, SAMBAS = "6101033", "6101022"
#: everything of the patient the conftest's letter holds
PATIENT_STRINGS = ("Siti", "6101014107980001", "RM-000123", "1998-07-01", "Segarau Parit", "081234567890",
                   "0001234567890", "Perdarahan", "suami")  # fmt: skip
#: the two routes a station secret opens
STATION_ROUTES = {("get", "/api/stations/inbox"), ("get", "/api/stations/stream")}


def _register(api: Api, user: str = "pemangkat", name: str = "Komputer IGD") -> dict[str, Any]:
    r = api.post("/api/stations", user, json={"name": name})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def _key(secret: str) -> dict[str, str]:
    return {"X-Station-Key": secret}


def _sent(api: Api, destination: str = PEMANGKAT) -> str:
    """Segarau sends a postpartum haemorrhage to ``destination``."""
    r = create(api, body=letter_body(now=api.clock.now, destination_id=destination))
    assert r.status_code == 201, r.text
    rid = str(r.json()["id"])
    assert api.post(f"/api/referrals/{rid}/send", "segarau").status_code == 200
    return rid


def _feed(api: Api, headers: dict[str, str], url: str) -> tuple[str, list[dict[str, Any]]]:
    with api.client.stream("GET", url, headers=headers) as s:
        text = "".join(s.iter_text())
    events = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
    return text, events


def _audits(api: Api, action: str) -> list[AuditEntry]:
    with api.rt.sessions() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


# ---------------------------------------------------------------------------------- register


def test_a_receiver_registers_a_station_whose_secret_is_shown_once_and_stored_as_a_hash(api: Api) -> None:
    st = _register(api)
    assert st["secret"].startswith("rjk_stn_") and len(st["secret"]) > 40
    assert st["facility_id"] == PEMANGKAT
    assert st["state"] == "active"
    assert st["expires_at"].startswith("2026-12-22")  # 30 days (station_days) after the clock's T0
    listed = api.get("/api/stations", "pemangkat").json()
    mine = next(x for x in listed if x["id"] == st["id"])
    assert "secret" not in mine and st["secret"] not in json.dumps(listed)
    with api.rt.sessions() as s:
        row = s.get(Station, st["id"])
        assert row is not None
        assert row.secret_hash == hashlib.sha256(st["secret"].encode()).hexdigest()
        assert st["secret"] not in json.dumps([str(getattr(row, c.name)) for c in Station.__table__.columns])
    assert st["secret"] not in api.get("/api/stations", "pemangkat").text


@pytest.mark.parametrize("user", ["dispatch", "planner", "admin"])
def test_only_a_facilitys_staff_register_a_station(api: Api, user: str) -> None:
    r = api.post("/api/stations", user, json={"name": "Komputer"})
    assert r.status_code == 403, r.text  # no facility, or an admin of none


def test_a_puskesmas_station_alerts_on_its_answers_and_its_back_referrals(api: Api) -> None:
    # a Puskesmas's referring staff register its phone: the answers to its referrals and the
    # back-referrals it receives reach the feed, without the patient
    st = _register(api, "segarau", "HP bidan jaga")
    rid = _sent(api)
    assert (
        api.post(f"/api/referrals/{rid}/decline", "pemangkat", json={"reason": "ICU penuh"}).status_code
        == 200
    )
    text, events = _feed(api, _key(st["secret"]), "/api/stations/stream?after=0&timeout_s=0.3")
    assert any(e["referral_id"] == rid and e["kind"] == "decline" for e in events)
    for s in PATIENT_STRINGS:
        assert s not in text, s
    assert "ICU penuh" not in text  # no notes
    # the Puskesmas has nothing waiting for its own answer
    assert api.client.get("/api/stations/inbox", headers=_key(st["secret"])).json()["count"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "body.name"), ({"name": "   "}, "body.name"), ({"name": "x" * 65}, "body.name"),
     ({"name": "IGD\n"}, "body.name"), ({"name": "IGD", "facility_id": SAMBAS}, "body.facility_id")],
)  # fmt: skip
def test_bad_registrations_name_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    r = api.post("/api/stations", "pemangkat", json=body)
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"]


def test_without_a_staff_token_nothing_is_registered_or_listed(api: Api) -> None:
    assert api.client.post("/api/stations", json={"name": "Komputer"}).status_code == 401
    assert api.client.get("/api/stations").status_code == 401
    st = _register(api)
    # a station cannot register another station, nor list or revoke them
    for headers in (_key(st["secret"]), {"Authorization": f"Bearer {st['secret']}"}):
        assert api.client.post("/api/stations", json={"name": "x"}, headers=headers).status_code == 401
        assert api.client.get("/api/stations", headers=headers).status_code == 401
        assert api.client.delete(f"/api/stations/{st['id']}", headers=headers).status_code == 401


# ------------------------------------------------------------------------------- what it opens


def test_the_inbox_counts_whats_waiting_with_nothing_of_the_patient(api: Api) -> None:
    st = _register(api)
    rid = _sent(api)
    draft = create(api, body=letter_body(now=api.clock.now))  # never sent: not the receiver's to see
    elsewhere = _sent(api, SAMBAS)
    r = api.client.get("/api/stations/inbox", headers=_key(st["secret"]))
    assert r.status_code == 200, r.text
    box = r.json()
    staff = api.get("/api/referrals?box=inbox&status=sent&limit=100", "pemangkat").json()
    assert {x["id"] for x in box["referrals"]} == {x["id"] for x in staff}
    assert box["count"] == len(staff)
    assert rid in {x["id"] for x in box["referrals"]}
    assert draft.json()["id"] not in r.text and elsewhere not in r.text
    for item in box["referrals"]:
        assert set(item) == {"id", "origin_id", "emergency", "sent_at", "status"}
        assert item["status"] == "sent"
    assert box["station"] == {"id": st["id"], "name": "Komputer IGD", "facility_id": PEMANGKAT,
                              "expires_at": st["expires_at"]}  # fmt: skip
    for s in PATIENT_STRINGS:
        assert s not in r.text, s
    # once answered, it no longer waits
    assert (
        api.post(f"/api/referrals/{rid}/accept", "pemangkat", json={"note": "Siti ditunggu"}).status_code
        == 200
    )
    again = api.client.get("/api/stations/inbox", headers=_key(st["secret"])).json()
    assert rid not in {x["id"] for x in again["referrals"]}
    assert again["count"] == box["count"] - 1


def test_the_feed_is_the_receivers_feed_without_the_notes(api: Api) -> None:
    st = _register(api)
    rid = _sent(api)
    assert (
        api.post(f"/api/referrals/{rid}/decline", "pemangkat", json={"reason": "Siti: ICU penuh"}).status_code
        == 200
    )
    url = "/api/stations/stream?after=0&timeout_s=0.3"
    text, station_events = _feed(api, _key(st["secret"]), url)
    _, staff_events = _feed(api, api.h("pemangkat"), "/api/events/stream?after=0&timeout_s=0.3")
    assert [e["id"] for e in station_events] == [e["id"] for e in staff_events]
    assert any(e["referral_id"] == rid and e["to"] == "sent" for e in station_events)
    for e in station_events:
        assert "note" not in e
    for s in PATIENT_STRINGS:
        assert s not in text, s
    # another facility's station sees none of it
    other = _register(api, "sambas", "Komputer IGD Sambas")
    _, theirs = _feed(api, _key(other["secret"]), url)
    assert rid not in {e["referral_id"] for e in theirs}
    assert rid not in api.client.get("/api/stations/inbox", headers=_key(other["secret"])).text


def test_the_feed_resumes_after_last_event_id(api: Api) -> None:
    st = _register(api)
    first = _sent(api)
    _, events = _feed(api, _key(st["secret"]), "/api/stations/stream?after=0&timeout_s=0.3")
    last = events[-1]["id"]
    second = _sent(api)
    headers = {**_key(st["secret"]), "Last-Event-ID": str(last)}
    _, after = _feed(api, headers, "/api/stations/stream?timeout_s=0.3")
    assert {e["referral_id"] for e in after} == {second}
    assert first not in {e["referral_id"] for e in after}


# ----------------------------------------------------------------------------- revoke, expire


def test_revoking_takes_effect_at_once_and_ends_an_open_feed(api: Api) -> None:
    st = _register(api)
    got: dict[str, Any] = {}

    def listen() -> None:
        t0 = time.monotonic()
        got["text"], _ = _feed(api, _key(st["secret"]), "/api/stations/stream?timeout_s=20")
        got["took"] = time.monotonic() - t0

    listener = threading.Thread(target=listen)
    listener.start()
    time.sleep(1.0)
    r = api.client.delete(f"/api/stations/{st['id']}", headers=api.h("pemangkat"))
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "revoked"
    revoked_at = r.json()["revoked_at"]
    listener.join(timeout=15)
    assert not listener.is_alive()
    assert got["took"] < 10
    assert 'event: station\ndata: {"state": "revoked"}' in got["text"]
    r = api.client.get("/api/stations/inbox", headers=_key(st["secret"]))
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Station error="revoked"'
    assert api.client.get("/api/stations/stream?timeout_s=0.1", headers=_key(st["secret"])).status_code == 401
    # revoking again changes nothing
    again = api.client.delete(f"/api/stations/{st['id']}", headers=api.h("pemangkat"))
    assert again.status_code == 200
    assert again.json()["revoked_at"] == revoked_at
    assert sum(a.entity_id == str(st["id"]) for a in _audits(api, "station.revoke")) == 1


def test_only_the_facilitys_receivers_and_admins_list_and_revoke(api: Api) -> None:
    st = _register(api)
    other = _register(api, "sambas", "Komputer Sambas")
    assert st["id"] not in {x["id"] for x in api.get("/api/stations", "sambas").json()}
    assert api.get(f"/api/stations?facility_id={PEMANGKAT}", "sambas").status_code == 403
    assert st["id"] not in {x["id"] for x in api.get("/api/stations", "segarau").json()}
    assert api.client.delete(f"/api/stations/{st['id']}", headers=api.h("sambas")).status_code == 404
    assert api.client.delete(f"/api/stations/{st['id']}", headers=api.h("segarau")).status_code == 404
    assert api.client.delete("/api/stations/2147483647", headers=api.h("pemangkat")).status_code == 404
    assert api.client.delete("/api/stations/2147483648", headers=api.h("pemangkat")).status_code == 422
    assert api.client.get("/api/stations/inbox", headers=_key(st["secret"])).status_code == 200
    admin_sees = {x["id"] for x in api.get(f"/api/stations?facility_id={SAMBAS}", "admin").json()}
    assert other["id"] in admin_sees and st["id"] not in admin_sees
    assert st["id"] in {x["id"] for x in api.get("/api/stations", "admin").json()}
    assert api.client.delete(f"/api/stations/{other['id']}", headers=api.h("admin")).status_code == 200
    assert api.client.get("/api/stations/inbox", headers=_key(other["secret"])).status_code == 401


def test_a_station_expires_after_station_days(api: Api) -> None:
    # registered 30 days and an hour ago (the clock goes back, not forward: a staff token issued
    # after the real time is refused as not yet valid)
    before = api.clock.now
    try:
        api.clock.advance(days=-30, hours=-1)
        st = _register(api)
        key = _key(st["secret"])
        api.clock.advance(days=29, hours=23)
        assert api.client.get("/api/stations/inbox", headers=key).status_code == 200
    finally:
        api.clock.now = before
    r = api.client.get("/api/stations/inbox", headers=key)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Station error="expired"'
    assert "expired" in r.json()["detail"]
    assert api.client.get("/api/stations/stream?timeout_s=0.1", headers=key).status_code == 401
    listed = {x["id"]: x for x in api.get("/api/stations", "pemangkat").json()}
    assert listed[st["id"]]["state"] == "expired"
    fails = [a for a in _audits(api, "station.fail") if a.entity_id == str(st["id"])]
    # once: the second refusal came within the minute
    assert [a.detail["reason"] for a in fails] == ["expired"]


def test_a_facility_cannot_pile_up_stations(api: Api) -> None:
    with api.rt.sessions() as s:
        active = s.scalar(select(Station.id).where(Station.facility_id == "6101137").limit(1))
    assert active is None
    made = [_register(api, "telukkeramat", f"Layar {i}") for i in range(MAX_ACTIVE)]
    r = api.post("/api/stations", "telukkeramat", json={"name": "satu lagi"})
    assert r.status_code == 409, r.text
    assert (
        api.client.delete(f"/api/stations/{made[0]['id']}", headers=api.h("telukkeramat")).status_code == 200
    )
    assert api.post("/api/stations", "telukkeramat", json={"name": "satu lagi"}).status_code == 201


# ----------------------------------------------------------------------- it opens nothing else


def _path(template: str, known: dict[str, str]) -> str:
    """The path with its parameters filled: known ids, else ``1`` (a route added later is checked too)."""
    return re.sub(r"\{(\w+)\}", lambda m: known.get(m.group(1), "1"), template)


def test_every_other_route_refuses_a_station_secret_as_it_refuses_no_credential(api: Api) -> None:
    st = _register(api)
    rid = _sent(api)
    known = {"referral_id": rid, "facility_id": PEMANGKAT, "ambulance_id": "AMB-NONE", "station_id": str(st["id"]),
             "attachment_id": "1", "code": "O72"}  # fmt: skip
    paths = api.client.get("/openapi.json").json()["paths"]
    as_station = {
        "X-Station-Key": _key(st["secret"]),
        "Bearer": {"Authorization": f"Bearer {st['secret']}"},
        "Station scheme": {"Authorization": f"Station {st['secret']}"},
    }
    checked = 0
    for template, ops in paths.items():
        for method, op in ops.items():
            url = _path(template, known)
            if template.endswith("/stream"):
                url += "?after=0&timeout_s=0.05&max_events=1"
            body = {"json": {}} if "requestBody" in op else {}
            anonymous = api.client.request(method.upper(), url, **body)
            for how, headers in as_station.items():
                r = api.client.request(method.upper(), url, headers=headers, **body)
                if (method, template) in STATION_ROUTES and how == "X-Station-Key":
                    assert r.status_code == 200, (method, template, r.text)
                elif "security" in op or (method, template) in STATION_ROUTES:
                    assert r.status_code == 401, (how, method, template, r.status_code, r.text[:200])
                elif template.startswith("/fhir/") and how != "X-Station-Key":
                    # public FHIR reads take an optional sign-in (live status): an Authorization
                    # header that is not a valid token is refused, never read as more access
                    assert r.status_code in (anonymous.status_code, 401), (
                        how,
                        method,
                        template,
                        r.status_code,
                    )
                else:  # a public route: the secret changes nothing
                    assert r.status_code == anonymous.status_code, (how, method, template, r.status_code)
                checked += 1
    assert checked > 3 * 50
    # and the routes a station would want most are among them
    for url in (
        f"/api/referrals/{rid}",
        "/api/referrals?box=inbox",
        f"/api/referrals/{rid}/letter",
        "/api/me",
    ):
        assert api.client.get(url, headers=_key(st["secret"])).status_code == 401
    assert api.client.post(f"/api/referrals/{rid}/accept", json={"note": ""},
                           headers=_key(st["secret"])).status_code == 401  # fmt: skip
    assert api.get(f"/api/referrals/{rid}", "pemangkat").json()["status"] == "sent"


# ------------------------------------------------------------------------------- the audit log


def test_registrations_revocations_and_refusals_are_audited_without_the_secret(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    st = _register(api, name="Layar audit")
    created = [a for a in _audits(api, "station.create") if a.entity_id == str(st["id"])]
    assert len(created) == 1
    assert created[0].detail["facility"] == PEMANGKAT and created[0].detail["name"] == "Layar audit"
    assert created[0].actor_id is not None
    unknown = {"X-Station-Key": "rjk_stn_" + "x" * 43}
    n0 = len(_audits(api, "station.fail"))
    assert api.client.get("/api/stations/inbox", headers=unknown).status_code == 401
    assert api.client.get("/api/stations/inbox", headers=unknown).status_code == 401  # within the minute
    fails = _audits(api, "station.fail")
    assert len(fails) == n0 + 1
    assert fails[-1].entity_id == "-"
    assert fails[-1].detail == {"reason": "unknown", "client": "testclient", "route": "/api/stations/inbox"}
    api.clock.advance(seconds=REFUSAL_AUDIT_EVERY_S + 1)
    assert api.client.get("/api/stations/inbox", headers=unknown).status_code == 401
    assert len(_audits(api, "station.fail")) == n0 + 2
    # no key at all is not a refused station, just no credential: not audited
    assert api.client.get("/api/stations/inbox").status_code == 401
    assert len(_audits(api, "station.fail")) == n0 + 2
    assert api.client.delete(f"/api/stations/{st['id']}", headers=api.h("pemangkat")).status_code == 200
    assert api.client.get("/api/stations/inbox", headers=_key(st["secret"])).status_code == 401
    revoked = [a for a in _audits(api, "station.fail") if a.entity_id == str(st["id"])]
    assert [a.detail["reason"] for a in revoked] == ["revoked"]
    with api.rt.sessions() as s:
        every = json.dumps([[a.action, a.entity_id, a.detail] for a in s.scalars(select(AuditEntry))])
    digest = hashlib.sha256(st["secret"].encode()).hexdigest()
    assert st["secret"] not in every and digest not in every
    assert st["secret"] not in caplog.text and digest not in caplog.text
