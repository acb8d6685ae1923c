"""The web pages end to end: the real server (``rujuk serve``) driven by Debian's headless Chromium
through Playwright. Each test saves a screenshot of its page (``RUJUK_TEST_ARTEFACTS``, default
``build/screenshots``)."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from service.database import Referral, aware, make_engine, session_factory
from service.referrals.escalation import escalate_due
from service.sealing import Keyring
from tests.service.conftest import PASSWORD, letter_body
from tests.service.test_deploy import RUJUK, Server, cli

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = (
    os.environ.get("RUJUK_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
)
ARTEFACTS = Path(os.environ.get("RUJUK_TEST_ARTEFACTS", Path(__file__).parents[2] / "build" / "screenshots"))
LEAFLET = Path(__file__).parents[2] / "service" / "web" / "node_modules" / "leaflet" / "dist" / "leaflet.js"
PEMANGKAT_ID = "6101033"
HOSPITALS = {"6101022": "sambas", "6101033": "pemangkat", "6101137": "telukkeramat", "6101135": "elizabeth"}
TIMEOUT_MS = 20_000
REQUIRED = os.environ.get("RUJUK_TEST_REQUIRE_BROWSER") == "1"

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)"),
    pytest.mark.skipif(
        not LEAFLET.is_file(), reason="the map library is not installed (make setup runs npm ci)"
    ),
]


class Site:
    """A running rujuk with users, one ambulance and its device token."""

    def __init__(self, server: Server, device_token: str) -> None:
        self.server, self.url, self.device_token = server, server.url, device_token

    def api(self, user: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.server.token(user), timeout=30)

    def sent_referral(self) -> str:
        """Puskesmas Segarau sends a postpartum haemorrhage to RSUD Pemangkat (through the API)."""
        with self.api("segarau") as c:
            r = c.post(
                "/api/referrals",
                json=letter_body(now=dt.datetime.now(dt.UTC)),
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
            assert r.status_code == 201, r.text
            rid = str(r.json()["id"])
            assert c.post(f"/api/referrals/{rid}/send").status_code == 200
        return rid

    def post_position(self, lat: float, lon: float, at: dt.datetime | None = None) -> None:
        at = at or dt.datetime.now(dt.UTC)
        r = httpx.post(
            f"{self.url}/api/ambulances/AMB-E2E-1/positions",
            json={"lat": lat, "lon": lon, "timestamp": at.isoformat(), "speed": 12.0, "heading": 90.0},
            headers={"Authorization": f"Bearer {self.device_token}"},
            timeout=10,
        )
        assert r.status_code == 200, r.text


def wait_js(page: Any, expression: str, timeout_s: float = 15.0) -> None:
    """Wait until a JavaScript expression holds, polled from here: the pages' CSP forbids the
    in-page eval that ``Page.wait_for_function`` uses (and that is the point of it)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(f"() => Boolean({expression})"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s:g} s for: {expression}")
        page.wait_for_timeout(100)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("web")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUJUK_")}
    env.update(RUJUK_DATA_DIR=str(tmp / "var"), RUJUK_REDIS_URL=redis_url,
               RUJUK_REDIS_PREFIX=f"rujuk:{{e2e-{uuid.uuid4().hex[:8]}}}:", RUJUK_TOKEN_MINUTES="120")  # fmt: skip
    users = [
        ("segarau", "referrer", "PKM-SEGARAU"),
        ("dispatch", "dispatcher", ""),
        ("planner", "planner", ""),
    ]
    users += [(name, "receiver", fid) for fid, name in HOSPITALS.items()]
    for user, role, fac in users:
        cli(env, "users", "create", user, "--role", role, *(["--facility", fac] if fac else []),
            "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    out = subprocess.run(
        [RUJUK, "ambulances", "register", "AMB-E2E-1", "--home", "6101033", "--kind", "emergency"],
        env=env, text=True, check=True, capture_output=True, timeout=120,
    ).stdout  # fmt: skip
    token = re.search(r"rjk_amb_\S+", out)
    assert token is not None, out
    server = Server(env, workers=1)
    server.start()
    try:
        yield Site(server, token.group(0))
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )  # fmt: skip
        try:
            yield b
        finally:
            b.close()


class Visit:
    """A browser context for one user, recording console errors and any request leaving the server."""

    def __init__(self, browser: Any, site: Site, **context: Any) -> None:
        self.site = site
        self.context = browser.new_context(**context)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.context.route(re.compile(r"^(?!http://127\.0\.0\.1:\d+/|blob:|data:|about:).*"), self._outside)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _outside(self, route: Any) -> None:
        self.outside.append(route.request.url)
        route.abort()

    def sign_in(self, user: str, then: str) -> Any:
        page = self.page
        page.goto(f"{self.site.url}/?next={then}")
        page.fill("#username", user)
        page.fill("#password", PASSWORD)
        page.click("#signin-button")
        page.wait_for_url(f"**{then}")
        page.wait_for_selector("header.top .who")
        page.wait_for_selector("body[data-ready='1']", state="attached")  # its data loaded, fields filled
        return page

    def shot(self, name: str) -> Path:
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTEFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000
        return path

    def close(self, *, answered: tuple[int, ...] = (), offline: bool = False) -> None:
        """Done: nothing left the server, and no script error (nor HTTP errors but those ``answered``,
        nor, for a page that was ``offline`` a while, its requests that failed for want of a network)."""
        self.context.close()
        assert self.outside == [], f"requests left the rujuk server: {self.outside}"
        expected = tuple(f"status of {code} " for code in answered)
        expected += ("net::ERR_INTERNET_DISCONNECTED",) if offline else ()
        assert [e for e in self.errors if not any(x in e for x in expected)] == [], self.errors


def test_sign_in_refuses_a_wrong_password_and_sends_each_user_to_their_page(site: Site, browser: Any) -> None:
    v = Visit(browser, site)
    page = v.page
    page.goto(site.url + "/")
    page.fill("#username", "segarau")
    page.click("#signin-button")
    assert page.text_content("#signin-error") == "Isi kata sandi."
    page.fill("#password", "salah-sekali-ini")
    page.click("#signin-button")
    wait_js(page, "document.querySelector('#signin-error').textContent.length > 0")
    assert "salah" in page.text_content("#signin-error")
    v.shot("masuk")
    page.fill("#password", PASSWORD)
    page.click("#signin-button")
    page.wait_for_url("**/rujuk")
    # a referrer has no dispatcher page: sent back to sign in, told why
    page.goto(site.url + "/dispatch")
    page.wait_for_url("**/?denied=1")
    assert page.is_visible("#denied")
    v.close(answered=(401,))  # the wrong password


def test_a_locked_account_is_told_in_bahasa_when_to_try_again_on_a_phone(site: Site, browser: Any) -> None:
    user = "bidan-lupa-sandi"  # not an account: unknown usernames are limited like known ones
    with httpx.Client(base_url=site.url, timeout=30) as c:
        for _ in range(10):
            assert (
                c.post("/api/token", data={"username": user, "password": "tebak-tebakan"}).status_code == 401
            )
    v = Visit(browser, site, viewport={"width": 390, "height": 844}, is_mobile=True)
    page = v.page
    page.goto(site.url + "/")
    page.fill("#username", user)
    page.fill("#password", "tebak-lagi-sekali")
    page.click("#signin-button")
    wait_js(page, "document.querySelector('#signin-error').textContent.length > 0")
    message = page.text_content("#signin-error") or ""
    assert "Terlalu banyak percobaan" in message
    assert "15 menit" in message  # Retry-After, in whole minutes
    assert page.is_enabled("#signin-button")  # the user can try again later, not stuck
    v.shot("masuk-terkunci")
    v.close(answered=(429,))


def _request_suggestions(page: Any) -> None:
    page.fill("#age", "28")
    page.select_option("#sex", "female")
    page.fill("#icd-search", "perdarahan postpartum")
    page.click("#icd-results [data-code='O72']")
    page.fill("#icd-search", "o72.1")
    page.click("#icd-results [data-code='O72.1']")
    page.check("#emergency")
    page.click("#suggest-button")
    page.wait_for_selector("#candidates > li[data-facility]")


def send_letter(
    page: Any,
    *,
    name: str = "Siti Contoh",
    nik: str = "6101014107980001",
    mrn: str = "RM-000123",
    sent: bool = True,
) -> None:
    """Write the patient's part of the open letter form and send it; with ``sent`` wait until the
    page shows the referral sent (offline, the letter goes to the device's queue instead)."""
    page.fill("#p-name", name)
    page.fill("#p-nik", nik)
    page.fill("#p-mrn", mrn)
    page.fill("#p-dob", "1998-07-01")
    page.fill("#m-stab", "Kompresi bimanual, 2 jalur infus")
    page.check("#c-items")
    page.check("#c-given")
    page.click("#send-button")
    if sent:
        page.wait_for_selector("#referral-status[data-status='sent']")


def test_refer_send_a_nik_from_before_a_regency_split_once_confirmed_as_printed(
    site: Site, browser: Any
) -> None:
    """Merauke was 91 01 until 2022: the region list refuses the code, the page says why in Bahasa
    and offers the confirmation; ticked, the letter goes (docs/identity.md)."""
    v = Visit(browser, site)
    page = v.sign_in("segarau", "/rujuk")
    _request_suggestions(page)
    page.locator("#candidates > li").first.locator("button").click()
    assert page.is_hidden("#p-nik-confirm")
    page.fill("#p-name", "Siti Contoh")
    page.fill("#p-nik", "9101014107980001")
    page.fill("#p-mrn", "RM-000123")
    page.fill("#p-dob", "1998-07-01")
    page.fill("#m-stab", "Kompresi bimanual, 2 jalur infus")
    page.check("#c-items")
    page.check("#c-given")
    page.click("#send-button")
    page.wait_for_selector("#p-nik-confirm:not([hidden])")
    said = page.text_content("#letter-error")
    assert said.startswith("NIK: kode kabupaten/kota di NIK"), said
    assert "9101" not in said
    page.check("#p-nik-confirmed")
    page.click("#send-button")
    page.wait_for_selector("#referral-status[data-status='sent']")
    # the sender is told what was checked: the structure, confirmed, and no population registry
    said = page.text_content("#identity-check")
    assert said == "Pemeriksaan NIK: dikonfirmasi petugas sesuai KTP/KK; tidak dicek ke Dukcapil", said
    assert page.is_hidden("#p-nik-confirm")  # the next letter starts without it
    v.close(answered=(422,))


def test_refer_send_accept_and_the_sender_sees_it_live(site: Site, browser: Any) -> None:
    sender = Visit(browser, site)
    page = sender.sign_in("segarau", "/rujuk")
    assert page.input_value("#origin") == "Puskesmas Segarau"
    # the form names what is missing
    page.click("#suggest-button")
    assert "umur" in page.text_content("#request-error").lower()
    _request_suggestions(page)
    chips = page.locator("#icd-chosen .chip").all_text_contents()
    assert [c.split(" ")[0] for c in chips] == ["O72", "O72.1"]
    first = page.locator("#candidates > li").first
    text = first.text_content()
    assert "Pasal" in text, text  # reasons in plain words, citing the regulation
    assert re.search(r"\d+ mnt", text), text  # travel time
    assert "regionalisasi tidak berlaku" in page.text_content("#decision")  # 12(4): an emergency
    wait_js(page, "document.querySelectorAll('.leaflet-marker-icon').length >= 2")  # ranked on the map
    sender.shot("rujuk-saran")

    destination = first.get_attribute("data-facility")
    first.locator("button").click()
    assert page.is_visible("#letter-card")
    assert page.input_value("#m-icd") == "O72, O72.1"  # prefilled
    assert page.input_value("#l-st") == "gawat_darurat"
    assert page.input_value("#l-reason") != ""
    page.fill("#p-name", "Siti Contoh")
    page.fill("#p-nik", "61010141079800")  # 14 digits: refused, naming the field
    page.fill("#p-mrn", "RM-000123")
    page.fill("#p-dob", "1998-07-01")
    page.fill("#m-stab", "Kompresi bimanual, 2 jalur infus")
    page.check("#c-items")
    page.check("#c-given")
    page.click("#send-button")
    assert "NIK" in page.text_content("#letter-error")
    page.fill("#p-nik", "6101014107980001")
    page.click("#send-button")
    page.wait_for_selector("#referral-status[data-status='sent']")
    sender.shot("rujuk-terkirim")

    receiver = Visit(browser, site)
    inbox = receiver.sign_in(HOSPITALS[destination], "/terima")
    item = inbox.locator("#inbox > li").first
    item.wait_for()
    assert "Puskesmas Segarau" in item.text_content()
    assert "menunggu" in item.text_content()
    receiver.shot("terima-inbox")
    item.locator("button.accept").click()
    # the sender's page follows without reloading
    page.wait_for_selector("#referral-status[data-status='accepted']", timeout=TIMEOUT_MS)
    assert "Diterima" in page.text_content("#status")
    sender.shot("rujuk-diterima")

    # the printable letter
    with sender.context.expect_page() as popup:
        page.click("#open-letter")
    letter = popup.value
    letter.wait_for_load_state()
    assert "Siti Contoh" in letter.content()
    receiver.close()
    sender.close()


def _escalate(site: Site, rid: str) -> None:
    """The escalation the service does at the answer deadline, run now on the site's database."""
    data = Path(site.server.env["RUJUK_DATA_DIR"])
    engine = make_engine(
        f"sqlite:///{data / 'rujuk.sqlite3'}", keyring=Keyring.from_file(data / "patient.keys")
    )
    with session_factory(engine)() as s:
        r = s.get(Referral, rid)
        assert r is not None and r.due_at is not None
        due = aware(r.due_at)
        assert due is not None
        assert rid in escalate_due(s, due + dt.timedelta(seconds=1))
        s.commit()
    engine.dispose()


def test_after_an_escalation_the_midwife_redirects_in_one_click_and_can_cancel(
    site: Site, browser: Any
) -> None:
    v = Visit(browser, site, viewport={"width": 390, "height": 844}, is_mobile=True)
    page = v.sign_in("segarau", "/rujuk")
    page.wait_for_selector("#live-state:has-text('Langsung')")
    rid = site.sent_referral()
    _escalate(site, rid)
    # the midwife is alerted wherever she is on the page, and the tab counts what waits for her
    page.wait_for_selector("#answer-alert:not([hidden])")
    assert "RSUD Pemangkat belum menjawab" in (page.text_content("#answer-alert") or "")
    wait_js(page, "document.title.startsWith('(')")
    v.shot("rujuk-peringatan")
    page.click("#answer-alert")
    page.wait_for_selector("#escalated")
    assert page.is_hidden("#answer-alert")
    assert "RSUD Pemangkat belum menjawab" in (page.text_content("#escalated") or "")
    redirect = page.locator("#redirect")
    assert redirect.is_visible()
    target = (redirect.text_content() or "").removeprefix("Rujuk ke ")
    assert target and target != "RSUD Pemangkat"
    page.wait_for_selector("#timeline li:has-text('dieskalasi')")
    assert page.input_value("#redirect-reason")  # the letter's reason, to rewrite for the next one
    assert target in (page.text_content("#redirect-reason-label") or "")
    page.fill("#redirect-reason", f"Perlu transfusi dan dokter Obgyn di {target}")
    v.shot("rujuk-eskalasi")
    redirect.click()
    page.wait_for_selector(f"#timeline li:has-text('Dirujuk ulang ke {target}')")
    assert page.get_attribute("#referral-status", "data-status") == "sent"
    assert not page.is_visible("#escalated")
    timeline = page.locator("#timeline").text_content() or ""
    assert "Dikirim ke RSUD Pemangkat" in timeline
    assert "next candidate" not in timeline  # no English, no facility codes
    with site.api("segarau") as c:
        got = c.get(f"/api/referrals/{rid}").json()
    assert got["destination_id"] != PEMANGKAT_ID
    assert got["reason"] == f"Perlu transfusi dan dokter Obgyn di {target}"
    # cancel: a first click asks, a second one cancels
    page.click("#cancel-referral")
    assert "Klik sekali lagi" in (page.text_content("#cancel-referral") or "")
    page.click("#cancel-referral")
    page.wait_for_selector("#referral-status[data-status='cancelled']")
    assert not page.is_visible("#cancel-referral")
    v.shot("rujuk-dibatalkan")
    v.close()


def test_times_are_shown_in_wib_whatever_the_browsers_zone(site: Site, browser: Any) -> None:
    rid = site.sent_referral()
    with site.api("segarau") as c:
        created = dt.datetime.fromisoformat(c.get(f"/api/referrals/{rid}").json()["times"]["created"])
    wib = created.astimezone(dt.timezone(dt.timedelta(hours=7)))
    v = Visit(browser, site, timezone_id="America/New_York")  # a laptop set to another zone
    page = v.sign_in("segarau", "/rujuk")
    page.wait_for_selector("#outbox tr")
    first = page.locator("#outbox tr").first.locator("td").first.text_content() or ""
    assert first.endswith(" WIB"), first
    assert f"{wib:%H}.{wib:%M}" in first, (first, wib)  # id-ID writes 03.00
    v.close()


def test_a_new_referral_alerts_the_receiver_and_a_decline_reaches_the_sender(
    site: Site, browser: Any
) -> None:
    receiver = Visit(browser, site)
    inbox = receiver.sign_in("pemangkat", "/terima")
    inbox.wait_for_selector("#live-state:has-text('Langsung')")
    rid = site.sent_referral()
    inbox.wait_for_selector("#alert:not([hidden])")
    assert "Puskesmas Segarau" in inbox.text_content("#alert")
    inbox.wait_for_selector(f"#inbox > li.new[data-referral='{rid}']")
    assert inbox.title().startswith("(")
    inbox.locator(f"#inbox > li[data-referral='{rid}'] button.decline").click()
    inbox.click("#decline-confirm")
    assert "alasan" in inbox.text_content("#decline-error").lower()
    inbox.fill("#decline-reason", "ICU penuh, ventilator rusak")
    inbox.click("#decline-confirm")
    inbox.wait_for_selector(f"#inbox > li[data-referral='{rid}']", state="detached")
    with site.api("segarau") as c:
        got = c.get(f"/api/referrals/{rid}").json()
    assert got["status"] == "declined"
    assert got["decline_reason"] == "ICU penuh, ventilator rusak"
    receiver.close()


def test_the_status_board_is_edited_in_a_few_clicks_and_shows_each_figures_age(
    site: Site, browser: Any
) -> None:
    v = Visit(browser, site)
    page = v.sign_in("telukkeramat", "/terima")
    page.wait_for_selector("#beds input")
    bed = page.locator("#beds input").first
    bed_id = bed.get_attribute("id")
    assert bed_id is not None
    page.fill(f"#{bed_id}", "3")
    page.locator("#beds .stepper").first.locator("button").last.click()  # + 1
    page.click("#board-save")
    page.wait_for_selector("#beds .figure-age:has-text('detik lalu')")
    with site.api("telukkeramat") as c:
        figures = {f["key"]: f["value"] for f in c.get("/api/facilities/6101137/status").json()["figures"]}
    assert figures[f"beds_available.{bed_id.removeprefix('bed-')}"] == 4
    page.fill("#stop-reason", "Listrik padam")
    page.click("#stop-button")
    page.wait_for_selector("#not-accepting-notice")
    assert "Listrik padam" in page.text_content("#not-accepting-notice")
    v.shot("terima-status")
    page.click("#not-accepting-notice button")
    page.wait_for_selector("#not-accepting .notice.ok")
    v.close()


def test_dispatcher_sees_the_marker_move_finds_the_nearest_and_assigns(site: Site, browser: Any) -> None:
    # an accepted referral waiting for transport
    rid = site.sent_referral()
    with site.api("pemangkat") as c:
        assert c.post(f"/api/referrals/{rid}/accept", json={"note": ""}).status_code == 200
    site.post_position(1.2700, 109.0000)

    v = Visit(browser, site)
    page = v.sign_in("dispatch", "/dispatch")
    page.wait_for_selector("#fleet tr[data-ambulance='AMB-E2E-1']")
    page.wait_for_selector("#live-state:has-text('Langsung')")
    where = "window.rujukMap.markers.get('AMB-E2E-1').getLatLng()"
    wait_js(page, f"window.rujukMap && window.rujukMap.markers.has('AMB-E2E-1') && {where}.lat === 1.27")
    site.post_position(1.2800, 109.0100)
    wait_js(page, f"{where}.lat === 1.28 && {where}.lng === 109.01")
    row = page.locator("#fleet tr[data-ambulance='AMB-E2E-1']")
    assert row.get_attribute("data-lat") == "1.28"
    # the track
    row.locator("button", has_text="Jejak").click()
    wait_js(page, "document.querySelector('#announce')?.textContent.includes('2 titik')")

    # nearest available to the waiting referral's pickup, then assign
    page.check(f"#waiting input[value='{rid}']")
    page.wait_for_selector("#nearest > li[data-ambulance='AMB-E2E-1']")
    assert "ke titik jemput" in page.text_content("#nearest")
    v.shot("dispatch")
    page.click("#nearest > li[data-ambulance='AMB-E2E-1'] button")
    page.wait_for_selector(f"#waiting li[data-referral='{rid}']", state="detached")
    page.wait_for_selector("#fleet tr[data-ambulance='AMB-E2E-1'] .badge.dispatched")
    with site.api("segarau") as c:
        assert c.get(f"/api/referrals/{rid}").json()["status"] == "dispatched"
    v.close()


def test_planner_compares_a_scenario_and_downloads_the_tables(site: Site, browser: Any) -> None:
    v = Visit(browser, site)
    page = v.sign_in("planner", "/rencana")
    page.wait_for_selector("#example option:nth-child(2)", state="attached")
    # an uploaded file with a mistake is refused, naming the change
    page.set_input_files("#upload", files=[{"name": "salah.yaml", "mimeType": "text/yaml",
                                            "buffer": b"name: x\nchanges:\n  - close_facility: {facility: RS-TIDAK-ADA}\n"}])  # fmt: skip
    page.wait_for_selector("#scenario-state.error")
    assert "Perubahan ke-1" in page.text_content("#scenario-state")  # the first change, in words
    page.select_option("#example", label="RSUD Pemangkat tutup sementara")
    page.fill("#referrals", "2000")
    page.click("#run-compare")
    page.wait_for_selector("#changed", timeout=60_000)  # today's figures are there from the start
    assert "Selisih" in page.text_content("#side-by-side")
    changed = page.text_content("#changed")
    assert re.search(r"[1-9][\d.,]* dari 2[.,]?000 rujukan", changed), changed
    page.wait_for_selector("#which-box:not([hidden])")
    page.check("input[name=view][value=time]")
    v.shot("rencana")
    page.select_option("#table-pick", "by_hospital")
    with page.expect_download() as dl:
        page.click("#download-csv")
    path = dl.value.path()
    head = Path(path).read_text(encoding="utf-8-sig").splitlines()[0]  # for Excel in Indonesian
    assert head.startswith("Kode rumah sakit;Nama;") and "Rujukan (selisih)" in head
    v.close(answered=(422,))  # the scenario with a mistake


def test_english_on_a_phone_sized_screen_every_field_labelled(site: Site, browser: Any) -> None:
    v = Visit(browser, site, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = v.sign_in("segarau", "/rujuk")
    page.click("#lang-switch")
    assert page.text_content("h1") == "Refer a patient"
    assert page.evaluate("document.documentElement.lang") == "en"
    _request_suggestions(page)
    # reasons come in English too
    assert "regionalisation does not apply" in page.text_content("#decision")
    assert "by road" in page.text_content("#candidates")
    overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px on a phone"
    unlabelled = page.evaluate(
        """[...document.querySelectorAll('input, select, textarea')]
             .filter(e => e.type !== 'hidden' && e.type !== 'file' && !e.labels?.length && !e.getAttribute('aria-label'))
             .map(e => e.id || e.name)"""
    )
    assert unlabelled == []
    v.shot("rujuk-phone-en")
    page.click("#lang-switch")  # back to Bahasa Indonesia for the other tests' contexts (stored per context)
    v.close()


def test_without_the_map_library_the_pages_still_work(site: Site, browser: Any) -> None:
    v = Visit(browser, site)
    v.context.route("**/static/vendor/leaflet/leaflet.js", lambda route: route.fulfill(status=404, body=""))
    page = v.sign_in("segarau", "/rujuk")
    page.wait_for_selector("#map .notice")
    _request_suggestions(page)
    assert page.locator("#candidates > li").count() >= 1
    v.close(answered=(404,))


def test_the_pages_ask_nothing_of_the_internet(site: Site) -> None:
    """Every page and what it loads comes from the rujuk server (checked per test by Visit too)."""
    for path in ("/", "/rujuk", "/terima", "/dispatch", "/rencana"):
        html = httpx.get(site.url + path, timeout=10).text
        assert not re.search(r"""(src|href)=["']https?://""", html), path
