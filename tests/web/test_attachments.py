"""Results attached to a referral, on phones (390 x 844): the Puskesmas attaches a CT, a compressed
ultrasound clip, an ECG, a lab PDF and a note from its page; the hospital's ER opens each on its
page: the CT as an image with the radiographer's windows, the clip frame by frame, the ECG zoomed,
the PDF inside the page, the note as text. Nothing scrolls sideways; every word is Bahasa.

The DICOM files are pydicom's own test files (a CT, a JPEG-compressed 30-frame ultrasound, a
12-lead ECG): nobody here wrote them."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from pydicom.data import get_testdata_file

from tests.web.test_language import READ_PAGE, problems
from tests.web.test_pages import ARTEFACTS, Site, Visit, browser, site, wait_js

__all__ = ["browser", "site"]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}

#: the brightness of an <img> (mean of its pixels), drawn on a canvas: the picture itself changed
BRIGHTNESS = """(img) => { const c = document.createElement('canvas'); c.width = img.naturalWidth;
  c.height = img.naturalHeight; const g = c.getContext('2d'); g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data; let s = 0;
  for (let i = 0; i < d.length; i += 4) s += d[i] + d[i + 1] + d[i + 2]; return s / (d.length / 4) / 3; }"""


def pydicom_file(name: str) -> bytes:
    path = get_testdata_file(name)
    assert path is not None, name
    return Path(str(path)).read_bytes()


def lab_pdf() -> bytes:
    from weasyprint import HTML

    out = io.BytesIO()
    HTML(string="<h1>Hasil laboratorium</h1><p>Hb 6,1 g/dL · Trombosit 98.000/µL</p>").write_pdf(out)
    return out.getvalue()


def ecg_strip() -> bytes:
    """A 12-lead ECG as a phone's photo of the strip would be: a PNG (drawn from pydicom's ECG)."""
    from service.referrals import dicom

    return dicom.render(dicom.read(pydicom_file("waveform_ecg.dcm")), frame=1)


def _open_status(page: Any, rid: str) -> Any:
    """The sender's status card of a referral, from the sent list."""
    page.locator(f"#outbox tr[data-referral='{rid}'] td.state button").click()
    section = page.locator("#attachments details.attachments[data-count]")
    section.wait_for()
    return section


def _attach(page: Any, section: Any, kind: str, name: str, content: bytes, mime: str = "") -> None:
    """Attach a file from the page; ``mime`` empty: a browser that gives the file no type."""
    n = int(section.get_attribute("data-count"))
    section.locator("select").select_option(kind)
    section.locator("input[type=file]").set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": content}]
    )
    assert name in section.locator(".att-chosen").text_content()
    section.locator("button.att-send").click()
    wait_js(page, f"document.querySelectorAll('#attachments .att-list > li').length === {n + 1}")


def _part(locator: Any, name: str) -> None:
    """A picture of one part of the page (the viewer, a card), for docs/telemedicine.md."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    locator.screenshot(path=str(ARTEFACTS / f"{name}.png"))


def _chromium_pdf_viewer(visit: Visit) -> None:
    """Chromium's PDF viewer is a part of the browser (chrome-extension://, chrome://): let it load
    (nothing leaves the machine; Visit refuses every request that is not to the rujuk server)."""
    visit.context.route(re.compile(r"^chrome(-extension)?://"), lambda route: route.continue_())


def _no_sideways_scroll(page: Any, where: str) -> None:
    overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{where} scrolls sideways by {overflow} px"


def _bahasa(page: Any, where: str) -> None:
    found = problems(page.evaluate(READ_PAGE, "id"), "id")
    assert found == [], (where, found)


def _item(section: Any, name: str) -> Any:
    return section.locator(".att-list > li", has=section.page.locator(".att-name", has_text=name))


def _shown(page: Any, selector: str = ".att-viewer img.dicom-frame") -> None:
    img = f"document.querySelector('{selector}')"
    wait_js(page, f"{img} && {img}.complete && {img}.naturalWidth > 0 && !{img}.hasAttribute('aria-busy')")


@pytest.fixture(scope="module")
def referral(site: Site, browser: Any) -> dict[str, Any]:
    """Puskesmas Segarau's referral to RSUD Pemangkat, its results attached from the midwife's phone."""
    rid = site.sent_referral()
    v = Visit(browser, site, **PHONE)
    page = v.sign_in("segarau", "/rujuk")
    section = _open_status(page, rid)
    assert section.locator(".att-note").text_content() == "Belum ada lampiran."
    # a file of a type the service does not take: said in Bahasa, by the field
    section.locator("input[type=file]").set_input_files(
        files=[{"name": "setup.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ"}]
    )
    section.locator("button.att-send").click()
    wait_js(page, "document.querySelector('#attachments .att-upload .error').textContent.length > 0")
    said = section.locator(".att-upload .error").text_content()
    assert said.startswith("Berkas: jenis berkas tidak diterima"), said
    # a CT (.dcm, no type from the browser), a JPEG-compressed ultrasound clip without an extension
    # (known by its DICM mark), the ECG as DICOM waveform and as a photo, a lab PDF, a note
    _attach(page, section, "radiology", "ct_toraks.dcm", pydicom_file("CT_small.dcm"))
    _attach(page, section, "radiology", "USG0001", pydicom_file("examples_ybr_color.dcm"))
    _attach(page, section, "ecg", "ekg_12_sadapan.dcm", pydicom_file("waveform_ecg.dcm"))
    _attach(page, section, "ecg", "ekg_strip.png", ecg_strip(), "image/png")
    _attach(page, section, "lab", "hasil_lab.pdf", lab_pdf(), "application/pdf")
    _attach(page, section, "other", "catatan.txt", "Hb 6,1 g/dL; trombosit 98.000/µL".encode(), "text/plain")
    kinds = section.locator(".att-list .badge").all_text_contents()
    assert kinds == ["Radiologi", "Radiologi", "EKG", "EKG", "Lab", "Lainnya"], kinds
    types = section.locator(".att-list > li").evaluate_all("els => els.map(e => e.dataset.type)")
    assert types[:3] == ["application/dicom"] * 3, types
    # the sender sees the CT too
    _item(section, "ct_toraks.dcm").locator("button.att-view").click()
    _shown(page)
    _no_sideways_scroll(page, "/rujuk with the attachments")
    _bahasa(page, "/rujuk lampiran")
    v.shot("lampiran-rujuk-hp")
    _part(page.locator("#attachments"), "lampiran-rujuk-daftar")
    v.close(answered=(422,))  # the refused .exe
    return {"rid": rid}


def _receiver(site: Site, browser: Any, rid: str) -> tuple[Visit, Any, Any]:
    er = Visit(browser, site, **PHONE)
    page = er.sign_in("pemangkat", "/terima")
    card = page.locator(f"#inbox > li[data-referral='{rid}']")
    card.wait_for()
    section = card.locator("details.attachments")
    section.locator("summary").click()
    wait_js(
        page, f"document.querySelectorAll(\"#inbox > li[data-referral='{rid}'] .att-list > li\").length === 6"
    )
    assert "(6)" in section.locator("summary").text_content()
    return er, page, section


def test_the_er_sees_the_ct_and_changes_its_window(
    site: Site, browser: Any, referral: dict[str, Any]
) -> None:
    er, page, section = _receiver(site, browser, referral["rid"])
    _item(section, "ct_toraks.dcm").locator("button.att-view").click()
    _shown(page)
    img = page.locator(".att-viewer img.dicom-frame")
    assert img.get_attribute("data-preset") == "auto"
    presets = page.locator(".att-viewer .presets button").all_text_contents()
    assert presets[:4] == ["Otomatis", "Otak", "Subdural", "Stroke"] and "Paru" in presets, presets
    tags = page.locator(".att-viewer dl.dicom-tags").inner_text()
    assert "CT" in tags and "128 \u00d7 128 piksel" in tags and "19 Januari 2004" in tags, tags
    assert "CompressedSamples" not in page.content()  # the file's patient name never reaches the page
    auto = img.evaluate(BRIGHTNESS)
    page.locator(".att-viewer .presets button[data-preset='lung']").click()
    wait_js(page, "document.querySelector('.att-viewer img.dicom-frame').dataset.preset === 'lung'")
    _shown(page)
    lung = img.evaluate(BRIGHTNESS)
    assert lung > auto + 20, (auto, lung)  # the lung window shows soft tissue white
    lung_button = page.locator(".att-viewer .presets button[data-preset='lung']")
    assert lung_button.get_attribute("aria-pressed") == "true"
    _part(page.locator(".att-viewer"), "lampiran-ct-paru-penampil")
    # a window of one's own (numbers), then one refused with the field named in Bahasa
    page.fill(".att-viewer .window-form input >> nth=0", "2000")
    page.fill(".att-viewer .window-form input >> nth=1", "500")
    page.locator(".att-viewer .window-form button").click()
    wait_js(page, "document.querySelector('.att-viewer img.dicom-frame').dataset.preset === 'custom'")
    _shown(page)
    assert abs(img.evaluate(BRIGHTNESS) - lung) > 20
    page.fill(".att-viewer .window-form input >> nth=0", "0")
    page.locator(".att-viewer .window-form button").click()
    assert page.locator(".att-viewer p.error").text_content() == "Isi lebar jendela, lebih dari 0."
    _no_sideways_scroll(page, "/terima with the CT")
    _bahasa(page, "/terima CT")
    er.shot("lampiran-ct-paru-hp")
    er.close()


def test_a_compressed_clip_is_paged_and_an_ecg_zoomed(
    site: Site, browser: Any, referral: dict[str, Any]
) -> None:
    er, page, section = _receiver(site, browser, referral["rid"])
    _item(section, "USG0001").locator("button.att-view").click()
    _shown(page)
    assert page.locator(".att-viewer .frame-position").text_content() == "1 / 30"
    assert page.locator(".att-viewer .presets").count() == 0  # colour: no window
    assert "JPEG Baseline" in page.locator(".att-viewer dl.dicom-tags").inner_text()
    img = page.locator(".att-viewer img.dicom-frame")
    first = img.evaluate(BRIGHTNESS)
    assert page.locator(".att-viewer button.frame-prev").is_disabled()
    for _ in range(10):
        page.locator(".att-viewer button.frame-next").click()
    wait_js(page, "document.querySelector('.att-viewer img.dicom-frame').dataset.frame === '11'")
    _shown(page)
    assert page.locator(".att-viewer .frame-position").text_content() == "11 / 30"
    assert img.evaluate(BRIGHTNESS) != first
    er.shot("lampiran-usg-hp")
    _part(page.locator(".att-viewer"), "lampiran-usg-penampil")
    # the ECG stored as DICOM: drawn on ECG paper, its two parts paged
    _item(section, "ekg_12_sadapan.dcm").locator("button.att-view").click()
    _shown(page)
    assert page.locator(".att-viewer .frame-position").text_content() == "1 / 2"
    # the ECG photo: + zooms in (the frame scrolls, not the page), two fingers too, "Pas layar" back
    _item(section, "ekg_strip.png").locator("button.att-view").click()
    _shown(page, ".att-viewer img.att-image")
    frame = page.locator(".att-viewer .zoom-frame")
    page.locator(".att-viewer button.zoom-in").click()
    page.locator(".att-viewer button.zoom-in").click()
    assert frame.get_attribute("data-zoom") == "2.25"
    wide = page.evaluate("(() => { const f = document.querySelector('.att-viewer .zoom-frame');"
                         " return [f.scrollWidth, f.clientWidth]; })()")  # fmt: skip
    assert wide[0] > 2 * wide[1], wide
    _no_sideways_scroll(page, "/terima with the ECG zoomed")
    er.shot("lampiran-ekg-zoom-hp")
    _part(page.locator(".att-viewer"), "lampiran-ekg-zoom-penampil")
    page.locator(".att-viewer button.zoom-fit").click()
    assert frame.get_attribute("data-zoom") == "1.00"
    _pinch(page, er, frame)
    assert float(frame.get_attribute("data-zoom")) > 1.5
    er.close()


def _pinch(page: Any, visit: Visit, frame: Any) -> None:
    """Two fingers moving apart on the picture (real touch input, through Chromium's DevTools)."""
    box = frame.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + min(box["height"], 300) / 2
    cdp = visit.context.new_cdp_session(page)

    def touch(kind: str, gap: float) -> None:
        points = [] if kind == "touchEnd" else [
            {"x": cx - gap, "y": cy, "id": 0}, {"x": cx + gap, "y": cy, "id": 1}]  # fmt: skip
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", 30)
    for gap in range(35, 125, 10):
        touch("touchMove", gap)
    touch("touchEnd", 0)
    cdp.detach()


def test_a_pdf_opens_in_the_page_and_a_note_as_text(
    site: Site, browser: Any, referral: dict[str, Any]
) -> None:
    er, page, section = _receiver(site, browser, referral["rid"])
    _chromium_pdf_viewer(er)
    _item(section, "hasil_lab.pdf").locator("button.att-view").click()
    page.wait_for_selector(".att-viewer .att-open-tab")
    if page.evaluate("navigator.pdfViewerEnabled"):  # Chromium's own viewer, inside the page
        frame = page.locator(".att-viewer iframe.att-pdf")
        assert frame.get_attribute("src").startswith("blob:")
        wait_js(page, "document.querySelector('.att-viewer iframe.att-pdf').contentDocument?.contentType"
                      " === 'application/pdf'")  # fmt: skip
        page.wait_for_timeout(1500)  # the viewer draws the page
    er.shot("lampiran-pdf-hp")
    _part(page.locator(".att-viewer"), "lampiran-pdf-penampil")
    with er.context.expect_page() as tab:
        page.locator(".att-viewer .att-open-tab").click()
    opened = tab.value
    opened.wait_for_load_state()
    assert opened.url.startswith("blob:")
    opened.close()
    _item(section, "catatan.txt").locator("button.att-view").click()
    page.wait_for_selector(".att-viewer pre.att-text")
    assert page.locator(".att-viewer pre.att-text").text_content() == "Hb 6,1 g/dL; trombosit 98.000/µL"
    # the received list opens them too, in a dialog
    _item(section, "catatan.txt").locator("button.att-view").click()  # closes the viewer
    assert page.locator(".att-viewer").first.is_hidden()
    _no_sideways_scroll(page, "/terima with the PDF")
    er.close()


def test_the_received_list_opens_the_attachments_in_a_dialog_in_english(
    site: Site, browser: Any, referral: dict[str, Any]
) -> None:
    with site.api("pemangkat") as c:
        assert c.post(f"/api/referrals/{referral['rid']}/accept").status_code == 200
        assert c.post(f"/api/referrals/{referral['rid']}/arrive").status_code == 200
    er = Visit(browser, site, viewport={"width": 1366, "height": 900})
    # (every frame runs it: the PDF viewer's own has no storage)
    er.context.add_init_script("try { localStorage?.setItem('rujuk.lang', 'en'); } catch {}")
    _chromium_pdf_viewer(er)
    page = er.sign_in("pemangkat", "/terima")
    row = page.locator(f"#recent tr[data-referral='{referral['rid']}']")
    row.wait_for()
    row.locator("button[data-action='attachments']").click()
    dialog = page.locator("dialog.att-dialog")
    dialog.wait_for()
    wait_js(page, "document.querySelectorAll('dialog.att-dialog .att-list > li').length === 6")
    _item(dialog, "ekg_12_sadapan.dcm").locator("button.att-view").click()
    _shown(page, "dialog.att-dialog img.dicom-frame")
    tags = dialog.locator("dl.dicom-tags").inner_text()
    assert "Modality" in tags and "ECG" in tags and "25 January 2013" in tags, tags
    assert dialog.locator(".frame-position").text_content() == "1 / 2"
    found = problems(page.evaluate(READ_PAGE, "en"), "en")  # an English page says it in English
    assert found == [], found
    er.shot("lampiran-ekg-meja")
    _part(dialog, "lampiran-ekg-dialog")
    _item(dialog, "hasil_lab.pdf").locator("button.att-view").click()
    page.wait_for_selector("dialog.att-dialog iframe.att-pdf")
    page.wait_for_timeout(1500)
    er.shot("lampiran-pdf-meja")
    _part(dialog, "lampiran-pdf-dialog")
    dialog.locator(".actions button").last.click()
    # (the dialog's close event comes as a task of its own, and removes it)
    page.locator("dialog.att-dialog").wait_for(state="detached", timeout=5000)
    assert page.locator("dialog.att-dialog").count() == 0
    er.close()
