"""The matching engine: decide and rank receiving facilities for one referral request, and say why.

Facts about the request and about every candidate are computed here; what they mean (exclude,
admit, boost, demote, decide, waive) is the rule pack's. The score is a cost in minutes: road
travel time, plus every demotion, minus every boost; ties break on travel time, then facility id.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from geodata.models import (
    BED_NAMES,
    EQUIPMENT_NAMES,
    SERVICE_LABELS,
    BedType,
    CompetencyLevel,
    Facility,
    HospitalClass,
)
from rules.errors import RequestError
from rules.facts import Level, Specialist, StatusAge, Tri, compile_conditions
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
from rules.pack import per_pack

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from datetime import datetime

    from rules.pack import RegionRule, Rule, RulePack

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
    """Placeholder values for reason texts; an unknown placeholder shows as '?'.

    A value in one language (``beds.id``) that is not there is missing (``KeyError``): the text
    then reads the plain value (``rules.model.InLanguage``).
    """

    def __missing__(self, key: str) -> str:
        if "." in key:
            raise KeyError(key)
        return "?"


class _CandidateContext(_Context):
    """A candidate's placeholder values, formatted only when a reason text is read."""

    __slots__ = ("_base", "_raw")

    def __init__(
        self,
        base: _Context,
        facility: str,
        travel_min: float,
        age_s: float | None,
        on_call_min: float | None,
        occupancy: float,
    ) -> None:
        self["facility"] = facility  # not ``super().__init__(facility=...)``: one per candidate
        self._base = base
        self._raw = (travel_min, age_s, on_call_min, occupancy)

    def __missing__(self, key: str) -> str:
        travel_min, age_s, on_call_min, occupancy = self._raw
        if key == "travel_min":
            return f"{travel_min:.0f}"
        if key == "age_h":
            return f"{age_s / 3600:.1f}" if age_s is not None else "-"
        if key == "on_call_min":
            return f"{on_call_min:.0f}" if on_call_min is not None else "-"
        if key == "occupancy_pct":
            return f"{occupancy * 100:.0f}"
        return str(self._base[key])


@dataclass(slots=True)
class _StaticRows:
    """Per facility list: sorted rows (facility, level rank, hospital?) and capability per need.

    Capability facts do not change with live status, so they are computed once per need.
    """

    facilities: Sequence[Facility]
    rows: list[tuple[Facility, int, bool]]
    ids: tuple[str, ...]
    #: facility id -> name
    names: dict[str, str]
    by_need: dict[tuple[object, ...], list[tuple[bool, bool, bool, bool]]]


_STATIC: dict[int, _StaticRows] = {}


def _static(facilities: Sequence[Facility]) -> _StaticRows:
    """Computed once per facility tuple (a list is recomputed on every call: it may change)."""
    hit = _STATIC.get(id(facilities))
    if hit is not None and hit.facilities is facilities:
        return hit
    rows = [(f, level_rank(f), f.is_hospital) for f in sorted(facilities, key=lambda f: f.id)]
    out = _StaticRows(
        facilities, rows, tuple(f.id for f, _, _ in rows), {f.id: f.name for f in facilities}, {}
    )
    if isinstance(facilities, tuple):
        if len(_STATIC) > 64:
            _STATIC.clear()
        _STATIC[id(facilities)] = out
    return out


def _capability(st: _StaticRows, need: ClinicalNeed) -> list[tuple[bool, bool, bool, bool]]:
    """Per facility: (needed equipment, a needed bed type at zero, specialty, preferred equipment)."""
    key = (need.specialty, need.beds, need.equipment, need.preferred_equipment)
    hit = st.by_need.get(key)
    if hit is not None:
        return hit
    out = [
        (
            all(e in f.equipment for e in need.equipment),
            any(f.beds.get(b, 0) == 0 for b in need.beds),
            need.specialty is None or need.specialty in f.services,
            bool(need.preferred_equipment) and all(e in f.equipment for e in need.preferred_equipment),
        )
        for f, _, _ in st.rows
    ]
    if len(st.by_need) > 256:
        st.by_need.clear()
    st.by_need[key] = out
    return out


class _CandidateRule(NamedTuple):
    """A candidate rule with what its reasons and its score read, worked out once per pack."""

    rule: Rule
    #: the first four fields of its ``Reason`` (id, effect, the two templates)
    head: tuple[str, str, str, str]
    references: tuple[str, ...]
    #: +1 for a demotion, -1 for a boost, 0 for any other effect
    sign: int
    #: the pack's weight of a boost or demotion (0 for any other effect)
    weight: float
    #: the candidate unit the weight is per (``_PER_UNIT``), "" for none
    unit: str
    #: a boost for preferred equipment: worth the need's ``preferred_within_min`` when it has one
    preferred: bool


def _candidate_rule(rule: Rule, pack: RulePack) -> _CandidateRule:
    d = rule.description
    sign = {"demote": 1, "boost": -1}.get(rule.effect, 0)
    return _CandidateRule(
        rule,
        (rule.id, rule.effect, d.id, d.en),
        rule.references,
        sign,
        pack.weights[rule.param] if sign else 0.0,
        _PER_UNIT.get(rule.param, "") if sign else "",
        sign != 0 and rule.param == "preferred_equipment",
    )


#: ``held(candidate facts, [])``: each of a set of candidate rules that holds, in the pack's order
_Held: TypeAlias = "Callable[[dict[str, Any], list[bool]], list[_CandidateRule]]"


class _CandidateRules(NamedTuple):
    """A pack's candidate rules: the exclusions and the others, and their compiled tests."""

    exclude: Sequence[Rule]
    other: Sequence[Rule]
    #: per request gates (which exclusion rules, which others, are on): ``(excluded_by,
    #: held_by)``, each testing only the rules that are on. Real requests open few distinct
    #: sets of gates (6 in ``bench_matching``'s mix of 5,000), so each is compiled once.
    compiled: dict[tuple[tuple[bool, ...], tuple[bool, ...]], tuple[_Held, _Held]]


_CANDIDATE_RULES: dict[int, tuple[RulePack, _CandidateRules]] = {}
#: at most this many sets of gates compiled per pack (then they are compiled afresh)
_GATE_SETS_MAX = 64


def _candidate_rules(pack: RulePack) -> _CandidateRules:
    """The pack's candidate rules, split once per pack."""

    def build() -> _CandidateRules:
        exclude = [r for r in pack.candidate_rules if r.effect == "exclude"]
        other = [r for r in pack.candidate_rules if r.effect != "exclude"]
        return _CandidateRules(exclude, other, {})

    return per_pack(_CANDIDATE_RULES, pack, build)


def _compiled_tests(
    pack: RulePack, rules: _CandidateRules, on: tuple[tuple[bool, ...], tuple[bool, ...]]
) -> tuple[_Held, _Held]:
    """The tests of the exclusion and other rules that are ``on`` (``rules.facts.compile_conditions``)."""
    hit = rules.compiled.get(on)
    if hit is None:
        on_exclude, on_other = on
        hit = (
            compile_conditions(
                [
                    (_candidate_rule(r, pack), r.candidate_when)
                    for r, o in zip(rules.exclude, on_exclude, strict=True)
                    if o
                ],
                gated=False,
            ),
            compile_conditions(
                [
                    (_candidate_rule(r, pack), r.candidate_when)
                    for r, o in zip(rules.other, on_other, strict=True)
                    if o
                ],
                gated=False,
            ),
        )
        if len(rules.compiled) >= _GATE_SETS_MAX:
            rules.compiled.clear()
        rules.compiled[on] = hit
    return hit


#: a named tuple made from a tuple of its fields, all given, in C (``Reason(...)``, ``_make`` run
#: Python code): the engine makes hundreds of reasons per request
_new = tuple.__new__


def _reason(rule: Rule, ctx: _Context) -> Reason:
    d = rule.description
    return _new(Reason, (rule.id, rule.effect, d.id, d.en, ctx, rule.references))


@dataclass(slots=True)
class _Admitted:
    facility: Facility
    occupancy: float
    same_level: bool
    #: the rules that held, and the values their reason texts read
    rules: list[_CandidateRule]
    ctx: _Context | None
    time_s: float
    distance_m: float | None
    status_age_s: float | None
    stale: bool


#: a bed type's figure in ``FacilityStatus.figure_times``
_BED_FIGURE = {b: f"beds_available.{b.value}" for b in BedType}


def _status_reader(  # noqa: C901  one branch per figure, kept together to read as one rule
    need: ClinicalNeed, settings: Mapping[str, Any], now: datetime
) -> Callable[[dict[str, Any], FacilityStatus | None, tuple[bool, bool, bool, bool]], None]:
    """``read(cf, status, capability)``: write a candidate's live-status facts into ``cf`` (the
    same keys for every candidate), for one request's need and time.

    Each figure the need relies on is judged by its own age (``FacilityStatus.figure_times``);
    the status's age is the oldest of them (the facility's newest figure when it relied on none).
    What depends only on the request (the need's beds, equipment, specialty, the limits) is read
    once here, not once per candidate.
    """  # noqa: D205
    nbeds = need.beds
    bed_keys = tuple(_BED_FIGURE[b] for b in nbeds)
    neq = need.equipment
    npreferred = need.preferred_equipment
    spec = need.specialty
    limit_s = settings["stale_after_min"] * 60
    on_call_max = settings["on_call_max_min"]
    no_specialist = Specialist.NOT_NEEDED if spec is None else Specialist.UNKNOWN

    def read(
        cf: dict[str, Any], st: FacilityStatus | None, capability: tuple[bool, bool, bool, bool]
    ) -> None:
        on_call_min: float | None = None
        has_eq, registered_zero, _, preferred_registered = capability
        if st is None:
            age_s = None
            status = StatusAge.NONE
            specialist = no_specialist
            beds = Tri.YES if not nbeds else (Tri.NO if registered_zero else Tri.UNKNOWN)
            eq = Tri.NO if not has_eq else (Tri.YES if not neq else Tri.UNKNOWN)
            preferred = preferred_registered
            accepting = True
            occupancy = 0.0
        else:
            times = st.figure_times
            updated = st.updated_at
            # a figure without a time of its own dates from ``updated_at``: its age is this one
            updated_age = (now - updated).total_seconds()
            oldest = -math.inf  # the oldest figure relied on so far
            # the needed specialist, judged by the age of the figure that says it
            if spec is None:
                specialist = Specialist.NOT_NEEDED
            elif not st.specialists_on_duty and not st.specialists_on_call:
                specialist = Specialist.UNKNOWN
            elif spec in st.specialists_on_duty:
                specialist = Specialist.ON_DUTY
                t = times.get("specialists_on_duty")
                oldest = updated_age if t is None else (now - t).total_seconds()
            else:
                m = st.specialists_on_call.get(spec)
                t = times.get("specialists_on_call")
                call_age = updated_age if t is None else (now - t).total_seconds()
                if m is not None and m <= on_call_max:
                    specialist = Specialist.ON_CALL
                    on_call_min = float(m)
                    oldest = call_age
                else:
                    t = times.get("specialists_on_duty")
                    oldest = updated_age if t is None else (now - t).total_seconds()
                    oldest = max(oldest, call_age)
                    specialist = Specialist.UNKNOWN if oldest > limit_s else Specialist.ABSENT
            # beds: a stale "none free" is not trusted (beds may have freed); a stale "free" is
            # used with a penalty; each bed type by its own figure's age
            free = st.beds_available
            if not nbeds:
                beds = Tri.YES
            elif registered_zero:
                beds = Tri.NO
            elif not all(b in free for b in nbeds):
                beds = Tri.UNKNOWN  # not reported
            else:
                beds_age = -math.inf
                for key in bed_keys:
                    t = times.get(key)
                    a = updated_age if t is None else (now - t).total_seconds()
                    beds_age = max(beds_age, a)
                oldest = max(oldest, beds_age)
                if all(free[b] > 0 for b in nbeds):
                    beds = Tri.YES
                else:
                    beds = Tri.UNKNOWN if beds_age > limit_s else Tri.NO
            t = times.get("equipment_out_of_order")
            eq_age = updated_age if t is None else (now - t).total_seconds()
            stale_eq = eq_age > limit_s
            broken = st.equipment_out_of_order
            if not has_eq:
                eq = Tri.NO
            elif not neq:
                eq = Tri.YES
            else:
                oldest = max(oldest, eq_age)
                eq = (Tri.UNKNOWN if stale_eq else Tri.NO) if any(e in broken for e in neq) else Tri.YES
            preferred = preferred_registered and (
                stale_eq or not broken or not any(e in broken for e in npreferred)
            )
            accepting = st.not_accepting_until is None or st.not_accepting_until <= now
            if st.occupancy is not None:
                occupancy = float(st.occupancy)
                t = times.get("occupancy")
                a = updated_age if t is None else (now - t).total_seconds()
                oldest = max(oldest, a)
            else:
                occupancy = 0.0
            age_s = oldest if oldest != -math.inf else updated_age
            status = StatusAge.STALE if age_s > limit_s else StatusAge.FRESH
        cf["candidate_status"] = status  # StrEnum members compare and hash as their strings
        cf["candidate_specialist"] = specialist
        cf["candidate_bed_available"] = beds
        cf["candidate_has_equipment"] = has_eq
        cf["candidate_equipment_working"] = eq
        cf["candidate_has_preferred_equipment"] = preferred
        cf["candidate_accepting"] = accepting
        cf["candidate_occupancy"] = occupancy
        cf["_age_s"] = age_s
        cf["_on_call_min"] = on_call_min

    return read


def _checked_origin(
    request: ReferralRequest, facilities: Sequence[Facility], origin: Facility | None
) -> Facility:
    """The request's origin facility; a ``RequestError`` for an unknown origin or an impossible age."""
    if origin is None or origin.id != request.origin_id:
        origin = next((f for f in facilities if f.id == request.origin_id), None)
    if origin is None:
        raise RequestError("origin_id", f"unknown facility {request.origin_id!r}")
    if not (math.isfinite(request.age_years) and 0 <= request.age_years <= 130):
        raise RequestError("age_years", f"{request.age_years!r} is not an age in years (0-130)")
    return origin


def _request_context(
    request: ReferralRequest,
    need: ClinicalNeed,
    region: RegionRule | None,
    facilities: Sequence[Facility],
) -> _Context:
    """The request's placeholder values for reason texts (need, region, regional hospital, codes)."""
    regional_hospital = region.hospital if region is not None else None
    return _Context(
        specialty=SERVICE_LABELS[need.specialty] if need.specialty else "-",
        beds=", ".join(b.value for b in need.beds) or "-",
        equipment=", ".join(e.value for e in need.equipment) or "-",
        **{f"beds.{lang}": ", ".join(said[b] for b in need.beds) or "-" for lang, said in BED_NAMES.items()},
        **{
            f"equipment.{lang}": ", ".join(said[e] for e in need.equipment) or "-"
            for lang, said in EQUIPMENT_NAMES.items()
        },
        region=region.name if region else "-",
        hospital=_static(facilities).names.get(regional_hospital, "-") if regional_hospital else "-",
        codes=", ".join(request.icd10) or "-",
    )


def _request_facts(
    request: ReferralRequest, need: ClinicalNeed, origin: Facility, region: RegionRule | None
) -> dict[str, Any]:
    """The request facts the rules read, with every settable flag off."""
    return {
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


class _RequestDecision(NamedTuple):
    """What the request rules made of a request, before any candidate is looked at."""

    #: the reasons of the ``set`` rules that held, in the pack's order
    reasons: list[Reason]
    warnings: list[Reason]
    #: the reason of the ``decide`` rule that held (treat locally), or None: refer
    decided: Reason | None


def _apply_request_rules(pack: RulePack, facts: dict[str, Any], base: _Context) -> _RequestDecision:
    """Run the request rules in the pack's order, up to the first that decides.

    A ``set`` rule that holds writes its flags into ``facts`` (read by the rules after it and by
    every candidate rule).
    """
    decision_reasons: list[Reason] = []
    warnings: list[Reason] = []
    for rule in pack.request_rules:
        if not rule.predicate(facts):
            continue
        reason = _reason(rule, base)
        if rule.effect == "decide":
            return _RequestDecision(decision_reasons, warnings, reason)
        if rule.effect == "set":
            facts.update(rule.param)
            decision_reasons.append(reason)
        elif rule.effect == "warn":
            warnings.append(reason)
    return _RequestDecision(decision_reasons, warnings, None)


def _screen(  # noqa: PLR0913  a request's inputs, each read once per candidate
    pack: RulePack,
    facts: dict[str, Any],
    base: _Context,
    facilities: Sequence[Facility],
    need: ClinicalNeed,
    statuses: Mapping[str, FacilityStatus],
    now: datetime,
    *,
    travel: Mapping[str, tuple[float, float | None] | None],
    origin: Facility,
    regional_hospital: str | None,
    referred_from: str | None = None,
) -> tuple[list[_Admitted], list[ExcludedFacility], dict[str, int]]:
    """Every candidate, in facility-id order: admitted (with its reasons) or excluded; and ranks.

    One pass: each candidate's facts are written over the previous one's (the same keys for
    every candidate), and every candidate rule the request leaves active is tested once (by
    tests compiled per set of request gates, ``_compiled_tests``: few sets recur). No answer is
    kept between requests: real requests all differ (origin, point, diagnosis, age, status).
    Reason texts are formatted only when read (``Reason.values``).
    """
    static = _static(facilities)
    origin_rank = level_rank(origin)
    rules = _candidate_rules(pack)
    on = (
        tuple([r.gate_holds(facts) for r in rules.exclude]),
        tuple([r.gate_holds(facts) for r in rules.other]),
    )
    excluded_by, held_by = _compiled_tests(pack, rules, on)
    gates: list[bool] = []  # not read: the compiled tests hold only the rules that are on
    status_facts = _status_reader(need, pack.settings, now)
    admitted: list[_Admitted] = []
    excluded: list[ExcludedFacility] = []
    ranks: dict[str, int] = {}
    cf = dict(facts)
    origin_id = origin.id
    for (f, rank, is_hospital), cap in zip(static.rows, _capability(static, need), strict=True):
        fid = f.id
        tr = travel.get(fid)
        ranks[fid] = rank
        vs = Level.SAME if rank == origin_rank else (Level.HIGHER if rank > origin_rank else Level.LOWER)
        travel_min = tr[0] / 60 if tr is not None else math.inf
        status_facts(cf, statuses.get(fid), cap)
        cf["candidate_is_origin"] = fid == origin_id
        cf["candidate_referred_the_patient"] = fid == referred_from
        cf["candidate_receiving"] = f.receiving
        cf["candidate_is_hospital"] = is_hospital
        cf["candidate_level_vs_origin"] = vs
        cf["candidate_has_specialty"] = cap[2]
        cf["candidate_reachable"] = tr is not None
        cf["candidate_regional_for_origin"] = fid == regional_hospital
        cf["candidate_travel_min"] = travel_min
        age_s = cf["_age_s"]
        occupancy = cf["candidate_occupancy"]
        out = excluded_by(cf, gates)
        if out:  # every exclusion reason, in the pack's order
            why = _CandidateContext(base, f.name, travel_min, age_s, cf["_on_call_min"], occupancy)
            reasons = tuple([_new(Reason, (*r.head, why, r.references)) for r in out])
            excluded.append(_new(ExcludedFacility, (fid, f.name, reasons)))
            continue
        held = held_by(cf, gates)
        ctx = (
            _CandidateContext(base, f.name, travel_min, age_s, cf["_on_call_min"], occupancy)
            if held
            else None
        )
        assert tr is not None  # an unreachable candidate is excluded by the pack's rule
        stale = cf["candidate_status"] is StatusAge.STALE
        admitted.append(_Admitted(f, occupancy, vs is Level.SAME, held, ctx, tr[0], tr[1], age_s, stale))
    return admitted, excluded, ranks


def _rank(
    admitted: list[_Admitted],
    ranks: Mapping[str, int],
    pack: RulePack,
    need: ClinicalNeed,
    back_referral: bool,
) -> tuple[RankedCandidate, ...]:
    """Score the admitted candidates and rank them: score, then travel time, then facility id.

    The score is minutes: travel time times its weight, plus every demotion, minus every boost
    (per-unit weights times the candidate's units; a boost or demotion of zero units is dropped).
    """
    #: (score, travel time, facility id, k): the order, ties kept in screening order by ``k``
    ranked: list[tuple[float, float, str, int]] = []
    made: list[tuple[ReferralType, tuple[Reason, ...]]] = []
    lowest = min((ranks[a.facility.id] for a in admitted), default=0)
    travel_weight = pack.weights["travel"]
    within = need.preferred_within_min
    for a in admitted:
        score = a.time_s / 60 * travel_weight
        kept: list[Reason] = []
        rctx = a.ctx
        for r in a.rules:
            if r.sign:
                # worth this many extra minutes on the road
                w = within if r.preferred and within > 0 else r.weight
                if r.unit == "level_steps":
                    unit: float = ranks[a.facility.id] - lowest
                elif r.unit == "occupancy":
                    unit = a.occupancy
                else:
                    unit = 1.0
                if unit == 0:
                    continue
                score += (w * unit) if r.sign > 0 else -(w * unit)
            assert rctx is not None  # a candidate with rules that held has their values
            kept.append(_new(Reason, (*r.head, rctx, r.references)))
        if back_referral:
            rtype = ReferralType.BACK_REFERRAL
        elif a.same_level:
            rtype = ReferralType.HORIZONTAL
        else:
            rtype = ReferralType.VERTICAL
        score = round(score, 3)
        ranked.append((score, a.time_s, a.facility.id, len(made)))
        made.append((rtype, tuple(kept)))
    ranked.sort()
    out = []
    for i, (score, _, _, k) in enumerate(ranked, start=1):
        a = admitted[k]
        rtype, reasons = made[k]
        out.append(
            _new(
                RankedCandidate,
                (
                    a.facility.id,
                    a.facility.name,
                    i,
                    score,
                    a.time_s,
                    a.distance_m,
                    rtype,
                    reasons,
                    a.status_age_s,
                    a.stale,
                ),
            )
        )
    return tuple(out)


def suggest(
    request: ReferralRequest,
    *,
    pack: RulePack,
    facilities: Sequence[Facility],
    statuses: Mapping[str, FacilityStatus],
    travel: Mapping[str, tuple[float, float | None] | None],
    now: datetime,
    origin: Facility | None = None,
) -> Suggestion:
    """Decide and rank for one request.

    ``travel`` gives (time_s, distance_m) by road from the origin per facility id; a missing or
    None entry means no road route. ``facilities`` are the candidates; the origin facility is
    looked up among them unless given as ``origin`` (a caller may pass only the facilities that
    receive referrals).

    The steps: check the request (``_checked_origin``); its facts (``_request_facts``); the
    request rules (``_apply_request_rules``), which may decide to treat locally; the candidates
    (``_screen``, on live status); the ranking (``_rank``).
    """
    origin = _checked_origin(request, facilities, origin)
    need = resolve_need(request, pack)
    region = pack.region_of(origin.id)
    base = _request_context(request, need, region, facilities)
    facts = _request_facts(request, need, origin, region)
    decision = _apply_request_rules(pack, facts, base)
    if decision.decided is not None:
        return Suggestion(
            decision=Decision.TREAT_LOCALLY,
            referral_type=None,
            candidates=(),
            excluded=(),
            reasons=(*decision.reasons, decision.decided),
            warnings=tuple(decision.warnings),
            need=need,
            pack_id=pack.id,
            pack_version=pack.version,
        )
    admitted, excluded, ranks = _screen(
        pack,
        facts,
        base,
        facilities,
        need,
        statuses,
        now,
        travel=travel,
        origin=origin,
        regional_hospital=region.hospital if region is not None else None,
        referred_from=request.referred_from if request.back_referral else None,
    )
    candidates = _rank(admitted, ranks, pack, need, request.back_referral)
    return Suggestion(
        decision=Decision.REFER if candidates else Decision.NO_CAPABLE_FACILITY,
        referral_type=candidates[0].referral_type if candidates else None,
        candidates=candidates,
        excluded=tuple(excluded),
        reasons=tuple(decision.reasons),
        warnings=tuple(decision.warnings),
        need=need,
        pack_id=pack.id,
        pack_version=pack.version,
    )
