"""The planner's page (/rencana) walked as a planner at a desk (1366 x 900) and on a phone (390 x 844):
the first map from memory, the optimiser's table with names, its scenario compared with today (the
difference that is really there, what changes on a map), the files read back, errors in Bahasa
Indonesia, no sideways scroll. Screenshots in ``RUJUK_TEST_ARTEFACTS`` (``rencana-*.png``)."""

from __future__ import annotations

import csv
import io
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from openpyxl import load_workbook

from tests.service.conftest import PASSWORD
from tests.service.test_deploy import Server, cli
from tests.web.test_pages import CHROMIUM, LEAFLET, Site, Visit, browser, wait_js

__all__ = ["browser"]  # the browser fixture, shared with the other page tests

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)"),
    pytest.mark.skipif(
        not LEAFLET.is_file(), reason="the map library is not installed (make setup runs npm ci)"
    ),
]

DESK = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
SNAKE = re.compile(r"\b[a-z0-9]+(?:_[a-z0-9]+)+\b")
#: a number as the page writes it in Bahasa Indonesia: thousands dot, decimal comma, sign, percent
ID_NUMBER = re.compile(r"^[+\-\u2212]?\d{1,3}(\.\d{3})*(,\d+)?%?$|^\u2013$")  # \u2013: no figure
ENGLISH = re.compile(
    r"\b(unknown|facility|region|referrals?|share|mean|load|capacity|true|false|null)\b", re.IGNORECASE
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("plan-web")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUJUK_")}
    env.update(RUJUK_DATA_DIR=str(tmp / "var"), RUJUK_REDIS_URL=redis_url,
               RUJUK_REDIS_PREFIX=f"rujuk:{{plan-{uuid.uuid4().hex[:8]}}}:", RUJUK_TOKEN_MINUTES="120")  # fmt: skip
    cli(env, "users", "create", "planner", "--role", "planner", "--password-stdin", stdin=PASSWORD + "\n")
    server = Server(env, workers=1)
    server.start()
    try:
        yield Site(server, "")
    finally:
        server.stop()


def no_sideways_scroll(page: Any) -> None:
    overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px"


def table_in_words(page: Any, selector: str) -> list[str]:
    """The table's headers (checked for words, not identifiers) and its numbers (Indonesian)."""
    heads = page.eval_on_selector_all(f"{selector} th", "els => els.map(e => e.textContent)")
    assert heads
    for h in heads:
        assert not SNAKE.search(h), f"an identifier as a header: {h!r}"
    numbers = page.eval_on_selector_all(f"{selector} td.num", "els => els.map(e => e.textContent)")
    assert numbers
    for n in numbers:
        assert ID_NUMBER.match(n), f"not an Indonesian number: {n!r}"
    return list(heads)


def download(page: Any, button: str) -> bytes:
    with page.expect_download() as dl:
        page.click(button)
    return Path(dl.value.path()).read_bytes()


def test_a_planner_optimises_compares_and_downloads_at_a_desk(site: Site, browser: Any) -> None:
    # the first map is computed at start-up: the API answers it from memory
    with httpx.Client(base_url=site.url, headers=site.server.token("planner"), timeout=60) as c:
        api_map = c.post("/api/plan/map", json={"referrals": 5000, "seed": 1, "scenario": None})
        assert api_map.status_code == 200
    v = Visit(browser, site, viewport=DESK, accept_downloads=True)
    page = v.sign_in("planner", "/rencana")
    assert page.text_content("#legend").count("RSUD") >= 2  # the catchment map is drawn
    assert page.text_content("#today") == "Kondisi sekarang, tanpa skenario: 5.000 rujukan simulasi."
    table_in_words(page, "#side-by-side")  # today's figures at once
    # the optimiser: names next to ids, words as headers, Indonesian numbers
    page.click("#run-optimise")
    page.wait_for_selector("#use-optimised", timeout=60_000)
    heads = table_in_words(page, "#table")
    assert {"Kode Puskesmas", "Nama", "RS rujukan sekarang", "RS hasil optimasi", "Berpindah"} <= set(heads)
    first = page.eval_on_selector_all("#table tbody tr:first-child td", "els => els.map(e => e.textContent)")
    assert (
        first[0].startswith("PKM-") and first[1].startswith("Puskesmas ") and first[-1] == "ya"
    )  # moves first
    assert re.search(
        r"rata-rata \d+,\d\d menit .* dibanding \d+,\d\d menit", page.text_content("#opt-result")
    )
    # its scenario against today: the overall difference that is there, and what changes
    page.click("#use-optimised")
    page.wait_for_selector("#scenario-state.ok")
    page.click("#run-compare")
    page.wait_for_selector("#changed-time", timeout=60_000)
    wait_js(page, "document.querySelector('#busy').textContent.includes('selesai')", timeout_s=60)
    changed = page.text_content("#changed")
    m = re.search(r"^([\d.]+) dari 5\.000 rujukan \((\d+,\d)%\) berganti tujuan\.$", changed)
    assert m and int(m.group(1).replace(".", "")) > 0, changed
    mean_diff = page.text_content("#side-by-side td[data-col='mean_min_diff']")
    assert re.match(r"^[+\-\u2212]\d+,\d\d$", mean_diff), (
        f"the optimised regions move the mean: {mean_diff!r}"
    )
    assert "menit per rujukan" in page.text_content("#changed-time")
    assert re.search(r"^Hanya \d+,\d% rujukan berganti tujuan", page.text_content("#changed-overall"))
    table_in_words(page, "#side-by-side")
    assert page.is_checked("input[name=view][value=change]")
    flows = page.eval_on_selector_all("#legend span.flow", "els => els.map(e => e.textContent)")
    assert flows and all(re.match(r"^ke .+ → ke .+ \([\d.]+\)$", f) for f in flows), flows
    v.shot("rencana-berubah")
    page.select_option("#table-pick", "by_hospital")
    heads = table_in_words(page, "#table")
    assert heads[:2] == ["Kode rumah sakit", "Nama"]
    assert "%" in page.text_content("#table tbody")  # load against capacity as a percentage
    page.select_option("#table-pick", "changes")
    assert "Tujuan skenario" in table_in_words(page, "#table")
    # files: Excel by default (every table), CSV for Excel in Indonesian (this table)
    wb = load_workbook(io.BytesIO(download(page, "#download-xlsx")))
    assert {"Keseluruhan", "Per Puskesmas", "Per rumah sakit", "Perubahan tujuan"} <= set(wb.sheetnames)
    assert [c.value for c in wb["Per rumah sakit"][1]][:2] == ["Kode rumah sakit", "Nama"]
    raw = download(page, "#download-csv")
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:2] == ["Kode Puskesmas", "Puskesmas"] and len(rows) > 1
    no_sideways_scroll(page)
    words = page.evaluate("document.body.innerText")
    assert not SNAKE.search(words), SNAKE.findall(words)
    v.shot("rencana-desk")
    # English one click away: the same table in English words
    page.click("#lang-switch")
    assert "Hospital" in page.text_content("#table thead") or "Destination" in page.text_content(
        "#table thead"
    )
    page.click("#lang-switch")
    # a scenario with mistakes: every problem in Bahasa Indonesia, never the API's English
    page.fill("#yaml", "name: salah\nchanges:\n  - close_facility: {facility: RS-X}\n"
                       "  - move_origin: {origin: PKM-SEGARAU, region: regional-9}\n")  # fmt: skip
    page.click("#run-compare")
    page.wait_for_selector("#scenario-state.error li")
    state = page.text_content("#scenario-state")
    assert "Perubahan ke-1 (tutup fasilitas), fasilitas: fasilitas ini tidak ada di data." in state
    assert (
        "Perubahan ke-2 (pindah wilayah Puskesmas), wilayah rujukan: wilayah rujukan ini tidak dikenal."
        in state
    )
    assert not ENGLISH.search(state) and "RS-X" not in page.text_content("#plan-error"), state
    page.fill("#yaml", "name: x\nchanges: [\n")
    page.click("#run-compare")
    wait_js(page, "document.querySelector('#scenario-state').textContent.includes('YAML yang valid')")
    v.close(answered=(422,))  # the scenarios with mistakes


def test_a_planner_compares_an_example_on_a_phone(site: Site, browser: Any) -> None:
    v = Visit(browser, site, viewport=PHONE, is_mobile=True, has_touch=True)
    page = v.sign_in("planner", "/rencana")
    no_sideways_scroll(page)
    v.shot("rencana-phone")
    page.select_option("#example", label="Segarau ke Regional 2")
    page.click("#run-compare")
    page.wait_for_selector("#changed-time", timeout=60_000)
    wait_js(page, "document.querySelector('#busy').textContent.includes('selesai')", timeout_s=60)
    assert page.locator("#results").is_visible()
    assert re.search(r"dari 5\.000 rujukan \(\d+,\d%\)", page.text_content("#changed"))
    table_in_words(page, "#side-by-side")
    table_in_words(page, "#table")
    assert page.is_checked("input[name=view][value=change]")
    assert "ke " in page.text_content("#legend") and "→" in page.text_content("#legend")
    no_sideways_scroll(page)
    v.shot("rencana-phone-berubah")
    v.close()
