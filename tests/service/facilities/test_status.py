"""Live status on SQLite and PostgreSQL: written by the facility's own staff, with time and author."""

from __future__ import annotations

import datetime as dt

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
