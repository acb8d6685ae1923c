"""The diagnosis search as a midwife uses it on her phone: every query of the clinical vocabulary's
list (``tests/rules/test_vocabulary.py``: the spellings, abbreviations and names staff write),
typed into the search box of ``/rujuk``, shows the code meant as the first result, by its
Indonesian name; and the letter downloaded as a PDF from the referral's page is the letter."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pypdf

from tests.rules.test_vocabulary import QUERIES
from tests.web.test_language import problems
from tests.web.test_pages import Site, Visit, browser, send_letter, site, wait_js

__all__ = ["browser", "site"]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def test_every_vocabulary_query_finds_its_code_first_in_the_page(site: Site, browser: Any) -> None:
    v = Visit(browser, site, **PHONE)
    page = v.sign_in("segarau", "/rujuk")
    wrong = {}
    for query, code in QUERIES:
        page.fill("#icd-search", "")
        page.fill("#icd-search", query)
        wait_js(page, "!document.querySelector('#icd-results').hidden")
        first = page.locator("#icd-results [role=option]").first
        first.wait_for()
        got = first.get_attribute("data-code")
        if got != code:
            wrong[query] = (code, got)
            continue
        # said in Bahasa: the Indonesian name, never an English title unmarked as such
        text = page.evaluate(
            "(() => { const o = document.querySelector('#icd-results [role=option]').cloneNode(true);"
            " o.querySelectorAll('[lang=en]').forEach(e => e.remove()); return o.textContent; })()"
        )
        assert problems(text, "id") == [], (query, text)
    assert wrong == {}, wrong
    v.close()


def test_the_pdf_downloaded_from_the_page_is_the_letter(site: Site, browser: Any) -> None:
    v = Visit(browser, site, **PHONE)
    page = v.sign_in("segarau", "/rujuk")
    page.fill("#age", "28")
    page.select_option("#sex", "female")
    page.fill("#icd-search", "HPP")
    page.click("#icd-results [data-code='O72']")
    page.check("#emergency")
    page.click("#suggest-button")
    page.locator("#candidates > li[data-facility]").first.locator("button").first.click()
    send_letter(page)
    number = (page.text_content("#letter-number") or "").split(": ", 1)[1].strip()
    assert number.endswith("/2026") or number.split("/")[-1].isdigit(), number
    with page.expect_download() as dl:
        page.click("#pdf-letter")
    assert dl.value.suggested_filename == f"surat-rujukan-{number.replace('/', '-')}.pdf"
    doc = pypdf.PdfReader(io.BytesIO(Path(dl.value.path()).read_bytes()))
    text = " ".join(" ".join(p.extract_text().split()) for p in doc.pages)
    for said in (number, "SURAT RUJUKAN", "Siti Contoh", "Perdarahan pasca persalinan", "Dijelaskan oleh"):
        assert said in text, (said, text[:500])
    v.close()
