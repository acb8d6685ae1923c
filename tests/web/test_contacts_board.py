"""Facility contacts and the status board's checks, through the pages: ``tel:`` links on the result
cards (/rujuk), the inbox (/terima, the sender) and the dispatch board (/dispatch); a bed figure
above the registered capacity confirmed on the page before it is saved; the reason for not
accepting marked required and its error shown next to it in Bahasa Indonesia."""

from __future__ import annotations

from typing import Any

from tests.web.test_pages import Site, Visit, browser, site

__all__ = ["browser", "site"]  # the fixtures, shared with the pages' tests

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
SAMBAS = "6101022"  # RSUD Sambas: 6 ICU beds registered


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
    before = _figures(site, "sambas", SAMBAS).get("beds_available.icu")
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
    assert _figures(site, "sambas", SAMBAS).get("beds_available.icu") == before
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
