"""Report months are months of the jurisdiction's local time (Sambas: WIB), not of UTC."""

from __future__ import annotations

import datetime as dt

import pytest

from geodata.timezones import WIB, WIT, WITA, zone_of_region
from service.referrals.reports import month_bounds
from tests.service.conftest import Api, create, letter_body

UTC = dt.UTC


@pytest.mark.parametrize(
    ("zone", "hour_utc"),
    [(WIB, 17), (WITA, 16), (WIT, 15)],  # 1 December 00:00 local is 30 November at this UTC hour
)
def test_a_month_starts_at_local_midnight_in_each_indonesian_zone(zone: str, hour_utc: int) -> None:
    start, end = month_bounds("2026-12", zone)
    assert start == dt.datetime(2026, 11, 30, hour_utc, tzinfo=UTC)
    assert end == dt.datetime(2026, 12, 31, hour_utc, tzinfo=UTC)
    jan_start, _ = month_bounds("2027-01", zone)
    assert jan_start == end  # no gap, no overlap at the turn of the year


@pytest.mark.parametrize(
    ("region", "zone"),
    [("6101", WIB), ("61.01", WIB), ("6201", WIB), ("3171", WIB), ("6401", WITA), ("6501", WITA),
     ("5171", WITA), ("7371", WITA), ("8171", WIT), ("9471", WIT), ("9601", WIT)],
)  # fmt: skip
def test_the_zone_of_a_region_is_its_provinces(region: str, zone: str) -> None:
    assert zone_of_region(region) == zone


def test_an_unknown_province_has_no_zone() -> None:
    assert zone_of_region("9999") is None
    assert zone_of_region("") is None


def _paper(api: Api, at: dt.datetime) -> str:
    body = letter_body(now=at, offline={"occurred_at": at.isoformat(), "note": "jaringan mati, surat kertas"})
    r = create(api, body=body)
    assert r.status_code == 201, r.text
    rid: str = r.json()["id"]
    return rid


def test_a_paper_referral_at_three_in_the_morning_wib_counts_in_its_local_month(api: Api) -> None:
    assert api.rt.dataset.timezone == WIB
    api.clock.now = dt.datetime(2026, 12, 1, 5, 0, tzinfo=UTC)  # 12:00 WIB on 1 December
    # 30 November 23:59:59 WIB, and 1 December 00:00 and 03:00 WIB (still 30 November in UTC)
    _paper(api, dt.datetime(2026, 11, 30, 16, 59, 59, tzinfo=UTC))
    _paper(api, dt.datetime(2026, 11, 30, 17, 0, 0, tzinfo=UTC))
    _paper(api, dt.datetime(2026, 11, 30, 20, 0, 0, tzinfo=UTC))

    def referred(month: str) -> int:
        r = api.get("/api/reports/PKM-SEGARAU", "segarau", params={"month": month})
        assert r.status_code == 200, r.text
        assert r.json()["timezone"] == WIB
        n: int = r.json()["indicators"]["a_referred_of_served"]["referred"]
        return n

    assert referred("2026-11") == 1
    assert referred("2026-12") == 2
    csv_ = api.get("/api/reports/PKM-SEGARAU", "segarau", params={"month": "2026-12", "format": "csv"})
    assert "zona waktu,Asia/Jakarta" in csv_.text


def test_the_letter_gives_times_in_wib(api: Api) -> None:
    api.clock.now = dt.datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    rid = _paper(api, dt.datetime(2026, 11, 30, 20, 0, 0, tzinfo=UTC))  # 1 December, 03:00 WIB
    html = api.get(f"/api/referrals/{rid}/letter", "segarau").text
    assert "1 Desember 2026, 03.00 WIB" in html  # as people there write it
    assert "1 Desember 2026, 12.00 WIB" in html  # printed now
    assert "UTC" not in html
