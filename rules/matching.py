"""The matching engine: decide and rank receiving facilities for one referral request, and say why.

Facts about the request and about every candidate are computed here; what they mean (exclude,
admit, boost, demote, decide, waive) is the rule pack's. The score is a cost in minutes: road
travel time, plus every demotion, minus every boost; ties break on travel time, then facility id.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from geodata.models import SERVICE_LABELS, CompetencyLevel, Facility, HospitalClass
from rules.errors import RequestError
from rules.facts import Level, Specialist, StatusAge, Tri
from rules.model import (
    ClinicalNeed,
    Decision,
    ExcludedFacility,
    FacilityStatus,
    RankedCandidate,
    Reason,
    ReferralRequest,
    ReferralType,
    Suggestion,
)
from rules.need import resolve_need

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from rules.pack import Rule, RulePack

_COMPETENCY_RANK = {
    CompetencyLevel.DASAR: 1,
    CompetencyLevel.MADYA: 2,
    CompetencyLevel.UTAMA: 3,
    CompetencyLevel.PARIPURNA: 4,
}
_CLASS_RANK = {
    HospitalClass.D_PRATAMA: 1,
    HospitalClass.D: 1,
    HospitalClass.C: 2,
    HospitalClass.B: 3,
    HospitalClass.A: 4,
}
#: Weights that are per unit of a candidate fact: the engine multiplies them.
_PER_UNIT = {"level_step": "level_steps", "occupancy": "occupancy"}


def level_rank(f: Facility) -> int:
    """0 for first-level care; 1-4 for hospitals by competency (or class)."""
    if not f.is_hospital:
        return 0
    if f.competency is not None:
        return _COMPETENCY_RANK[f.competency]
    return _CLASS_RANK.get(f.hospital_class, 1) if f.hospital_class else 1


class _Context(dict[str, Any]):
    """Placeholder values for reason texts; an unknown placeholder shows as '?'."""

    def __missing__(self, key: str) -> str:
        return "?"


def _reason(rule: Rule, ctx: _Context) -> Reason:
    return Reason(
        rule_id=rule.id,
        effect=rule.effect,
        text_id=rule.description.id.format_map(ctx),
        text_en=rule.description.en.format_map(ctx),
        references=rule.references,
    )


@dataclass(slots=True)
class _Admitted:
    facility: Facility
    facts: dict[str, Any]
    reasons: list[tuple[Rule, _Context]]
    time_s: float
    distance_m: float | None
    status_age_s: float | None
    stale: bool


def _status_facts(
    f: Facility, st: FacilityStatus | None, need: ClinicalNeed, pack: RulePack, now: datetime
) -> dict[str, Any]:
    age_s = (now - st.updated_at).total_seconds() if st is not None else None
    if st is None:
        status = StatusAge.NONE
    elif age_s is not None and age_s > pack.settings["stale_after_min"] * 60:
        status = StatusAge.STALE
    else:
        status = StatusAge.FRESH
    stale = status is StatusAge.STALE
    # specialist
    on_call_min: float | None = None
    if need.specialty is None:
        specialist = Specialist.NOT_NEEDED
    elif st is None or (not st.specialists_on_duty and not st.specialists_on_call):
        specialist = Specialist.UNKNOWN
    elif need.specialty in st.specialists_on_duty:
        specialist = Specialist.ON_DUTY
    elif (m := st.specialists_on_call.get(need.specialty)) is not None and m <= pack.settings[
        "on_call_max_min"
    ]:
        specialist, on_call_min = Specialist.ON_CALL, float(m)
    else:
        specialist = Specialist.UNKNOWN if stale else Specialist.ABSENT
    # beds: a stale "none free" is not trusted (beds may have freed), a stale "free" is used with a penalty
    if not need.beds:
        beds = Tri.YES
    elif any(f.beds.get(b, 0) == 0 for b in need.beds):
        beds = Tri.NO
    elif st is None or any(b not in st.beds_available for b in need.beds):
        beds = Tri.UNKNOWN  # not reported
    elif all(st.beds_available[b] > 0 for b in need.beds):
        beds = Tri.YES
    else:
        beds = Tri.UNKNOWN if stale else Tri.NO
    has_eq = all(e in f.equipment for e in need.equipment)
    broken = st is not None and any(e in st.equipment_out_of_order for e in need.equipment)
    if not has_eq:
        eq = Tri.NO
    elif not need.equipment:
        eq = Tri.YES
    elif st is None:
        eq = Tri.UNKNOWN
    elif broken:
        eq = Tri.UNKNOWN if stale else Tri.NO
    else:
        eq = Tri.YES
    preferred = bool(need.preferred_equipment) and all(
        e in f.equipment and not (st is not None and not stale and e in st.equipment_out_of_order)
        for e in need.preferred_equipment
    )
    accepting = not (st is not None and st.not_accepting_until is not None and st.not_accepting_until > now)
    return {
        "candidate_status": status.value,
        "candidate_specialist": specialist.value,
        "candidate_bed_available": beds.value,
        "candidate_has_equipment": has_eq,
        "candidate_equipment_working": eq.value,
        "candidate_has_preferred_equipment": preferred,
        "candidate_accepting": accepting,
        "candidate_occupancy": float(st.occupancy) if st is not None and st.occupancy is not None else 0.0,
        "_age_s": age_s,
        "_on_call_min": on_call_min,
    }


def suggest(
    request: ReferralRequest,
    *,
    pack: RulePack,
    facilities: Sequence[Facility],
    statuses: Mapping[str, FacilityStatus],
    travel: Mapping[str, tuple[float, float | None] | None],
    now: datetime,
) -> Suggestion:
    """Decide and rank for one request.

    ``travel`` gives (time_s, distance_m) by road from the origin per facility id; a missing or
    None entry means no road route.
    """
    origin = next((f for f in facilities if f.id == request.origin_id), None)
    if origin is None:
        raise RequestError("origin_id", f"unknown facility {request.origin_id!r}")
    if not (math.isfinite(request.age_years) and 0 <= request.age_years <= 130):
        raise RequestError("age_years", f"{request.age_years!r} is not an age in years (0-130)")
    need = resolve_need(request, pack)
    region = pack.region_of(origin.id)
    regional_hospital = region.hospital if region is not None else None
    origin_rank = level_rank(origin)
    names = {f.id: f.name for f in facilities}
    base = _Context(
        specialty=SERVICE_LABELS[need.specialty] if need.specialty else "-",
        beds=", ".join(b.value for b in need.beds) or "-",
        equipment=", ".join(e.value for e in need.equipment) or "-",
        region=region.name if region else "-",
        hospital=names.get(regional_hospital or "", "-"),
        codes=", ".join(request.icd10) or "-",
    )
    facts: dict[str, Any] = {
        "emergency": request.emergency,
        "disaster": request.disaster,
        "service_type": request.service_type.value,
        "transportable": request.transportable,
        "consent": request.consent,
        "payer": request.payer.value,
        "age_years": request.age_years,
        "back_referral": request.back_referral,
        "non_specialist": need.non_specialist,
        "tacc_given": bool(request.tacc.strip()),
        "origin_kind": origin.kind.value,
        "origin_is_hospital": origin.is_hospital,
        "origin_conditions": frozenset(c.value for c in request.origin_conditions),
        "origin_has_specialty": need.specialty is not None and need.specialty in origin.services,
        "origin_in_region": region is not None,
        "regionalisation_waived": False,
        "bed_required": False,
        "horizontal_first": False,
    }
    decision_reasons: list[Reason] = []
    warnings: list[Reason] = []
    for rule in pack.request_rules:
        if not rule.predicate(facts):
            continue
        reason = _reason(rule, base)
        if rule.effect == "decide":
            return Suggestion(
                decision=Decision.TREAT_LOCALLY,
                referral_type=None,
                candidates=(),
                excluded=(),
                reasons=(*decision_reasons, reason),
                warnings=tuple(warnings),
                need=need,
                pack_id=pack.id,
                pack_version=pack.version,
            )
        if rule.effect == "set":
            facts.update(rule.param)
            decision_reasons.append(reason)
        elif rule.effect == "warn":
            warnings.append(reason)

    admitted: list[_Admitted] = []
    excluded: list[ExcludedFacility] = []
    for f in sorted(facilities, key=lambda f: f.id):
        tr = travel.get(f.id)
        rank = level_rank(f)
        vs = Level.SAME if rank == origin_rank else (Level.HIGHER if rank > origin_rank else Level.LOWER)
        cf = dict(facts)
        cf.update(_status_facts(f, statuses.get(f.id), need, pack, now))
        cf.update(
            candidate_is_origin=f.id == origin.id,
            candidate_receiving=f.receiving,
            candidate_is_hospital=f.is_hospital,
            candidate_level_vs_origin=vs.value,
            candidate_has_specialty=need.specialty is None or need.specialty in f.services,
            candidate_reachable=tr is not None,
            candidate_regional_for_origin=f.id == regional_hospital,
            candidate_travel_min=tr[0] / 60 if tr is not None else math.inf,
        )
        ctx = _Context(base)
        age_s = cf["_age_s"]
        ctx.update(
            facility=f.name,
            travel_min=f"{cf['candidate_travel_min']:.0f}",
            age_h=f"{age_s / 3600:.1f}" if age_s is not None else "-",
            on_call_min=f"{cf['_on_call_min']:.0f}" if cf["_on_call_min"] is not None else "-",
            occupancy_pct=f"{cf['candidate_occupancy'] * 100:.0f}",
        )
        hits = [r for r in pack.candidate_rules if r.predicate(cf)]
        excl = [r for r in hits if r.effect == "exclude"]
        if excl:
            excluded.append(ExcludedFacility(f.id, f.name, tuple(_reason(r, ctx) for r in excl)))
            continue
        assert tr is not None  # an unreachable candidate is excluded by the pack's rule
        admitted.append(
            _Admitted(f, cf, [(r, ctx) for r in hits], tr[0], tr[1], age_s, cf["candidate_status"] == "stale")
        )

    ranked: list[tuple[float, float, str, RankedCandidate]] = []
    lowest = min((level_rank(a.facility) for a in admitted), default=0)
    for a in admitted:
        units = {"level_steps": level_rank(a.facility) - lowest, "occupancy": a.facts["candidate_occupancy"]}
        score = a.time_s / 60 * pack.weights["travel"]
        reasons = []
        for rule, ctx in a.reasons:
            if rule.effect in ("boost", "demote"):
                w = pack.weights[rule.param]
                if rule.param == "preferred_equipment" and need.preferred_within_min > 0:
                    w = need.preferred_within_min  # worth this many extra minutes on the road
                unit = units.get(_PER_UNIT.get(rule.param, ""), 1.0)
                if unit == 0:
                    continue
                score += (w * unit) if rule.effect == "demote" else -(w * unit)
            reasons.append(_reason(rule, ctx))
        if request.back_referral:
            rtype = ReferralType.BACK_REFERRAL
        elif a.facts["candidate_level_vs_origin"] == Level.SAME.value:
            rtype = ReferralType.HORIZONTAL
        else:
            rtype = ReferralType.VERTICAL
        cand = RankedCandidate(
            facility_id=a.facility.id,
            name=a.facility.name,
            rank=0,
            score=round(score, 3),
            travel_time_s=a.time_s,
            distance_m=a.distance_m,
            referral_type=rtype,
            reasons=tuple(reasons),
            status_age_s=a.status_age_s,
            stale=a.stale,
        )
        ranked.append((cand.score, a.time_s, a.facility.id, cand))
    ranked.sort(key=lambda t: t[:3])
    candidates = tuple(replace(c, rank=i) for i, (_, _, _, c) in enumerate(ranked, start=1))
    decision = Decision.REFER if candidates else Decision.NO_CAPABLE_FACILITY
    return Suggestion(
        decision=decision,
        referral_type=candidates[0].referral_type if candidates else None,
        candidates=candidates,
        excluded=tuple(excluded),
        reasons=tuple(decision_reasons),
        warnings=tuple(warnings),
        need=need,
        pack_id=pack.id,
        pack_version=pack.version,
    )
