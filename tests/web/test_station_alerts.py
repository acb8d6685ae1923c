"""The receiving ER's alerts never depend on a live sign-in: with staff tokens of one minute, the
page signed in once still raises the banner, the "(1)" in the tab title and the sound for a new
emergency referral after the token has expired, without a password typed; the patient's details
wait for a sign-in; a revoked station is told in Bahasa Indonesia and the live indicator says the
truth. The real server (``rujuk serve``) and Debian's headless Chromium, as in ``test_pages``."""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.service.conftest import PASSWORD
from tests.service.test_deploy import Server, cli
from tests.web.test_pages import CHROMIUM, LEAFLET, PEMANGKAT_ID, Site, Visit, browser, wait_js

__all__ = ["browser"]  # the Chromium fixture, shared with test_pages

pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None and os.environ.get("RUJUK_TEST_REQUIRE_BROWSER") != "1",
        reason="Chromium is not installed (apt-get install chromium)",
    ),
    pytest.mark.skipif(
        not LEAFLET.is_file(), reason="the map library is not installed (make setup runs npm ci)"
    ),
]

#: where the screenshots of this test go (besides RUJUK_TEST_ARTEFACTS, through Visit.shot)
SHOTS = Path(os.environ.get("RUJUK_TEST_STATION_SHOTS", "/tmp"))
#: counts the oscillators the page starts: soundAlarm's beep() starts three
COUNT_BEEPS = """
(() => {
  window.__oscillators = 0;
  const make = AudioContext.prototype.createOscillator;
  AudioContext.prototype.createOscillator = function () { window.__oscillators += 1; return make.call(this); };
})();
"""


@pytest.fixture(scope="module")
def short_site(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Site]:
    """A rujuk whose staff tokens live one minute (``RUJUK_TOKEN_MINUTES=1``)."""
    tmp = tmp_path_factory.mktemp("web-station")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUJUK_")}
    env.update(RUJUK_DATA_DIR=str(tmp / "var"), RUJUK_REDIS_URL=redis_url,
               RUJUK_REDIS_PREFIX=f"rujuk:{{e2e-{uuid.uuid4().hex[:8]}}}:", RUJUK_TOKEN_MINUTES="1")  # fmt: skip
    for user, role, fac in (("segarau", "referrer", "PKM-SEGARAU"), ("pemangkat", "receiver", PEMANGKAT_ID)):
        cli(env, "users", "create", user, "--role", role, "--facility", fac, "--password-stdin",
            stdin=PASSWORD + "\n")  # fmt: skip
    server = Server(env, workers=1)
    server.start()
    try:
        yield Site(server, device_token="")
    finally:
        server.stop()


def _wait_until_expired(site: Site, token: str, timeout_s: float = 120.0) -> float:
    """Seconds waited until the server refuses this staff token."""
    t0 = time.monotonic()
    while True:
        r = httpx.get(f"{site.url}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        if r.status_code == 401:
            return time.monotonic() - t0
        assert r.status_code == 200, r.text
        assert time.monotonic() - t0 < timeout_s, "the staff token did not expire"
        time.sleep(2)


def _shot(v: Visit, name: str) -> Path:
    v.shot(name)
    path = SHOTS / f"{name}.png"
    v.page.screenshot(path=str(path), full_page=True)
    return path


def _no_dialog(page: Any) -> bool:
    return bool(page.evaluate("() => document.querySelector('dialog[open]') === null"))


def test_a_new_referral_alerts_the_er_after_its_sign_in_has_expired(short_site: Site, browser: Any) -> None:
    site = short_site
    v = Visit(browser, site)
    v.context.add_init_script(COUNT_BEEPS)
    page = v.sign_in("pemangkat", "/terima")
    page.wait_for_selector("#live-state:has-text('Langsung')")
    stored = page.evaluate(f"() => JSON.parse(localStorage.getItem('rujuk.station.{PEMANGKAT_ID}'))")
    assert stored["secret"].startswith("rjk_stn_"), stored
    page.click("#sound")  # the one click browsers need before a page may sound
    assert page.get_attribute("#sound", "aria-pressed") == "true"
    # the midwife's phone, signed in once too: the answers to her referrals reach it the same way
    mw = Visit(browser, site, viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = mw.sign_in("segarau", "/rujuk")
    phone.wait_for_selector("#live-state:has-text('Langsung')")
    wait_js(phone, "Object.keys(localStorage).some((k) => k === 'rujuk.station.PKM-SEGARAU')")

    # the staff token expires; nobody types a password from here on
    token = page.evaluate("() => sessionStorage.getItem('rujuk.token')")
    waited = _wait_until_expired(site, token)
    assert waited > 20  # it was alive when the page started
    _wait_until_expired(site, phone.evaluate("() => sessionStorage.getItem('rujuk.token')"))
    page.wait_for_timeout(2500)  # a poll or two of the feed after the expiry
    assert _no_dialog(page), "a sign-in dialog came up before any alert"
    assert "Langsung" in (page.text_content("#live-state") or "")
    beeps = page.evaluate("() => window.__oscillators")

    # a midwife sends an emergency referral
    rid = site.sent_referral()
    page.wait_for_selector("#alert:not([hidden])", timeout=15_000)
    assert "Rujukan baru dari Puskesmas Segarau" in (page.text_content("#alert") or "")
    wait_js(page, "document.title.startsWith('(1) ')")
    wait_js(page, f"window.__oscillators >= {beeps + 3}")  # one beep: three tones
    item = page.locator(f"#inbox > li.new[data-referral='{rid}']")
    item.wait_for()
    text = item.text_content() or ""
    assert "Puskesmas Segarau" in text and "Gawat darurat" in text, text
    assert "Masuk untuk melihat rincian" in text
    assert "O72" not in text and "Perdarahan" not in text  # nothing of the patient without a sign-in
    assert _no_dialog(page)
    assert "Langsung" in (page.text_content("#live-state") or "")
    _shot(v, "station_alert")

    # the details wait for a sign-in, asked for on the click
    item.locator("button.show-details").click()
    page.wait_for_selector("dialog[open] #again-pass")
    page.fill("dialog[open] #again-pass", PASSWORD)
    page.click("dialog[open] button[type=submit]")
    page.wait_for_selector(f"#inbox > li[data-referral='{rid}'] button.accept")
    assert "Perdarahan postpartum" in (page.text_content(f"#inbox > li[data-referral='{rid}']") or "")
    _shot(v, "station_details")

    # the ER declines: the midwife's phone, its sign-in long expired, raises the banner and the
    # count without asking for a password
    with site.api("pemangkat") as c:
        assert c.post(f"/api/referrals/{rid}/decline", json={"reason": "ICU penuh"}).status_code == 200
    phone.wait_for_selector("#answer-alert:not([hidden])", timeout=15_000)
    assert "RSUD Pemangkat" in (phone.text_content("#answer-alert") or "")
    wait_js(phone, "document.title.startsWith('(1) ')")
    assert _no_dialog(phone), "the midwife's page asked for a password before showing the decline"
    _shot(mw, "station_midwife_decline")
    mw.close(answered=(401,))

    # revoked (say the screen was lost), with nobody signed in: the page says so, in Bahasa Indonesia
    token = page.evaluate("() => sessionStorage.getItem('rujuk.token')")
    _wait_until_expired(site, token)
    with site.api("pemangkat") as c:
        r = c.delete(f"/api/stations/{stored['id']}")
        assert r.status_code == 200, r.text
    page.wait_for_selector("#station-notice[data-state='revoked']")
    notice = page.text_content("#station-notice") or ""
    assert "dicabut" in notice and "Masuk lagi" in notice, notice
    assert not re.search(r"\b(station|revoked|token)\b", notice, re.IGNORECASE), notice
    wait_js(page, "document.querySelector('#live-state').textContent.includes('Peringatan berhenti')")
    _shot(v, "station_revoked")

    # a password typed on the screen registers it again, and the alerts are live once more
    page.wait_for_selector("dialog[open] #again-pass")
    page.fill("dialog[open] #again-pass", PASSWORD)
    page.click("dialog[open] button[type=submit]")
    page.wait_for_selector("#station-notice", state="detached")
    page.wait_for_selector("#live-state:has-text('Langsung')")
    again = page.evaluate(f"() => JSON.parse(localStorage.getItem('rujuk.station.{PEMANGKAT_ID}'))")
    assert again["secret"] and again["id"] != stored["id"]
    with site.api("pemangkat") as c:
        states = {s["id"]: s["state"] for s in c.get("/api/stations").json()}
    assert states == {stored["id"]: "revoked", again["id"]: "active"}
    v.close(answered=(401,))  # the staff feed refused with the expired token, before the dialog
