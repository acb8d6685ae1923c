"""The attachment viewer's routes on SQLite and PostgreSQL: a DICOM study's key tags and its frames
as PNG, for exactly those who may download it; inline answers for what a browser shows itself."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from tests.service.conftest import Api, create

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def pydicom_file(name: str) -> bytes:
    path = get_testdata_file(name)
    assert path is not None, name
    return Path(str(path)).read_bytes()


def upload(api: Api, rid: str, name: str, content: bytes, ctype: str, kind: str = "radiology") -> int:
    r = api.post(f"/api/referrals/{rid}/attachments", "segarau", files={"file": (name, content, ctype)},
                 data={"kind": kind})  # fmt: skip
    assert r.status_code == 201, r.text
    aid: int = r.json()["id"]
    return aid


@pytest.fixture(scope="module")
def sent(api: Api) -> dict[str, Any]:
    """A referral sent to RSUD Pemangkat with a CT, an ultrasound clip (JPEG, 30 frames), an ECG, a
    PDF, a PNG, a text, a damaged DICOM and a DICOM that holds no image."""
    rid = create(api).json()["id"]
    ids = {
        "ct": upload(api, rid, "ct_toraks.dcm", pydicom_file("CT_small.dcm"), "application/dicom"),
        "us": upload(api, rid, "usg.dcm", pydicom_file("examples_ybr_color.dcm"), "application/dicom"),
        "ecg": upload(api, rid, "ekg.dcm", pydicom_file("waveform_ecg.dcm"), "application/dicom", "ecg"),
        "mr": upload(api, rid, "mr.dcm", pydicom_file("MR_small_jp2klossless.dcm"), "application/dicom"),
        "pdf": upload(api, rid, "lab.pdf", b"%PDF-1.4 Hb 6,1", "application/pdf", "lab"),
        "png": upload(api, rid, "foto.png", PNG_MAGIC + b"rest", "image/png", "other"),
        "txt": upload(api, rid, "catatan.txt", b"Hb 6,1 g/dL", "text/plain", "lab"),
        "bad": upload(api, rid, "rusak.dcm", pydicom_file("CT_small.dcm")[:3000], "application/dicom"),
        "sr": upload(api, rid, "laporan.dcm", pydicom_file("test-SR.dcm"), "application/dicom"),
    }
    assert api.post(f"/api/referrals/{rid}/send", "segarau").status_code == 200
    return {"rid": rid, **ids}


def url(sent: dict[str, Any], which: str, tail: str = "") -> str:
    return f"/api/referrals/{sent['rid']}/attachments/{sent[which]}{tail}"


def problem(r: Any) -> tuple[int, str, str]:
    item = r.json()["errors"][0]
    return r.status_code, item["field"], item["code"]


def test_the_key_tags_for_both_facilities_without_the_patient(api: Api, sent: dict[str, Any]) -> None:
    for who in ("segarau", "pemangkat", "admin"):
        r = api.get(url(sent, "ct", "/dicom"), who)
        assert r.status_code == 200, (who, r.text)
        tags = r.json()
        assert (tags["modality"], tags["rows"], tags["columns"], tags["frames"]) == ("CT", 128, 128, 1)
        assert tags["transfer_syntax"] == "Explicit VR Little Endian" and tags["presets"][:2] == [
            "auto",
            "brain",
        ]
        assert "CompressedSamples" not in r.text and "1CT1" not in r.text  # the file's patient name and id
    us = api.get(url(sent, "us", "/dicom"), "pemangkat").json()
    assert (us["frames"], us["colour"], us["presets"]) == (30, True, [])
    assert us["transfer_syntax"] == "JPEG Baseline (Process 1)"
    ecg = api.get(url(sent, "ecg", "/dicom"), "pemangkat").json()
    assert (ecg["kind"], ecg["frames"]) == ("waveform", 2)


def test_a_frame_is_a_png_and_a_preset_changes_it(api: Api, sent: dict[str, Any]) -> None:
    r = api.get(url(sent, "ct", "/frames/1.png"), "pemangkat")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content.startswith(PNG_MAGIC) and r.headers["cache-control"] == "no-store"
    assert Image.open(io.BytesIO(r.content)).size == (128, 128)
    lung = api.get(url(sent, "ct", "/frames/1.png"), "pemangkat", params={"preset": "lung"}).content
    bone = api.get(url(sent, "ct", "/frames/1.png"), "pemangkat", params={"preset": "bone"}).content
    custom = api.get(url(sent, "ct", "/frames/1.png"), "pemangkat", params={"window": 1500, "level": -600})
    assert lung != bone and custom.content == lung
    # a compressed multi-frame study, its last frame; a JPEG 2000 MR; an ECG
    last = api.get(url(sent, "us", "/frames/30.png"), "segarau")
    assert last.status_code == 200 and Image.open(io.BytesIO(last.content)).size == (320, 240)
    assert (
        api.get(url(sent, "mr", "/frames/1.png"), "segarau", params={"preset": "default"}).status_code == 200
    )
    ecg = api.get(url(sent, "ecg", "/frames/2.png"), "pemangkat")
    assert ecg.status_code == 200 and ecg.content.startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    ("which", "tail", "params", "field", "code"),
    [
        ("us", "/frames/31.png", {}, "path.frame", "less_than_equal"),
        ("ct", "/frames/2.png", {}, "path.frame", "less_than_equal"),
        ("ct", "/frames/0.png", {}, "path.frame", "greater_than_equal"),
        ("ct", "/frames/x.png", {}, "path.frame", "int_parsing"),
        ("ct", "/frames/1.png", {"window": 0, "level": 40}, "query.window", "greater_than"),
        ("ct", "/frames/1.png", {"window": "nan", "level": 40}, "query.window", "finite_number"),
        ("ct", "/frames/1.png", {"window": 400}, "query.level", "missing"),
        ("ct", "/frames/1.png", {"level": 40}, "query.window", "missing"),
        ("ct", "/frames/1.png", {"window": 400, "level": 40, "preset": "lung"}, "query.preset", "preset_and_window"),
        ("ct", "/frames/1.png", {"level": 9e9, "window": 400}, "query.level", "less_than_equal"),
        ("ct", "/frames/1.png", {"preset": "paru"}, "query.preset", "literal_error"),
        ("ct", "/frames/1.png", {"preset": "default"}, "query.preset", "preset_not_applicable"),
        ("mr", "/frames/1.png", {"preset": "lung"}, "query.preset", "preset_not_applicable"),
        ("us", "/frames/1.png", {"window": 400, "level": 40}, "query.window", "not_greyscale"),
        ("ecg", "/frames/1.png", {"preset": "auto"}, "query.preset", "not_greyscale"),
        ("pdf", "/dicom", {}, "attachment", "not_dicom"),
        ("pdf", "/frames/1.png", {}, "attachment", "not_dicom"),
        ("bad", "/dicom", {}, "attachment", "dicom_unreadable"),
        ("bad", "/frames/1.png", {}, "attachment", "dicom_unreadable"),
        ("sr", "/dicom", {}, "attachment", "dicom_no_image"),
    ],
)  # fmt: skip
def test_what_cannot_be_shown_is_a_422_naming_the_field(
    api: Api, sent: dict[str, Any], which: str, tail: str, params: dict[str, Any], field: str, code: str
) -> None:
    r = api.get(url(sent, which, tail), "pemangkat", params=params)
    assert problem(r) == (422, field, code), r.text


@pytest.mark.parametrize("tail", ["", "/dicom", "/frames/1.png"])
def test_only_the_two_facilities_see_it(api: Api, sent: dict[str, Any], tail: str) -> None:
    """As the download: another facility, a dispatcher, a planner: 404; no sign-in: 401."""
    target = url(sent, "ct", tail)
    for who in ("tebas", "sambas", "dispatch", "planner"):
        r = api.get(target, who)
        assert r.status_code == 404, (who, tail, r.status_code)
        assert r.json()["type"] == "not_found"
    assert api.client.get(target).status_code == 401
    assert api.client.get(target, headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    # an attachment through another referral: not found, like the download
    other = create(api).json()["id"]
    r = api.get(f"/api/referrals/{other}/attachments/{sent['ct']}{tail}", "segarau")
    assert r.status_code == 404


def test_the_dispatcher_of_an_accepted_referral_sees_no_study(api: Api, sent: dict[str, Any]) -> None:
    rid = create(api).json()["id"]
    aid = upload(api, rid, "ct.dcm", pydicom_file("CT_small.dcm"), "application/dicom")
    api.post(f"/api/referrals/{rid}/send", "segarau")
    assert api.post(f"/api/referrals/{rid}/accept", "pemangkat", json={"note": ""}).status_code == 200
    assert api.get(f"/api/referrals/{rid}", "dispatch").status_code == 200  # the transport: yes
    for tail in ("", "/dicom", "/frames/1.png"):
        assert api.get(f"/api/referrals/{rid}/attachments/{aid}{tail}", "dispatch").status_code == 404


def test_inline_for_what_a_browser_shows_a_download_otherwise(api: Api, sent: dict[str, Any]) -> None:
    for which, ctype in (("pdf", "application/pdf"), ("png", "image/png"), ("txt", "text/plain")):
        r = api.get(url(sent, which), "pemangkat", params={"inline": 1})
        assert r.status_code == 200 and r.headers["content-type"].startswith(ctype)
        assert r.headers["content-disposition"].startswith("inline; filename="), which
        plain = api.get(url(sent, which), "pemangkat")
        assert plain.headers["content-disposition"].startswith("attachment; filename=")
        assert plain.content == r.content
    # a DICOM file is no page for a browser: always a download
    r = api.get(url(sent, "ct"), "pemangkat", params={"inline": 1})
    assert r.headers["content-disposition"].startswith('attachment; filename="ct_toraks.dcm"')
    assert r.content == pydicom_file("CT_small.dcm")
    # the answers keep the security headers of every answer: nothing may frame them
    assert (
        r.headers["x-frame-options"] == "DENY"
        and "frame-ancestors 'none'" in r.headers["content-security-policy"]
    )
