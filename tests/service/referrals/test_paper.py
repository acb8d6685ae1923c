"""Paper referrals (Pasal 20 ayat (3)) and the traces of referrals that went elsewhere, in both
facilities' inboxes and reports."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.service.conftest import Api, create, letter_body

UTC = dt.UTC
PEMANGKAT, SAMBAS = "6101033", "6101022"


def _report(api: Api, facility: str, user: str, month: str) -> dict[str, Any]:
    r = api.get(f"/api/reports/{facility}", user, params={"month": month})
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()["indicators"]
    return out


def test_a_paper_referral_is_seen_by_the_receiver_recorded_served_and_counted_on_both_sides(api: Api) -> None:
    api.clock.now = dt.datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
    at = dt.datetime(2026, 11, 24, 19, 30, tzinfo=UTC)  # 02:30 WIB on 25 November, the network down
    before_sent = _report(api, "PKM-SEGARAU", "segarau", "2026-11")["a_referred_of_served"]["referred"]
    before_recv = _report(api, PEMANGKAT, "pemangkat", "2026-11")["b_served_of_received"]
    body = letter_body(now=at, offline={"occurred_at": at.isoformat(), "note": "Jaringan mati; surat kertas"})
    r = create(api, body=body)
    assert r.status_code == 201, r.text
    paper = r.json()
    # taken in when it happened: no answer deadline, never escalated, nothing to send
    assert paper["status"] == "accepted"
    assert paper["offline"] is True
    assert paper["times"]["created"] == paper["times"]["sent"] == at.isoformat()
    assert paper["times"]["due"] is None
    assert paper["response_time_s"] is None
    assert api.post(f"/api/referrals/{paper['id']}/send", "segarau").status_code == 409
    # the receiving hospital sees it, marked paper, with the patient, and records it served
    inbox = api.get("/api/referrals?box=inbox", "pemangkat").json()
    got = next(x for x in inbox if x["id"] == paper["id"])
    assert got["offline"] is True
    assert got["patient"]["name"] == "Siti Contoh"
    assert got["waiting_s"] is None  # nobody waits for an answer
    assert paper["id"] not in {
        x["id"] for x in api.get("/api/referrals?box=inbox&status=sent", "pemangkat").json()
    }
    for step in ("arrive", "complete"):
        r = api.post(f"/api/referrals/{paper['id']}/{step}", "pemangkat")
        assert r.status_code == 200, r.text
    # both sides count it once, in its local month
    sent = _report(api, "PKM-SEGARAU", "segarau", "2026-11")["a_referred_of_served"]["referred"]
    assert sent == before_sent + 1
    recv = _report(api, PEMANGKAT, "pemangkat", "2026-11")["b_served_of_received"]
    assert recv["received"] == before_recv["received"] + 1
    assert recv["served"] == before_recv["served"] + 1
    assert recv["paper"] == before_recv["paper"] + 1
    csv = api.get(f"/api/reports/{PEMANGKAT}", "pemangkat", params={"month": "2026-11", "format": "csv"})
    assert csv.status_code == 200
    assert "rujukan manual/luring" in csv.text


def test_a_declining_hospital_keeps_a_trace_and_counts_it_received_and_declined(api: Api) -> None:
    api.clock.now = dt.datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
    before = _report(api, PEMANGKAT, "pemangkat", "2026-11")["b_served_of_received"]
    rid = create(api, body=letter_body(now=api.clock.now)).json()["id"]
    api.post(f"/api/referrals/{rid}/send", "segarau")
    api.post(f"/api/referrals/{rid}/decline", "pemangkat", json={"reason": "Kamar operasi penuh"})
    r = api.post(f"/api/referrals/{rid}/redirect", "segarau", json={"destination_id": SAMBAS})
    assert r.status_code == 200, r.text
    api.post(f"/api/referrals/{rid}/accept", "sambas")
    # Pemangkat: a read-only trace, no patient, no letter, no action
    trace = api.get(f"/api/referrals/{rid}", "pemangkat")
    assert trace.status_code == 200
    assert "patient" not in trace.json()
    assert trace.json()["status"] == "accepted"
    assert "Siti" not in api.get(f"/api/referrals/{rid}/events", "pemangkat").text
    assert api.get(f"/api/referrals/{rid}/letter", "pemangkat").status_code == 404
    assert api.get(f"/api/referrals/{rid}/attachments", "pemangkat").status_code == 404
    assert api.post(f"/api/referrals/{rid}/arrive", "pemangkat").status_code == 403
    listed = {x["id"]: x for x in api.get("/api/referrals?box=inbox", "pemangkat").json()}
    assert "patient" not in listed[rid]
    after = _report(api, PEMANGKAT, "pemangkat", "2026-11")["b_served_of_received"]
    assert after["received"] == before["received"] + 1
    assert after["declined"] == before["declined"] + 1
    assert after["served"] == before["served"]  # served by RSUD Sambas, not here
    sambas = _report(api, SAMBAS, "sambas", "2026-11")["b_served_of_received"]
    assert sambas["served"] >= 1
    # a hospital never asked sees nothing
    assert api.get(f"/api/referrals/{rid}", "telukkeramat").status_code == 404
