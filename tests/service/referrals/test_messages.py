"""A referral's conversation, on SQLite and PostgreSQL: who reads and writes, the live feed, unread counts.

The visibility is the referral's: the sender and the facility it is with (its own thread only);
a facility that declined loses the talk with the patient; dispatchers, planners, other
facilities see nothing (404, as for a referral that does not exist); admins read, never write.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.service.conftest import Api, create, letter_body

PEMANGKAT, SAMBAS = "6101033", "6101022"


def sent(api: Api) -> str:
    r = create(api, body=letter_body(now=api.clock.now))
    assert r.status_code == 201, r.text
    rid = str(r.json()["id"])
    assert api.post(f"/api/referrals/{rid}/send", "segarau").status_code == 200
    return rid


def say(api: Api, rid: str, user: str, **body: Any) -> Any:
    return api.post(f"/api/referrals/{rid}/messages", user, json=body)


def thread(api: Api, rid: str, user: str) -> dict[str, Any]:
    r = api.get(f"/api/referrals/{rid}/messages", user)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def unread(api: Api, user: str, box: str, rid: str) -> int:
    rows = api.get(f"/api/referrals?box={box}&limit=200", user).json()
    return int(next(r["unread_messages"] for r in rows if r["id"] == rid))


def test_the_two_sides_talk_before_the_answer(api: Api) -> None:
    rid = sent(api)
    r = say(api, rid, "pemangkat", quick="send_lab", text="Hb terakhir berapa?")
    assert r.status_code == 201, r.text
    assert r.json()["side"] == "receiver" and r.json()["mine"] is True
    assert unread(api, "segarau", "outbox", rid) == 1
    got = thread(api, rid, "segarau")
    assert [(m["side"], m["quick"], m["text"]) for m in got["messages"]] == [
        ("receiver", "send_lab", "Hb terakhir berapa?")
    ]
    assert got["can_write"] and got["side"] == "sender"
    newest = got["messages"][-1]["id"]
    assert api.post(f"/api/referrals/{rid}/messages/read", "segarau", json={"up_to": newest}).json() == {
        "read_up_to": newest
    }
    assert unread(api, "segarau", "outbox", rid) == 0
    assert say(api, rid, "segarau", text="Hb 7,2 jam 01.30").status_code == 201
    assert unread(api, "pemangkat", "inbox", rid) == 1
    # the live feed carries an event per message to both sides, without the text
    events = api.get(f"/api/referrals/{rid}/events", "pemangkat").json()
    assert [e["kind"] for e in events][-2:] == ["msg_receiver", "msg_sender"]
    assert all(e["note"] == "" for e in events if e["kind"].startswith("msg_"))


@pytest.mark.parametrize(("user", "status"), [("tebas", 404), ("sambas", 404), ("dispatch", 404),
                                              ("planner", 404), (None, 401)])  # fmt: skip
def test_nobody_else_reads_or_writes(api: Api, user: str | None, status: int) -> None:
    rid = sent(api)
    assert say(api, rid, "segarau", text="Mohon dibalas segera").status_code == 201
    if user is None:
        assert api.client.get(f"/api/referrals/{rid}/messages").status_code == 401
        return
    assert api.get(f"/api/referrals/{rid}/messages", user).status_code == status
    assert say(api, rid, user, text="halo").status_code == status


def test_an_admin_reads_but_does_not_write(api: Api) -> None:
    rid = sent(api)
    assert say(api, rid, "segarau", text="Pasien gelisah").status_code == 201
    assert [m["text"] for m in thread(api, rid, "admin")["messages"]] == ["Pasien gelisah"]
    assert thread(api, rid, "admin")["can_write"] is False
    assert say(api, rid, "admin", text="x").status_code == 403


def test_after_a_redirect_the_next_facility_has_its_own_thread(api: Api) -> None:
    rid = sent(api)
    assert say(api, rid, "pemangkat", quick="room_full", text="RSUD Sambas").status_code == 201
    assert (
        api.post(f"/api/referrals/{rid}/decline", "pemangkat", json={"reason": "ICU penuh"}).status_code
        == 200
    )
    assert (
        api.post(f"/api/referrals/{rid}/redirect", "segarau", json={"destination_id": SAMBAS}).status_code
        == 200
    )
    # the facility that declined keeps a trace of the referral, not of the talk
    assert api.get(f"/api/referrals/{rid}/messages", "pemangkat").status_code == 404
    assert say(api, rid, "pemangkat", text="x").status_code == 404
    assert thread(api, rid, "sambas")["messages"] == []
    assert say(api, rid, "sambas", quick="can_accept", text="ICU bed 3").status_code == 201
    sender = thread(api, rid, "segarau")["messages"]
    assert [(m["destination_id"], m["quick"]) for m in sender] == [
        (PEMANGKAT, "room_full"),
        (SAMBAS, "can_accept"),
    ]


def test_states_and_bad_input(api: Api) -> None:
    draft = create(api, body=letter_body(now=api.clock.now)).json()["id"]
    r = say(api, draft, "segarau", text="belum terkirim")
    assert r.status_code == 409
    rid = sent(api)
    r = say(api, rid, "segarau")
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "empty_message"
    r = say(api, rid, "segarau", quick="tolong")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.quick"
    r = say(api, rid, "segarau", text="x" * 2001)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.text"
    r = say(api, rid, "segarau", attachment_id=999999)
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "unknown_attachment"
    assert api.post(f"/api/referrals/{rid}/cancel", "segarau").status_code == 200
    assert say(api, rid, "segarau", text="sudah batal").status_code == 409
    assert thread(api, rid, "segarau")["can_write"] is False


def test_the_text_is_sealed_at_rest_and_audited_without_it(api: Api) -> None:
    rid = sent(api)
    assert say(api, rid, "segarau", text="Siti Contoh NIK 6101014107980001").status_code == 201
    with api.rt.engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT content FROM messages ORDER BY id DESC LIMIT 1").scalar_one()
        audit = conn.exec_driver_sql(
            "SELECT detail FROM audit_log WHERE action = 'referral.message' ORDER BY id DESC LIMIT 1"
        ).scalar_one()
    assert "6101014107980001" not in str(raw) and "Siti" not in str(raw)
    assert "6101014107980001" not in str(audit) and "Siti" not in str(audit)
