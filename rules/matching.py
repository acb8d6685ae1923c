"""The matching engine: decide and rank receiving facilities for one referral request, and say why.

Facts about the request and about every candidate are computed here; what they mean (exclude,
admit, boost, demote, decide, waive) is the rule pack's. The score is a cost in minutes: road
travel time, plus every demotion, minus every boost; ties break on travel time, then facility id.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from string import Formatter
from typing import TYPE_CHECKING, Any, NamedTuple

from geodata.models import (
    BED_NAMES,
    EQUIPMENT_NAMES,
    SERVICE_LABELS,
    CompetencyLevel,
    Facility,
    HospitalClass,
)
from rules.errors import RequestError
from rules.facts import Level, Specialist, StatusAge, Tri
from rules.model import (
    ClinicalNeed,
    Decision,
    ExcludedFacility,
    FacilityStatus,
    InLanguage,
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

    from rules.facts import Predicate
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
        super().__init__(facility=facility)
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
    by_need: dict[tuple[object, ...], list[tuple[bool, bool, bool, bool]]]


_STATIC: dict[int, _StaticRows] = {}


def _static(facilities: Sequence[Facility]) -> _StaticRows:
    """Computed once per facility tuple (a list is recomputed on every call: it may change)."""
    hit = _STATIC.get(id(facilities))
    if hit is not None and hit.facilities is facilities:
        return hit
    rows = [(f, level_rank(f), f.is_hospital) for f in sorted(facilities, key=lambda f: f.id)]
    out = _StaticRows(facilities, rows, tuple(f.id for f, _, _ in rows), {})
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


#: Decide what live status cannot change once per plan (rules on static facts; every rule for a
#: facility without live status). Off, every rule is tested per request: the plain semantics,
#: which the tests compare against.
SHORTCUTS = True

#: Candidate facts that do not change with live status: known once per request and candidate.
STATIC_CANDIDATE_FACTS = frozenset(
    {
        "candidate_is_origin",
        "candidate_referred_the_patient",
        "candidate_receiving",
        "candidate_is_hospital",
        "candidate_level_vs_origin",
        "candidate_has_specialty",
        "candidate_has_equipment",
        "candidate_reachable",
        "candidate_regional_for_origin",
        "candidate_travel_min",
    }
)


#: reason placeholders whose values come from live status (``_CandidateContext``)
_LIVE_PLACEHOLDERS = frozenset({"age_h", "on_call_min", "occupancy_pct"})
_FIXED_TEXT: dict[str, bool] = {}


def _first(t: tuple[int, Rule, Reason | None]) -> int:
    return t[0]


def _fixed_text(template: str) -> bool:
    """True if the template reads no live-status value."""
    hit = _FIXED_TEXT.get(template)
    if hit is None:
        names = {name for _, name, _, _ in Formatter().parse(template) if name}
        hit = _FIXED_TEXT[template] = not (names & _LIVE_PLACEHOLDERS)
    return hit


def _finished(rule: Rule, base: _Context, facility: str, travel_min: float) -> Reason | None:
    """The reason with its texts formatted now, if they read no live-status value."""
    d = rule.description
    if not (_fixed_text(d.id) and _fixed_text(d.en)):
        return None
    return _finished_now(rule, _CandidateContext(base, facility, travel_min, None, None, 0.0))


def _finished_now(rule: Rule, ctx: _Context) -> Reason:
    """The reason with its texts formatted from ``ctx`` now."""
    d = rule.description
    text_id = d.id.format_map(InLanguage(ctx, "id"))
    return Reason(
        rule.id, rule.effect, text_id, d.en.format_map(InLanguage(ctx, "en")), None, rule.references
    )


def _is_static(rule: Rule) -> bool:
    return all(f in STATIC_CANDIDATE_FACTS for f in rule.facts if f.startswith("candidate_"))


@dataclass(slots=True)
class _Row:
    """One candidate as far as it is known without live status."""

    facility: Facility
    capability: tuple[bool, bool, bool, bool]
    travel: tuple[float, float | None] | None
    travel_min: float
    same_level: bool
    static_facts: dict[str, Any]
    #: With no live status (most facilities never report one) every fact is known in advance, and
    #: so is the outcome: excluded with its reasons, or admitted with these (rule, reason, context)
    no_status_excluded: ExcludedFacility | None
    no_status_hits: list[tuple[Rule, Reason | None, _Context]]
    #: (rule's position in the pack, rule, its reason when the text is known in advance) for the
    #: rules on static facts only that hold
    static_exclude: list[tuple[int, Rule, Reason | None]]
    static_other: list[tuple[int, Rule, Reason | None]]


@dataclass(slots=True)
class _Plan:
    """Everything about a request's candidates that live status cannot change.

    Rules that read only request facts and static candidate facts are decided here once; the
    rules left (``dyn_*``, with their position in the pack) are tested per request on live status.
    """

    facilities: Sequence[Facility]
    rows: list[_Row]
    ranks: dict[str, int]
    dyn_exclude: list[tuple[int, Rule, Predicate]]
    dyn_other: list[tuple[int, Rule, Predicate]]


#: per pack (by identity): (request facts, origin, need, facilities, travel times) -> plan. Kept
#: only for a tuple of facilities (immutable; held by the plan, so its id stays valid); the travel
#: times are part of the key by value, so a closure or a new origin point makes a new plan.
_PLANS: dict[int, tuple[RulePack, dict[tuple[object, ...], _Plan]]] = {}
_PLAN_ROWS_MAX = 50_000
#: ``_status_facts`` reads no time when there is no status
_NO_TIME = datetime.min.replace(tzinfo=UTC)


_READ: dict[int, tuple[RulePack, frozenset[str]]] = {}


def _request_facts_read(pack: RulePack) -> frozenset[str]:
    """The request facts some candidate rule reads: the only ones a plan depends on."""
    return per_pack(
        _READ,
        pack,
        lambda: frozenset(f for r in pack.candidate_rules for f in r.facts if not f.startswith("candidate_")),
    )


def _plan(  # noqa: PLR0913  the plan's inputs, each a key of its cache
    pack: RulePack,
    facts: dict[str, Any],
    base: _Context,
    facilities: Sequence[Facility],
    need: ClinicalNeed,
    *,
    travel: Mapping[str, tuple[float, float | None] | None],
    origin: Facility,
    regional_hospital: str | None,
    referred_from: str | None = None,
) -> _Plan:
    """The request's plan: cached for a tuple of facilities, else worked out now (``_Plan``)."""
    static = _static(facilities)
    cacheable = isinstance(facilities, tuple)
    key: tuple[object, ...] = ()
    slot: dict[tuple[object, ...], _Plan] | None = None
    if cacheable:
        read = _request_facts_read(pack)
        key = (
            tuple((k, v) for k, v in facts.items() if k in read),
            tuple(base.items()),
            origin.id,
            referred_from,
            need.specialty,
            need.beds,
            need.equipment,
            need.preferred_equipment,
            id(facilities),
            tuple(map(travel.get, static.ids)),
        )
        slot = per_pack(_PLANS, pack, dict)
        hit = slot.get(key)
        if hit is not None and hit.facilities is facilities:
            return hit
    origin_rank = level_rank(origin)
    active = [
        (i, r, p) for i, r in enumerate(pack.candidate_rules) if (p := r.for_candidates(facts)) is not None
    ]
    static_rules = [(i, r, p) for i, r, p in active if _is_static(r)] if SHORTCUTS else []
    rows: list[_Row] = []
    ranks: dict[str, int] = {}
    cf = dict(facts)
    for (f, rank, is_hospital), cap in zip(static.rows, _capability(static, need), strict=True):
        tr = travel.get(f.id)
        ranks[f.id] = rank
        vs = Level.SAME if rank == origin_rank else (Level.HIGHER if rank > origin_rank else Level.LOWER)
        travel_min = tr[0] / 60 if tr is not None else math.inf
        sf = {
            "candidate_is_origin": f.id == origin.id,
            "candidate_referred_the_patient": f.id == referred_from,
            "candidate_receiving": f.receiving,
            "candidate_is_hospital": is_hospital,
            "candidate_level_vs_origin": vs,
            "candidate_has_specialty": cap[2],
            "candidate_has_equipment": cap[0],
            "candidate_reachable": tr is not None,
            "candidate_regional_for_origin": f.id == regional_hospital,
            "candidate_travel_min": travel_min,
        }
        cf.update(sf)
        held = [(i, r, _finished(r, base, f.name, travel_min)) for i, r, p in static_rules if p(cf)]
        # the outcome without live status, decided by every rule now (the same facts, the same
        # order as a request would write them: status facts, then static ones)
        _status_facts(cf, None, need, cap, pack.settings, _NO_TIME)
        cf.update(sf)
        ctx = _CandidateContext(base, f.name, travel_min, None, None, 0.0)
        ns_held = [r for _, r, p in active if p(cf)]
        ns_excl = [r for r in ns_held if r.effect == "exclude"]
        ns_excluded = (
            ExcludedFacility(f.id, f.name, tuple(_finished_now(r, ctx) for r in ns_excl)) if ns_excl else None
        )
        ns_hits: list[tuple[Rule, Reason | None, _Context]] = [
            (r, _finished_now(r, ctx), ctx) for r in ns_held if r.effect != "exclude"
        ]
        rows.append(
            _Row(
                f,
                cap,
                tr,
                travel_min,
                vs is Level.SAME,
                sf,
                ns_excluded,
                ns_hits,
                [h for h in held if h[1].effect == "exclude"],
                [h for h in held if h[1].effect != "exclude"],
            )
        )
    dynamic = [(i, r, p) for i, r, p in active if not _is_static(r)] if SHORTCUTS else active
    plan = _Plan(
        facilities,
        rows,
        ranks,
        [t for t in dynamic if t[1].effect == "exclude"],
        [t for t in dynamic if t[1].effect != "exclude"],
    )
    if slot is not None:
        # bounded by candidate rows held (about a kilobyte each), not by plans
        if len(slot) > max(64, _PLAN_ROWS_MAX // max(1, len(rows))):
            slot.clear()
        slot[key] = plan
    return plan


def _reason(rule: Rule, ctx: _Context) -> Reason:
    d = rule.description
    return Reason(rule.id, rule.effect, d.id, d.en, ctx, rule.references)


@dataclass(slots=True)
class _Admitted:
    facility: Facility
    occupancy: float
    same_level: bool
    reasons: list[tuple[Rule, Reason | None, _Context]]
    time_s: float
    distance_m: float | None
    status_age_s: float | None
    stale: bool


def _specialist(
    st: FacilityStatus,
    need: ClinicalNeed,
    on_call_max_min: float,
    limit_s: float,
    age_of: Callable[..., float],
) -> tuple[Specialist, float | None]:
    """The needed specialist by live status, judged by the age of the figure that says it."""
    if need.specialty is None:
        return Specialist.NOT_NEEDED, None
    if not st.specialists_on_duty and not st.specialists_on_call:
        return Specialist.UNKNOWN, None
    if need.specialty in st.specialists_on_duty:
        age_of("specialists_on_duty")
        return Specialist.ON_DUTY, None
    m = st.specialists_on_call.get(need.specialty)
    if m is not None and m <= on_call_max_min:
        age_of("specialists_on_call")
        return Specialist.ON_CALL, float(m)
    stale = age_of("specialists_on_duty", "specialists_on_call") > limit_s
    return (Specialist.UNKNOWN if stale else Specialist.ABSENT), None


def _status_facts(
    cf: dict[str, Any],
    st: FacilityStatus | None,
    need: ClinicalNeed,
    capability: tuple[bool, bool, bool, bool],
    settings: Mapping[str, Any],
    now: datetime,
) -> None:
    """Write a candidate's live-status facts into ``cf`` (the same keys for every candidate)."""
    on_call_min: float | None = None
    nbeds = need.beds
    neq = need.equipment
    has_eq, registered_zero, _, preferred_registered = capability
    if st is None:
        age_s = None
        status = StatusAge.NONE
        specialist = Specialist.NOT_NEEDED if need.specialty is None else Specialist.UNKNOWN
        beds = Tri.YES if not nbeds else (Tri.NO if registered_zero else Tri.UNKNOWN)
        eq = Tri.NO if not has_eq else (Tri.YES if not neq else Tri.UNKNOWN)
        preferred = preferred_registered
        accepting = True
        occupancy = 0.0
    else:
        limit_s = settings["stale_after_min"] * 60
        used: list[float] = []  # the ages of the figures this need relies on

        def age_of(*keys: str) -> float:
            age = max((now - st.figure_times.get(k, st.updated_at)).total_seconds() for k in keys)
            used.append(age)
            return age

        specialist, on_call_min = _specialist(st, need, settings["on_call_max_min"], limit_s, age_of)
        # beds: a stale "none free" is not trusted (beds may have freed); a stale "free" is used
        # with a penalty; each bed type by its own figure's age
        if not nbeds:
            beds = Tri.YES
        elif registered_zero:
            beds = Tri.NO
        elif any(b not in st.beds_available for b in nbeds):
            beds = Tri.UNKNOWN  # not reported
        elif all(st.beds_available[b] > 0 for b in nbeds):
            beds = Tri.YES
            age_of(*(f"beds_available.{b.value}" for b in nbeds))
        else:
            stale_beds = age_of(*(f"beds_available.{b.value}" for b in nbeds)) > limit_s
            beds = Tri.UNKNOWN if stale_beds else Tri.NO
        eq_at = st.figure_times.get("equipment_out_of_order", st.updated_at)
        stale_eq = (now - eq_at).total_seconds() > limit_s
        if not has_eq:
            eq = Tri.NO
        elif not neq:
            eq = Tri.YES
        elif any(e in st.equipment_out_of_order for e in neq):
            eq = Tri.UNKNOWN if age_of("equipment_out_of_order") > limit_s else Tri.NO
        else:
            eq = Tri.YES
            age_of("equipment_out_of_order")
        broken = st.equipment_out_of_order if not stale_eq else frozenset()
        preferred = preferred_registered and not any(e in broken for e in need.preferred_equipment)
        accepting = st.not_accepting_until is None or st.not_accepting_until <= now
        occupancy = float(st.occupancy) if st.occupancy is not None else 0.0
        if st.occupancy is not None:
            age_of("occupancy")
        # the status's age: the oldest figure this need relied on (the facility's newest figure
        # when it relied on none)
        age_s = max(used) if used else (now - st.updated_at).total_seconds()
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
    names = {f.id: f.name for f in facilities}
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
        hospital=names.get(regional_hospital or "", "-"),
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


def _screen(
    plan: _Plan,
    facts: dict[str, Any],
    statuses: Mapping[str, FacilityStatus],
    need: ClinicalNeed,
    settings: Mapping[str, Any],
    now: datetime,
    base: _Context,
) -> tuple[list[_Admitted], list[ExcludedFacility]]:
    """Every candidate of the plan, in facility-id order: admitted (with its reasons) or excluded.

    The plan's decided rules are combined with the rules left, tested on each candidate's live
    status; a candidate without live status takes the outcome the plan worked out in advance.
    """
    admitted: list[_Admitted] = []
    excluded: list[ExcludedFacility] = []
    dyn_exclude, dyn_other = plan.dyn_exclude, plan.dyn_other
    cf = dict(facts)  # request facts, then each candidate's facts written over the previous one's
    for row in plan.rows:
        f = row.facility
        st = statuses.get(f.id)
        if st is None and SHORTCUTS:
            if row.no_status_excluded is not None:
                excluded.append(row.no_status_excluded)
                continue
            assert row.travel is not None  # an unreachable candidate is excluded by the pack's rule
            admitted.append(
                _Admitted(f, 0.0, row.same_level, row.no_status_hits, *row.travel, None, stale=False)
            )
            continue
        _status_facts(cf, st, need, row.capability, settings, now)
        cf.update(row.static_facts)
        age_s = cf["_age_s"]
        ctx = _CandidateContext(
            base, f.name, row.travel_min, age_s, cf["_on_call_min"], cf["candidate_occupancy"]
        )
        excl: list[tuple[int, Rule, Reason | None]] = [(i, r, None) for i, r, p in dyn_exclude if p(cf)]
        if excl or row.static_exclude:  # every exclusion reason is reported, in the pack's order
            if row.static_exclude:
                excl = sorted(row.static_exclude + excl, key=_first) if excl else row.static_exclude
            reasons = tuple(_reason(r, ctx) if done is None else done for _, r, done in excl)
            excluded.append(ExcludedFacility(f.id, f.name, reasons))
            continue
        hits: list[tuple[int, Rule, Reason | None]] = [(i, r, None) for i, r, p in dyn_other if p(cf)]
        if row.static_other:
            hits = sorted(row.static_other + hits, key=_first) if hits else row.static_other
        tr = row.travel
        assert tr is not None  # an unreachable candidate is excluded by the pack's rule
        admitted.append(
            _Admitted(
                f,
                cf["candidate_occupancy"],
                row.same_level,
                [(r, done, ctx) for _, r, done in hits],
                tr[0],
                tr[1],
                age_s,
                cf["candidate_status"] is StatusAge.STALE,
            )
        )
    return admitted, excluded


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
    ranked: list[tuple[float, float, str, tuple[_Admitted, float, ReferralType, tuple[Reason, ...]]]] = []
    lowest = min((ranks[a.facility.id] for a in admitted), default=0)
    for a in admitted:
        units = {"level_steps": ranks[a.facility.id] - lowest, "occupancy": a.occupancy}
        score = a.time_s / 60 * pack.weights["travel"]
        kept: list[Reason] = []
        for rule, done, rctx in a.reasons:
            if rule.effect in ("boost", "demote"):
                w = pack.weights[rule.param]
                if rule.param == "preferred_equipment" and need.preferred_within_min > 0:
                    w = need.preferred_within_min  # worth this many extra minutes on the road
                unit = units.get(_PER_UNIT.get(rule.param, ""), 1.0)
                if unit == 0:
                    continue
                score += (w * unit) if rule.effect == "demote" else -(w * unit)
            kept.append(_reason(rule, rctx) if done is None else done)
        if back_referral:
            rtype = ReferralType.BACK_REFERRAL
        elif a.same_level:
            rtype = ReferralType.HORIZONTAL
        else:
            rtype = ReferralType.VERTICAL
        score = round(score, 3)
        ranked.append((score, a.time_s, a.facility.id, (a, score, rtype, tuple(kept))))
    ranked.sort(key=lambda t: t[:3])
    return tuple(
        RankedCandidate(
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
        )
        for i, (score, _, _, (a, _, rtype, reasons)) in enumerate(ranked, start=1)
    )


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
    (``_plan``, then ``_screen`` on live status); the ranking (``_rank``).
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
    plan = _plan(
        pack,
        facts,
        base,
        facilities,
        need,
        travel=travel,
        origin=origin,
        regional_hospital=region.hospital if region is not None else None,
        referred_from=request.referred_from if request.back_referral else None,
    )
    admitted, excluded = _screen(plan, facts, statuses, need, pack.settings, now, base)
    candidates = _rank(admitted, plan.ranks, pack, need, request.back_referral)
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
