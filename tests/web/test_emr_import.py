"""The midwife on her phone prefills the letter from the Puskesmas EMR's export (FHIR) and sends it.

Fields still empty are filled and marked "diimpor" (the mark goes when she changes the field);
a field she (or the page) already filled is not overwritten: the difference is listed with a
button to take the record's value; what the record held that the letter does not take is listed
with the reason, in Bahasa. A file that is not an export is refused in Bahasa, naming why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.service.fhir.test_emr import satusehat_export, vital
from tests.web.test_language import READ_PAGE, problems
from tests.web.test_pages import Site, Visit, _request_suggestions, browser, site, wait_js

__all__ = ["browser", "site"]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def _open_letter(v: Visit) -> Any:
    page = v.sign_in("segarau", "/rujuk")
    _request_suggestions(page)
    page.locator("#candidates > li").first.locator("button").first.click()
    page.wait_for_selector("#letter-card:not([hidden])")
    return page


def _imported(page: Any) -> list[str]:
    return list(page.eval_on_selector_all("#letter [data-imported]", "els => els.map(e => e.id)"))


def test_a_midwife_prefills_the_letter_from_the_emr_on_her_phone_and_sends_it(
    site: Site, browser: Any, tmp_path: Path
) -> None:
    export = tmp_path / "rekam-medis-siti.json"
    record = satusehat_export()  # the pulse measured three times: the older two in one line
    record["entry"].append(
        {"resource": vital("8867-4", "Heart rate", 102, "/min", "2026-11-22T00:30:00+07:00")}
    )
    export.write_text(json.dumps(record), encoding="utf-8")
    v = Visit(browser, site, **PHONE)
    page = _open_letter(v)
    page.fill("#p-mrn", "RM-999")  # she had started writing: not overwritten
    assert page.is_visible("#emr-button")
    page.set_input_files("#emr-file", str(export))
    page.wait_for_selector("#emr-summary")
    assert "kolom diisi dari rekam medis" in page.text_content("#emr-summary")
    # empty fields filled from the record, each marked
    values = {sel: page.input_value(sel) for sel in ("#p-name", "#p-nik", "#p-dob", "#p-phone", "#v-temp",
                                                     "#v-pulse", "#v-sys", "#m-stab", "#m-proc", "#m-therapy")}  # fmt: skip
    assert values == {
        "#p-name": "Siti Contoh", "#p-nik": "6101014107980001", "#p-dob": "1998-07-01", "#p-phone": "081234567890",
        "#v-temp": "38", "#v-pulse": "124", "#v-sys": "85", "#m-stab": "Kompresi bimanual",
        "#m-proc": "99.04 Transfusi PRC 1 kolf",
        "#m-therapy": "Oksitosin 10 IU/mL Injeksi 10 IU IM, sekali\nRinger Laktat 500 mL 500 mL IV, 2 jalur",
    }  # fmt: skip
    marked = _imported(page)
    assert {"p-name", "p-nik", "p-dob", "p-sex", "v-temp", "v-pulse", "m-stab", "m-proc", "m-therapy"} <= set(
        marked
    )
    assert "diimpor" in page.text_content("label[for='p-name']")
    assert "p-mrn" not in marked and page.input_value("#p-mrn") == "RM-999"
    # what differs from what was written is listed, not overwritten: her number, the page's diagnosis
    conflicts = page.locator("#emr-conflicts li")
    fields = conflicts.evaluate_all("els => els.map(e => e.dataset.field)")
    assert "patient.medical_record_number" in fields, fields
    assert "medical.icd10" in fields  # the search chose O72 and O72.1; the record says O72.1
    # what was left out, and why, in Bahasa
    page.locator("#emr-skipped > summary").click()
    skipped = page.text_content("#emr-skipped")
    for said in ("sudah sembuh", "bukan tanda vital di surat", "Nadi: 2 pengukuran yang lebih lama tidak dipakai; yang terbaru (entri ke-6) dipakai",
                 "tanpa kode ICD-10: keterangannya dimasukkan ke kolom Diagnosis", "Encounter"):  # fmt: skip
        assert said in skipped, (said, skipped)
    assert "Suhu: 100,4 °F di rekam medis, diubah menjadi 38 °C." in page.text_content("#emr-result")
    assert problems(page.evaluate(READ_PAGE, "id"), "id") == []
    overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px"
    page.locator("#emr-import").scroll_into_view_if_needed()
    v.shot("rujuk-phone-impor-rekam-medis")
    # she takes the record's number, and changes the pulse she measured again: that mark goes
    conflicts.filter(has_text="No. rekam medis").locator("button").click()
    assert page.input_value("#p-mrn") == "RM-000123" and "p-mrn" in _imported(page)
    page.fill("#v-pulse", "120")
    assert "v-pulse" not in _imported(page)
    assert "diimpor" not in page.text_content("label[for='v-pulse']")
    assert "v-temp" in _imported(page)
    v.shot("rujuk-phone-impor-diubah")
    # the consent is hers to record; then the letter goes with what was imported
    page.check("#c-items")
    page.check("#c-given")
    page.click("#send-button")
    page.wait_for_selector("#referral-status[data-status='sent']")
    assert _imported(page) == [] and page.text_content("#emr-result") == ""  # the form is empty again
    with site.api("segarau") as c:
        sent = c.get("/api/referrals?box=outbox&limit=1").json()[0]
    assert (
        sent["patient"]["nik"] == "6101014107980001"
        and sent["patient"]["medical_record_number"] == "RM-000123"
    )
    vitals = sent["medical"]["vital_signs"]
    assert vitals["temperature_c"] == 38.0 and vitals["pulse"] == 120 and vitals["bp_systolic"] == 85
    assert sent["medical"]["procedures"][0]["code"] == "99.04"
    assert sent["medical"]["stabilisation"] == "Kompresi bimanual"
    v.close()


def test_a_file_that_is_not_one_patients_export_is_refused_in_bahasa(
    site: Site, browser: Any, tmp_path: Path
) -> None:
    two = satusehat_export()
    two["entry"].append({"resource": two["entry"][1]["resource"]})
    (tmp_path / "dua.json").write_text(json.dumps(two), encoding="utf-8")
    (tmp_path / "surat.xml").write_text('<Bundle xmlns="http://hl7.org/fhir"/>', encoding="utf-8")
    v = Visit(browser, site, **PHONE)
    page = _open_letter(v)
    page.set_input_files("#emr-file", str(tmp_path / "dua.json"))
    page.wait_for_selector("#emr-error")
    said = page.text_content("#emr-error")
    assert "berisi 2 pasien (entri ke-2, 18)" in said, said
    assert _imported(page) == [] and page.input_value("#p-name") == ""
    page.set_input_files("#emr-file", str(tmp_path / "surat.xml"))
    wait_js(page, "document.querySelector('#emr-result').textContent.includes('bukan berkas FHIR JSON')")
    assert problems(page.evaluate(READ_PAGE, "id"), "id") == []
    v.close(answered=(422,))
