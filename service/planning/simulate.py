"""Simulation: every demand record through the same matching engine as live suggestions.

No second code path: each record becomes a ``ReferralRequest`` from its Puskesmas and goes
through ``Matcher.suggest`` (rules, routing, reasons). Identical requests (same origin, age,
sex, code, service type, emergency) get the same answer without live status, so each distinct
one is asked once. Metrics per kecamatan, Puskesmas and hospital, and baseline vs scenario.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from geodata.models import BedType
from routing.engine import RoutingEngine
from rules.model import Decision, ReferralRequest, ServiceType, Sex
from service.matcher import Matcher

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from service.planning.demand import DemandRecord
    from service.planning.scenario import Applied

#: Planning assumption: mean length of stay (days) turning beds into yearly admissions.
MEAN_STAY_DAYS = 4.0
#: Planning assumptions: length of stay by condition group (days), for occupancy runs.
STAY_DAYS: dict[str, float] = {
    "obstetric-emergency": 3, "neonatal": 7, "acute-coronary": 5, "head-injury": 5, "polytrauma": 10,
    "appendicitis": 3, "pneumonia": 5, "dengue": 4, "non-specialist": 0,
}  # fmt: skip
DEFAULT_STAY_DAYS = 4.0
#: The decision of a referral that found no free bed at any candidate (occupancy runs).
NO_BED = "no_bed"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the engine decided for one demand record."""

    record_id: int
    origin_id: str
    decision: str
    destination_id: str | None
    travel_time_s: float | None
    distance_m: float | None
    regionalisation_waived: bool
    leaves_regency: bool
    #: sent past a full hospital to the next candidate (occupancy runs only)
    overflow: bool = False


def matcher_for(applied: Applied, base: Matcher) -> Matcher:
    """The engine for a scenario: the base routing engine unless roads or receivers changed."""
    receiving = {f.id: (f.location.lon, f.location.lat) for f in applied.dataset.facilities if f.receiving}
    engine = base.engine
    if (
        applied.conditions
        or applied.dataset.roads is not base.dataset.roads
        or not set(receiving) <= set(engine.facility_ids)
    ):
        engine = RoutingEngine(applied.dataset.roads, receiving, max_snap_m=applied.dataset.snap_max_m)
        for c in applied.conditions:
            engine.apply_condition(c)
    # the scenario changes the pack of the dataset's own regency; every other origin keeps its own
    jurisdictions = base.jurisdictions.replacing(base.pack, applied.pack)
    return Matcher(applied.dataset, applied.pack, engine, jurisdictions=jurisdictions)


@dataclass(frozen=True, slots=True)
class _Answer:
    decision: str
    candidates: tuple[tuple[str, float, float | None], ...]  # (facility, time s, distance m), ranked
    bed: str | None  # the bed type a stay occupies; None for an outpatient visit
    waived: bool


def _answers(matcher: Matcher, demand: Sequence[DemandRecord], now: datetime) -> list[_Answer]:
    """The engine's answer for each record, each distinct request asked once."""
    waivers = {
        r.id
        for pack in matcher.jurisdictions.packs
        for r in pack.request_rules
        if r.effect == "set" and (r.param or {}).get("regionalisation_waived")
    }
    cache: dict[tuple[object, ...], _Answer] = {}
    out = []
    for rec in demand:
        key = (rec.origin_id, rec.age_years, rec.sex, rec.icd10, rec.service_type, rec.emergency)
        hit = cache.get(key)
        if hit is None:
            req = ReferralRequest(
                origin_id=rec.origin_id,
                age_years=float(rec.age_years),
                sex=Sex(rec.sex),
                icd10=(rec.icd10,),
                service_type=ServiceType(rec.service_type),
                emergency=rec.emergency,
            )
            s = matcher.suggest(req, statuses={}, now=now)
            stays = req.service_type is not ServiceType.RAWAT_JALAN
            hit = cache[key] = _Answer(
                s.decision.value,
                tuple((c.facility_id, c.travel_time_s, c.distance_m) for c in s.candidates),
                (s.need.beds[0].value if s.need.beds else BedType.GENERAL.value) if stays else None,
                any(r.rule_id in waivers for r in s.reasons),
            )
        out.append(hit)
    return out


def simulate(
    matcher: Matcher,
    demand: Sequence[DemandRecord],
    *,
    now: datetime = NOW,
    occupancy: bool = False,
    stay_days: Mapping[str, float] | None = None,
) -> list[Outcome]:
    """Every record through ``matcher.suggest`` (no live status: the planning view).

    With ``occupancy`` the records are played in time order against the hospitals' registered
    beds: a stay holds a bed of the type its need names for its group's length of stay; a
    hospital with none free sends the patient to the next candidate of the same ranking
    (``overflow``); with none free anywhere the referral is ``no_bed``. Outpatient visits take
    no bed.
    """
    answers = _answers(matcher, demand, now)
    home = matcher.dataset.region.name.casefold()
    regency = {f.id: f.regency.casefold() for f in matcher.dataset.facilities}
    choice: list[tuple[int, bool]] = [(0, False)] * len(demand)  # (candidate index, overflowed)
    if occupancy:
        choice = _play_beds(matcher, demand, answers, stay_days or STAY_DAYS)
    out = []
    for rec, ans, (k, overflow) in zip(demand, answers, choice, strict=True):
        pick = ans.candidates[k] if 0 <= k < len(ans.candidates) else None
        decision = ans.decision if k >= 0 else NO_BED
        out.append(
            Outcome(
                rec.id,
                rec.origin_id,
                decision,
                pick[0] if pick else None,
                pick[1] if pick else None,
                pick[2] if pick else None,
                ans.waived,
                pick is not None and regency.get(pick[0], home) != home,
                overflow,
            )
        )
    return out


def _play_beds(
    matcher: Matcher,
    demand: Sequence[DemandRecord],
    answers: Sequence[_Answer],
    stay_days: Mapping[str, float],
) -> list[tuple[int, bool]]:
    """A discrete-event run over beds: (candidate taken, overflowed) per record; -1 for no bed."""
    free: dict[tuple[str, str], int] = {
        (f.id, b.value): n for f in matcher.dataset.facilities if f.receiving for b, n in f.beds.items()
    }
    releases: list[tuple[float, str, str]] = []
    out: list[tuple[int, bool]] = [(0, False)] * len(demand)
    for i in sorted(range(len(demand)), key=lambda i: (demand[i].at, demand[i].id)):
        rec, ans = demand[i], answers[i]
        t = rec.at.timestamp()
        while releases and releases[0][0] <= t:
            _, fid, bed = heapq.heappop(releases)
            free[fid, bed] += 1
        if ans.bed is None or not ans.candidates:
            continue
        for k, (fid, _, _) in enumerate(ans.candidates):
            if free.get((fid, ans.bed), 0) > 0:
                free[fid, ans.bed] -= 1
                days = stay_days.get(rec.group, DEFAULT_STAY_DAYS)
                heapq.heappush(releases, (t + days * 86400, fid, ans.bed))
                out[i] = (k, k > 0)
                break
        else:
            out[i] = (-1, True)
    return out


def _stats(g: pd.DataFrame) -> pd.Series:
    referred = g[g["decision"] == Decision.REFER.value]
    minutes = referred["travel_time_s"].dropna() / 60
    n = len(referred)
    return pd.Series(
        {
            "demand": len(g),
            "referred": n,
            "treat_locally": int((g["decision"] == Decision.TREAT_LOCALLY.value).sum()),
            "no_capable_facility": int((g["decision"] == Decision.NO_CAPABLE_FACILITY.value).sum()),
            "mean_min": float(minutes.mean()) if n else math.nan,
            "p50_min": float(minutes.quantile(0.5)) if n else math.nan,
            "p90_min": float(minutes.quantile(0.9)) if n else math.nan,
            "share_over_60_min": float((minutes > 60).mean()) if n else math.nan,
            "share_over_120_min": float((minutes > 120).mean()) if n else math.nan,
            "regionalisation_waived": int(g["regionalisation_waived"].sum()),
            "leaving_regency": int(g["leaves_regency"].sum()),
            "overflow": int(g["overflow"].sum()),
            "no_bed": int((g["decision"] == NO_BED).sum()),
        }
    )


def metrics(
    outcomes: Sequence[Outcome], demand: Sequence[DemandRecord], matcher: Matcher
) -> dict[str, pd.DataFrame]:
    """Tables: overall, by kecamatan, by Puskesmas (origin), by hospital (load vs capacity); exact
    figures (``rounded`` for people, after any comparison)."""  # noqa: D205, D209
    df = pd.DataFrame([asdict(o) for o in outcomes])
    if df.empty:
        df = pd.DataFrame(columns=[f.name for f in Outcome.__dataclass_fields__.values()])
    df["kecamatan"] = [r.kecamatan for r in demand]
    df["emergency"] = [r.emergency for r in demand]
    overall = _stats(df).to_frame().T
    by_kec = pd.DataFrame([{"kecamatan": k, **_stats(g)} for k, g in df.groupby("kecamatan")])
    names = {f.id: f.name for f in matcher.dataset.facilities}
    by_origin = pd.DataFrame(
        [{"origin_id": k, "name": names.get(str(k), str(k)), **_stats(g)} for k, g in df.groupby("origin_id")]
    )
    received = df[df["decision"] == Decision.REFER.value].groupby("destination_id")
    rows = []
    for f in matcher.dataset.facilities:
        if not f.receiving and f.id not in received.groups:
            continue
        got = received.get_group(f.id) if f.id in received.groups else df.iloc[0:0]
        beds = int(sum(f.beds.values()))
        capacity = beds * 365 / MEAN_STAY_DAYS
        rows.append(
            {
                "hospital_id": f.id,
                "name": f.name,
                "referrals": len(got),
                "emergencies": int(got["emergency"].sum()) if len(got) else 0,
                "beds": beds,
                "yearly_capacity": round(capacity),
                "load_vs_capacity": len(got) / capacity if capacity else (math.inf if len(got) else 0.0),
                "mean_min": float(got["travel_time_s"].mean() / 60) if len(got) else math.nan,
            }
        )
    return {
        "overall": overall,
        "by_kecamatan": by_kec,
        "by_puskesmas": by_origin,
        "by_hospital": pd.DataFrame(rows),
    }


def compare(base: dict[str, pd.DataFrame], scenario: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Each table side by side (``_base``, ``_scenario``) with ``_diff`` for every number, on the
    exact figures; a text column (a facility's name) once, the scenario's where it has one."""  # noqa: D205, D209
    keys = {
        "overall": "_",
        "by_kecamatan": "kecamatan",
        "by_puskesmas": "origin_id",
        "by_hospital": "hospital_id",
    }
    numeric = pd.api.types.is_numeric_dtype
    out = {}
    for name, key in keys.items():
        b, s = base[name].copy(), scenario[name].copy()
        if key == "_":
            b["_"] = 0
            s["_"] = 0
        m = b.merge(s, on=key, how="outer", suffixes=("_base", "_scenario"))
        texts = []
        for col in b.columns:
            if col == key or f"{col}_base" not in m:
                continue
            if numeric(m[f"{col}_base"]) and numeric(m[f"{col}_scenario"]):
                m[f"{col}_diff"] = m[f"{col}_scenario"] - m[f"{col}_base"]
            else:
                m[col] = m[f"{col}_scenario"].fillna(m[f"{col}_base"])
                m = m.drop(columns=[f"{col}_base", f"{col}_scenario"])
                texts.append(col)
        m = m[[key, *texts, *(c for c in m.columns if c != key and c not in texts)]]
        out[name] = m.drop(columns=["_"], errors="ignore")
    return out


#: Decimals kept in the tables people read: minutes to 0.01 (under a second), shares (fractions)
#: to 0.0001 (0.01 %). Only applied last, after the differences: rounding each side first turned a
#: real change of -0.04 min into 0.0 (40.1 - 40.1).
MINUTE_DECIMALS = 2
SHARE_DECIMALS = 4


def _decimals(column: str) -> int | None:
    if column.startswith(("share_", "load_vs_capacity")):
        return SHARE_DECIMALS
    if "_min" in column:
        return MINUTE_DECIMALS
    return None


def rounded(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The tables as people read them (minutes and shares rounded); every difference is computed
    before, on the exact values."""  # noqa: D205, D209
    out = {}
    for name, table in tables.items():
        df = table.copy()
        for col in df.columns:
            places = _decimals(str(col))
            if places is not None and pd.api.types.is_numeric_dtype(df[col]):
                df[col] = df[col].astype(float).round(places)
        out[name] = df
    return out


def destinations(outcomes: Sequence[Outcome]) -> np.ndarray:
    """The destination of each record (None where none), for comparisons."""
    return np.array([o.destination_id for o in outcomes], dtype=object)
