"""The referral letter as people read it: a human number per facility and month, every word in
the reader's language, vital signs labelled with units, local time, the writer by full name and
profession, and a PDF from the same page (its text read back)."""

from __future__ import annotations

import io
import re
from concurrent.futures import ThreadPoolExecutor

import pypdf
import pytest
from sqlalchemy import select

from service.accounts import store as accounts
from service.database import User
from tests.service.conftest import T0, Api, create, letter_body

NUMBER = re.compile(r"^(\d{3,})/RJK/PKM-SEGARAU/XI/2026$")  # T0 is 22 November 2026 (WIB)


def _number(api: Api) -> int:
    r = create(api)
    assert r.status_code == 201, r.text
    m = NUMBER.match(r.json()["number"] or "")
    assert m, r.json()["number"]
    return int(m.group(1))


def test_letters_are_numbered_per_facility_and_month_in_the_local_month(api: Api) -> None:
    first = _number(api)
    assert _number(api) == first + 1
    # another facility counts on its own
    other = create(api, "pemangkat", letter_body(destination_id="6101022"))
    assert other.status_code == 201, other.text
    assert re.match(r"^\d{3}/RJK/6101033/XI/2026$", other.json()["number"]), other.json()["number"]
    # a retry with the same key gives the same letter, its number unchanged
    body, key = letter_body(), "kunci-ulang-surat-0001"
    a = create(api, body=body, key=key).json()["number"]
    assert create(api, body=body, key=key).json()["number"] == a
    assert _number(api) == int(a.split("/")[0]) + 1
    # 30 November 2026 17:30 UTC is 1 December 00:30 in Sambas (WIB): December's first letter
    api.clock.now = T0.replace(day=30, hour=17, minute=30)
    try:
        r = create(api, body=letter_body(now=api.clock.now))
        assert r.status_code == 201, r.text
        assert r.json()["number"] == "001/RJK/PKM-SEGARAU/XII/2026"
    finally:
        api.clock.now = T0


def test_letters_made_at_once_never_share_a_number(api: Api) -> None:
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: create(api), range(12)))
    assert [a.status_code for a in answers] == [201] * 12, [a.text for a in answers if a.status_code != 201]
    numbers = [a.json()["number"] for a in answers]
    assert len(set(numbers)) == 12, numbers


def _with_profile(api: Api) -> None:
    with api.rt.sessions() as s:
        u = s.scalar(select(User).where(User.username == "segarau"))
        assert u is not None
        accounts.set_profile(
            s, u, full_name="Ani  Lestari, A.Md.Keb.", profession="Bidan", actor=None, now=T0
        )
        s.commit()


def test_the_letter_in_bahasa_says_everything_in_words_people_use(api: Api) -> None:
    _with_profile(api)
    assert api.get("/api/me", "segarau").json()["full_name"] == "Ani Lestari, A.Md.Keb."
    r = create(api)
    rid, number = r.json()["id"], r.json()["number"]
    html = api.get(f"/api/referrals/{rid}/letter", "segarau").text
    for said in (
        f"Nomor: <b>{number}</b>",
        "Surat Rujukan",
        "Tekanan darah 85/50 mmHg",
        "Nadi 124 x/menit",
        "SpO₂ 95 %",
        "Dibuat, belum dikirim",  # the state in words
        "22 November 2026, 09.00 WIB",  # 02:00 UTC in Sambas, as written there
        "1 Juli 1998",  # the date of birth
        "Ani Lestari, A.Md.Keb.",
        "Bidan",
        "tertulis",  # the consent's form
        "keluarga / wali (suami)",
    ):
        assert said in html, said
    # the receiving hospital's number to call, said for what it is (RS Online 2021, the main line)
    assert '<a href="tel:+62562241203">(0562) 241203</a>' in html
    assert "belum diverifikasi sebagai nomor IGD" in html
    for never in ("bp_systolic", "Status: created", "T02:00", "UTC", "Cetak / Print", rid):
        assert never not in html, never


def test_the_letter_in_english_is_one_parameter_away(api: Api) -> None:
    rid = create(api).json()["id"]
    html = api.get(f"/api/referrals/{rid}/letter?lang=en", "segarau").text
    for said in (
        "Referral Letter",
        "Blood pressure 85/50 mmHg",
        "Pulse 124 /min",
        "Written, not sent",
        "1 July 1998",
    ):
        assert said in html, said
    assert "Tekanan darah" not in html
    bad = api.get(f"/api/referrals/{rid}/letter?lang=fr", "segarau")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.lang", bad.text


def test_the_pdf_is_the_same_letter(api: Api) -> None:
    _with_profile(api)
    r = create(api).json()
    pdf = api.get(f"/api/referrals/{r['id']}/letter.pdf", "segarau")
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    assert r["number"].replace("/", "-") in pdf.headers["content-disposition"]
    doc = pypdf.PdfReader(io.BytesIO(pdf.content))
    box = doc.pages[0].mediabox
    assert (round(float(box.width) / 72 * 25.4), round(float(box.height) / 72 * 25.4)) == (210, 297)  # A4
    text = " ".join(" ".join(p.extract_text().split()) for p in doc.pages)
    for said in (
        r["number"],
        "SURAT RUJUKAN",
        "Siti Contoh",
        "Tekanan darah 85/50 mmHg",
        "Ani Lestari",
        "WIB",
    ):
        assert said in text, (said, text[:600])


@pytest.mark.parametrize("path", ["letter", "letter.pdf"])
def test_only_the_two_facilities_read_the_letter(api: Api, path: str) -> None:
    rid = create(api).json()["id"]
    assert api.get(f"/api/referrals/{rid}/{path}", "tebas").status_code == 404  # another Puskesmas
    assert api.get(f"/api/referrals/{rid}/{path}", "dispatch").status_code == 404
    assert api.client.get(f"/api/referrals/{rid}/{path}").status_code == 401


def test_procedures_done_are_checked_against_icd9cm_and_named_on_the_letter(api: Api) -> None:
    body = letter_body()
    body["medical"] = {
        **body["medical"],
        "procedures": [
            {"code": "9904", "note": "2 kantong PRC"},
            {"code": "75.4", "note": "manual plasenta"},
        ],
    }
    r = create(api, body=body)
    assert r.status_code == 201, r.text
    assert [p["code"] for p in r.json()["medical"]["procedures"]] == [
        "99.04",
        "75.4",
    ]  # written as ICD-9-CM prints
    html = api.get(f"/api/referrals/{r.json()['id']}/letter", "segarau").text
    assert "Tindakan (ICD-9-CM)" in html
    assert '99.04 <span lang="en" class="meta">Transfusion of packed cells</span>: 2 kantong PRC' in html
    bad = letter_body()
    bad["medical"] = {**bad["medical"], "procedures": [{"code": "75.4"}, {"code": "12.345"}]}
    r = create(api, body=bad)
    assert r.status_code == 422, r.text
    item = r.json()["errors"][0]
    assert (item["field"], item["code"]) == ("body.medical.procedures.1.code", "icd9cm_unknown"), item
    found = api.get("/api/icd9cm?q=transfusion%20packed", "segarau").json()
    assert {"code": "99.04", "title": "Transfusion of packed cells"} in found
