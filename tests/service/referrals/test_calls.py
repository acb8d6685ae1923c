"""Video calls inside a referral, on SQLite and PostgreSQL: ring, answer, signalling, end, history.

The two sides are the conversation's: the sender and the facility the referral is with; nobody
else reads or sends a call's signals. Start, end and participants are the referral's events.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from service.referrals.calls import RING_S, ice_servers
from service.settings import Settings
from tests.service.conftest import Api, create, letter_body


def sent(api: Api) -> str:
    r = create(api, body=letter_body(now=api.clock.now))
    assert r.status_code == 201, r.text
    rid = str(r.json()["id"])
    assert api.post(f"/api/referrals/{rid}/send", "segarau").status_code == 200
    return rid


def signals(api: Api, call_id: str, user: str) -> list[dict[str, Any]]:
    r = api.client.get(f"/api/calls/{call_id}/signals?timeout_s=0.3", headers=api.h(user))
    assert r.status_code == 200, r.text
    out = []
    for block in r.text.split("\n\n"):
        data = [line[5:].strip() for line in block.split("\n") if line.startswith("data:")]
        if data and data[0] != "{}":
            out.append(json.loads(data[0]))
    return out


def test_a_call_rings_is_answered_carries_signals_and_ends_in_the_history(api: Api) -> None:
    rid = sent(api)
    r = api.post(f"/api/referrals/{rid}/calls", "pemangkat")
    assert r.status_code == 201, r.text
    call = r.json()
    assert (call["state"], call["caller_side"], call["my_side"]) == ("ringing", "receiver", "receiver")
    assert api.post(f"/api/referrals/{rid}/calls", "segarau").status_code == 409  # one call at a time
    assert (
        api.post(f"/api/calls/{call['id']}/answer", "pemangkat").status_code == 409
    )  # the caller does not answer
    answered = api.post(f"/api/calls/{call['id']}/answer", "segarau")
    assert answered.status_code == 200, answered.text
    assert answered.json()["state"] == "active" and len(answered.json()["participants"]) == 2
    offer = {"type": "offer", "sdp": "v=0\r\n"}
    assert (
        api.post(
            f"/api/calls/{call['id']}/signals", "segarau", json={"kind": "offer", "payload": offer}
        ).status_code
        == 201
    )
    cand = {"candidate": "candidate:1 1 udp 1 10.0.0.1 5000 typ host", "sdpMid": "0"}
    assert (
        api.post(
            f"/api/calls/{call['id']}/signals", "pemangkat", json={"kind": "candidate", "payload": cand}
        ).status_code
        == 201
    )
    # each side reads only the other's signals
    assert [(s["kind"], s["payload"]) for s in signals(api, call["id"], "pemangkat")] == [("offer", offer)]
    assert [(s["kind"], s["payload"]) for s in signals(api, call["id"], "segarau")] == [("candidate", cand)]
    api.clock.advance(seconds=95)
    ended = api.post(f"/api/calls/{call['id']}/end", "segarau", json={})
    assert ended.status_code == 200 and ended.json()["state"] == "ended"
    assert (
        api.post(
            f"/api/calls/{call['id']}/signals", "segarau", json={"kind": "offer", "payload": {}}
        ).status_code
        == 409
    )
    events = api.get(f"/api/referrals/{rid}/events", "segarau").json()
    kinds = [(e["kind"], e["note"]) for e in events if e["kind"].startswith("call_")]
    assert kinds == [
        ("call_from_receiver", "pemangkat"),
        ("call_start", "pemangkat, segarau"),
        ("call_end", "95"),
    ]
    [history] = api.get(f"/api/referrals/{rid}/calls", "segarau").json()
    assert [p["name"] for p in history["participants"]] == ["pemangkat", "segarau"]
    assert all("user_id" not in p for p in history["participants"])


def test_a_call_not_answered_is_missed(api: Api) -> None:
    rid = sent(api)
    call = api.post(f"/api/referrals/{rid}/calls", "segarau").json()
    api.clock.advance(seconds=RING_S + 1)
    assert api.post(f"/api/calls/{call['id']}/answer", "pemangkat").status_code == 409
    events = api.get(f"/api/referrals/{rid}/events", "segarau").json()
    assert [(e["kind"], e["note"]) for e in events if e["kind"] == "call_end"] == [("call_end", "missed")]
    again = api.post(f"/api/referrals/{rid}/calls", "segarau")
    assert again.status_code == 201  # the line is free again
    declined = api.post(f"/api/calls/{again.json()['id']}/end", "pemangkat", json={"declined": True})
    assert declined.status_code == 200
    notes = [
        e["note"]
        for e in api.get(f"/api/referrals/{rid}/events", "segarau").json()
        if e["kind"] == "call_end"
    ]
    assert notes == ["missed", "declined"]


@pytest.mark.parametrize(
    ("user", "status"), [("tebas", 404), ("sambas", 404), ("dispatch", 404), ("planner", 404)]
)
def test_nobody_else_takes_part(api: Api, user: str, status: int) -> None:
    rid = sent(api)
    assert api.post(f"/api/referrals/{rid}/calls", user).status_code == status
    call = api.post(f"/api/referrals/{rid}/calls", "segarau").json()
    assert api.post(f"/api/calls/{call['id']}/answer", user).status_code == status
    assert (
        api.post(f"/api/calls/{call['id']}/signals", user, json={"kind": "offer", "payload": {}}).status_code
        == status
    )
    assert (
        api.client.get(f"/api/calls/{call['id']}/signals?timeout_s=0.2", headers=api.h(user)).status_code
        == status
    )
    assert api.post(f"/api/calls/{call['id']}/end", user, json={}).status_code == status
    assert api.client.post(f"/api/calls/{call['id']}/end", json={}).status_code == 401
    assert api.post(f"/api/calls/{call['id']}/end", "segarau", json={}).status_code == 200


def test_bad_input_and_closed_referrals(api: Api) -> None:
    draft = create(api, body=letter_body(now=api.clock.now)).json()["id"]
    assert api.post(f"/api/referrals/{draft}/calls", "segarau").status_code == 409
    rid = sent(api)
    call = api.post(f"/api/referrals/{rid}/calls", "segarau").json()
    r = api.post(f"/api/calls/{call['id']}/signals", "segarau", json={"kind": "video", "payload": {}})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.kind"
    r = api.post(
        f"/api/calls/{call['id']}/signals",
        "segarau",
        json={"kind": "offer", "payload": {"sdp": "x" * 30_000}},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "payload"
    assert api.post("/api/calls/not-a-call/answer", "segarau").status_code in {404, 422}
    assert api.post("/api/calls/00000000-0000-0000-0000-000000000000/answer", "segarau").status_code == 404
    assert api.post(f"/api/calls/{call['id']}/end", "admin", json={}).status_code == 403


def test_turn_credentials_are_time_limited_from_the_shared_secret() -> None:
    cfg = Settings(ice_servers='[{"urls": "stun:turn.example.id:3478"}, {"urls": ["turn:turn.example.id:3478"]}]',
                   turn_secret="s3cret")  # fmt: skip
    import datetime as dt

    now = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    stun, turn = ice_servers(cfg, "segarau", now)
    assert stun == {"urls": "stun:turn.example.id:3478"}
    expiry, user = turn["username"].split(":")
    assert user == "segarau" and int(expiry) == int(now.timestamp()) + 6 * 3600
    expected = base64.b64encode(
        hmac.new(b"s3cret", turn["username"].encode(), hashlib.sha1).digest()
    ).decode()
    assert turn["credential"] == expected
    with pytest.raises(ValueError, match="urls"):
        Settings(ice_servers='[{"urls": "http://x"}]')
