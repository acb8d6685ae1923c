"""A midwife's referral to a hospital served by another rujuk deployment, on a phone.

Two real servers on loopback (``tests/service/test_peers.py`` has the protocol): the regency's,
where the midwife works, and the province's, which serves RSUD Pemangkat here and is down at
first. The page says, in Bahasa, that the letter waits to be delivered and is not lost, then
that it was delivered, then the hospital's acceptance, without a reload.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2 as httpx

from tests.service.conftest import PASSWORD
from tests.service.test_deploy import Server, cli, make_env
from tests.web.test_language import problems
from tests.web.test_pages import PEMANGKAT_ID, Visit, _request_suggestions, browser, pytestmark, send_letter

__all__ = ["browser", "pytestmark"]


class _Site:
    def __init__(self, url: str) -> None:
        self.url = url


def test_a_letter_to_another_deployment_waits_visibly_then_arrives_and_is_answered(
    tmp_path: Path, browser: Any
) -> None:
    b_peers = tmp_path / "b-peers.json"
    b_peers.write_text(json.dumps({"accounts": [{"username": "sambas-kab", "origins": ["PKM-SEGARAU"]}]}))
    b_env = make_env(tmp_path / "b", RUJUK_PEERS_FILE=str(b_peers))
    cli(b_env, "users", "create", "sambas-kab", "--role", "peer", "--password-stdin", stdin=PASSWORD + "\n")
    b = Server(b_env, workers=1)
    a_peers = tmp_path / "a-peers.json"
    a_peers.write_text(json.dumps({"peers": [{
        "name": "provinsi", "url": b.url, "username": "sambas-kab",
        "password_env": "RUJUK_PEER_PROVINSI_PASSWORD", "destinations": [PEMANGKAT_ID],
    }]}))  # fmt: skip
    a_env = make_env(tmp_path / "a", RUJUK_PEERS_FILE=str(a_peers), RUJUK_PEER_PROVINSI_PASSWORD=PASSWORD,
                     RUJUK_DELIVERY_INTERVAL_S="0.5", RUJUK_DELIVERY_BACKOFF_MAX_S="2")  # fmt: skip
    a = Server(a_env, workers=1)
    try:
        a.start()
        v = Visit(browser, _Site(a.url), viewport={"width": 390, "height": 844}, is_mobile=True)
        page = v.sign_in("segarau", "/rujuk")
        _request_suggestions(page)
        page.locator(f"#candidates > li[data-facility='{PEMANGKAT_ID}'] .actions button").first.click()
        send_letter(page)
        page.wait_for_selector(
            "#delivery[data-state='pending']:has-text('Menunggu terkirim')", timeout=30_000
        )
        text = page.text_content("#delivery") or ""
        assert "sistem tujuan tidak dapat dihubungi" in text and "Surat tidak hilang" in text, text
        assert problems(page.text_content("#status") or "", "id") == []
        v.shot("rujuk-antar-sistem-menunggu")
        b.start()
        page.wait_for_selector("#delivery[data-state='delivered']", timeout=30_000)
        assert "Terkirim ke sistem rujuk provinsi" in (page.text_content("#delivery") or "")
        receiver = b.token("pemangkat")
        [there] = httpx.get(
            f"{b.url}/api/referrals", params={"box": "inbox"}, headers=receiver, timeout=10
        ).json()
        r = httpx.post(f"{b.url}/api/referrals/{there['id']}/accept", headers=receiver, timeout=10)
        assert r.status_code == 200, r.text
        page.wait_for_selector("#referral-status[data-status='accepted']", timeout=30_000)
        assert problems(page.text_content("#status") or "", "id") == []
        v.shot("rujuk-antar-sistem-diterima")
        v.close()
    finally:
        a.stop()
        b.stop()
