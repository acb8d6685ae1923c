"""Position parsing: the fast path for plain numbers gives what the field-by-field path gives."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.tracking import positions as pos

NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)
LIMITS = pos.Limits()
numbers = st.one_of(
    st.integers(-400, 400),
    st.floats(-400, 400, allow_nan=False),
    st.none(),
    st.booleans(),
    st.text(max_size=4),
)


@settings(max_examples=400, deadline=None)
@given(lat=numbers, lon=numbers, speed=numbers, heading=numbers, acc=numbers, age=st.integers(-120, 100_000),
       ms=st.booleans())  # fmt: skip
def test_fast_and_checked_paths_agree(lat, lon, speed, heading, acc, age, ms) -> None:
    ts = NOW.timestamp() - age
    raw = {"lat": lat, "lon": lon, "timestamp": ts * 1000 if ms else ts, "speed": speed, "heading": heading,
           "accuracy": acc}  # fmt: skip
    raw = {k: v for k, v in raw.items() if v is not None or k in ("lat", "lon")}

    def run(f):
        try:
            return f(raw, now=NOW, limits=LIMITS, prefix="p.")
        except pos.PositionError as exc:
            return ("error", exc.field)

    fast = run(pos.from_json)
    checked = run(pos._from_json_checked)
    assert fast == checked


def test_iso_and_epoch_times() -> None:
    iso = pos.from_json(
        {"lat": 1.2, "lon": 109.3, "timestamp": "2026-11-23T08:59:00+07:00"}, now=NOW, limits=LIMITS
    )
    sec = pos.from_json({"lat": 1.2, "lon": 109.3, "timestamp": NOW.timestamp() - 60}, now=NOW, limits=LIMITS)
    ms = pos.from_json(
        {"lat": 1.2, "lon": 109.3, "timestamp": (NOW.timestamp() - 60) * 1000}, now=NOW, limits=LIMITS
    )
    assert iso.ts_ms == sec.ts_ms == ms.ts_ms
    with pytest.raises(pos.PositionError) as e:
        pos.from_json({"lat": True, "lon": 109.3, "timestamp": 1}, now=NOW, limits=LIMITS)
    assert e.value.field == "lat"
