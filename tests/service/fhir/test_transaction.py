"""Creating a referral by a FHIR transaction Bundle (``POST /fhir/R4``), on SQLite and PostgreSQL.

The Bundle rujuk writes for a letter is read back into the same letter (round trip); a Bundle
POSTed creates the referral the JSON API would (same checks, number, events), idempotently; every
refusal is an OperationOutcome naming the Bundle entry and element, and writes nothing.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from service.fhir.outcome import FhirError, OutcomeError
from service.fhir.transaction import letter_bundle, read_transaction
from service.referrals.schemas import ReferralIn
from tests.service.conftest import Api, letter_body, new_key
from tests.service.fhir.test_api import BASE, fhir_get, valid

NIK = "https://fhir.kemkes.go.id/id/nik"


def full_letter(**over: Any) -> dict[str, Any]:
    body = letter_body(**over)
    body["medical"]["procedures"] = [{"code": "99.04", "note": "transfusi PRC 1 kolf"}]
    body["medical"]["vital_signs"]["temperature_c"] = 37.8
    body["specialty"] = "obgyn"
    body["tacc"] = ""
    return body


def bundle_of(
    body: dict[str, Any], *, send: bool = True, identifier: tuple[str, str] | None = None
) -> dict[str, Any]:
    letter = ReferralIn.model_validate(body).model_dump(mode="json")
    return letter_bundle(letter, origin_id="PKM-SEGARAU", send=send, identifier=identifier)


def entry_of(bundle: dict[str, Any], kind: str) -> tuple[int, dict[str, Any]]:
    return next(
        (i, e["resource"]) for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == kind
    )


def post(api: Api, bundle: Any, user: str | None = "segarau", key: str | None = None) -> Any:
    headers = {**(api.h(user) if user else {}), "Content-Type": "application/fhir+json"}
    if key:
        headers["Idempotency-Key"] = key
    data = bundle if isinstance(bundle, (bytes, str)) else json.dumps(bundle)
    r = api.client.post(BASE, content=data, headers=headers)
    assert r.headers["content-type"].startswith("application/fhir+json"), r.text
    valid(r.json())
    return r


def count(api: Api) -> int:
    return len(api.get("/api/referrals?box=outbox&limit=200", "segarau").json())


# ------------------------------------------------------------------------------------ pure mapping


def test_the_bundle_reads_back_into_the_same_letter() -> None:
    body = full_letter()
    body["patient"]["nik_confirmed"] = True
    body["disaster"] = True
    bundle = bundle_of(body, identifier=("https://puskesmas.example/sid/rujukan", "R-1"))
    valid(bundle)
    tx = read_transaction(bundle)
    assert tx.letter == ReferralIn.model_validate(body)
    assert (tx.origin_id, tx.send) == ("PKM-SEGARAU", True)
    assert tx.if_none_exist == "https://puskesmas.example/sid/rujukan|R-1"
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("Observation") == 6 and kinds.count("Procedure") == 1
    assert {"Patient", "Condition", "Consent", "ServiceRequest"} <= set(kinds)
    assert not read_transaction(bundle_of(body, send=False)).send


def test_every_problem_is_named_by_entry_and_element() -> None:
    bundle = bundle_of(full_letter())
    pi, patient = entry_of(bundle, "Patient")
    patient["birthDate"] = "1998-07-02"  # the NIK says 01-07-1998
    entry_of(bundle, "ServiceRequest")[1]["note"] = []
    ci, _ = entry_of(bundle, "Consent")
    del bundle["entry"][ci]
    si, _ = entry_of(bundle, "ServiceRequest")
    with pytest.raises(OutcomeError) as exc:
        read_transaction(bundle)
    where = {i.expression: i.diagnostics for i in exc.value.issues}
    assert "birth date" in where[f"Bundle.entry[{pi}].resource.birthDate"], where
    assert f"Bundle.entry[{si}].resource.note" in where, where
    assert "Bundle.entry" in where and "Consent" in where["Bundle.entry"], where


@pytest.mark.parametrize(
    ("change", "expression"),
    [
        (lambda b: b.update(type="batch"), "Bundle.type"),
        (lambda b: entry_of(b, "Patient")[1].update(gender="x"), "Bundle.entry"),
        (lambda b: entry_of(b, "ServiceRequest")[1].update(performer=[]), "performer"),
        (lambda b: entry_of(b, "ServiceRequest")[1].update(status="completed"), "status"),
        (lambda b: entry_of(b, "ServiceRequest")[1]["subject"].update(reference="Patient/123"), "subject"),
        (lambda b: entry_of(b, "Condition")[1]["code"]["coding"][0].update(system="http://snomed.info/sct"),
         "code"),
        (lambda b: b["entry"][0]["request"].update(method="PUT"), "request.method"),
        (lambda b: b["entry"][0]["resource"].update(resourceType="Pasien"), "entry[0].resource.resourceType"),
        (lambda b: b["entry"].append({"resource": {"resourceType": "Encounter", "status": "planned",
                                                   "class": {"code": "EMER"}},
                                      "request": {"method": "POST", "url": "Encounter"}}), "resourceType"),
        (lambda b: entry_of(b, "Procedure")[1]["code"]["coding"][0].update(code="12.345"), "resource.code"),
    ],
)  # fmt: skip
def test_a_bad_bundle_is_refused_naming_where(change: Any, expression: str) -> None:
    bundle = bundle_of(full_letter())
    change(bundle)
    with pytest.raises(FhirError) as exc:
        read_transaction(bundle)
    issues = getattr(exc.value, "issues", None) or [exc.value]
    assert any(expression in (i.expression or "") for i in issues), [
        (i.expression, i.diagnostics) for i in issues
    ]


# ------------------------------------------------------------------------------------ over HTTP


def test_a_transaction_creates_and_sends_the_referral(api: Api) -> None:
    bundle = bundle_of(full_letter(now=api.clock.now))
    r = post(api, bundle)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["type"] == "transaction-response"
    assert len(out["entry"]) == len(bundle["entry"])
    locations = [e["response"].get("location") for e in out["entry"]]
    assert all(e["response"]["status"] == "201 Created" for e in out["entry"])
    rid = next(loc for loc in locations if loc and loc.startswith("ServiceRequest/")).split("/")[1]
    assert f"Patient/{rid}" in locations and f"Condition/{rid}.1" in locations
    got = api.get(f"/api/referrals/{rid}", "segarau").json()
    assert got["status"] == "sent" and got["number"]
    assert got["medical"]["procedures"] == [{"code": "99.04", "note": "transfusi PRC 1 kolf"}]
    assert got["medical"]["vital_signs"]["temperature_c"] == 37.8
    assert got["patient"]["nik"] == "6101014107980001"
    assert [e["kind"] for e in api.get(f"/api/referrals/{rid}/events", "segarau").json()] == [
        "created",
        "send",
    ]
    task = fhir_get(api, f"{BASE}/Task/{rid}", "pemangkat").json()
    assert task["status"] == "requested"
    assert api.post(f"/api/referrals/{rid}/accept", "pemangkat").status_code == 200
    assert fhir_get(api, f"{BASE}/Task/{rid}", "segarau").json()["status"] == "accepted"


def test_a_draft_is_written_not_sent(api: Api) -> None:
    r = post(api, bundle_of(full_letter(now=api.clock.now), send=False))
    assert r.status_code == 200, r.text
    rid = r.json()["entry"][-1]["response"]["location"].split("/")[1]
    assert api.get(f"/api/referrals/{rid}", "segarau").json()["status"] == "created"


def test_idempotency_key_and_if_none_exist_make_one_referral(api: Api) -> None:
    key = new_key()
    bundle = bundle_of(full_letter(now=api.clock.now))
    first = post(api, bundle, key=key)
    before = count(api)
    again = post(api, bundle, key=key)
    assert again.status_code == 200
    assert [e["response"] for e in again.json()["entry"]] == [
        {**e["response"], "status": "200 OK"} for e in first.json()["entry"]
    ]
    other = copy.deepcopy(bundle)
    entry_of(other, "ServiceRequest")[1]["note"] = [{"text": "alasan lain"}]
    conflict = post(api, other, key=key)
    assert conflict.status_code == 409
    assert conflict.json()["issue"][0]["code"] == "conflict"
    conditional = bundle_of(
        full_letter(now=api.clock.now), identifier=("https://pkm.example/sid/rujukan", new_key())
    )
    made = post(api, conditional)
    again = post(api, conditional)
    assert (
        made.json()["entry"][-1]["response"]["location"] == again.json()["entry"][-1]["response"]["location"]
    )
    assert again.json()["entry"][-1]["response"]["status"] == "200 OK"
    assert count(api) == before + 1


@pytest.mark.parametrize(
    ("user", "status"), [(None, 401), ("planner", 403), ("dispatch", 403), ("tebas", 403), ("admin", 403)]
)
def test_only_the_requesting_facility_creates(api: Api, user: str | None, status: int) -> None:
    before = count(api)
    r = post(api, bundle_of(full_letter(now=api.clock.now)), user=user)
    assert r.status_code == status, r.text
    assert count(api) == before


def test_refusals_write_nothing(api: Api) -> None:
    before = count(api)
    assert post(api, b"{not json").status_code == 400
    assert post(api, {"resourceType": "Patient"}).status_code == 400
    assert post(api, {"resourceType": "Bundle", "type": "transaction"}).status_code == 422
    wrong = bundle_of(full_letter(now=api.clock.now))
    _, patient = entry_of(wrong, "Patient")
    patient["identifier"][0]["value"] = "9901014107980001"  # no province 99
    r = post(api, wrong)
    assert r.status_code == 422
    assert "identifier" in r.json()["issue"][0]["expression"][0]
    unknown = bundle_of(full_letter(now=api.clock.now, destination_id="PKM-TEBAS"))
    r = post(api, unknown)
    assert r.status_code == 422
    assert r.json()["issue"][0]["expression"][0].endswith(".performer")
    assert count(api) == before


def test_the_capability_statement_declares_the_transaction(api: Api) -> None:
    cs = valid(fhir_get(api, f"{BASE}/metadata").json())
    assert [i.code for i in cs.rest[0].interaction] == ["transaction"]
    assert "transaction Bundle" in cs.rest[0].documentation
