"""Dispatch walked through the pages to its end: a whole trip driven by the ambulance's posted
positions (dispatched, at the pickup, transporting, at the hospital, handed over, available) with
the referral following on the sender's and the ER's pages; a trip recorded by hand; a unit that
lost contact; a unit too far from any road listed with its reason; the page on a phone."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest

from tests.service.conftest import PASSWORD
from tests.service.test_deploy import RUJUK, Server, cli
from tests.web.test_pages import HOSPITALS, Site, Visit, _request_suggestions, browser, wait_js
from tests.web.test_pages import pytestmark as page_marks

__all__ = ["browser"]
pytestmark = page_marks

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
OFF_MAP = (109.089046, 1.240914)  # 1.1 km from the nearest road of the modelled network


class Fleet(Site):
    """A running rujuk with users and three ambulances (their device tokens by id)."""

    def __init__(self, server: Server, tokens: dict[str, str]) -> None:
        super().__init__(server, tokens["AMB-E2E-1"])
        self.tokens = tokens

    def fix(self, amb: str, lon: float, lat: float, ago_s: float, speed: float = 0.0) -> dict[str, Any]:
        at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=ago_s)
        r = httpx.post(
            f"{self.url}/api/ambulances/{amb}/positions",
            json={"lat": lat, "lon": lon, "timestamp": at.isoformat(), "speed": speed},
            headers={"Authorization": f"Bearer {self.tokens[amb]}"},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    def accepted(self, to: str = "pemangkat") -> str:
        rid = self.sent_referral()
        with self.api(to) as c:
            assert c.post(f"/api/referrals/{rid}/accept", json={"note": ""}).status_code == 200
        return rid

    def facility(self, fid: str) -> tuple[float, float]:
        with self.api("dispatch") as c:
            f = next(x for x in c.get("/api/facilities").json() if x["id"] == fid)
        return f["location"]["lon"], f["location"]["lat"]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Fleet]:
    tmp = tmp_path_factory.mktemp("dispatch")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUJUK_")}
    env.update(
        RUJUK_DATA_DIR=str(tmp / "var"),
        RUJUK_REDIS_URL=redis_url,
        RUJUK_REDIS_PREFIX=f"rujuk:{{disp-{uuid.uuid4().hex[:8]}}}:",
        RUJUK_TOKEN_MINUTES="120",
        RUJUK_POSITION_STALE_S="600",
    )  # fmt: skip  (a trip's fixes told in the past 10 minutes)
    users = [("segarau", "referrer", "PKM-SEGARAU"), ("dispatch", "dispatcher", "")]
    users += [(name, "receiver", fid) for fid, name in HOSPITALS.items()]
    for user, role, fac in users:
        cli(env, "users", "create", user, "--role", role, *(["--facility", fac] if fac else []),
            "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    tokens = {}
    for amb in ("AMB-E2E-1", "AMB-E2E-2", "AMB-E2E-3"):
        out = subprocess.run(
            [RUJUK, "ambulances", "register", amb, "--home", "6101033", "--kind", "emergency"],
            env=env, text=True, check=True, capture_output=True, timeout=120,
        ).stdout  # fmt: skip
        token = re.search(r"rjk_amb_\S+", out)
        assert token is not None, out
        tokens[amb] = token.group(0)
    server = Server(env, workers=1)
    server.start()
    try:
        yield Fleet(server, tokens)
    finally:
        server.stop()


def row(page: Any, amb: str) -> Any:
    return page.locator(f"#fleet tr[data-ambulance='{amb}']")


def wait_status(page: Any, amb: str, status: str) -> None:
    page.wait_for_selector(f"#fleet tr[data-ambulance='{amb}'][data-status='{status}']")


def test_a_whole_trip_driven_by_positions_with_the_referral_following(fleet: Fleet, browser: Any) -> None:
    pickup, dest = fleet.facility("PKM-SEGARAU"), fleet.facility("6101033")
    for other in ("AMB-E2E-2", "AMB-E2E-3"):  # out of this test's way
        with fleet.api("dispatch") as c:
            c.patch(
                f"/api/ambulances/{other}/status", json={"status": "out_of_service", "reason": "cadangan"}
            )
    fleet.fix("AMB-E2E-1", pickup[0] + 0.05, pickup[1], ago_s=590)
    v = Visit(browser, fleet)
    page = v.sign_in("dispatch", "/dispatch")
    page.wait_for_selector("#live-state:has-text('Langsung')")
    # accepted while the dispatcher watches: it appears under "Menunggu ambulans" without a reload
    rid = fleet.accepted()
    page.wait_for_selector(f"#waiting li[data-referral='{rid}']")
    page.check(f"#waiting input[value='{rid}']")
    page.wait_for_selector("#nearest > li[data-ambulance='AMB-E2E-1']")
    page.click("#nearest > li[data-ambulance='AMB-E2E-1'] button")
    wait_status(page, "AMB-E2E-1", "dispatched")
    page.wait_for_selector(f"#waiting li[data-referral='{rid}']", state="detached")
    assert "ke penjemputan" in row(page, "AMB-E2E-1").text_content()

    # the midwife on her phone sees the unit coming, with its ETA
    midwife = Visit(browser, fleet, **PHONE)
    phone = midwife.sign_in("segarau", "/rujuk")
    phone.locator(f"#outbox tr[data-referral='{rid}'] button").click()
    phone.wait_for_selector("#transport-line")
    assert "AMB-E2E-1 menuju ke sini" in phone.text_content("#transport-line")
    midwife.shot("rujuk-ambulans-menuju")

    # passing the Puskesmas is not arriving; parked there past the dwell time, it is
    fleet.fix("AMB-E2E-1", pickup[0] + 0.0005, pickup[1], ago_s=560)
    fleet.fix("AMB-E2E-1", pickup[0] + 0.0004, pickup[1], ago_s=480)
    wait_status(page, "AMB-E2E-1", "at_pickup")
    assert "GPS" in row(page, "AMB-E2E-1").text_content()
    # leaving with the patient: transporting, the referral in transit on the sender's page
    fleet.fix("AMB-E2E-1", pickup[0] + 0.02, pickup[1] + 0.01, ago_s=470, speed=12.0)
    wait_status(page, "AMB-E2E-1", "transporting")
    phone.wait_for_selector("#referral-status[data-status='in_transit']")
    wait_js(phone, "document.querySelector('#transport-line')?.textContent.includes('membawa pasien')", 40)
    # the ER sees it on its way, with the ETA
    er = Visit(browser, fleet)
    erp = er.sign_in("pemangkat", "/terima")
    item = erp.locator(f"#on-the-way > li[data-referral='{rid}']")
    item.wait_for()
    assert "Tiba ±" in item.text_content()
    # at the hospital past the dwell: arrived, once
    fleet.fix("AMB-E2E-1", dest[0] + 0.0005, dest[1], ago_s=300)
    fleet.fix("AMB-E2E-1", dest[0] + 0.0004, dest[1], ago_s=200)
    wait_status(page, "AMB-E2E-1", "at_hospital")
    phone.wait_for_selector("#referral-status[data-status='arrived']")
    erp.wait_for_selector(f"#on-the-way > li[data-referral='{rid}']", state="detached")
    # driving off: handed over, available again
    fleet.fix("AMB-E2E-1", dest[0] + 0.01, dest[1], ago_s=60, speed=12.0)
    wait_status(page, "AMB-E2E-1", "available")
    v.shot("dispatch-trip-done")
    with fleet.api("segarau") as c:
        (trip,) = c.get(f"/api/referrals/{rid}/transport").json()["trips"]
        kinds = [e["kind"] for e in c.get(f"/api/referrals/{rid}/events").json()]
    assert trip["outcome"] == "handed_over"
    assert [trip[f"{k}_by"] for k in ("at_pickup", "transporting", "at_hospital", "ended")] == ["gps"] * 4
    assert kinds.count("arrive") == 1 and kinds[-1] == "handover"
    for x in (v, midwife, er):
        x.close()


def test_a_trip_recorded_by_hand_a_lost_unit_and_one_off_the_roads(fleet: Fleet, browser: Any) -> None:
    pickup = fleet.facility("PKM-SEGARAU")
    with fleet.api("dispatch") as c:
        for amb in ("AMB-E2E-1", "AMB-E2E-2", "AMB-E2E-3"):
            c.patch(f"/api/ambulances/{amb}/status", json={"status": "available"})
    fleet.fix("AMB-E2E-1", pickup[0] + 0.03, pickup[1], ago_s=30)
    fleet.fix("AMB-E2E-2", pickup[0] + 0.0301, pickup[1] + 0.0001, ago_s=700)  # beside it, and silent
    fleet.fix("AMB-E2E-3", *OFF_MAP, ago_s=20)
    rid, rid2 = fleet.accepted(), fleet.accepted()
    v = Visit(browser, fleet)
    page = v.sign_in("dispatch", "/dispatch")
    # the labels of two ambulances side by side never overlap
    page.wait_for_selector("#fleet tr[data-ambulance='AMB-E2E-2']")
    rects = page.evaluate(
        "() => [...document.querySelectorAll('.amb-label')].filter((n) => getComputedStyle(n).visibility"
        " !== 'hidden').map((n) => { const r = n.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })"
    )
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            assert not (a[0] < b[2] and a[2] > b[0] and a[1] < b[3] and a[3] > b[1]), (a, b)
    # nearest: the one off the roads is listed apart with the reason; the silent one too
    page.check(f"#waiting input[value='{rid}']")
    page.wait_for_selector("#nearest > li[data-ambulance='AMB-E2E-1']")
    page.wait_for_selector("#left-out li[data-ambulance='AMB-E2E-3'][data-reason='off_road']")
    assert "lebih dari 1 km dari jalan" in page.text_content("#left-out")
    assert page.locator("#left-out li[data-ambulance='AMB-E2E-2'][data-reason='stale']").count() == 1
    page.click("#nearest > li[data-ambulance='AMB-E2E-1'] button")
    wait_status(page, "AMB-E2E-1", "dispatched")
    # the crew call in: each step by hand
    for step, status in (("at_pickup", "at_pickup"), ("transporting", "transporting"),
                         ("at_hospital", "at_hospital"), ("handed_over", "available")):  # fmt: skip
        row(page, "AMB-E2E-1").locator(f"button[data-step='{step}']").click()
        wait_status(page, "AMB-E2E-1", status)
    with fleet.api("segarau") as c:
        assert c.get(f"/api/referrals/{rid}").json()["status"] == "arrived"
    # a silent unit sent on a trip: the lost-contact alert, until it reports again
    with fleet.api("dispatch") as c:
        r = c.post("/api/dispatch/assign", json={"referral_id": rid2, "ambulance_id": "AMB-E2E-2"})
        assert r.status_code == 200, r.text
    page.wait_for_selector("#lost li[data-ambulance='AMB-E2E-2']")
    assert page.is_visible("#lost")
    v.shot("dispatch-kontak-hilang")
    fleet.fix("AMB-E2E-2", pickup[0] + 0.02, pickup[1], ago_s=1)
    page.wait_for_selector("#lost", state="hidden")
    # taken off the trip before the patient is aboard: the referral waits again; out of service says why
    row(page, "AMB-E2E-2").locator("button[data-do='out-of-service']").click()
    page.fill("#reason-AMB-E2E-2", "mesin mati di jalan")
    row(page, "AMB-E2E-2").locator("button[data-do='save-reason']").click()
    wait_status(page, "AMB-E2E-2", "out_of_service")
    assert "mesin mati di jalan" in row(page, "AMB-E2E-2").text_content()
    page.wait_for_selector(f"#waiting li[data-referral='{rid2}']")
    v.close()


def test_the_dispatchers_page_on_a_phone_does_not_scroll_sideways(fleet: Fleet, browser: Any) -> None:
    v = Visit(browser, fleet, **PHONE)
    page = v.sign_in("dispatch", "/dispatch")
    page.wait_for_selector("#fleet tr[data-ambulance='AMB-E2E-1']")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, width
    v.shot("dispatch-telepon")
    page.goto(fleet.url + "/insiden")
    page.wait_for_selector("body[data-ready='1']", state="attached")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    v.shot("insiden-telepon")
    v.close()


def _click_map(page: Any, lon: float, lat: float) -> None:
    """Click the dispatcher's map at a place (its pixel worked out by the map itself)."""
    xy = page.evaluate(
        "([lat, lon]) => { const m = window.rujukMap.map; const p = m.latLngToContainerPoint([lat, lon]);"
        " const r = m.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }",
        [lat, lon],
    )
    page.mouse.click(xy[0], xy[1])


def test_an_area_closed_on_the_map_reorders_nearest_and_suggestions_until_lifted(
    fleet: Fleet, browser: Any
) -> None:
    with fleet.api("segarau") as c:
        req = {
            "origin_id": "PKM-SEGARAU",
            "age_years": 28,
            "sex": "female",
            "icd10": ["O72.1"],
            "emergency": True,
        }
        cands = c.post("/api/suggestions", json=req).json()["candidates"]
    top = cands[0]["facility_id"]
    near_top = fleet.facility(top)
    # another hospital farther from the Puskesmas by road than the top one
    other = next(x["facility_id"] for x in cands[1:] if x["travel_time_s"] > cands[0]["travel_time_s"] + 60)
    near_other = fleet.facility(other)
    with fleet.api("dispatch") as c:
        for amb in ("AMB-E2E-1", "AMB-E2E-2", "AMB-E2E-3"):
            c.patch(f"/api/ambulances/{amb}/status", json={"status": "available"})
    # (now: newer than any fix an earlier test sent)
    fleet.fix("AMB-E2E-1", near_top[0] + 0.002, near_top[1], ago_s=0)  # beside the top hospital
    fleet.fix("AMB-E2E-2", near_other[0] + 0.002, near_other[1], ago_s=0)  # beside a farther one
    fleet.fix("AMB-E2E-3", *OFF_MAP, ago_s=0)

    v = Visit(browser, fleet)
    page = v.sign_in("dispatch", "/dispatch")
    page.select_option("#pickup", "PKM-SEGARAU")
    page.click("#nearest-button")
    page.wait_for_selector("#nearest > li[data-ambulance]")
    first = page.locator("#nearest > li").first.get_attribute("data-ambulance")
    assert first == "AMB-E2E-1", page.text_content("#nearest")
    # the flood around the top hospital, marked on the map
    page.click("#roads-mark-area")
    d = 0.012
    for dx, dy in ((-d, -d), (d, -d), (d, d), (-d, d)):
        _click_map(page, near_top[0] + dx, near_top[1] + dy)
    page.fill("#roads-reason", "Banjir setinggi dada")
    page.click("#roads-save")
    page.wait_for_selector("#roads-list li[data-kind='closed']")
    assert "Banjir setinggi dada" in page.text_content("#roads-list")
    # the nearest re-ranked at once: the one inside the flood cannot get out
    wait_js(page, "document.querySelector('#nearest > li')?.dataset.ambulance === 'AMB-E2E-2'")
    page.wait_for_selector("#left-out li[data-ambulance='AMB-E2E-1'][data-reason='no_route']")
    v.shot("dispatch-banjir")
    # the midwife's suggestion no longer puts the flooded hospital first
    midwife = Visit(browser, fleet)
    ask = midwife.sign_in("segarau", "/rujuk")
    _request_suggestions(ask)
    assert ask.locator("#candidates > li[data-facility]").first.get_attribute("data-facility") != top
    midwife.shot("rujuk-saran-banjir")
    # lifted: as before
    page.click("#roads-list li button[data-do='lift']")
    page.wait_for_selector("#roads-list li", state="detached")
    wait_js(page, "document.querySelector('#nearest > li')?.dataset.ambulance === 'AMB-E2E-1'")
    _request_suggestions(ask)
    wait_js(ask, f"document.querySelector('#candidates > li[data-facility]')?.dataset.facility === '{top}'")
    midwife.close()
    v.close()


#: free beds each hospital reported before the bus overturned
MCI_BEDS = {
    "6101033": {"general": 8, "icu": 2},
    "6101022": {"general": 8, "icu": 2},
    "6101135": {"general": 10, "icu": 1},
}


def test_a_bus_overturns_near_pemangkat_25_casualties_distributed_sent_and_carried_in_waves(
    fleet: Fleet, browser: Any
) -> None:
    for fid, beds in MCI_BEDS.items():
        with fleet.api(HOSPITALS[fid]) as c:
            # RS St. Elizabeth registers no ICU: its surge bed is confirmed above capacity
            body = {"beds_available": beds, "confirm_over_capacity": True}
            assert c.patch(f"/api/facilities/{fid}/status", json=body).status_code == 200
    v = Visit(browser, fleet)
    page = v.sign_in("dispatch", "/insiden")
    page.click("#declare-box summary")
    page.fill("#inc-name", "Bus terbalik di jalan Sambas - Pemangkat")
    page.select_option("#inc-facility", "PKM-PEMANGKAT")
    for field, n in (("red-male", 3), ("red-female", 2), ("yellow-male", 5), ("yellow-female", 5),
                     ("green-male", 5), ("green-female", 5)):  # fmt: skip
        page.fill(f"#n-{field}", str(n))
    page.fill("#n-icu", "4")
    page.fill("#inc-ago", "20")
    page.click("#declare-button")
    page.wait_for_selector("#casualties tr[data-label='K-25']")
    with fleet.api("dispatch") as c:
        declared = c.get("/api/incidents").json()[-1]
    age = dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(declared["occurred_at"])
    assert dt.timedelta(minutes=19) < age < dt.timedelta(minutes=22)
    assert "25 korban (5 merah, 10 kuning, 10 hijau)" in page.text_content("#board-summary")
    page.click("#plan-button")
    wait_js(page, "[...document.querySelectorAll('#casualties tr')].every((r) => r.dataset.hospital)")
    v.shot("insiden-rencana")
    assert "Bus terbalik" in page.text_content("#incidents")
    # by hand: K-25 (green) to a hospital with general beds left, not over its free beds
    with fleet.api("dispatch") as c:
        inc = c.get("/api/incidents").json()[-1]
        board = c.get(f"/api/incidents/{inc['id']}").json()
    used = Counter((x["plan"]["hospital_id"], x["bed"] or "general") for x in board["casualties"])
    for (h, bed), n in used.items():
        assert n <= MCI_BEDS[h][bed], (h, bed, n)  # capacities never exceeded
    assert sum(n for (_, bed), n in used.items() if bed == "icu") == 4
    k25 = next(x for x in board["casualties"] if x["label"] == "K-25")
    room = next(
        h
        for h in MCI_BEDS
        if used[(h, "general")] < MCI_BEDS[h]["general"] and h != k25["plan"]["hospital_id"]
    )
    page.select_option(f"#casualties select[data-casualty='{k25['id']}']", room)
    page.wait_for_selector(f"#casualties tr[data-label='K-25'][data-hospital='{room}']")
    # sent in one step
    page.click("#send-button")
    wait_js(
        page, "[...document.querySelectorAll('#casualties tr')].every((r) => r.dataset.status === 'sent')"
    )
    with fleet.api("dispatch") as c:
        board = c.get(f"/api/incidents/{inc['id']}").json()
    share = {s["hospital_id"]: s["casualties"] for s in board["share"]}
    assert set(share) == set(MCI_BEDS) and sum(share.values()) == 25  # three hospitals
    # each hospital's inbox shows the incident and its share; they accept
    for fid in MCI_BEDS:
        er = Visit(browser, fleet)
        inbox = er.sign_in(HOSPITALS[fid], "/terima")
        inbox.wait_for_selector(f"#incidents [data-incident='{inc['id']}']")
        assert f"{share[fid]} korban dirujuk ke sini (dari 25)" in inbox.text_content("#incidents")
        inbox.wait_for_selector("#inbox > li .badge.incident")
        assert inbox.locator("#inbox > li .badge.incident").count() == share[fid]
        if fid == "6101033":
            er.shot("terima-insiden")
        er.close()
        with fleet.api(HOSPITALS[fid]) as c:
            for x in board["casualties"]:
                if x["referral"]["destination_id"] == fid:
                    assert c.post(f"/api/referrals/{x['referral']['id']}/accept").status_code == 200
    # ambulances in waves: the three units take three casualties; freed, the next three
    pickup = fleet.facility("PKM-PEMANGKAT")
    with fleet.api("dispatch") as c:
        for i, amb in enumerate(("AMB-E2E-1", "AMB-E2E-2", "AMB-E2E-3")):
            c.patch(f"/api/ambulances/{amb}/status", json={"status": "available"})
            fleet.fix(amb, pickup[0] + 0.01 * (i + 1), pickup[1], ago_s=0)
    waves = []
    for _ in range(2):
        page.click("#wave-button")
        page.wait_for_selector("#wave > li[data-referral]")
        waves.append(page.locator("#wave > li[data-referral]").count())
        page.click("#wave-assign")
        page.wait_for_selector("#wave-box", state="hidden")
        wait_js(
            page,
            "document.querySelectorAll('#casualties tr[data-status=\"dispatched\"]').length === 3",
        )
        v.shot(f"insiden-gelombang-{len(waves)}")
        with fleet.api("dispatch") as c:  # the crews deliver and hand over: free for the next wave
            for amb in ("AMB-E2E-1", "AMB-E2E-2", "AMB-E2E-3"):
                for step in ("transporting", "at_hospital", "handed_over"):
                    c.post(f"/api/ambulances/{amb}/trip", json={"step": step})
                fleet.fix(amb, pickup[0], pickup[1] + 0.001, ago_s=0)
    assert waves == [3, 3]
    with fleet.api("dispatch") as c:
        board = c.get(f"/api/incidents/{inc['id']}").json()
    states = Counter(x["referral"]["status"] for x in board["casualties"])
    assert states["arrived"] == 6 and states["accepted"] == 19
    # the reds first: the five red casualties went in the first two waves
    carried = [x for x in board["casualties"] if x["referral"]["status"] == "arrived"]
    assert Counter(x["triage"] for x in carried) == {"red": 5, "yellow": 1}
    v.close()
