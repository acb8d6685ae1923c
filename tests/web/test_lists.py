"""The sent list ("Rujukan terkirim", a midwife on her phone) and the received list ("Rujukan
terakhir", an ER nurse at her desk) walked in the browser: patient names, search, the state filter,
the date range and "Muat lebih banyak" through the whole history, in Bahasa Indonesia and English,
with no sideways scroll on a 390 x 844 phone."""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.service.conftest import letter_body
from tests.web.test_pages import Site, Visit, browser, site

__all__ = ["browser", "site"]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "locale": "id-ID"}
SENT = 23  # more than a page (20)
JAKARTA = ZoneInfo("Asia/Jakarta")


def _letter(name: str, nik: str, *, now: dt.datetime, **over: Any) -> dict[str, Any]:
    body = letter_body(now=now, **over)
    body["patient"] = {**body["patient"], "name": name, "nik": nik}
    return body


def _post(c: Any, body: dict[str, Any]) -> str:
    r = c.post("/api/referrals", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


@pytest.fixture(scope="module")
def history(site: Site) -> dict[str, Any]:
    """Segarau's history at RSUD Pemangkat: SENT sent referrals, one declined, one that went on to
    RSUD Sambas after a decline (Pemangkat keeps its trace), two paper ones ten days ago."""
    now = dt.datetime.now(dt.UTC)
    ids: dict[str, Any] = {"sent": []}
    with site.api("segarau") as c:
        for i in range(SENT):
            rid = _post(c, _letter(f"Pasien Daftar {i:02d}", f"61010141079810{i:02d}", now=now))
            assert c.post(f"/api/referrals/{rid}/send").status_code == 200
            ids["sent"].append(rid)
        ids["declined"] = _post(c, _letter("Rahmawati Tolak", "6101014107981101", now=now))
        ids["trace"] = _post(c, _letter("Maimunah Jejak", "6101014107981102", now=now))
        for rid in (ids["declined"], ids["trace"]):
            assert c.post(f"/api/referrals/{rid}/send").status_code == 200
        past = now - dt.timedelta(days=10)
        ids["paper"] = [
            _post(c, _letter(f"Kertas {k}", f"610101410798120{k}", now=past,
                             offline={"occurred_at": past.isoformat(), "note": "Jaringan mati"}))
            for k in range(2)
        ]  # fmt: skip
        ids["paper_day"] = past.astimezone(JAKARTA).date().isoformat()
    with site.api("pemangkat") as c:
        for rid in (ids["declined"], ids["trace"]):
            r = c.post(f"/api/referrals/{rid}/decline", json={"reason": "Kamar operasi penuh"})
            assert r.status_code == 200, r.text
    with site.api("segarau") as c:
        r = c.post(f"/api/referrals/{ids['trace']}/redirect", json={"destination_id": "6101022"})
        assert r.status_code == 200, r.text
    return ids


def _names(page: Any, body: str) -> list[str]:
    return [n.strip() for n in page.locator(f"#{body} tr .patient-name").all_text_contents()]


def _no_sideways_scroll(page: Any) -> None:
    overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px on a phone"


def _wait_rows(page: Any, body: str, n: int) -> None:
    """Until the list holds ``n`` rows (polled: the pages' CSP forbids Playwright's in-page wait)."""
    deadline = time.monotonic() + 15
    while page.locator(f"#{body} tr").count() != n:
        assert time.monotonic() < deadline, f"{body}: {page.locator(f'#{body} tr').count()} rows, not {n}"
        page.wait_for_timeout(100)


def test_the_midwife_goes_through_her_sent_referrals_on_her_phone(
    site: Site, browser: Any, history: dict[str, Any]
) -> None:
    v = Visit(browser, site, **PHONE)
    page = v.sign_in("segarau", "/rujuk")
    total = SENT + 2 + 2
    _wait_rows(page, "outbox", 20)
    names = _names(page, "outbox")
    assert names[0] == "Maimunah Jejak"  # newest first (the paper ones happened ten days ago)
    assert "Pasien Daftar 22" in names
    first = page.locator("#outbox tr").first
    text = first.text_content() or ""
    assert "RSUD Sambas" in text  # where it is now
    assert "O72.1" in text and "Perdarahan postpartum" in text
    assert "Perempuan, 28 th" in text
    assert re.search(r"\d{1,2} \w{3},? \d{2}\.\d{2} WIB", text), text  # id-ID: 09.05, local time
    assert page.is_visible("#outbox-more")
    _no_sideways_scroll(page)
    page.locator("#outbox-title").scroll_into_view_if_needed()
    v.shot("rujuk-daftar-terkirim")
    page.click("#outbox-more")
    _wait_rows(page, "outbox", total)
    assert page.is_hidden("#outbox-more")  # the whole history is shown
    names = _names(page, "outbox")
    assert len(set(names)) == total
    assert names[-2:] == ["Kertas 1", "Kertas 0"] or names[-2:] == ["Kertas 0", "Kertas 1"]
    _no_sideways_scroll(page)

    page.fill("#outbox-q", "daftar 07")
    _wait_rows(page, "outbox", 1)
    assert _names(page, "outbox") == ["Pasien Daftar 07"]
    page.fill("#outbox-q", "zzz tidak ada")
    _wait_rows(page, "outbox", 0)
    assert page.text_content("#outbox-note") == "Tidak ada rujukan yang cocok."
    page.fill("#outbox-q", "")
    _wait_rows(page, "outbox", 20)

    page.select_option("#outbox-status", "declined")
    _wait_rows(page, "outbox", 1)
    assert _names(page, "outbox") == ["Rahmawati Tolak"]
    assert "Ditolak" in (page.text_content("#outbox tr") or "")
    page.select_option("#outbox-status", "")
    page.fill("#outbox-since", history["paper_day"])
    page.fill("#outbox-until", history["paper_day"])
    _wait_rows(page, "outbox", 2)
    assert sorted(_names(page, "outbox")) == ["Kertas 0", "Kertas 1"]
    _no_sideways_scroll(page)
    v.shot("rujuk-daftar-tanggal")

    page.click("#lang-switch")
    assert page.text_content("#outbox-title") == "Sent referrals"
    assert page.text_content("label[for='outbox-since']") == "From"
    assert page.locator("#outbox-status option").first.text_content() == "All states"
    assert "Female, 28 y" in (page.text_content("#outbox tr") or "")
    page.click("#lang-switch")
    assert page.text_content("label[for='outbox-since']") == "Dari tanggal"
    v.close()


def test_the_er_nurse_goes_through_what_her_hospital_received(
    site: Site, browser: Any, history: dict[str, Any]
) -> None:
    v = Visit(browser, site)
    page = v.sign_in("pemangkat", "/terima")
    _wait_rows(page, "recent", 20)
    trace = page.locator(f"#recent tr[data-referral='{history['trace']}']")
    assert "Identitas tidak ditampilkan" in (trace.text_content() or "")
    assert "Dialihkan ke RSUD Sambas" in (trace.text_content() or "")
    assert "Maimunah" not in page.content()  # the trace never shows who the patient is
    declined = page.locator(f"#recent tr[data-referral='{history['declined']}']")
    assert "Rahmawati Tolak" in (declined.text_content() or "")
    assert "Puskesmas Segarau" in (declined.text_content() or "")
    v.shot("terima-daftar")
    page.click("#recent-more")
    _wait_rows(page, "recent", SENT + 2 + 2)
    assert page.is_hidden("#recent-more")

    page.fill("#recent-q", "maimunah")  # the trace is not found by its patient
    _wait_rows(page, "recent", 0)
    page.fill("#recent-q", "rahmawati")
    _wait_rows(page, "recent", 1)
    page.fill("#recent-q", "HPP")  # by the diagnosis's abbreviation: every one of them
    _wait_rows(page, "recent", 20)
    page.fill("#recent-q", "")
    page.select_option("#recent-status", "accepted")  # the paper referrals: accepted as they happened
    _wait_rows(page, "recent", 2)
    assert sorted(_names(page, "recent")) == ["Kertas 0", "Kertas 1"]
    page.select_option("#recent-status", "")
    page.fill("#recent-since", "2026-12-31")
    page.fill("#recent-until", "2026-12-01")
    page.wait_for_selector("#recent-note:has-text('Tanggal akhir sebelum tanggal awal')")
    v.close()

    phone = Visit(browser, site, **PHONE)
    page = phone.sign_in("pemangkat", "/terima")
    _wait_rows(page, "recent", 20)
    page.locator("#recent-title").scroll_into_view_if_needed()
    _no_sideways_scroll(page)
    phone.shot("terima-daftar-phone")
    phone.close()
