"""Nearest by road: a parked ambulance's heading is not a driving direction; no unit is dropped
silently (no position, stale, off the road network: each listed apart with the reason)."""

from __future__ import annotations

from tests.service.tracking.test_tracking import SAMBAS, Tr, facility_lonlat

SEGARAU = "PKM-SEGARAU"
# 40 m from RSUD Sambas, on the RSUD Sambas - Teluk Keramat road (8.3 km, bearing 291 deg)
PARKED = (109.305558, 1.368090)
# 2 km from Puskesmas Segarau, 1.1 km from the nearest road of the modelled network
OFF_MAP = (109.089046, 1.240914)


def nearest(tr: Tr, **params: object) -> dict:
    r = tr.get(
        "/api/dispatch/nearest", "dispatch", params={"facility_id": SEGARAU, "kind": "transport", **params}
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_parked_heading_is_ignored_and_left_out_ambulances_have_a_reason(tr: Tr) -> None:
    parked, tok_p = tr.register(home=SAMBAS, kind="transport")
    far, tok_f = tr.register(home=SAMBAS, kind="transport")
    silent, _ = tr.register(home=SAMBAS, kind="transport")  # never sent a position
    old, tok_o = tr.register(home=SAMBAS, kind="transport")
    # a parked phone reports speed 0 and heading 0 (north: away from the hospital along that road)
    assert tr.send(parked, tok_p, tr.fix(*PARKED, speed=0.0, heading=0.0)).status_code < 300
    assert tr.send(far, tok_f, tr.fix(*OFF_MAP, speed=0.0)).status_code < 300
    assert tr.send(old, tok_o, tr.fix(*PARKED, ago_s=900)).status_code < 300
    got = nearest(tr, k=3)
    rows = {a["id"]: a for a in got["ambulances"]}
    engine = tr.rt.matcher.engine
    plon, plat = facility_lonlat(tr, SEGARAU)
    ((no_heading, _),) = engine.times_to_point([(*PARKED, None)], plon, plat)
    assert no_heading is not None
    # with the heading it was 4054.5 s (67.6 min), driving 8.3 km to Teluk Keramat and back
    assert rows[parked]["eta_s"] == round(no_heading, 1)  # 2460.8 s (41.0 min), as from RSUD itself
    # nothing dropped silently: each available one not ranked is listed with its reason
    left = {x["id"]: x for x in got["left_out"]}
    assert far not in rows and left[far]["reason"] == "off_road" and "1000 m" in left[far]["detail"]
    assert left[silent]["reason"] == "no_position"
    assert left[old]["reason"] == "stale"
    assert parked not in left
    mine = {parked, far, silent, old}
    assert mine <= set(rows) | set(left)
    # with stale positions allowed, the old one is ranked
    assert old in {a["id"] for a in nearest(tr, k=20, include_stale=True)["ambulances"]}
    # a moving ambulance keeps its heading: driving away, it has to turn at the next node
    tr.clock.advance(seconds=5)
    assert tr.send(parked, tok_p, tr.fix(*PARKED, speed=10.0, heading=0.0)).status_code < 300
    ((moving, _),) = engine.times_to_point([(*PARKED, 0.0)], plon, plat)
    assert moving is not None and moving > no_heading + 20 * 60
    assert {a["id"]: a["eta_s"] for a in nearest(tr, k=3)["ambulances"]}[parked] == round(moving, 1)
    for a in mine:  # out of the way of the module's other tests
        tr.patch(
            f"/api/ambulances/{a}/status", "dispatch", json={"status": "out_of_service", "reason": "uji"}
        )
