"""Every page read in Bahasa Indonesia, and in English, as its users see it after doing their work:
no English word on a Bahasa page, no Indonesian one on an English page, no identifier from the
code (``snake_case``), no number written the other language's way, and no error the server said
in English reaching a Bahasa page.

Text marked with its own language (``lang="en"`` inside a Bahasa page: a WHO title that has no
Indonesian name yet) is what it says it is, and is skipped; so is what the test itself typed (a
patient's name, a diagnosis, a reason written in Indonesian stays Indonesian on an English page).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.service.conftest import letter_body
from tests.web.test_pages import Site, Visit, _request_suggestions, browser, send_letter, site, wait_js

__all__ = ["browser", "site"]

WEB = Path(__file__).parents[2] / "service" / "web"
PAGES, I18N = WEB / "pages", WEB / "static" / "i18n.js"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}

#: words that are English and never Indonesian (nor a name, a code or a unit on these pages)
ENGLISH = frozenset(
    [
        "the",
        "and",
        "of",
        "with",
        "not",
        "from",
        "for",
        "field",
        "must",
        "required",
        "invalid",
        "unknown",
        "error",
        "accepted",
        "declined",
        "written",
        "sent",
        "maternity",
        "blood",
        "facility",
        "hospital",
        "referral",
        "letter",
        "print",
        "available",
        "bed",
        "beds",
        "none",
        "cannot",
        "please",
        "waiting",
        "loading",
        "submit",
        "search",
        "results",
        "download",
        "upload",
        "table",
        "scenario",
        "change",
        "changes",
        "minutes",
        "value",
        "true",
        "false",
        "null",
        "undefined",
        "nan",
        "object",
        "share",
        "mean",
        "demand",
        "overflow",
        "incoming",
        "ambulance",
        "dispatched",
        "today",
        "ago",
        "hours",
        "days",
        "save",
        "open",
        "close",
        "yes",
        "seed",
        "transport",
        "live",
        "offline",
        "online",
        "week",
        "month",
        "year",
        "between",
    ]
)
#: words that are Indonesian and never English
INDONESIAN = frozenset(
    [
        "yang",
        "dan",
        "tidak",
        "untuk",
        "dengan",
        "belum",
        "sudah",
        "menunggu",
        "dari",
        "atau",
        "akan",
        "rujukan",
        "tujuan",
        "diterima",
        "ditolak",
        "dikirim",
        "pasien",
        "tempat",
        "tidur",
        "jam",
        "menit",
        "hari",
        "lalu",
        "sekarang",
        "simpan",
        "batal",
        "cari",
    ]
)
SNAKE = re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b")
#: 33.9 (a decimal with a point; 09.00 is a time, O72.1 a code) or 5,000 / 0,232 (thousands with
#: a comma, or a share written as a fraction)
DOT_DECIMAL = re.compile(r"(?<![A-Za-z\d.,/])\d+\.\d(?![\d.])")
COMMA_THOUSANDS = re.compile(r"(?<![A-Za-z\d.,])\d{1,3},\d{3}(?![\d,])")
#: in English: 33,9 (a decimal comma) or 5.000 (thousands with a point)
COMMA_DECIMAL = re.compile(r"(?<![A-Za-z\d.,])\d+,\d(?![\d,])")
DOT_THOUSANDS = re.compile(r"(?<![A-Za-z\d.,])\d{1,3}\.\d{3}(?![\d.])")

#: what the visible page says: its text and the texts of its controls, without the parts marked as
#: another language
READ_PAGE = """(lang) => {
  const skip = (el) => el.closest(`[lang]:not([lang='${lang}'])`) && el.closest('[lang]') !== document.documentElement;
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || skip(el) || ['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE'].includes(el.tagName)) continue;
    if (!el.checkVisibility?.({ checkOpacity: false, checkVisibilityCSS: true })) continue;
    if (el.closest('[hidden], [aria-hidden="true"]') && !el.closest('[role="status"], [role="alert"]')) continue;
    if (n.textContent.trim()) out.push(n.textContent.trim());
  }
  for (const el of document.querySelectorAll('[placeholder], [aria-label], [title], option')) {
    if (skip(el) || (el.tagName !== 'OPTION' && !el.checkVisibility?.())) continue;
    for (const a of ['placeholder', 'aria-label', 'title']) if (el.getAttribute(a)) out.push(el.getAttribute(a));
    if (el.tagName === 'OPTION') out.push(el.textContent.trim());
  }
  out.push(document.title);
  return out.join('\\n');
}"""


def _typed() -> list[str]:
    """What the tests type or store as the users' own words (they stay as written)."""
    b = letter_body()
    words = [
        b["patient"]["name"], b["patient"]["address"], b["medical"]["history"], b["medical"]["diagnosis_text"],
        b["medical"]["therapy"], b["medical"]["stabilisation"], b["reason"], b["consent"]["explained_by"],
        b["receiving_unit"], b["consent"]["representative_relation"], "Kompresi bimanual, 2 jalur infus",
    ]  # fmt: skip
    return sorted(words, key=len, reverse=True)


def _untyped(text: str) -> str:
    for said in _typed():
        text = text.replace(said, " ")
    return text


def problems(text: str, lang: str) -> list[str]:
    """Every word, identifier or number on a page that is not in the page's language."""
    text = _untyped(text)
    words = re.findall(r"[A-Za-zÀ-ÿ]+", text)
    out: list[str] = []
    foreign = ENGLISH if lang == "id" else INDONESIAN
    out += [f"word {w!r}" for w in words if w.lower() in foreign]
    out += [f"identifier {m!r}" for m in SNAKE.findall(text)]
    numbers = (DOT_DECIMAL, COMMA_THOUSANDS) if lang == "id" else (COMMA_DECIMAL, DOT_THOUSANDS)
    for pattern in numbers:
        out += [f"number {m!r}" for m in pattern.findall(text)]
    out += [f"placeholder {m!r}" for m in re.findall(r"\{[a-z_]+\}|\bNaN\b|\[object \w+\]", text)]
    return sorted(set(out))


def scan(page: Any, lang: str, where: str, seen: dict[str, list[str]]) -> None:
    text = page.evaluate(READ_PAGE, lang)
    found = problems(text, lang)
    if found:
        seen[where] = [f"{p} in {_context(_untyped(text), p)!r}" for p in found]


def _context(text: str, problem: str) -> str:
    """Where on the page a problem is (its line), to find it in the code."""
    bit = problem.split("'")[1] if "'" in problem else problem
    m = re.search(rf"(?<![\w]){re.escape(bit)}(?![\w])", text)
    if m is None:
        return ""
    return text[max(0, m.start() - 60) : m.end() + 40].replace("\n", " | ")


def _sent(site: Site) -> str:
    with site.api("segarau") as c:
        r = c.post("/api/referrals", json=letter_body(now=dt.datetime.now(dt.UTC)),
                   headers={"Idempotency-Key": uuid.uuid4().hex})  # fmt: skip
        assert r.status_code == 201, r.text
        rid = str(r.json()["id"])
        assert c.post(f"/api/referrals/{rid}/send").status_code == 200
    return rid


def _walk(site: Site, browser: Any, lang: str, **context: Any) -> dict[str, list[str]]:
    """Every page, in ``lang``, after its user has done their work on it."""
    seen: dict[str, list[str]] = {}
    rid = _sent(site)
    # the referring midwife: the form, the suggestions with the reasons, the letter, its status
    v = Visit(browser, site, **context)
    v.context.add_init_script(f"localStorage.setItem('rujuk.lang', '{lang}')")
    page = v.page
    page.goto(site.url + "/")
    scan(page, lang, "/ (masuk)", seen)
    page = v.sign_in("segarau", "/rujuk")
    scan(page, lang, "/rujuk", seen)
    _request_suggestions(page)
    page.wait_for_selector("#excluded li", state="attached")
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    scan(page, lang, "/rujuk saran", seen)
    page.locator("#candidates > li").first.locator("button").first.click()
    scan(page, lang, "/rujuk surat", seen)
    send_letter(page)
    scan(page, lang, "/rujuk terkirim", seen)
    # the letter itself, as the page opens it
    html = page.evaluate(
        "async ([id, l]) => (await fetch(`/api/referrals/${id}/letter?lang=${l}`, "
        "{headers: {Authorization: `Bearer ${sessionStorage.getItem('rujuk.token')}`}})).text()",
        [rid, lang],
    )
    letter = v.context.new_page()
    letter.set_content(html)
    scan(letter, lang, "surat rujukan", seen)
    letter.close()
    v.close()
    # the ER nurse: the inbox with the referral, the status board, recent referrals
    er = Visit(browser, site, **context)
    er.context.add_init_script(f"localStorage.setItem('rujuk.lang', '{lang}')")
    page = er.sign_in("pemangkat", "/terima")
    page.wait_for_selector(f"#inbox > li[data-referral='{rid}'], #inbox > li", state="attached")
    scan(page, lang, "/terima", seen)
    er.close()
    # the dispatcher, the incidents page, the planner
    for user, path, ready in (
        ("dispatch", "/dispatch", None),
        ("dispatch", "/insiden", None),
        ("planner", "/rencana", "#example option:nth-child(2)"),
    ):
        w = Visit(browser, site, **context)
        w.context.add_init_script(f"localStorage.setItem('rujuk.lang', '{lang}')")
        page = w.sign_in(user, path)
        if ready:
            page.wait_for_selector(ready, state="attached")
        scan(page, lang, path, seen)
        w.close()
    return seen


@pytest.mark.parametrize("lang", ["id", "en"])
def test_every_page_speaks_one_language(site: Site, browser: Any, lang: str) -> None:
    seen = _walk(site, browser, lang)
    assert seen == {}, "\n".join(f"{where}: {', '.join(found)}" for where, found in seen.items())


def test_every_page_speaks_bahasa_on_a_phone(site: Site, browser: Any) -> None:
    seen = _walk(site, browser, "id", **PHONE)
    assert seen == {}, "\n".join(f"{where}: {', '.join(found)}" for where, found in seen.items())


def _refusals(site: Site) -> list[dict[str, Any]]:
    """What the server answers to bad input on the routes the pages call (real answers)."""
    bodies = []
    with site.api("segarau") as c:
        bad = letter_body(now=dt.datetime.now(dt.UTC))
        for change in (
            {"patient": {**bad["patient"], "nik": "12"}},
            {"patient": {**bad["patient"], "name": "", "date_of_birth": "2999-01-01"}},
            {"medical": {**bad["medical"], "vital_signs": {"pulse": 900, "temperature_c": 10}}},
            {"consent": {**bad["consent"], "explained_items": {"a": True}}},
            {"medical": {**bad["medical"], "procedures": [{"code": "99.04"}, {"code": "12.345"}]}},
            {"destination_id": "RS-TIDAK-ADA"},
            {"unexpected": 1},
        ):
            r = c.post(
                "/api/referrals", json={**bad, **change}, headers={"Idempotency-Key": uuid.uuid4().hex}
            )
            assert r.status_code == 422, r.text
            bodies.append(r.json())
        r = c.post(
            "/api/suggestions", json={"origin_id": "PKM-SEGARAU", "age_years": 400, "sex": "x", "icd10": []}
        )
        bodies.append(r.json())
        rid = _sent(site)
        bodies.append(c.post(f"/api/referrals/{rid}/accept").json())  # a sender cannot accept: 403
        bodies.append(c.post(f"/api/referrals/{rid}/send").json())  # sent already: 409
        bodies.append(c.get("/api/referrals/no-such-referral").json())
    with httpx.Client(base_url=site.url, timeout=30) as anon:
        bodies.append(anon.get("/api/referrals").json())
    return bodies


def test_no_refusal_reaches_a_bahasa_page_in_english(site: Site, browser: Any) -> None:
    bodies = _refusals(site)
    v = Visit(browser, site)
    page = v.sign_in("segarau", "/rujuk")
    said = page.evaluate(
        "async (bodies) => { const m = await import('/static/common.js');"
        " return bodies.map((b) => m.errorText(422, b)); }",
        bodies,
    )
    wrong = {s: problems(s, "id") for s in said if problems(s, "id")}
    assert wrong == {}, wrong
    # each names its field in words: NIK, the pulse, the explained items, the destination
    joined = "\n".join(said)
    for words in ("NIK: harus 16 angka", "Nadi: maksimal 300", "Butir penjelasan: butir b, c, d",
                  "Tujuan rujukan: bukan fasilitas penerima rujukan", "Umur: maksimal 130",
                  "Kode tindakan ICD-9-CM ke-2: bukan kode tindakan ICD-9-CM",
                  "Akun Anda tidak punya akses", "Data tidak ditemukan"):  # fmt: skip
        assert words in joined, (words, said)
    wait_js(page, "document.body.dataset.ready === '1'")
    v.close()


def _catalogue() -> dict[str, dict[str, str]]:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("node is not installed (make setup needs npm, which brings it)")
    out = subprocess.run(
        [node, "-e", f"import('{I18N.as_uri()}').then(m => process.stdout.write(JSON.stringify(m.TEXT)))"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    text: dict[str, dict[str, str]] = json.loads(out.stdout)
    return text


def test_one_catalogue_holds_every_text_of_the_pages_in_both_languages() -> None:
    text = _catalogue()
    missing = {k: v for k, v in text.items() if not (v.get("id") and v.get("en"))}
    assert missing == {}, missing
    for page in PAGES.glob("*.html"):
        html = page.read_text(encoding="utf-8")
        for key, written in re.findall(r'data-i18n="([^"]+)"[^>]*>([^<]*)<', html):
            assert key in text, f"{page.name}: {key} is not in i18n.js"
            # what shows before the scripts run is the catalogue's Bahasa, not a second copy
            assert written.strip() == text[key]["id"].strip(), (page.name, key, written)
        for key in re.findall(r'data-i18n-(?:placeholder|aria-label|title)="([^"]+)"', html):
            assert key in text, f"{page.name}: {key} is not in i18n.js"
    # every Bahasa text passes the language scan, and so does every English one
    filled = {k: {lg: re.sub(r"\{\w+\}", " ", v[lg]) for lg in ("id", "en")} for k, v in text.items()}
    wrong = {k: problems(v["id"], "id") for k, v in filled.items() if problems(v["id"], "id")}
    wrong |= {k: problems(v["en"], "en") for k, v in filled.items() if problems(v["en"], "en")}
    assert wrong == {}, wrong


def test_the_scan_finds_what_users_saw() -> None:
    """The scan fails on each thing the testers saw (so a clean scan means something)."""
    seen = (
        "RSUD Pemangkat tidak memiliki blood_bank yang berfungsi; tempat tidur maternity; 33.9 menit; 0,232"
    )
    found = problems(seen, "id")
    assert "identifier 'blood_bank'" in found and "word 'maternity'" in found, found
    assert "number '33.9'" in found and "number '0,232'" in found, found
    assert problems("Status: accepted · written, 2026-12-01", "id") == ["word 'accepted'", "word 'written'"]
    assert problems("O72.1 · 09.00 WIB · 5.000 rujukan · 40,1 menit · 23,2 %", "id") == []
    assert problems("Waiting for an answer: 5,000 referrals, 33.9 min", "en") == []
    assert problems("Menunggu jawaban: 33,9 min", "en") == ["number '33,9'", "word 'Menunggu'"]
