"""Who sees which referral: every state x every principal x every route that returns referral data.

The expectation is worked out from what happened to each referral (was it ever sent to the
receiver? ever accepted?), not from the columns the service reads, so a broken rule shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests.service.conftest import Api, create, letter_body

PEMANGKAT = "6101033"
#: every principal of the conftest's users that could touch a Segarau -> Pemangkat referral
PRINCIPALS = ("admin", "segarau", "pemangkat", "sambas", "tebas", "dispatch", "planner")
#: the lifecycles walked: (name, [(action, actor, body)])
LIFECYCLES: dict[str, list[tuple[str, str, dict[str, Any] | None]]] = {
    "draft": [],
    "draft-cancelled": [("cancel", "segarau", None)],
    "sent": [("send", "segarau", None)],
    "sent-cancelled": [("send", "segarau", None), ("cancel", "segarau", None)],
    "declined": [("send", "segarau", None), ("decline", "pemangkat", {"reason": "ICU penuh"})],
    # declined, then sent on to RSUD Sambas: Pemangkat keeps a trace without the patient
    "declined-redirected": [
        ("send", "segarau", None),
        ("decline", "pemangkat", {"reason": "ICU penuh"}),
        ("redirect", "segarau", {"destination_id": "6101022"}),
    ],
    "accepted": [("send", "segarau", None), ("accept", "pemangkat", None)],
    "accepted-cancelled": [
        ("send", "segarau", None),
        ("accept", "pemangkat", None),
        ("cancel", "segarau", None),
    ],
    "dispatched": [("send", "segarau", None), ("accept", "pemangkat", None), ("dispatch", "dispatch", None)],
    "completed": [
        ("send", "segarau", None),
        ("accept", "pemangkat", None),
        ("depart", "dispatch", None),
        ("arrive", "pemangkat", None),
        ("complete", "pemangkat", None),
    ],
}


@dataclass(frozen=True)
class Made:
    id: str
    attachment: int
    sent: bool
    accepted: bool
    #: the user of the facility it was redirected to (None: it stayed at Pemangkat)
    moved_to: str | None = None


def expected(who: str, m: Made) -> tuple[bool, bool]:
    """(may read it, may see the patient, the letter and the attachments)."""
    if who in ("admin", "segarau"):
        return True, True
    if who == "pemangkat":  # once it moved on: a trace
        return m.sent, m.sent and m.moved_to is None
    if who == m.moved_to:
        return True, True
    if who == "dispatch":
        return m.accepted, False
    return False, False


@pytest.fixture(scope="module")
def made(api: Api) -> dict[str, Made]:
    out = {}
    for name, steps in LIFECYCLES.items():
        r = create(api)
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        up = api.post(f"/api/referrals/{rid}/attachments", "segarau",
                      files={"file": ("lab.txt", b"Hb 6,1 NIK 6101014107980001", "text/plain")}, data={"kind": "lab"})  # fmt: skip
        assert up.status_code == 201, up.text
        for action, actor, body in steps:
            r = api.post(f"/api/referrals/{rid}/{action}", actor, json=body)
            assert r.status_code == 200, (name, action, r.text)
        actions = {a for a, _, _ in steps}
        moved = "sambas" if "redirect" in actions else None
        out[name] = Made(rid, up.json()["id"], "send" in actions, "accept" in actions, moved)
    return out


@pytest.mark.parametrize("who", PRINCIPALS)
def test_referral_routes_follow_the_rule(api: Api, made: dict[str, Made], who: str) -> None:
    for name, m in made.items():
        read, patient = expected(who, m)
        r = api.get(f"/api/referrals/{m.id}", who)
        assert r.status_code == (200 if read else 404), (who, name, r.status_code)
        if read:
            assert ("patient" in r.json()) is patient, (who, name)
        assert api.get(f"/api/referrals/{m.id}/events", who).status_code == (200 if read else 404), (
            who,
            name,
        )
        for url in (f"/api/referrals/{m.id}/letter", f"/api/referrals/{m.id}/attachments",
                    f"/api/referrals/{m.id}/attachments/{m.attachment}"):  # fmt: skip
            got = api.get(url, who)
            assert got.status_code == (200 if patient else 404), (who, name, url, got.status_code)
            if not patient:
                assert "6101014107980001" not in got.text and "Siti" not in got.text


@pytest.mark.parametrize("who", PRINCIPALS)
def test_boxes_and_the_live_feed_follow_the_rule(api: Api, made: dict[str, Made], who: str) -> None:
    listed: set[str] = set()
    for box in ("inbox", "outbox", "transport"):
        r = api.get(f"/api/referrals?box={box}&limit=200", who)
        if r.status_code == 200:
            for j in r.json():
                listed.add(j["id"])
                if box == "transport":
                    assert "patient" not in j
    with api.client.stream("GET", "/api/events/stream?after=0&timeout_s=0.3", headers=api.h(who)) as s:
        feed = "".join(s.iter_text())
    events = [json.loads(line[6:]) for line in feed.splitlines() if line.startswith("data: ")]
    streamed = {e["referral_id"] for e in events}
    if who == "dispatch":  # the transport of accepted referrals only, and no facility's notes
        transport = {"accept", "cancel", "dispatch", "depart", "arrive", "release", "at_pickup", "handover"}
        assert all(e["kind"] in transport or e["to"] == "accepted" for e in events), events
        assert all(e["note"] == "" for e in events if e["kind"] in ("accept", "cancel", "send", "redirect"))
    for name, m in made.items():
        read, _ = expected(who, m)
        if m.id in listed:
            assert read, (who, name, "listed in a box without the right to read it")
        if who in ("segarau", "pemangkat"):  # the outbox and the inbox hold exactly what they may read
            assert (m.id in listed) is read, (who, name, "boxes")
        # the facilities' feed; dispatchers follow the transport of what they may read
        assert (m.id in streamed) is read, (who, name, "feed")


def test_a_cancelled_draft_never_reaches_the_destination(api: Api) -> None:
    """The case that was seen: NIK, name and phone readable by the destination and dispatchers."""
    rid = create(api, body=letter_body()).json()["id"]
    api.post(f"/api/referrals/{rid}/cancel", "segarau")
    for who in ("pemangkat", "dispatch"):
        assert api.get(f"/api/referrals/{rid}", who).status_code == 404
        assert api.get(f"/api/referrals/{rid}/letter", who).status_code == 404
    inbox = api.get("/api/referrals?box=inbox&status=cancelled", "pemangkat").json()
    assert rid not in {j["id"] for j in inbox}


def test_the_answer_to_a_dispatchers_action_carries_no_patient(api: Api) -> None:
    rid = create(api).json()["id"]
    for action, actor in (("send", "segarau"), ("accept", "pemangkat")):
        r = api.post(f"/api/referrals/{rid}/{action}", actor)
        assert r.status_code == 200, r.text
        assert r.json()["patient"]["nik"] == "6101014107980001"  # the two facilities see it
    for action in ("dispatch", "depart"):
        r = api.post(f"/api/referrals/{rid}/{action}", "dispatch")
        assert r.status_code == 200, r.text
        assert "patient" not in r.json()
        assert "6101014107980001" not in r.text
        assert "Siti" not in r.text


@pytest.mark.parametrize("who", PRINCIPALS)
def test_a_search_finds_the_patient_only_where_the_patient_is_shown(
    api: Api, made: dict[str, Made], who: str
) -> None:
    """By name, record number or NIK: the referrals whose patient this user sees, never one more; by
    diagnosis: every referral of the boxes."""
    ours = {m.id for m in made.values()}
    by_diagnosis: set[str] = set()
    for box in ("inbox", "outbox"):
        r = api.get(f"/api/referrals?box={box}&limit=200&q=O72.1", who)
        if r.status_code == 403:
            assert who in ("dispatch", "planner")
            continue
        by_diagnosis |= {j["id"] for j in r.json()} & ours
        for q in ("siti contoh", "RM-000123", "6101014107980001"):
            found = api.get(f"/api/referrals?box={box}&limit=200&q={q}", who).json()
            for j in found:
                assert j["patient"]["name"] == "Siti Contoh", (who, q)
            for name, m in made.items():
                if m.id in {j["id"] for j in found}:
                    assert expected(who, m)[1], (who, name, q, "found by a patient it may not see")
    for name, m in made.items():
        read, patient = expected(who, m)
        if who in ("segarau", "pemangkat"):
            assert (m.id in by_diagnosis) is read, (who, name, "found by diagnosis")
            found = {j["id"] for box in ("inbox", "outbox")
                     for j in api.get(f"/api/referrals?box={box}&limit=200&q=siti", who).json()}  # fmt: skip
            assert (m.id in found) is patient, (who, name, "found by name")
