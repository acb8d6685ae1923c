"""Referrals between two real rujuk deployments on loopback: a regency's and a province's.

The regency's rujuk (A) serves every facility of the bundled dataset but one hospital, which
the province's (B) serves: a referral to it goes through A's outbox to B's FHIR API. B is down
when the first referral is sent (it waits, visibly, with its attempts and the error), then up:
the referral arrives once, B's acceptance flows back to A; a second one is declined at B, the
reason flows back, and A's sender redirecting it to a local hospital cancels it at B. Nothing is
lost or duplicated. The peers file is checked before a server starts.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from service.peers.config import PeersFileError, load_peers
from tests.service.conftest import PASSWORD, letter_body
from tests.service.test_deploy import Server, cli, make_env

PROVINCIAL = "6101033"  # the hospital served by the province's deployment in this test
LOCAL = "6101022"


def wait_for(what: str, check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.2)
    msg = f"timed out waiting for {what}"
    raise AssertionError(msg)


def send_letter(srv: Server, headers: dict[str, str]) -> str:
    body = letter_body(now=dt.datetime.now(dt.UTC), destination_id=PROVINCIAL)
    r = httpx.post(f"{srv.url}/api/referrals", json=body, headers=headers, timeout=30)
    assert r.status_code == 201, r.text
    rid = str(r.json()["id"])
    r = httpx.post(f"{srv.url}/api/referrals/{rid}/send", headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    return rid


def referral(srv: Server, rid: str, headers: dict[str, str]) -> dict[str, Any]:
    r = httpx.get(f"{srv.url}/api/referrals/{rid}", headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def inbox(srv: Server, headers: dict[str, str]) -> list[dict[str, Any]]:
    r = httpx.get(f"{srv.url}/api/referrals", params={"box": "inbox"}, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()
    return out


def test_a_referral_crosses_to_another_deployment_and_its_answer_comes_back(tmp_path: Path) -> None:
    b_peers = tmp_path / "b-peers.json"
    b_peers.write_text(json.dumps({"accounts": [{"username": "sambas-kab", "origins": ["PKM-SEGARAU"]}]}))
    b_env = make_env(tmp_path / "b", RUJUK_PEERS_FILE=str(b_peers))
    cli(b_env, "users", "create", "sambas-kab", "--role", "peer", "--password-stdin", stdin=PASSWORD + "\n")
    b = Server(b_env, workers=1)  # its port is known before it starts
    a_peers = tmp_path / "a-peers.json"
    a_peers.write_text(json.dumps({"peers": [{
        "name": "provinsi", "url": b.url, "username": "sambas-kab",
        "password_env": "RUJUK_PEER_PROVINSI_PASSWORD", "destinations": [PROVINCIAL],
    }]}))  # fmt: skip
    a_env = make_env(tmp_path / "a", RUJUK_PEERS_FILE=str(a_peers), RUJUK_PEER_PROVINSI_PASSWORD=PASSWORD,
                     RUJUK_DELIVERY_INTERVAL_S="0.2", RUJUK_DELIVERY_BACKOFF_MAX_S="1")  # fmt: skip
    a = Server(a_env, workers=1)
    try:
        a.start()
        sender = a.token("segarau")
        first = send_letter(a, sender)
        # B is down: the referral waits, with its attempts and why
        waiting = wait_for(
            "a failed attempt",
            lambda: (d := referral(a, first, sender)["delivery"]) and d["attempts"] >= 2 and d,
        )
        assert waiting["state"] == "pending" and waiting["peer"] == "provinsi"
        assert "ConnectError" in waiting["last_error"] and waiting["next_attempt_at"]
        # A's own account for the remote hospital cannot answer for it, nor talk or call for it here
        here = httpx.post(f"{a.url}/api/referrals/{first}/accept", headers=a.token("pemangkat"), timeout=10)
        assert here.status_code == 403
        talk = httpx.get(f"{a.url}/api/referrals/{first}/messages", headers=sender, timeout=10).json()
        assert talk["elsewhere"] is True and talk["can_write"] is False
        said = httpx.post(
            f"{a.url}/api/referrals/{first}/messages", headers=sender, json={"text": "halo"}, timeout=10
        )
        assert said.status_code == 409
        assert (
            httpx.post(f"{a.url}/api/referrals/{first}/calls", headers=sender, timeout=10).status_code == 409
        )
        b.start()
        receiver = b.token("pemangkat")
        wait_for("delivery", lambda: referral(a, first, sender)["delivery"]["state"] == "delivered")
        [got] = inbox(b, receiver)
        assert got["status"] == "sent" and got["origin_id"] == "PKM-SEGARAU"
        assert got["patient"]["nik"] == "6101014107980001" and got["medical"]["icd10"] == ["O72.1"]
        assert (
            httpx.post(f"{b.url}/api/referrals/{got['id']}/accept", headers=receiver, timeout=10).status_code
            == 200
        )
        wait_for("acceptance", lambda: referral(a, first, sender)["status"] == "accepted")
        events = httpx.get(f"{a.url}/api/referrals/{first}/events", headers=sender, timeout=10).json()
        assert [e["kind"] for e in events] == ["created", "send", "accept"]
        assert events[-1]["note"] == "melalui rujuk provinsi"

        # a second one is declined there; the sender redirects it here, which cancels it there
        second = send_letter(a, sender)
        wait_for("second delivery", lambda: len(inbox(b, receiver)) == 2)
        there = next(r for r in inbox(b, receiver) if r["id"] != got["id"])
        r = httpx.post(f"{b.url}/api/referrals/{there['id']}/decline", headers=receiver,
                       json={"reason": "ICU penuh"}, timeout=10)  # fmt: skip
        assert r.status_code == 200, r.text
        wait_for("decline", lambda: referral(a, second, sender)["status"] == "declined")
        assert referral(a, second, sender)["decline_reason"] == "ICU penuh"
        r = httpx.post(f"{a.url}/api/referrals/{second}/redirect", headers=sender,
                       json={"destination_id": LOCAL}, timeout=10)  # fmt: skip
        assert r.status_code == 200, r.text
        wait_for("cancelled there", lambda: referral(b, there["id"], receiver)["status"] == "cancelled")
        assert referral(a, second, sender)["delivery"]["state"] == "withdrawn"

        time.sleep(1.5)  # more ticks: nothing is delivered twice, nothing changes
        assert sorted(r["status"] for r in inbox(b, receiver)) == ["accepted", "cancelled"]
        assert referral(a, first, sender)["status"] == "accepted"
        assert referral(a, first, sender)["delivery"]["state"] == "delivered"
    finally:
        a.stop()
        b.stop()


def test_the_peers_file_is_checked(tmp_path: Path) -> None:
    f = tmp_path / "peers.json"
    facilities, receiving = ["PKM-SEGARAU", PROVINCIAL, LOCAL], [PROVINCIAL, LOCAL]
    f.write_text(json.dumps({"peers": [
        {"name": "p", "url": "http://rujuk.example.id", "username": "u", "password_env": "P",
         "destinations": ["PKM-SEGARAU"]},
        {"name": "p", "url": "https://rujuk.example.id", "username": "u", "password_env": "P",
         "destinations": [PROVINCIAL]},
    ]}))  # fmt: skip
    with pytest.raises(PeersFileError) as exc:
        load_peers(f, facilities, receiving)
    assert "peers.0.url" in str(exc.value) and "https" in str(exc.value)
    f.write_text(json.dumps({"peers": [
        {"name": "p", "url": "https://rujuk.example.id", "username": "u", "password_env": "P",
         "destinations": ["PKM-SEGARAU"]},
        {"name": "p", "url": "https://rujuk.example.id", "username": "u", "password_env": "P",
         "destinations": [PROVINCIAL]},
    ], "accounts": [{"username": "x", "origins": ["NOWHERE"]}]}))  # fmt: skip
    with pytest.raises(PeersFileError) as exc:
        load_peers(f, facilities, receiving)
    text = str(exc.value)
    assert "name 'p' is given twice" in text
    assert "peers.0.destinations.0: 'PKM-SEGARAU' is not a receiving facility" in text
    assert "accounts.0.origins.0: 'NOWHERE' is not a facility" in text
    f.write_text("{")
    with pytest.raises(PeersFileError, match="not JSON"):
        load_peers(f, facilities, receiving)
