"""Live status on SQLite and PostgreSQL: written by the facility's own staff, with time and author."""

from __future__ import annotations

import datetime as dt

import pytest

from geodata.models import BedType
from tests.service.conftest import PPH_REQUEST, Api

PEMANGKAT, SAMBAS, TELUK_KERAMAT = "6101033", "6101022", "6101137"


# ----------------------------------------------------------------------------------- live status


def test_status_update_by_own_staff_with_time_and_author(api: Api) -> None:
    r = api.patch(f"/api/facilities/{SAMBAS}/status", "sambas",
                  json={"beds_available": {"icu": 2, "maternity": 3}, "specialists_on_duty": ["obgyn"]})  # fmt: skip
    assert r.status_code == 200, r.text
    figs = {f["key"]: f for f in r.json()["figures"]}
    assert figs["beds_available.icu"]["value"] == 2
    assert figs["beds_available.icu"]["updated_by"] == "sambas"
    assert figs["beds_available.icu"]["age_s"] == 0
    assert figs["specialists_on_duty"]["value"] == ["obgyn"]
    # another facility's staff may not touch it
    r = api.patch(f"/api/facilities/{SAMBAS}/status", "pemangkat", json={"beds_available": {"icu": 0}})
    assert r.status_code == 403
    r = api.patch(f"/api/facilities/{SAMBAS}/status", "sambas", json={"beds_available": {"icu": -1}})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body.beds_available.icu"


def test_not_accepting_reverts_by_itself(api: Api) -> None:
    until = (api.clock.now.replace(microsecond=0) + dt.timedelta(hours=1)).isoformat()
    r = api.patch(f"/api/facilities/{PEMANGKAT}/status", "pemangkat",
                  json={"not_accepting_until": until, "not_accepting_reason": "listrik padam"})  # fmt: skip
    assert r.status_code == 200, r.text
    req = dict(PPH_REQUEST)
    s = api.post("/api/suggestions", "segarau", json=req).json()
    assert PEMANGKAT in {x["facility_id"] for x in s["excluded"]}
    api.clock.advance(hours=1, minutes=1)
    try:
        s = api.post("/api/suggestions", "segarau", json=req).json()
        assert PEMANGKAT in {c["facility_id"] for c in s["candidates"]}
    finally:
        api.clock.advance(hours=-1, minutes=-1)
        api.patch(f"/api/facilities/{PEMANGKAT}/status", "pemangkat", json={"accepting_again": True})


def test_each_figure_is_judged_by_its_own_age(api: Api) -> None:
    """A bed count left for 6 hours is stale although the specialists were updated a moment ago."""
    r = api.patch(f"/api/facilities/{SAMBAS}/status", "sambas", json={"beds_available": {"maternity": 3}})
    assert r.status_code == 200, r.text
    api.clock.advance(hours=6)
    try:
        r = api.patch(f"/api/facilities/{SAMBAS}/status", "sambas", json={"specialists_on_duty": ["obgyn"]})
        assert r.status_code == 200, r.text
        s = api.post("/api/suggestions", "segarau", json=PPH_REQUEST).json()
        c = next(c for c in s["candidates"] if c["facility_id"] == SAMBAS)
        assert c["stale"] is True
        stale = next(x for x in c["reasons"] if x["rule_id"] == "stale-status")
        assert "6.0 jam" in stale["text"]["id"]
        # the beds brought up to date: fresh again
        api.patch(f"/api/facilities/{SAMBAS}/status", "sambas", json={"beds_available": {"maternity": 3}})
        s = api.post("/api/suggestions", "segarau", json=PPH_REQUEST).json()
        c = next(c for c in s["candidates"] if c["facility_id"] == SAMBAS)
        assert c["stale"] is False
    finally:
        api.clock.advance(hours=-6)


# ------------------------------------------------------------------ figures against registered capacity


def _audits(api: Api, facility_id: str) -> list[dict[str, object]]:
    from sqlalchemy import select

    from service.database import AuditEntry

    with api.rt.sessions() as s:
        q = select(AuditEntry.detail).where(
            AuditEntry.action == "status.update", AuditEntry.entity_id == facility_id
        )
        return [dict(d) for d in s.scalars(q.order_by(AuditEntry.id))]


def _figures(api: Api, facility_id: str, user: str) -> dict[str, object]:
    r = api.get(f"/api/facilities/{facility_id}/status", user)
    assert r.status_code == 200, r.text
    return {f["key"]: f["value"] for f in r.json()["figures"]}


def test_a_figure_above_registered_capacity_is_refused_unless_confirmed(api: Api) -> None:
    """RSUD Sambas has 6 ICU beds registered: "ICU 99" needs a confirmation, recorded in the audit."""
    assert api.rt.dataset.facility(SAMBAS).beds[BedType.ICU] == 6
    url = f"/api/facilities/{SAMBAS}/status"
    assert api.patch(url, "sambas", json={"beds_available": {"icu": 2, "maternity": 3}}).status_code == 200
    before = len(_audits(api, SAMBAS))
    r = api.patch(url, "sambas", json={"beds_available": {"icu": 99, "maternity": 1}})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["errors"] == [
        {
            "field": "beds_available.icu",
            "message": body["errors"][0]["message"],
            "code": "over_capacity",  # what the page says in its language, with the two figures
            "params": {"value": 99, "capacity": 6},
        }
    ]
    assert "registered capacity of 6" in body["errors"][0]["message"]
    assert "beds_available.icu" in body["detail"]
    # nothing half-written: the maternity figure of the refused request is not saved either
    figs = _figures(api, SAMBAS, "sambas")
    assert (figs["beds_available.icu"], figs["beds_available.maternity"]) == (2, 3)
    assert len(_audits(api, SAMBAS)) == before
    # exactly the registered capacity needs no confirmation
    assert api.patch(url, "sambas", json={"beds_available": {"icu": 6}}).status_code == 200
    # confirmed: saved, and the audit says which figure was above what
    r = api.patch(
        url, "sambas", json={"beds_available": {"icu": 99, "maternity": 1}, "confirm_over_capacity": True}
    )
    assert r.status_code == 200, r.text
    figs = _figures(api, SAMBAS, "sambas")
    assert (figs["beds_available.icu"], figs["beds_available.maternity"]) == (99, 1)
    last = _audits(api, SAMBAS)[-1]
    assert last["confirmed_over_capacity"] is True
    assert last["over_capacity"] == {"icu": {"reported": 99, "registered": 6}}
    # an ordinary update afterwards records no confirmation
    assert api.patch(url, "sambas", json={"beds_available": {"icu": 1}}).status_code == 200
    assert "confirmed_over_capacity" not in _audits(api, SAMBAS)[-1]


def test_a_bed_type_the_facility_has_not_registered_counts_as_capacity_zero(api: Api) -> None:
    """RSUD Teluk Keramat registers no ICU: any free ICU bed there is above its capacity."""
    assert BedType.ICU not in api.rt.dataset.facility(TELUK_KERAMAT).beds
    url = f"/api/facilities/{TELUK_KERAMAT}/status"
    r = api.patch(url, "telukkeramat", json={"beds_available": {"icu": 1}})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "beds_available.icu"
    assert "capacity of 0" in r.json()["errors"][0]["message"]
    assert api.patch(url, "telukkeramat", json={"beds_available": {"icu": 0}}).status_code == 200


@pytest.mark.parametrize(
    ("value", "reason"), [(-1, "greater than or equal to 0"), (1001, "less than or equal to 1000")]
)
def test_negative_or_absurd_figures_are_refused_even_confirmed(api: Api, value: int, reason: str) -> None:
    r = api.patch(
        f"/api/facilities/{SAMBAS}/status",
        "sambas",
        json={"beds_available": {"general": value}, "confirm_over_capacity": True},
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "body.beds_available.general"
    assert reason in r.json()["errors"][0]["message"]


def test_capacity_confirmation_does_not_open_the_board_to_others(api: Api) -> None:
    body = {"beds_available": {"icu": 3}, "confirm_over_capacity": True}
    # another hospital's staff, a dispatcher, a planner: refused, and nothing written
    before = _figures(api, SAMBAS, "sambas").get("beds_available.icu")
    for user in ("pemangkat", "dispatch", "planner"):
        r = api.patch(f"/api/facilities/{SAMBAS}/status", user, json=body)
        assert r.status_code == 403, (user, r.text)
        assert r.json()["type"] == "forbidden"
    r = api.client.patch(f"/api/facilities/{SAMBAS}/status", json=body)
    assert r.status_code == 401
    assert _figures(api, SAMBAS, "sambas").get("beds_available.icu") == before


def test_the_reason_for_not_accepting_is_required_and_named(api: Api) -> None:
    until = (api.clock.now + dt.timedelta(hours=2)).isoformat()
    r = api.patch(f"/api/facilities/{PEMANGKAT}/status", "pemangkat",
                  json={"not_accepting_until": until, "not_accepting_reason": "   "})  # fmt: skip
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "not_accepting_reason"
    figs = _figures(api, PEMANGKAT, "pemangkat")
    assert "not_accepting_until" not in figs or figs["not_accepting_until"] is None
