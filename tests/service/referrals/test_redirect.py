"""A redirect carries a reason written for the new destination; the last answer stays in the history."""

from __future__ import annotations

from tests.service.conftest import Api, create, letter_body

PEMANGKAT, SAMBAS = "6101033", "6101022"


def test_a_redirect_carries_a_reason_for_the_new_destination(api: Api) -> None:
    rid = create(api).json()["id"]
    assert api.post(f"/api/referrals/{rid}/send", "segarau").status_code == 200
    r = api.post(
        f"/api/referrals/{rid}/decline", "pemangkat", json={"reason": "Kamar operasi di RSUD Pemangkat penuh"}
    )
    assert r.status_code == 200, r.text
    new_reason = "Perlu transfusi dan dokter Obgyn di RSUD Sambas"
    r = api.post(
        f"/api/referrals/{rid}/redirect", "segarau", json={"destination_id": SAMBAS, "reason": new_reason}
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["destination_id"] == SAMBAS
    assert got["reason"] == new_reason
    assert got["decline_reason"] is None
    # the new destination's letter has the new reason and not the last one's refusal
    letter = api.get(f"/api/referrals/{rid}/letter", "sambas").text
    assert new_reason in letter
    assert "Kamar operasi di RSUD Pemangkat penuh" not in letter
    # the sender's history keeps who declined and why
    events = api.get(f"/api/referrals/{rid}/events", "segarau").json()
    decline = next(e for e in events if e["kind"] == "decline")
    assert decline["destination_id"] == PEMANGKAT
    assert decline["note"] == "Kamar operasi di RSUD Pemangkat penuh"


def test_a_redirect_reason_is_checked(api: Api) -> None:
    rid = create(api).json()["id"]
    assert api.post(f"/api/referrals/{rid}/send", "segarau").status_code == 200
    assert api.post(f"/api/referrals/{rid}/decline", "pemangkat", json={"reason": "penuh"}).status_code == 200
    for bad in ("", "x" * 2001):
        r = api.post(
            f"/api/referrals/{rid}/redirect", "segarau", json={"destination_id": SAMBAS, "reason": bad}
        )
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == "body.reason"
    assert api.get(f"/api/referrals/{rid}", "segarau").json()["destination_id"] == PEMANGKAT  # unchanged
    # without a reason the letter's stays
    r = api.post(f"/api/referrals/{rid}/redirect", "segarau", json={"destination_id": SAMBAS})
    assert r.status_code == 200, r.text
    assert r.json()["reason"] == letter_body()["reason"]
