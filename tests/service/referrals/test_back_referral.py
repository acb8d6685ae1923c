"""Back-referral (rujuk balik, Pasal 5 ayat (3), Pasal 11 ayat (2), Pasal 18 ayat (2)).

A hospital refers a treated patient back to a Puskesmas (the one that referred them first, or
another first-level facility); the Puskesmas's staff see it in their inbox and answer it; both
referrals point at each other.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.service.conftest import Api, create, letter_body

PEMANGKAT, SAMBAS = "6101033", "6101022"


def _treated(api: Api) -> str:
    """A referral from Segarau to RSUD Pemangkat whose patient arrived and was treated."""
    rid = create(api).json()["id"]
    for step, user in (("send", "segarau"), ("accept", "pemangkat"), ("arrive", "pemangkat")):
        assert api.post(f"/api/referrals/{rid}/{step}", user).status_code == 200
    return str(rid)


def _back(rid: str, **over: Any) -> dict[str, Any]:
    body = letter_body(destination_id="PKM-SEGARAU", back_referral_of=rid, service_type="rawat_inap",
                       emergency=False, receiving_unit="Rawat inap PONED",
                       reason="Perdarahan teratasi; observasi dan kontrol Hb di Puskesmas")  # fmt: skip
    body.update(over)
    return body


def test_the_suggestion_proposes_the_referring_puskesmas_first_then_by_road(api: Api) -> None:
    req = {"origin_id": PEMANGKAT, "age_years": 28, "sex": "female", "icd10": ["O72.1"],
           "back_referral": True, "referred_from": "PKM-SEGARAU"}  # fmt: skip
    r = api.post("/api/suggestions", "pemangkat", json=req)
    assert r.status_code == 200, r.text
    s = r.json()
    cands = s["candidates"]
    assert s["referral_type"] == "back_referral"
    assert cands[0]["facility_id"] == "PKM-SEGARAU"
    first = {x["rule_id"]: x for x in cands[0]["reasons"]}
    assert "back-to-the-referrer" in first
    assert any("Pasal 5 ayat (3)" in ref for ref in first["back-to-the-referrer"]["references"])
    rest = [c for c in cands[1:] if c["facility_id"].startswith("PKM-")]
    assert len(rest) >= 20  # every other Puskesmas can continue the care
    times = [c["travel_time_s"] for c in rest]
    assert times == sorted(times)  # then the nearest by road
    # no hospital at the sender's level or above; the acute need (a blood bank) does not apply
    ids = {c["facility_id"] for c in cands}
    assert SAMBAS not in ids
    assert PEMANGKAT not in ids
    for c in cands:
        for reason in c["reasons"]:
            assert reason["references"], reason  # every reason cites its article
    for e in s["excluded"]:
        for reason in e["reasons"]:
            assert reason["references"], reason
    # without the referring facility the nearest first-level facility comes first
    r = api.post("/api/suggestions", "pemangkat", json={**req, "referred_from": None}).json()
    assert r["candidates"][0]["facility_id"] == "PKM-PEMANGKAT"
    bad = api.post("/api/suggestions", "pemangkat", json={**req, "referred_from": "NOPE"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "referred_from"


def test_a_puskesmas_receives_a_back_referral_and_answers_it(api: Api) -> None:
    rid = _treated(api)
    r = create(api, user="pemangkat", body=_back(rid))
    assert r.status_code == 201, r.text
    back = r.json()
    assert back["back_referral_of"] == rid
    # an inpatient continuation needs a bed, which no Puskesmas here reports: the engine ranks
    # the lower-level hospitals (Pasal 11 ayat (2) huruf a), and staff chose the Puskesmas anyway
    assert back["suggestion"]["rank_of_destination"] is None
    # a draft is not the Puskesmas's to see
    assert api.get(f"/api/referrals/{back['id']}", "segarau").status_code == 404
    sent = api.post(f"/api/referrals/{back['id']}/send", "pemangkat").json()
    assert sent["status"] == "sent"
    # the Puskesmas's staff (referrers) have it in their inbox, with the patient
    inbox = api.get("/api/referrals?box=inbox&status=sent", "segarau").json()
    mine = next(x for x in inbox if x["id"] == back["id"])
    assert mine["patient"]["name"] == "Siti Contoh"
    # another Puskesmas sees nothing
    assert back["id"] not in {x["id"] for x in api.get("/api/referrals?box=inbox", "tebas").json()}
    assert api.get(f"/api/referrals/{back['id']}", "tebas").status_code == 404
    # the Puskesmas accepts; the hospital sees it
    r = api.post(f"/api/referrals/{back['id']}/accept", "segarau")
    assert r.status_code == 200, r.text
    assert api.get(f"/api/referrals/{back['id']}", "pemangkat").json()["status"] == "accepted"
    # the patient arrives and the care is completed at the Puskesmas
    for step in ("arrive", "complete"):
        assert api.post(f"/api/referrals/{back['id']}/{step}", "segarau").status_code == 200
    # linked both ways: the first referral names its back-referral
    first = api.get(f"/api/referrals/{rid}", "segarau").json()
    assert first["back_referrals"] == [back["id"]]
    assert api.get(f"/api/referrals/{rid}", "pemangkat").json()["back_referrals"] == [back["id"]]


def test_a_puskesmas_may_decline_and_the_hospital_redirects_to_another(api: Api) -> None:
    rid = _treated(api)
    back = create(api, user="pemangkat", body=_back(rid)).json()
    api.post(f"/api/referrals/{back['id']}/send", "pemangkat")
    r = api.post(f"/api/referrals/{back['id']}/decline", "segarau", json={"reason": "Bidan jaga sedang cuti"})
    assert r.status_code == 200, r.text
    assert r.json()["proposed_next_id"] == "6172044"  # the best-ranked not yet asked
    r = api.post(f"/api/referrals/{back['id']}/redirect", "pemangkat", json={"destination_id": "PKM-TEBAS"})
    assert r.status_code == 200, r.text
    assert back["id"] in {x["id"] for x in api.get("/api/referrals?box=inbox&status=sent", "tebas").json()}
    assert back["id"] not in {
        x["id"] for x in api.get("/api/referrals?box=inbox&status=sent", "segarau").json()
    }
    # the Puskesmas that declined keeps a trace, without the patient
    trace = next(x for x in api.get("/api/referrals?box=inbox", "segarau").json() if x["id"] == back["id"])
    assert trace["destination_id"] == "PKM-TEBAS"
    assert "patient" not in trace
    one = api.get(f"/api/referrals/{back['id']}", "segarau")
    assert one.status_code == 200
    assert "patient" not in one.json()
    assert api.get(f"/api/referrals/{back['id']}/letter", "segarau").status_code == 404
    assert api.post(f"/api/referrals/{back['id']}/accept", "segarau").status_code in (403, 409)


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"destination_id": "NOPE"}, "destination_id"),
        ({"destination_id": PEMANGKAT}, "destination_id"),  # itself
        ({"back_referral_of": "00000000-0000-0000-0000-000000000000"}, "back_referral_of"),
    ],
)
def test_back_referral_input_is_checked(api: Api, over: dict[str, Any], field: str) -> None:
    rid = _treated(api)
    r = create(api, user="pemangkat", body=_back(rid, **over))
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field


def test_only_an_arrived_patient_is_referred_back_and_a_puskesmas_is_no_ordinary_destination(
    api: Api,
) -> None:
    rid = create(api).json()["id"]
    api.post(f"/api/referrals/{rid}/send", "segarau")
    r = create(api, user="pemangkat", body=_back(rid))
    assert r.status_code == 422
    assert "Pasal 11" in r.json()["errors"][0]["message"]
    # without back_referral_of a Puskesmas is not a destination
    r = create(api, user="pemangkat", body=_back(rid, back_referral_of=None))
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "destination_id"
    # the Puskesmas cannot refer a patient it did not receive "back"
    r = create(api, user="segarau", body=_back(rid, destination_id="PKM-TEBAS"))
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "back_referral_of"


def test_an_outpatient_back_referral_needs_no_answer_and_the_puskesmas_records_the_visit(api: Api) -> None:
    rid = _treated(api)
    back = create(api, user="pemangkat", body=_back(rid, service_type="rawat_jalan")).json()
    assert back["suggestion"]["candidates"][0] == "PKM-SEGARAU"  # the referring Puskesmas first
    assert back["suggestion"]["rank_of_destination"] == 1
    r = api.post(f"/api/referrals/{back['id']}/send", "pemangkat").json()
    assert r["status"] == "accepted"  # Pasal 18 ayat (3): no acceptance for outpatients
    assert r["times"]["due"] is None
    for step in ("arrive", "complete"):
        assert api.post(f"/api/referrals/{back['id']}/{step}", "segarau").status_code == 200
    assert api.get(f"/api/referrals/{back['id']}", "pemangkat").json()["status"] == "completed"
