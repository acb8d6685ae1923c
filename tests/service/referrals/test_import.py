"""``POST /api/letters/import``: a medical record export prefills the letter, on SQLite and PostgreSQL.

The referring facility's staff only; a body that is not an R4 Bundle is a 422 naming the
element, never a 5xx; nothing is stored and nothing of the patient reaches a log line.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from sqlalchemy import func, select

from service.database import Base
from tests.service.conftest import Api
from tests.service.fhir.test_emr import satusehat_export

URL = "/api/letters/import"
FHIR_JSON = {"Content-Type": "application/fhir+json"}


def send(api: Api, body: Any, user: str | None = "segarau", **headers: str) -> Any:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    auth = api.h(user) if user else {}
    return api.client.post(URL, content=data, headers={**auth, **FHIR_JSON, **headers})


def rows(api: Api) -> dict[str, int]:
    with api.rt.sessions() as s:
        return {
            t.name: s.scalar(select(func.count()).select_from(t)) or 0 for t in Base.metadata.sorted_tables
        }


def test_the_export_prefills_the_letter_and_nothing_is_stored_or_logged(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    before = rows(api)
    with caplog.at_level(logging.DEBUG):
        r = send(api, satusehat_export())
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    a = r.json()
    assert a["letter"]["patient"]["nik"] == "6101014107980001"
    assert a["letter"]["patient"]["medical_record_number"] == "RM-000123"
    assert a["letter"]["medical"]["icd10"] == ["O72.1"]
    assert a["letter"]["medical"]["vital_signs"]["temperature_c"] == 38.0
    assert "medical.vital_signs.pulse" in a["imported"]
    assert {s["code"] for s in a["skipped"]} >= {"not_in_letter", "superseded", "not_vital", "not_current"}
    assert rows(api) == before  # not a row anywhere: no referral, no audit entry
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "6101014107980001" not in logged and "Siti" not in logged


def test_plain_json_is_read_too(api: Api) -> None:
    r = api.post(URL, "segarau", json=satusehat_export())
    assert r.status_code == 200, r.text
    assert r.json()["letter"]["patient"]["name"] == "Siti Contoh"


@pytest.mark.parametrize(("user", "status"), [(None, 401), ("dispatch", 403), ("planner", 403), ("admin", 403),
                                              ("pemangkat", 200), ("segarau", 200)])  # fmt: skip
def test_the_referring_staff_only(api: Api, user: str | None, status: int) -> None:
    r = send(api, satusehat_export(), user)
    assert r.status_code == status, r.text
    if status != 200:
        assert "letter" not in r.json()


def test_an_invalid_token_is_a_401(api: Api) -> None:
    r = api.client.post(
        URL, content=json.dumps(satusehat_export()), headers={"Authorization": "Bearer x.y.z"}
    )
    assert r.status_code == 401


def _two_patients() -> dict[str, Any]:
    b = satusehat_export()
    b["entry"].append({"resource": b["entry"][1]["resource"]})
    return b


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        (b"", "body", "not_json"),
        (b'<Bundle xmlns="http://hl7.org/fhir"><type value="collection"/></Bundle>', "body", "not_json"),
        (b"\xff\xfe{}", "body", "not_json"),
        ("[1, 2, 3]", "Bundle.resourceType", "not_bundle"),
        ({"resourceType": "Patient", "id": "x"}, "Bundle.resourceType", "not_bundle"),
        ({"resourceType": "Bundle"}, "Bundle.type", "fhir_invalid"),
        ({"resourceType": "Bundle", "type": "history"}, "Bundle.type", "bundle_type"),
        ({"resourceType": "Bundle", "type": "collection", "entry": "x"}, "Bundle.entry", "fhir_invalid"),
        ({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": {"a": 1}}}]},
         "Bundle.entry[0].resource.resourceType", "unknown_type"),
        ({"resourceType": "Bundle", "type": "collection",
          "entry": [{"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "nadi"},
                                  "valueQuantity": {"value": "cepat"}}}]},
         "Bundle.entry[0].resource.valueQuantity.value", "fhir_invalid"),
        ({"resourceType": "Bundle", "type": "collection",
          "entry": [{"resource": {"resourceType": "Patient", "contained": [{"resourceType": "Pasien"}]}}]},
         "Bundle", "fhir_invalid"),
        (_two_patients(), "Bundle.entry", "several_patients"),
    ],
)  # fmt: skip
def test_what_is_not_an_export_is_a_422_naming_the_element(
    api: Api, body: Any, field: str, code: str
) -> None:
    r = send(api, body)
    assert r.status_code == 422, r.text
    e = r.json()
    assert e["type"] == "validation_error"
    assert (e["errors"][0]["field"], e["errors"][0]["code"]) == (field, code), e
    assert e["detail"].startswith(f"field '{field}'")


def test_deep_or_odd_json_is_never_a_server_error(api: Api) -> None:
    deep = '{"resourceType": "Bundle", "type": "collection", "entry": [' + "[" * 2000 + "]" * 2000 + "]}"
    odd = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [1, None, {"resource": 5}, {"fullUrl": 3}],
    }
    ext = {"url": "x", "valueString": "y"}
    for _ in range(300):
        ext = {"url": "x", "extension": [ext]}
    nested = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": {"resourceType": "Patient", "extension": [ext]}}]}  # fmt: skip
    for body in (deep, odd, nested, "null", '"Bundle"', "1e999999"):
        r = send(api, body)
        assert r.status_code in {200, 422}, (body if isinstance(body, str) else "", r.text)


def test_an_export_over_2_mb_is_refused_before_it_is_read(api: Api) -> None:
    big = json.dumps(satusehat_export() | {"padding": "x" * (2 * 1024 * 1024)})
    r = send(api, big)
    assert r.status_code == 413
    assert r.json()["type"] == "too_large"
