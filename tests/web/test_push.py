"""Push notifications in the browser: the real server (``rujuk serve``) and Debian's headless Chromium.

A headless Chromium here reaches no real push service (no internet), so the service worker's half
is driven through the Chrome DevTools Protocol: the receiving ER signs in on ``/terima`` (which
installs the service worker), grants notifications, and closes the page; a push built by the
server's own code for a real referral (``service.notifications.notices``) is delivered to the
worker with ``ServiceWorker.deliverPushMessage``; the notification is then there, in Bahasa
Indonesia, naming the sending Puskesmas and nothing of the patient. The server's half (encryption,
VAPID, sending once) is tested against a real push service in
``tests/service/notifications/test_push.py``. The toggle on the page tells, in Bahasa, when the
browser cannot subscribe (as here, offline) or refuses permission.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from geodata.dataset import Dataset
from service.database import ReferralEvent, make_engine, session_factory
from service.notifications.notices import facility_names, notices_of
from tests.service.notifications.helpers import PATIENT_STRINGS
from tests.web.test_pages import CHROMIUM, LEAFLET, Site, Visit, browser, site, wait_js

__all__ = ["browser", "site"]  # the fixtures, shared with test_pages

pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None and os.environ.get("RUJUK_TEST_REQUIRE_BROWSER") != "1",
        reason="Chromium is not installed (apt-get install chromium)",
    ),
    pytest.mark.skipif(
        not LEAFLET.is_file(), reason="the map library is not installed (make setup runs npm ci)"
    ),
]

#: the page's words for the toggle's states (service/web/static/i18n.js, Bahasa Indonesia)
UNREACHABLE = (
    "Notifikasi belum aktif: peramban tidak dapat menghubungi layanan notifikasinya (perlu internet)."
)
DENIED = "Peramban menolak izin notifikasi."
#: English the page must not show in Bahasa mode (the toggle's own English, the browser's errors)
ENGLISH = ("Turn notifications", "push service", "AbortError", "Registration failed", "NotAllowedError",
           "permission", "Notifications are")  # fmt: skip


def _payload(site: Site, sambas: Dataset, rid: str) -> dict[str, Any]:
    """The push the server builds for the destination of this referral's send, from its database."""
    data = Path(site.server.env["RUJUK_DATA_DIR"])
    engine = make_engine(f"sqlite:///{data / 'rujuk.sqlite3'}")  # plain columns only: no patient keys
    try:
        with session_factory(engine)() as s:
            events = s.scalars(select(ReferralEvent).where(ReferralEvent.referral_id == rid)).all()
            notices = notices_of(s, events, facility_names(sambas))
    finally:
        engine.dispose()
    (notice,) = [n for n in notices if n.kind == "send" and n.to == "destination"]
    return notice.push_payload()


def _registration_id(cdp: Any, page: Any, scope: str, timeout_s: float = 15.0) -> str:
    """The service worker registration of ``scope``, as DevTools reports it (events are read while
    ``page`` waits: the sync API delivers them only then)."""
    seen: list[dict[str, Any]] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: seen.extend(e["registrations"]))
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for r in seen:
            if r["scopeURL"] == scope and not r["isDeleted"]:
                return str(r["registrationId"])
        page.wait_for_timeout(100)
    raise AssertionError(f"no service worker registration for {scope}: {seen}")


NOTIFICATIONS = """async () => {
  const reg = await navigator.serviceWorker.ready;
  return (await reg.getNotifications()).map((n) => ({
    title: n.title, body: n.body, tag: n.tag, lang: n.lang, data: n.data,
    requireInteraction: n.requireInteraction,
  }));
}"""


def test_a_push_reaches_the_er_with_the_page_closed(site: Site, browser: Any, sambas: Dataset) -> None:
    v = Visit(browser, site)
    v.context.grant_permissions(["notifications"], origin=site.url)
    page = v.sign_in("pemangkat", "/terima")
    state = page.evaluate("async () => (await navigator.serviceWorker.ready).active.state")
    assert state in ("activating", "activated")
    wait_js(
        page, "document.querySelector('#push-toggle') && !document.querySelector('#push-toggle').disabled"
    )
    v.shot("push-terima")

    # a DevTools session outside the rujuk pages (it outlives them), then every rujuk page closed
    blank = v.context.new_page()
    cdp = v.context.new_cdp_session(blank)
    registration = _registration_id(cdp, blank, site.url + "/")
    page.close()
    assert [p.url for p in v.context.pages] == ["about:blank"]

    rid = site.sent_referral()  # a midwife at Puskesmas Segarau sends a postpartum haemorrhage
    payload = _payload(site, sambas, rid)
    assert payload["title"] == "Rujukan baru dari Puskesmas Segarau"
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": site.url, "registrationId": registration, "data": json.dumps(payload)},
    )

    # later, a page of rujuk is opened again: the notification is there
    v.page = later = v.context.new_page()
    later.on("console", lambda m: v.errors.append(m.text) if m.type == "error" else None)
    later.goto(site.url + "/")
    shown: list[dict[str, Any]] = []
    deadline = time.monotonic() + 15
    while not shown and time.monotonic() < deadline:
        shown = [n for n in later.evaluate(NOTIFICATIONS) if n["data"].get("referral_id") == rid]
        later.wait_for_timeout(200)
    assert len(shown) == 1, later.evaluate(NOTIFICATIONS)
    (n,) = shown
    assert n["title"] == "Rujukan baru dari Puskesmas Segarau"
    assert n["body"] == "Gawat darurat · O72.1"
    assert n["lang"] == "id" and n["tag"] == f"rujuk-{rid}"
    assert n["requireInteraction"] is True  # an emergency stays until someone touches it
    assert n["data"]["url"] == "/terima"
    text = json.dumps(n)
    for s in PATIENT_STRINGS:
        assert s not in text
    v.shot("push-notification-later")
    cdp.detach()
    v.close()


def _toggle_settles(page: Any) -> str:
    page.click("#push-toggle")
    wait_js(page, "!document.querySelector('#push-toggle').disabled", timeout_s=60)
    return str(page.text_content("#push-state") or "")


def _no_english(page: Any) -> None:
    body = page.text_content("body") or ""
    for word in ENGLISH:
        assert word not in body, word


class ProfileVisit(Visit):
    """A visit in a browser profile of its own (not incognito, where Chrome has no Push API at all):
    there ``pushManager.subscribe()`` really tries to reach the browser's push service."""

    def __init__(self, browser: Any, site: Site, profile: Path) -> None:
        real_new_context = browser.new_context

        def persistent(**_: Any) -> Any:
            return browser.browser_type.launch_persistent_context(
                str(profile),
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--no-first-run"],
            )

        browser.new_context = persistent
        try:
            super().__init__(browser, site)
        finally:
            browser.new_context = real_new_context
        for extra in self.context.pages[:-1]:  # the profile's own first tab
            extra.close()


def test_the_toggle_says_in_bahasa_when_the_browser_cannot_subscribe(
    site: Site, browser: Any, tmp_path: Path
) -> None:
    v = ProfileVisit(browser, site, tmp_path / "profile")
    v.context.grant_permissions(["notifications"], origin=site.url)
    page = v.sign_in("pemangkat", "/terima")
    wait_js(page, "!document.querySelector('#push-toggle').disabled")
    assert page.text_content("#push-toggle") == "Aktifkan notifikasi"
    said = _toggle_settles(page)  # no internet here: the browser's push service cannot be reached
    assert said.startswith(UNREACHABLE), said
    assert page.text_content("#push-toggle") == "Aktifkan notifikasi"  # still off, offered again
    assert page.get_attribute("#push-toggle", "aria-pressed") == "false"
    _no_english(page)
    v.shot("push-toggle-unreachable")
    with site.api("pemangkat") as c:  # nothing half-made on the server
        assert c.get("/api/push/subscriptions").json() == []
    v.close()


def test_the_toggle_says_in_bahasa_when_permission_is_refused(site: Site, browser: Any) -> None:
    v = Visit(browser, site, viewport={"width": 390, "height": 844}, is_mobile=True)
    page = v.sign_in("segarau", "/rujuk")
    page.evaluate("() => { Notification.requestPermission = async () => 'denied'; }")  # the user says no
    said = _toggle_settles(page)
    assert said.startswith(DENIED), said
    _no_english(page)
    v.shot("push-toggle-denied")
    v.close()
