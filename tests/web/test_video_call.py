"""A video call between the Puskesmas and the hospital, inside the referral, in headless Chromium.

Two browser contexts with Chromium's fake camera and microphone: the midwife (on a phone) calls
from the referral's conversation, the ER answers on its page; both see the other's video (frames
decoded from the remote stream), the midwife goes to sound only, hangs up, and the call's start,
participants and end are in the referral's history.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.web.test_language import problems
from tests.web.test_pages import CHROMIUM, Site, Visit, pytestmark, site, wait_js

__all__ = ["pytestmark", "site"]

playwright_api = pytest.importorskip("playwright.sync_api")
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@pytest.fixture(scope="module")
def media_browser() -> Iterator[Any]:
    """Chromium with a fake camera and microphone that answer without asking."""
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                  "--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns"],
        )  # fmt: skip
        try:
            yield b
        finally:
            b.close()


def test_the_midwife_calls_the_er_and_both_see_each_other(site: Site, media_browser: Any) -> None:
    rid = site.sent_referral()
    er = Visit(media_browser, site)
    hospital = er.sign_in("pemangkat", "/terima")
    hospital.locator(f"#inbox li[data-referral='{rid}']").wait_for()

    midwife = Visit(media_browser, site, **PHONE)
    page = midwife.sign_in("segarau", "/rujuk")
    page.locator(f"#outbox tr[data-referral='{rid}'] button.link").click()
    page.locator("#chat button.call-start").click()
    page.wait_for_selector("#call[data-state='ringing']")

    hospital.wait_for_selector(
        "#call[data-state='incoming']:has-text('Panggilan video masuk dari Puskesmas Segarau')"
    )
    hospital.locator("#call .call-answer").click()
    for p in (page, hospital):
        p.wait_for_selector("#call[data-state='connected']", timeout=30_000)
        p.wait_for_selector("#call video.call-remote[data-remote='1']")
        wait_js(p, "document.querySelector('#call video.call-remote').videoWidth > 0")  # frames arrive
    assert "Tersambung dengan RSUD Pemangkat" in (page.text_content("#call") or "")
    assert problems(page.text_content("#call") or "", "id") == []
    midwife.shot("panggilan-video-bidan")
    er.shot("panggilan-video-igd")

    page.locator("#call .call-audio-only").click()  # sound only: the camera is off, the call goes on
    page.wait_for_selector("#call[data-audio-only='1']:has-text('hanya suara')")
    hospital.wait_for_selector("#call[data-other-audio-only='1']")
    wait_js(page, "document.querySelector('#call').dataset.state === 'connected'")

    page.locator("#call .call-hangup").click()
    hospital.wait_for_selector("#call", state="hidden")
    page.wait_for_selector("#timeline li:has-text('Panggilan video: segarau, pemangkat')")
    page.wait_for_selector("#timeline li:has-text('Panggilan video selesai')")
    with site.api("segarau") as c:
        [call] = c.get(f"/api/referrals/{rid}/calls").json()
    assert call["state"] == "ended" and call["audio_only"] is True
    assert [p["facility_id"] for p in call["participants"]] == ["PKM-SEGARAU", "6101033"]
    midwife.close()
    er.close()
