"""Facility contacts and the status board's checks, through the pages: ``tel:`` links on the result
cards (/rujuk), the inbox (/terima, the sender) and the dispatch board (/dispatch); a bed figure
above the registered capacity confirmed on the page before it is saved; the reason for not
accepting marked required and its error shown next to it in Bahasa Indonesia."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

from tests.service.conftest import letter_body
from tests.web.test_pages import Site, Visit, _request_suggestions, browser, site

__all__ = ["browser", "site"]  # the fixtures, shared with the pages' tests

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
SAMBAS = "6101022"  # RSUD Sambas: 6 ICU beds registered
PEMANGKAT = "6101033"
#: the numbers of the bundled dataset (RS Online 2021), for reading and in the link
TEL = {SAMBAS: ("(0562) 391020", "tel:+62562391020"), PEMANGKAT: ("(0562) 241203", "tel:+62562241203")}


def _phones(site: Site) -> dict[str, Any]:
    """Every facility's phone as the API gives it (None: not known)."""
    with site.api("segarau") as c:
        return {f["id"]: f["phone"] for f in c.get("/api/facilities").json()}


def _check_link(link: Any, display: str, tel: str) -> None:
    """A call link: the number to read, tel:+62... to dial, large enough to tap (44 x 44 px)."""
    assert link.get_attribute("href") == tel
    assert link.text_content() == f"Telepon {display}"
    # shown, not only in the page. A list's card is drawn again on each live update, and the link
    # found may be detached by then (no box): it is found again, for up to 10 s
    box = None
    for _ in range(100):
        link.wait_for(state="visible", timeout=10_000)
        box = link.bounding_box()
        if box is not None:
            break
        time.sleep(0.1)
    assert box is not None
    assert box["height"] >= 44 and box["width"] >= 44, box


def _figures(site: Site, user: str, facility_id: str) -> dict[str, Any]:
    with site.api(user) as c:
        r = c.get(f"/api/facilities/{facility_id}/status")
        assert r.status_code == 200, r.text
        return {f["key"]: f for f in r.json()["figures"]}


def test_icu_99_of_6_is_saved_only_after_the_page_asks(site: Site, browser: Any) -> None:
    v = Visit(browser, site)
    page = v.sign_in("sambas", "/terima")
    page.wait_for_selector("#bed-icu")
    assert "dari 6" in page.text_content("label[for='bed-icu']")
    page.fill("#bed-icu", "2")
    page.click("#board-save")
    page.wait_for_selector("#age-beds_available\\.icu:has-text('detik lalu')")
    assert page.is_hidden("#board-confirm")  # within capacity: saved at once

    page.fill("#bed-icu", "99")
    page.click("#board-save")
    page.wait_for_selector("#board-confirm", state="visible")
    assert page.text_content("#board-confirm-text") == "ICU 99 melebihi kapasitas terdaftar 6. Simpan tetap?"
    assert _figures(site, "sambas", SAMBAS)["beds_available.icu"]["value"] == 2  # not saved yet
    v.shot("terima-status-melebihi-kapasitas")
    # "check again": nothing saved, back on the figure
    page.click("#board-confirm-no")
    assert page.is_hidden("#board-confirm")
    assert page.evaluate("document.activeElement.id") == "bed-icu"
    assert _figures(site, "sambas", SAMBAS)["beds_available.icu"]["value"] == 2
    # "save anyway": saved, confirmed
    page.click("#board-save")
    page.click("#board-confirm-yes")
    page.wait_for_selector("#announce:has-text('Status tersimpan')")
    assert _figures(site, "sambas", SAMBAS)["beds_available.icu"]["value"] == 99
    assert page.is_hidden("#board-confirm")

    # the same question in English, one click away
    page.click("#lang-switch")
    page.fill("#bed-icu", "120")
    page.click("#board-save")
    page.wait_for_selector("#board-confirm", state="visible")
    assert (
        page.text_content("#board-confirm-text")
        == "ICU 120 is above the registered capacity of 6. Save anyway?"
    )
    page.click("#board-confirm-no")
    page.click("#lang-switch")
    v.close()


def test_negative_and_absurd_figures_are_refused_next_to_the_field(site: Site, browser: Any) -> None:
    v = Visit(browser, site, **PHONE)
    page = v.sign_in("sambas", "/terima")
    page.wait_for_selector("#bed-icu")

    def icu() -> tuple[Any, Any]:
        f = _figures(site, "sambas", SAMBAS).get("beds_available.icu") or {}
        return f.get("value"), f.get("updated_at")

    before = icu()
    page.fill("#bed-icu", "-3")
    page.click("#board-save")
    assert page.text_content("#bed-err-icu") == "Tempat tidur ICU: isi bilangan bulat 0 atau lebih."
    assert page.get_attribute("#bed-icu", "aria-invalid") == "true"
    assert page.get_attribute("#bed-icu", "aria-describedby") == "bed-err-icu"
    assert page.is_hidden("#board-confirm")  # refused outright, no "save anyway"
    page.fill("#bed-icu", "5000")
    page.click("#board-save")
    assert page.text_content("#bed-err-icu") == "Tempat tidur ICU: paling banyak 1.000."
    assert page.is_hidden("#board-confirm")
    v.shot("terima-status-angka-ditolak-hp")
    page.fill("#bed-icu", "1")  # typing clears the error
    assert page.text_content("#bed-err-icu") == ""
    assert page.get_attribute("#bed-icu", "aria-invalid") is None
    assert icu() == before  # nothing was sent
    v.close()


def test_the_reason_for_not_accepting_is_marked_required_and_its_error_is_in_bahasa(
    site: Site, browser: Any
) -> None:
    v = Visit(browser, site, **PHONE)
    page = v.sign_in("sambas", "/terima")
    reason = page.locator("#stop-reason")
    assert reason.get_attribute("required") is not None
    assert reason.get_attribute("aria-required") == "true"
    assert "(wajib)" in page.text_content("label[for='stop-reason']")
    page.click("#stop-button")
    assert page.text_content("#stop-reason-error") == "Isi alasan mengapa fasilitas tidak menerima rujukan."
    assert reason.get_attribute("aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "stop-reason"
    body = page.text_content("body")
    assert "not_accepting_reason" not in body and "say why" not in body
    assert page.is_visible("#not-accepting .notice.ok")  # still accepting: nothing was sent
    na = _figures(site, "sambas", SAMBAS).get("not_accepting_until")
    assert na is None or na["in_force"] is False
    v.shot("terima-alasan-wajib-hp")
    page.fill("#stop-reason", "Listrik padam")
    assert page.text_content("#stop-reason-error") == ""
    page.click("#stop-button")
    page.wait_for_selector("#not-accepting-notice")
    assert "Listrik padam" in page.text_content("#not-accepting-notice")
    page.click("#not-accepting-notice button")
    page.wait_for_selector("#not-accepting .notice.ok")
    v.close()


def test_each_suggested_destination_can_be_called_from_its_card(site: Site, browser: Any) -> None:
    phones = _phones(site)
    v = Visit(browser, site, **PHONE)
    page = v.sign_in("segarau", "/rujuk")
    _request_suggestions(page)
    cards = page.locator("#candidates > li[data-facility]")
    assert cards.count() >= 3
    for i in range(cards.count()):
        card = cards.nth(i)
        fid = card.get_attribute("data-facility")
        phone = phones[fid]
        if phone is None:
            assert card.locator("a.call").count() == 0
            assert card.locator(".no-phone").text_content() == "nomor belum tercatat"
        else:
            _check_link(card.locator("a.call"), phone["display"], phone["tel"])
            assert (
                "belum tentu IGD" in card.locator(".contact").text_content()
            )  # a main number, not the IGD's
    pemangkat = page.locator(f"#candidates > li[data-facility='{PEMANGKAT}'] a.call")
    _check_link(pemangkat, *TEL[PEMANGKAT])
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width  # the links add no sideways scroll on the phone
    v.shot("rujuk-saran-telepon-hp")
    page.click("#lang-switch")
    page.wait_for_selector(f"#candidates > li[data-facility='{PEMANGKAT}'] a.call:has-text('Call')")
    assert (
        page.locator(f"#candidates > li[data-facility='{PEMANGKAT}'] a.call").get_attribute("href")
        == TEL[PEMANGKAT][1]
    )
    page.click("#lang-switch")
    page.wait_for_selector(f"#candidates > li[data-facility='{PEMANGKAT}'] a.call:has-text('Telepon')")

    # the letter sent, its status card calls the destination while the midwife waits for the answer
    page.locator(f"#candidates > li[data-facility='{PEMANGKAT}'] button").click()
    for field, value in (("#p-name", "Siti Contoh"), ("#p-nik", "6101014107980001"), ("#p-mrn", "RM-000123"),
                         ("#p-dob", "1998-07-01"), ("#m-stab", "Kompresi bimanual, 2 jalur infus")):  # fmt: skip
        page.fill(field, value)
    page.check("#c-items")
    page.check("#c-given")
    page.click("#send-button")
    page.wait_for_selector("#referral-status[data-status='sent']")
    status = page.locator("#status .contact")
    assert status.get_attribute("data-contact") == PEMANGKAT
    assert status.locator(".who").text_content() == "Tujuan:"
    _check_link(status.locator("a.call"), *TEL[PEMANGKAT])
    # the answer redraws the status card live; the call link stays the same element, so a finger
    # about to tap it does not lose the tap to the redraw (CI once caught it detached mid-check)
    status.locator("a.call").evaluate("a => { a.keptAcrossRedraw = true; }")
    with site.api("pemangkat") as c:  # answered, so the next tests find an empty inbox
        rid = c.get("/api/referrals?box=inbox&status=sent").json()[0]["id"]
        assert c.post(f"/api/referrals/{rid}/decline", json={"reason": "Uji telepon"}).status_code == 200
    page.wait_for_selector("#referral-status[data-status='declined']")
    assert status.locator("a.call").evaluate("a => a.keptAcrossRedraw === true")
    v.close()


def test_the_er_calls_the_sender_from_the_inbox_card(site: Site, browser: Any) -> None:
    from_puskesmas = site.sent_referral()  # Puskesmas Segarau: no number recorded
    with site.api("sambas") as c:  # RSUD Sambas refers to RSUD Pemangkat: its number is known
        body = letter_body(now=dt.datetime.now(dt.UTC))
        r = c.post("/api/referrals", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
        assert r.status_code == 201, r.text
        from_hospital = r.json()["id"]
        assert c.post(f"/api/referrals/{from_hospital}/send").status_code == 200
    v = Visit(browser, site, **PHONE)
    page = v.sign_in("pemangkat", "/terima")
    hospital_card = page.locator(f"#inbox > li[data-referral='{from_hospital}']")
    hospital_card.wait_for()
    assert hospital_card.locator(".contact .who").text_content() == "Pengirim:"
    _check_link(hospital_card.locator("a.call"), *TEL[SAMBAS])
    puskesmas_card = page.locator(f"#inbox > li[data-referral='{from_puskesmas}']")
    assert puskesmas_card.locator("a.call").count() == 0
    assert puskesmas_card.locator(".contact").text_content().startswith("Pengirim:nomor belum tercatat")
    v.shot("terima-inbox-telepon-hp")
    # accepted: on its way here, the sender still one tap away
    with site.api("pemangkat") as c:
        assert c.post(f"/api/referrals/{from_hospital}/accept", json={"note": ""}).status_code == 200
        assert (
            c.post(f"/api/referrals/{from_puskesmas}/decline", json={"reason": "Uji telepon"}).status_code
            == 200
        )
    on_the_way = page.locator(f"#on-the-way > li[data-referral='{from_hospital}']")
    on_the_way.wait_for()
    _check_link(on_the_way.locator(".contact a.call"), *TEL[SAMBAS])
    with site.api("sambas") as c:  # cancelled, so the dispatcher's test finds only its own referral
        assert (
            c.post(f"/api/referrals/{from_hospital}/cancel", json={"note": "Uji telepon"}).status_code == 200
        )
    v.close()


def test_the_dispatcher_calls_a_trips_origin_and_destination(site: Site, browser: Any) -> None:
    rid = site.sent_referral()
    with site.api("pemangkat") as c:
        assert c.post(f"/api/referrals/{rid}/accept", json={"note": ""}).status_code == 200
    site.post_position(1.2700, 109.0000)
    v = Visit(browser, site)
    page = v.sign_in("dispatch", "/dispatch")
    waiting = page.locator(f"#waiting li[data-referral='{rid}']")
    waiting.wait_for()
    origin, destination = waiting.locator(".contact").all()
    assert origin.get_attribute("data-contact") == "PKM-SEGARAU"
    assert origin.text_content() == "Asal:nomor belum tercatat"
    assert destination.get_attribute("data-contact") == PEMANGKAT
    _check_link(destination.locator("a.call"), *TEL[PEMANGKAT])
    with site.api("dispatch") as c:
        r = c.post("/api/dispatch/assign", json={"referral_id": rid, "ambulance_id": "AMB-E2E-1"})
        assert r.status_code == 200, r.text
    row = page.locator("#fleet tr[data-ambulance='AMB-E2E-1'][data-status='dispatched']")
    row.wait_for()
    contacts = row.locator(".contact")
    assert [contacts.nth(i).get_attribute("data-contact") for i in range(contacts.count())] == [
        "PKM-SEGARAU",
        PEMANGKAT,
    ]
    assert contacts.nth(0).locator(".no-phone").text_content() == "nomor belum tercatat"
    assert contacts.nth(1).locator(".who").text_content() == "Tujuan:"
    _check_link(contacts.nth(1).locator("a.call"), *TEL[PEMANGKAT])
    v.shot("dispatch-telepon")
    v.close()
