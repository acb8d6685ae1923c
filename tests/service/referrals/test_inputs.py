"""Every input of the referral routes is checked at the edge: a 4xx naming the field, never a 500,
nothing half-written (each case below was once a 500 or was wrongly accepted)."""

from __future__ import annotations

import datetime as dt
import urllib.parse

import pytest

from tests.service.conftest import PPH_REQUEST, T0, Api, create, letter_body, nik_for

SUGGEST = PPH_REQUEST


@pytest.mark.parametrize("code", ["ZZZZ", "A0000", "o7211", "Q99.99"])
def test_codes_that_are_not_who_icd10_are_named(api: Api, code: str) -> None:
    r = api.post("/api/suggestions", "segarau", json={**SUGGEST, "icd10": [code]})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "icd10[0]"
    assert r.json()["detail"] == f"field 'icd10[0]': {code.upper()!r} is not a WHO ICD-10 code"
    before = len(api.get("/api/referrals?box=outbox&limit=200", "segarau").json())
    body = letter_body()
    body["medical"] = {**body["medical"], "icd10": [code]}
    r = create(api, body=body)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"].startswith("medical.icd10")
    assert len(api.get("/api/referrals?box=outbox&limit=200", "segarau").json()) == before


def test_codes_typed_without_the_dot_still_work(api: Api) -> None:
    r = api.post("/api/suggestions", "segarau", json={**SUGGEST, "icd10": ["o721"]})
    assert r.status_code == 200, r.text


def _consent_at(t: dt.datetime) -> dict[str, object]:
    body = letter_body()
    body["consent"] = {**body["consent"], "at": t.isoformat()}
    return body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_consent_at(dt.datetime(2099, 1, 1, tzinfo=dt.UTC)), "consent.at"),
        (_consent_at(dt.datetime(1970, 1, 1, tzinfo=dt.UTC)), "consent.at"),
        (_consent_at(T0 + dt.timedelta(hours=1)), "consent.at"),
        (_consent_at(T0 - dt.timedelta(days=40)), "consent.at"),
        (
            letter_body(offline={"occurred_at": "1970-01-01T00:00:00Z", "note": "kertas"}),
            "offline.occurred_at",
        ),
        (
            letter_body(offline={"occurred_at": "2099-01-01T00:00:00Z", "note": "kertas"}),
            "offline.occurred_at",
        ),
    ],
)
def test_times_outside_a_sane_window_are_refused(api: Api, body: dict[str, object], field: str) -> None:
    r = create(api, body=body)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field


def test_consent_before_the_patient_was_born_is_refused(api: Api) -> None:
    body = _consent_at(T0 - dt.timedelta(days=2))
    born = (T0 - dt.timedelta(days=1)).date()
    body["patient"] = {**body["patient"], "date_of_birth": born.isoformat(), "nik": nik_for(born)}
    r = create(api, body=body)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "consent.at"


@pytest.mark.parametrize(
    "name", ["hasil-darah-ā.pdf", 'hasil "Siti".pdf', "ECG 心电图.png", "laporan;x=1.txt"]
)
def test_any_file_name_downloads_with_rfc_6266(api: Api, name: str) -> None:
    rid = create(api).json()["id"]
    up = api.post(
        f"/api/referrals/{rid}/attachments", "segarau", files={"file": (name, b"isi", "text/plain")}
    )
    assert up.status_code == 201, up.text
    r = api.get(f"/api/referrals/{rid}/attachments/{up.json()['id']}", "segarau")
    assert r.status_code == 200, r.text
    cd = r.headers["content-disposition"]
    star = cd.split("filename*=UTF-8''", 1)[1]
    # the name as stored (a browser sends " as %22 in a multipart header, as the test client does)
    assert urllib.parse.unquote(star) == up.json()["filename"]
    plain = cd.split('filename="', 1)[1].split('"', 1)[0]
    assert '"' not in plain and all(32 <= ord(c) < 127 for c in plain)


@pytest.mark.parametrize("aid", ["99999999999999999999", "0", "-1"])
def test_attachment_ids_out_of_range_are_named(api: Api, aid: str) -> None:
    rid = create(api).json()["id"]
    r = api.get(f"/api/referrals/{rid}/attachments/{aid}", "segarau")
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "path.attachment_id"


@pytest.mark.parametrize("month", ["0000-01", "0999-12"])
def test_report_months_the_calendar_cannot_hold_are_named(api: Api, month: str) -> None:
    r = api.get(f"/api/reports/PKM-SEGARAU?month={month}", "segarau")
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "query.month"


def test_an_unreadable_body_is_a_422_naming_the_body(api: Api) -> None:
    r = api.post("/api/users", "admin", content=b"\xff\xfe{", headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["type"] == "validation_error"


@pytest.mark.parametrize(
    ("change", "field", "code", "params"),
    [
        ({"patient": {"nik": "6101"}}, "body.patient.nik", "string_pattern_mismatch", None),
        ({"patient": {"name": ""}}, "body.patient.name", "string_too_short", {"min_length": 1}),
        ({"medical": {"vital_signs": {"pulse": 900}}}, "body.medical.vital_signs.pulse", "less_than_equal",
         {"le": 300}),
        ({"patient": {"date_of_birth": "2999-01-01"}}, "body.patient.date_of_birth", "birth_date", None),
        ({"consent": {"explained_items": {"a": True}}}, "body.consent.explained_items", "consent_items",
         {"missing": "b, c, d, e, f, g, h"}),
        ({"destination_id": "RS-TIDAK-ADA"}, "destination_id", "not_receiving", None),
    ],
)  # fmt: skip
def test_every_problem_carries_a_code_a_page_can_say_in_its_language(
    api: Api, change: dict[str, object], field: str, code: str, params: dict[str, object] | None
) -> None:
    body = letter_body()
    for k, v in change.items():
        body[k] = {**body[k], **v} if isinstance(v, dict) and isinstance(body.get(k), dict) else v
    if "vital_signs" in str(change):
        body["medical"] = {**letter_body()["medical"], "vital_signs": {"pulse": 900}}
    r = create(api, body=body)
    assert r.status_code == 422, r.text
    item = r.json()["errors"][0]
    assert (item["field"], item["code"]) == (field, code), item
    if params is not None:
        assert {k: item["params"][k] for k in params} == params, item
