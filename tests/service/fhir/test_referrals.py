"""Referrals as FHIR (ServiceRequest, Task, Patient, Condition) on SQLite and PostgreSQL.

Access is checked against the JSON API itself: for every user and every step of a referral's
lifecycle, a FHIR read answers 200 exactly when ``GET /api/referrals/{id}`` does, and the Patient
(and the reference to it) exactly when that answer carries the patient. Every resource and
Bundle emitted is read back with fhir.resources' models.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.service.conftest import Api, create, letter_body
from tests.service.fhir.test_api import BASE, all_pages, fhir_get, valid

NIK = "https://fhir.kemkes.go.id/id/nik"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
USERS = ("segarau", "tebas", "pemangkat", "sambas", "dispatch", "planner", "admin")
MASKED = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"


def outcome(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    oo = r.json()
    valid(oo)
    assert oo["resourceType"] == "OperationOutcome"
    issue: dict[str, Any] = oo["issue"][0]
    return issue


def new_referral(api: Api, **over: Any) -> dict[str, Any]:
    r = create(api, body=letter_body(now=api.clock.now, **over))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def act(api: Api, rid: str, action: str, user: str, **body: Any) -> None:
    r = api.post(f"/api/referrals/{rid}/{action}", user, json=body or None)
    assert r.status_code == 200, r.text


def statuses(api: Api, rid: str) -> tuple[str, str]:
    sr = fhir_get(api, f"{BASE}/ServiceRequest/{rid}", "admin").json()
    task = fhir_get(api, f"{BASE}/Task/{rid}", "admin").json()
    valid(sr), valid(task)
    assert (
        task["businessStatus"]["coding"][0]["code"]
        == api.get(f"/api/referrals/{rid}", "admin").json()["status"]
    )
    return sr["status"], task["status"]


def check_access(api: Api, rid: str) -> dict[str, tuple[int, bool]]:
    """For every user: the JSON API's answer, and the FHIR reads checked against it."""
    seen: dict[str, tuple[int, bool]] = {}
    for user in USERS:
        j = api.get(f"/api/referrals/{rid}", user)
        with_patient = j.status_code == 200 and j.json().get("patient") is not None
        seen[user] = (j.status_code, with_patient)
        for t in ("ServiceRequest", "Task", "Patient", "Condition"):
            rid_t = f"{rid}.1" if t == "Condition" else rid
            r = fhir_get(api, f"{BASE}/{t}/{rid_t}", user)
            expected = 200 if j.status_code == 200 and (t != "Patient" or with_patient) else 404
            if expected == 404:
                issue = outcome(r, 404)
                assert issue["code"] == "not-found" and issue["expression"] == [f"{t}.id"]
                continue
            assert r.status_code == 200, (user, t, r.text)
            res = r.json()
            valid(res)
            assert res["resourceType"] == t and res["id"] == rid_t
            subject = res.get("subject") or res.get("for")
            if subject is not None:  # the patient's reference only for those who see the patient
                if with_patient:
                    assert subject["reference"] == f"Patient/{rid}"
                else:
                    assert "reference" not in subject and "display" not in subject
                    assert subject["extension"] == [{"url": MASKED, "valueCode": "masked"}]
            if t == "Patient":
                assert {"system": NIK, "value": "6101014107980001", "use": "official"} in res["identifier"]
    for t in ("ServiceRequest", "Task", "Patient"):
        assert outcome(api.client.get(f"{BASE}/{t}/{rid}"), 401)["code"] == "login"
    return seen


# ------------------------------------------------------------------------------------------ access


def test_read_access_is_the_json_apis_through_the_lifecycle(api: Api) -> None:
    rid = new_referral(api)["id"]
    seen = check_access(api, rid)  # a draft: its own facility and admins only
    assert {u for u, (code, _) in seen.items() if code == 200} == {"segarau", "admin"}
    assert statuses(api, rid) == ("draft", "draft")

    act(api, rid, "send", "segarau")
    seen = check_access(api, rid)
    assert {u for u, (code, _) in seen.items() if code == 200} == {"segarau", "pemangkat", "admin"}
    assert seen["pemangkat"] == (200, True)
    assert statuses(api, rid) == ("active", "requested")

    act(api, rid, "accept", "pemangkat")
    seen = check_access(api, rid)  # now the dispatcher reads it, without the patient
    assert seen["dispatch"] == (200, False) and seen["planner"][0] == 404 and seen["tebas"][0] == 404
    assert statuses(api, rid) == ("active", "accepted")

    for action, user, expected in (
        ("dispatch", "dispatch", ("active", "in-progress")),
        ("depart", "dispatch", ("active", "in-progress")),
        ("arrive", "pemangkat", ("completed", "completed")),
        ("complete", "pemangkat", ("completed", "completed")),
    ):
        act(api, rid, action, user)
        assert statuses(api, rid) == expected
    check_access(api, rid)


def test_decline_redirect_and_cancel(api: Api) -> None:
    rid = new_referral(api)["id"]
    act(api, rid, "send", "segarau")
    act(api, rid, "decline", "pemangkat", reason="ICU penuh")
    assert statuses(api, rid) == ("active", "rejected")
    task = fhir_get(api, f"{BASE}/Task/{rid}", "segarau").json()
    assert task["statusReason"]["text"] == "ICU penuh"
    assert task["owner"]["reference"] == "Organization/6101033"

    act(api, rid, "redirect", "segarau", destination_id="6101022")
    assert statuses(api, rid) == ("active", "requested")
    seen = check_access(api, rid)  # the hospital that declined keeps a trace without the patient
    assert seen["pemangkat"] == (200, False) and seen["sambas"] == (200, True)
    task = fhir_get(api, f"{BASE}/Task/{rid}", "sambas").json()
    assert task["owner"]["reference"] == "Organization/6101022"

    act(api, rid, "cancel", "segarau")
    assert statuses(api, rid) == ("revoked", "cancelled")
    check_access(api, rid)


def test_service_request_content(api: Api) -> None:
    body = new_referral(api, medical={**letter_body()["medical"], "icd10": ["O72.1", "D62"]})
    rid = body["id"]
    sr = valid(fhir_get(api, f"{BASE}/ServiceRequest/{rid}", "segarau").json())
    assert sr.intent == "order" and sr.priority == "stat"
    assert sr.requester.reference == "Organization/PKM-SEGARAU"
    assert [p.reference for p in sr.performer] == ["Organization/6101033"]
    assert sr.authoredOn.isoformat() == body["times"]["created"]
    assert [c.reference for c in sr.reasonReference] == [f"Condition/{rid}.{n}" for n in (1, 2)]
    numbers = [i.value for i in sr.identifier if i.system.endswith("/referral-number")]
    assert numbers == ([body["number"]] if body["number"] else [])
    for n, code in enumerate(body["icd10"], 1):
        cond = valid(fhir_get(api, f"{BASE}/Condition/{rid}.{n}", "segarau").json())
        assert [(c.system, c.code) for c in cond.code.coding] == [(ICD10, code)]
        assert cond.subject.reference == f"Patient/{rid}"
    patient = valid(fhir_get(api, f"{BASE}/Patient/{rid}", "segarau").json())
    assert patient.gender == "female" and patient.birthDate.isoformat() == "1998-07-01"
    assert patient.name[0].text == "Siti Contoh"
    routine = new_referral(api, emergency=False, service_type="rawat_inap")["id"]
    assert fhir_get(api, f"{BASE}/ServiceRequest/{routine}", "segarau").json()["priority"] == "routine"


@pytest.mark.parametrize(
    "path",
    ["ServiceRequest/00000000-0000-0000-0000-000000000000", "Task/nope", "Patient/x", "Condition/x",
     "Condition/{rid}.0", "Condition/{rid}.9", "Condition/{rid}", "Condition/{rid}.01", "Patient/{rid}.1",
     "ServiceRequest/" + "a" * 65],
)  # fmt: skip
def test_unknown_ids_are_404(api: Api, path: str) -> None:
    rid = new_referral(api)["id"]
    resource_type = path.split("/", maxsplit=1)[0]
    issue = outcome(fhir_get(api, f"{BASE}/{path.format(rid=rid)}", "admin"), 404)
    assert issue["expression"] == [f"{resource_type}.id"]


# ------------------------------------------------------------------------------------------ search


def _ids(entries: list[dict[str, Any]]) -> list[str]:
    for e in entries:
        valid(e["resource"])
    return [e["resource"]["id"] for e in entries]


def test_search_returns_exactly_what_each_user_may_read(api: Api) -> None:
    drafted = new_referral(api)["id"]
    sent = new_referral(api)["id"]
    act(api, sent, "send", "segarau")
    accepted = new_referral(api)["id"]
    act(api, accepted, "send", "segarau")
    act(api, accepted, "accept", "pemangkat")
    for user in USERS:
        readable = set(_ids(all_pages(api, "Task", user, _count=2)))
        for t in ("ServiceRequest", "Task"):
            found = _ids(all_pages(api, t, user, _count=2))
            assert len(found) == len(set(found)) and set(found) == readable
            for rid in found:  # each one the JSON API shows this user, and the patient only if it does
                j = api.get(f"/api/referrals/{rid}", user)
                assert j.status_code == 200, (user, rid)
        for rid in (drafted, sent, accepted):
            assert (rid in readable) is (api.get(f"/api/referrals/{rid}", user).status_code == 200), (
                user,
                rid,
            )
    assert outcome(api.client.get(f"{BASE}/ServiceRequest"), 401)["code"] == "login"
    assert outcome(api.client.get(f"{BASE}/Task"), 401)["code"] == "login"


def test_search_filters(api: Api) -> None:
    a = new_referral(api)["id"]
    act(api, a, "send", "segarau")
    api.clock.advance(days=3)
    b = new_referral(api)["id"]
    c = create(api, user="tebas", body=letter_body(now=api.clock.now)).json()["id"]

    def sr(user: str, **params: Any) -> list[str]:
        return _ids(all_pages(api, "ServiceRequest", user, **params))

    def task(user: str, **params: Any) -> list[str]:
        return _ids(all_pages(api, "Task", user, **params))

    mine = sr("admin", requester="Organization/PKM-SEGARAU")
    assert a in mine and b in mine and c not in mine
    assert c in sr("admin", requester="PKM-TEBAS") and a not in sr("admin", requester="PKM-TEBAS")
    assert a in sr("admin", status="active") and b not in sr("admin", status="active")
    assert b in sr("admin", status="draft,revoked")
    assert a in task("admin", status="requested", owner="Organization/6101033", requester="PKM-SEGARAU")
    assert b not in task("admin", status="requested") and b in task("admin", status="draft")
    assert a in sr("pemangkat", performer="6101033") and a not in sr("pemangkat", performer="6101022")
    assert sr("admin", performer="Location/6101033") == []  # another type: nothing
    today = api.clock.now.date().isoformat()
    recent = sr("admin", authored=f"ge{today}")
    assert b in recent and c in recent and a not in recent
    older = sr("admin", authored=f"lt{today}")
    assert a in older and b not in older
    assert b in sr("admin", authored=today) and a not in sr("admin", authored=today)
    assert a in sr("admin", authored=[f"ge{(api.clock.now.date().replace(day=1)).isoformat()}", f"le{today}"])

    # the NIK finds the patient's referrals only for those who see the patient
    nik = f"{NIK}|6101014107980001"
    assert {a, b} <= set(sr("segarau", **{"patient.identifier": nik}))
    assert a in sr("pemangkat", **{"patient.identifier": "6101014107980001"})
    assert sr("dispatch", **{"patient.identifier": nik}) == []
    assert sr("segarau", **{"patient.identifier": "https://example.org/nik|6101014107980001"}) == []
    assert sr("segarau", **{"patient.identifier": f"{NIK}|6101014107980002"}) == []


def test_search_paging(api: Api) -> None:
    for _ in range(3):
        new_referral(api)
    first = fhir_get(api, f"{BASE}/ServiceRequest", "segarau", _count=2).json()
    valid(first)
    total = first["total"]
    assert total >= 3 and len(first["entry"]) == 2
    entries = all_pages(api, "ServiceRequest", "segarau", _count=2)
    assert len(entries) == total
    nxt = next(link["url"] for link in first["link"] if link["relation"] == "next")
    u = urlsplit(nxt)
    second = fhir_get(api, f"{u.path}?{u.query}", "segarau").json()
    assert any(link["relation"] == "previous" for link in second["link"])
    assert _ids(first["entry"]) + _ids(second["entry"]) == _ids(entries[:4])
    empty = fhir_get(api, f"{BASE}/Task", "segarau", _count=0).json()
    assert empty["total"] == total and "entry" not in empty


@pytest.mark.parametrize(
    ("resource_type", "key", "value"),
    [("ServiceRequest", "authored", "yesterday"), ("ServiceRequest", "authored", "ge2026-13-01"),
     ("ServiceRequest", "authored", "2026-11-22T10:00"), ("ServiceRequest", "subject", "Patient/x"),
     ("ServiceRequest", "authored", "ge9999-12-31T23:59:59+00:00"), ("ServiceRequest", "authored", "0001-01-01"),
     ("ServiceRequest", "authored", "ne2026-11-22"), ("Task", "performer", "6101033"), ("Task", "_count", "500"), ("ServiceRequest", "status:text", "x")],
)  # fmt: skip
def test_bad_search_parameters_are_400(api: Api, resource_type: str, key: str, value: str) -> None:
    issue = outcome(fhir_get(api, f"{BASE}/{resource_type}", "segarau", **{key: value}), 400)
    assert issue["expression"] == [key]


def test_patient_and_condition_are_read_only(api: Api) -> None:
    for t in ("Patient", "Condition"):
        issue = outcome(fhir_get(api, f"{BASE}/{t}", "admin"), 404)
        assert issue["code"] == "not-supported" and "search" in issue["diagnostics"]


def test_the_capability_statement_says_what_is_served(api: Api) -> None:
    cs = valid(fhir_get(api, f"{BASE}/metadata").json())
    by_type = {r.type: r for r in cs.rest[0].resource}
    for t in ("ServiceRequest", "Task"):
        assert {i.code for i in by_type[t].interaction} == {"read", "search-type"}
    for t in ("Patient", "Condition"):
        assert {i.code for i in by_type[t].interaction} == {"read"} and not by_type[t].searchParam
    assert {p.name for p in by_type["ServiceRequest"].searchParam} == {
        "_id", "identifier", "status", "requester", "performer", "authored", "patient.identifier",
    }  # fmt: skip
    assert {p.name for p in by_type["Task"].searchParam} == {
        "_id",
        "identifier",
        "status",
        "owner",
        "requester",
    }


def test_an_unidentified_casualty_is_a_patient_without_nik_or_birth_date() -> None:
    import datetime as dt
    from types import SimpleNamespace

    from service.fhir import referrals as ref
    from service.referrals.lifecycle import Status

    assert set(ref.SERVICE_REQUEST_STATUS) == set(Status) == set(ref.TASK_STATUS) == set(ref.STATUS_LABELS)
    r: Any = SimpleNamespace(
        id="3f1c2a9e-0000-4000-8000-000000000001",
        origin_id="PKM-SEGARAU",
        created_at=dt.datetime(2026, 11, 22, 2, 0, tzinfo=dt.UTC),
        icd10=["T07"],
        patient={"name": "Korban 3 (belum dikenal)", "nik": "", "medical_record_number": "",
                 "date_of_birth": "", "sex": "male", "age_estimate_years": 40, "unidentified": True},
    )  # fmt: skip
    patient = valid(ref.patient(r, names=lambda _: None).model_dump(mode="json"))
    assert patient.identifier is None and patient.birthDate is None and patient.gender == "male"
    assert patient.name[0].text == "Korban 3 (belum dikenal)"
    cond = valid(ref.condition(r, 1, with_patient=False).model_dump(mode="json"))
    assert cond.subject.reference is None and cond.code.coding[0].code == "T07"
