"""The referral service end to end, on SQLite and on PostgreSQL: suggestions, the referral
lifecycle, idempotency, escalation, the inbox feed, the letter, attachments, reports, the audit."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import func, select

from service.database import AuditEntry, ReferralEvent
from service.referrals.escalation import escalation_tick
from tests.service.conftest import PPH_REQUEST, Api, create, letter_body, new_key

PEMANGKAT, SAMBAS, TELUK_KERAMAT = "6101033", "6101022", "6101137"


# ----------------------------------------------------------------------------------- suggestions


def test_suggestion_explained(api: Api) -> None:
    req = dict(PPH_REQUEST)
    s = api.post("/api/suggestions", "segarau", json=req).json()
    assert s["decision"] == "refer"
    assert s["rule_pack"]["id"] == "sambas"
    assert s["road_network"]["modelled"] is True
    first = s["candidates"][0]
    assert first["travel_time_s"] > 0 and first["distance_m"] > 0
    assert all(c["reasons"] for c in s["candidates"])
    assert any("Pasal 12 ayat (4)" in ref for r in s["reasons"] for ref in r["references"])
    tk = next(x for x in s["excluded"] if x["facility_id"] == TELUK_KERAMAT)
    assert tk["reasons"][0]["text"]["id"]
    assert s["lang"] == "id"


def test_reason_texts_in_the_language_asked_for(api: Api) -> None:
    req = dict(PPH_REQUEST)
    by_lang = {
        lang: api.post(f"/api/suggestions?lang={lang}", "segarau", json=req).json()
        for lang in ("id", "en", "all")
    }
    for lang, keys in (("id", {"id"}), ("en", {"en"}), ("all", {"id", "en"})):
        reasons = [r for c in by_lang[lang]["candidates"] for r in c["reasons"]] + by_lang[lang]["reasons"]
        assert reasons and all(set(r["text"]) == keys for r in reasons), lang
    both = by_lang["all"]["candidates"][0]["reasons"]
    assert [r["text"]["en"] for r in both] == [
        r["text"]["en"] for r in by_lang["en"]["candidates"][0]["reasons"]
    ]
    assert [r["text"]["id"] for r in both] == [
        r["text"]["id"] for r in by_lang["id"]["candidates"][0]["reasons"]
    ]
    assert both[0]["text"]["id"] != both[0]["text"]["en"]
    r = api.post("/api/suggestions?lang=fr", "segarau", json=req)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "query.lang"


def test_suggestion_input_errors(api: Api) -> None:
    req = {"origin_id": "PKM-TEBAS", "age_years": 28, "sex": "female", "icd10": ["O72.1"]}
    assert api.post("/api/suggestions", "segarau", json=req).status_code == 403  # not their facility
    bad = {**req, "origin_id": "PKM-SEGARAU", "icd10": ["Q99.99"]}
    r = api.post("/api/suggestions", "segarau", json=bad)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "icd10[0]"
    r = api.post("/api/suggestions", "segarau", json={**req, "origin_id": "PKM-SEGARAU", "age_years": "old"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body.age_years"
    r = api.post("/api/suggestions", "dispatch", json=req)
    assert r.status_code == 403


# ------------------------------------------------------------------------------------- referrals


def test_create_is_idempotent(api: Api) -> None:
    key = new_key()
    r1 = create(api, key=key)
    assert r1.status_code == 201, r1.text
    r2 = create(api, key=key)
    assert r2.status_code == 200
    assert r2.json()["id"] == r1.json()["id"]
    other = letter_body(reason="Alasan lain")
    r3 = create(api, body=other, key=key)
    assert r3.status_code == 409
    with api.rt.sessions() as s:
        n = s.scalar(
            select(func.count())
            .select_from(ReferralEvent)
            .where(ReferralEvent.referral_id == r1.json()["id"])
        )
    assert n == 1  # one "created" event: the retry wrote nothing


def test_letter_fields_are_validated(api: Api) -> None:
    body = letter_body()
    body["patient"]["nik"] = "12345"
    r = create(api, body=body)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body.patient.nik"
    body = letter_body()
    body["consent"]["explained_items"]["h"] = False
    r = create(api, body=body)
    assert r.status_code == 422
    assert "h" in r.json()["detail"] and r.json()["errors"][0]["field"] == "body.consent.explained_items"
    r = create(api, body=letter_body(destination_id="PKM-TEBAS"))
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "destination_id"
    r = create(api, body=letter_body(extra="field"))
    assert r.status_code == 422
    r = create(api, body={**letter_body(), "reason": "x" * 5000})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body.reason"


def test_full_lifecycle_with_timestamps_and_response_time(api: Api) -> None:
    ref = create(api).json()
    rid = ref["id"]
    assert ref["status"] == "created"
    assert ref["suggestion"]["rank_of_destination"] in (
        1,
        2,
    )  # Pemangkat: nearest, or second to a fresh status
    assert api.get(f"/api/referrals/{rid}", "pemangkat").status_code == 404  # not sent yet
    r = api.post(f"/api/referrals/{rid}/send", "segarau")
    assert r.json()["status"] == "sent"
    assert r.json()["times"]["due"] is not None
    inbox = api.get("/api/referrals", "pemangkat", params={"box": "inbox"}).json()
    assert rid in {x["id"] for x in inbox}
    assert api.post(f"/api/referrals/{rid}/accept", "segarau").status_code == 403  # the sender can't accept
    api.clock.advance(minutes=4)
    try:
        r = api.post(f"/api/referrals/{rid}/accept", "pemangkat", json={"note": "siap, OK"})
        assert r.status_code == 200, r.text
        assert r.json()["response_time_s"] == 240
        assert api.post(f"/api/referrals/{rid}/accept", "pemangkat").status_code == 409
        assert api.post(f"/api/referrals/{rid}/dispatch", "dispatch").json()["status"] == "dispatched"
        assert api.post(f"/api/referrals/{rid}/depart", "dispatch").json()["status"] == "in_transit"
        assert api.post(f"/api/referrals/{rid}/arrive", "pemangkat").json()["status"] == "arrived"
        done = api.post(f"/api/referrals/{rid}/complete", "pemangkat").json()
        assert done["status"] == "completed"
        assert all(
            done["times"][k]
            for k in ("created", "sent", "accepted", "dispatched", "in_transit", "arrived", "completed")
        )
        r = api.post(f"/api/referrals/{rid}/cancel", "segarau")
        assert r.status_code == 409
        assert r.json()["type"] == "invalid_transition"
    finally:
        api.clock.advance(minutes=-4)
    kinds = [e["kind"] for e in api.get(f"/api/referrals/{rid}/events", "segarau").json()]
    assert kinds == ["created", "send", "accept", "dispatch", "depart", "arrive", "complete"]


def test_other_facilities_cannot_see_or_touch(api: Api) -> None:
    rid = create(api).json()["id"]
    api.post(f"/api/referrals/{rid}/send", "segarau")
    for user in ("tebas", "sambas", "telukkeramat"):
        assert api.get(f"/api/referrals/{rid}", user).status_code == 404
        assert api.post(f"/api/referrals/{rid}/accept", user).status_code == 404
        assert rid not in {x["id"] for x in api.get("/api/referrals", user, params={"box": "inbox"}).json()}
    assert api.get(f"/api/referrals/{rid}", "dispatch").status_code == 404  # not accepted yet
    assert api.get(f"/api/referrals/{rid}/letter", "tebas").status_code == 404
    assert api.get(f"/api/referrals/{rid}", "admin").status_code == 200


def test_decline_needs_reason_is_counted_and_proposes_next(api: Api) -> None:
    rid = create(api).json()["id"]
    api.post(f"/api/referrals/{rid}/send", "segarau")
    r = api.post(f"/api/referrals/{rid}/decline", "pemangkat", json={"reason": ""})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body.reason"
    r = api.post(f"/api/referrals/{rid}/decline", "pemangkat", json={"reason": "ruang VK penuh"})
    d = r.json()
    assert d["status"] == "declined" and d["decline_count"] == 1 and d["escalation_count"] == 1
    assert d["proposed_next_id"] == next(c for c in d["suggestion"]["candidates"] if c != PEMANGKAT)
    r = api.post(f"/api/referrals/{rid}/redirect", "segarau", json={"destination_id": PEMANGKAT})
    assert r.status_code == 422  # just declined
    r = api.post(f"/api/referrals/{rid}/redirect", "segarau", json={"destination_id": d["proposed_next_id"]})
    assert r.json()["status"] == "sent"
    assert r.json()["tried"] == [PEMANGKAT, d["proposed_next_id"]]
    trace = api.get(f"/api/referrals/{rid}", "pemangkat")  # no longer theirs: a trace, no patient
    assert trace.status_code == 200
    assert "patient" not in trace.json()
    assert api.get(f"/api/referrals/{rid}/letter", "pemangkat").status_code == 404


def test_unanswered_referral_escalates_once(api: Api) -> None:
    rid = create(api).json()["id"]
    api.post(f"/api/referrals/{rid}/send", "segarau")
    api.clock.advance(minutes=14)
    try:
        assert rid not in escalation_tick(api.rt)
        api.clock.advance(minutes=2)
        first = escalation_tick(api.rt)
        again = escalation_tick(api.rt)
    finally:
        api.clock.advance(minutes=-16)
    assert rid in first and rid not in again
    ref = api.get(f"/api/referrals/{rid}", "segarau").json()
    assert ref["escalation_count"] == 1 and ref["status"] == "sent"
    assert ref["proposed_next_id"] == next(c for c in ref["suggestion"]["candidates"] if c != PEMANGKAT)
    kinds = [e["kind"] for e in api.get(f"/api/referrals/{rid}/events", "segarau").json()]
    assert kinds.count("escalated") == 1


def test_outpatient_needs_no_acceptance(api: Api) -> None:
    body = letter_body(service_type="rawat_jalan", emergency=False, destination_id=TELUK_KERAMAT)
    body["medical"]["icd10"] = ["R11"]
    rid = create(api, body=body).json()["id"]
    r = api.post(f"/api/referrals/{rid}/send", "segarau").json()
    assert r["status"] == "accepted"
    assert r["response_time_s"] is None


def test_back_referral_and_offline_entry(api: Api) -> None:
    rid = create(api).json()["id"]
    for step, user in (
        ("send", "segarau"),
        ("accept", "pemangkat"),
        ("arrive", "pemangkat"),
        ("complete", "pemangkat"),
    ):
        assert api.post(f"/api/referrals/{rid}/{step}", user).status_code == 200
    back = letter_body(destination_id="PKM-SEGARAU", back_referral_of=rid, service_type="rawat_jalan",
                       emergency=False, reason="Kontrol pasca perdarahan di Puskesmas")  # fmt: skip
    back["medical"]["icd10"] = ["O72.1"]
    # a back-referral goes to a Puskesmas, which receives no other referral (Pasal 11 ayat (2) huruf b)
    r = create(api, user="pemangkat", body=back)
    assert r.status_code == 201, r.text
    assert r.json()["back_referral_of"] == rid
    # a referral this facility did not receive cannot be referred back
    bad = letter_body(destination_id=SAMBAS, back_referral_of=rid)
    r = create(api, user="telukkeramat", body=bad)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "back_referral_of"
    off = letter_body(
        offline={"occurred_at": "2026-11-21T23:10:00+00:00", "note": "jaringan mati, surat kertas"}
    )
    o = create(api, body=off).json()
    assert o["offline"] is True
    assert o["times"]["created"].startswith("2026-11-21T23:10")
    html = api.get(f"/api/referrals/{o['id']}/letter", "segarau").text
    assert "Rujukan manual/luring, dientri kemudian (Pasal 20 ayat 3)" in html


def test_printable_letter_has_pasal_17_fields_and_escapes(api: Api) -> None:
    body = letter_body(reason="<script>alert(1)</script> perlu transfusi")
    rid = create(api, body=body).json()["id"]
    html = api.get(f"/api/referrals/{rid}/letter", "segarau").text
    for needle in ("Siti Contoh", "6101014107980001", "RM-000123", "RSUD Pemangkat", "IGD Kebidanan", "O72.1",
                   "Kompresi bimanual", "transportasi rujukan", "Alasan rujukan"[2:]):  # fmt: skip
        assert needle in html
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_inbox_stream_pushes_new_referrals(api: Api) -> None:
    with api.rt.sessions() as s:
        start = s.scalar(select(func.max(ReferralEvent.id))) or 0
    rid = create(api).json()["id"]
    api.post(f"/api/referrals/{rid}/send", "segarau")
    with api.client.stream("GET", "/api/events/stream", headers=api.h("pemangkat"),
                           params={"after": start, "max_events": 1, "timeout_s": 5}) as r:  # fmt: skip
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    data = [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]
    assert data[0]["referral_id"] == rid and data[0]["kind"] == "send"  # the "created" event is not theirs
    assert "Siti" not in text  # no patient identity in the feed


def test_every_change_is_audited_and_logs_hold_no_personal_data(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rid = create(api).json()["id"]
    api.post(f"/api/referrals/{rid}/send", "segarau")
    api.post(f"/api/referrals/{rid}/decline", "pemangkat", json={"reason": "penuh"})
    with api.rt.sessions() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.entity_id == rid).order_by(AuditEntry.id)).all()
        actions = [a.action for a in rows]
        blob = json.dumps([a.detail for a in rows])
    assert actions == ["referral.create", "referral.send", "referral.decline"]
    assert all(a.actor_id is not None for a in rows)
    for secret in ("Siti Contoh", "6101014107980001", "081234567890"):
        assert secret not in blob
        assert secret not in caplog.text


def test_reports_in_the_annex_formats(api: Api) -> None:
    assert api.put("/api/facilities/PKM-SEGARAU/volumes", "segarau",
                   json={"month": "2026-11", "patients_served": 1200}).status_code == 200  # fmt: skip
    rep = api.get("/api/reports/PKM-SEGARAU", "segarau", params={"month": "2026-11"}).json()
    assert set(rep["tables"]) == {"A.1", "A.2", "A.3", "A.4"}
    ind = rep["indicators"]
    referred = ind["a_referred_of_served"]["referred"]
    assert referred >= 1
    assert ind["a_referred_of_served"]["share"] == round(referred / 1200, 4)
    a1 = rep["tables"]["A.1"]
    obgyn = next(row for row in a1["rows"] if row[1] == "OBGYN")
    assert sum(obgyn[2:5]) == obgyn[2]  # all JKN PBI in these tests
    assert a1["rows"][-1][1] == "JUMLAH"
    assert rep["tables"]["A.2"]["rows"][0]["icd10"] == "O72.1"
    assert ind["e_response_time"]["as_sender"]["n"] >= 1
    hosp = api.get(f"/api/reports/{PEMANGKAT}", "pemangkat", params={"month": "2026-11"}).json()
    assert set(hosp["tables"]) == {"B.1", "B.2"}
    assert hosp["indicators"]["b_served_of_received"]["received"] >= 1
    assert api.get(f"/api/reports/{PEMANGKAT}", "segarau", params={"month": "2026-11"}).status_code == 403
    assert api.get(f"/api/reports/{PEMANGKAT}", "planner", params={"month": "2026-11"}).status_code == 200
    assert api.get("/api/reports/PKM-SEGARAU", "segarau", params={"month": "2026-13"}).status_code == 422
    csv_ = api.get("/api/reports/PKM-SEGARAU", "segarau", params={"month": "2026-11", "format": "csv"})
    assert csv_.headers["content-type"].startswith("text/csv")
    assert "## A.1" in csv_.text and "OBGYN" in csv_.text
    xlsx = api.get("/api/reports/PKM-SEGARAU", "segarau", params={"month": "2026-11", "format": "xlsx"})
    assert xlsx.content[:2] == b"PK"
    import io

    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(xlsx.content))
    assert wb.sheetnames == ["Indikator", "A.1", "A.2", "A.3", "A.4"]


def test_attachments_limits_and_scope(api: Api) -> None:
    rid = create(api).json()["id"]
    pdf = b"%PDF-1.4 hasil lab Hb 6.1 g/dL"
    r = api.post(f"/api/referrals/{rid}/attachments", "segarau", files={"file": ("lab.pdf", pdf, "application/pdf")},
                 data={"kind": "lab"})  # fmt: skip
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    r = api.post(
        f"/api/referrals/{rid}/attachments",
        "segarau",
        files={"file": ("x.exe", b"MZ", "application/x-msdownload")},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"
    big = b"0" * (5 * 1024 * 1024 + 1)
    r = api.post(
        f"/api/referrals/{rid}/attachments", "segarau", files={"file": ("big.pdf", big, "application/pdf")}
    )
    assert r.status_code == 413
    api.post(f"/api/referrals/{rid}/send", "segarau")
    assert api.post(f"/api/referrals/{rid}/attachments", "pemangkat",
                    files={"file": ("y.pdf", pdf, "application/pdf")}).status_code == 403  # fmt: skip
    listed = api.get(f"/api/referrals/{rid}/attachments", "pemangkat").json()
    assert [(a["kind"], a["size"]) for a in listed] == [("lab", len(pdf))]
    assert api.get(f"/api/referrals/{rid}/attachments/{aid}", "pemangkat").content == pdf
    assert api.get(f"/api/referrals/{rid}/attachments/{aid}", "tebas").status_code == 404
