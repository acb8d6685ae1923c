"""Rule packs: a jurisdiction's referral regulation as a declarative, versioned YAML file.

Loading is strict: every problem (unknown fact, wrong type, unknown facility or specialty,
overlapping or missing regional assignment, unreachable rule, ...) is collected and reported with
the file, the rule (or section) and the field. Conditions are compiled into closures from a
closed set of operators; nothing is evaluated as code.
"""

from __future__ import annotations

import datetime as dt
import string
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from geodata.models import BedType, Equipment, FacilityKind, Service
from rules import icd
from rules.errors import PackProblem, RulePackError, UnknownCodeError
from rules.facts import (
    FACTS,
    OPERATORS,
    Facts,
    Predicate,
    all_of,
    always,
    any_of,
    contradiction,
    leaf_predicate,
    not_,
)
from rules.model import Sex
from rules.yaml_text import safe_load

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from geodata.models import Facility

REQUEST_EFFECTS = ("decide", "set", "warn")
CANDIDATE_EFFECTS = ("exclude", "admit", "boost", "demote")
DECISIONS = ("treat_locally",)
PLACEHOLDERS = frozenset(
    {
        "facility",
        "travel_min",
        "age_h",
        "specialty",
        "beds",
        "equipment",
        "on_call_min",
        "occupancy_pct",
        "region",
        "hospital",
        "codes",
    }
)
REQUIRED_WEIGHTS = ("travel", "level_step", "occupancy")
REQUIRED_SETTINGS = ("stale_after_min", "on_call_max_min", "answer_within_min", "max_travel_min")


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Text:
    """A text in Bahasa Indonesia and English."""

    id: str
    en: str


@dataclass(frozen=True, slots=True)
class Rule:
    """A compiled rule: when ``predicate`` holds, ``effect`` (with ``param``) applies."""

    id: str
    scope: str
    description: Text
    predicate: Predicate
    effect: str
    param: Any
    references: tuple[str, ...]
    facts: frozenset[str]
    #: For a candidate rule whose ``when`` is an ``all``: its conjuncts on request facts only,
    #: tested once per request (None: no such conjunct)
    gate: Predicate | None = None
    #: The condition tested per candidate once the gate held, as checked YAML (None: always):
    #: the other conjuncts, or the whole ``when`` without a gate. Compiled to source by the
    #: engine (``rules.facts.compile_conditions``); ``gate`` and it together are ``predicate``.
    candidate_when: Mapping[str, Any] | None = field(default=None, compare=False)

    def gate_holds(self, request_facts: Facts) -> bool:
        """False if the rule cannot hold for any candidate of this request."""
        return self.gate is None or self.gate(request_facts)


@dataclass(frozen=True, slots=True)
class RegionRule:
    """A referral region: origins that refer to one regional hospital."""

    id: str
    name: str
    hospital: str
    origins: frozenset[str]
    references: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NeedEntry:
    """Clinical need for ICD-10 codes (chapter, block or code), optionally by age and sex."""

    id: str
    codes: tuple[str, ...]
    age_min: float | None
    age_max: float | None
    sex: Sex | None
    specialty: Service | None
    beds: tuple[BedType, ...]
    equipment: tuple[Equipment, ...]
    preferred_equipment: tuple[Equipment, ...]
    preferred_within_min: float
    references: tuple[str, ...]


@dataclass(frozen=True)
class RulePack:
    """A loaded, validated rule pack."""

    id: str
    version: str
    title: str
    effective_date: dt.date
    regency: str
    references: Mapping[str, str]
    settings: Mapping[str, float]
    weights: Mapping[str, float]
    regions: tuple[RegionRule, ...]
    needs: tuple[NeedEntry, ...]
    non_specialist: frozenset[str]
    non_specialist_references: tuple[str, ...]
    request_rules: tuple[Rule, ...]
    candidate_rules: tuple[Rule, ...]
    file: str

    def region_of(self, origin_id: str) -> RegionRule | None:
        """The region an origin belongs to (None outside the regionalisation)."""
        for r in self.regions:
            if origin_id in r.origins:
                return r
        return None


def per_pack(store: dict[int, tuple[RulePack, T]], pack: RulePack, make: Callable[[], T]) -> T:
    """Something worked out once per loaded pack (by identity; at most 16 packs kept)."""
    hit = store.get(id(pack))
    if hit is None or hit[0] is not pack:
        if len(store) > 16:
            store.clear()
        hit = store[id(pack)] = (pack, make())
    return hit[1]


def bundled_pack_path(name: str = "sambas") -> Path:
    """A rule pack shipped with rujuk (``rules/packs/<name>.yaml``)."""
    return Path(str(resources.files("rules") / "packs" / f"{name}.yaml"))


class _Checker:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[PackProblem] = []

    def add(self, where: str, field: str, message: str) -> None:
        self.problems.append(PackProblem(self.file, where, field, message))

    def text(self, raw: object, where: str, field: str) -> Text:
        if isinstance(raw, str) and raw.strip():
            return Text(raw, raw)
        if isinstance(raw, dict) and isinstance(raw.get("id"), str) and isinstance(raw.get("en"), str):
            for lang in ("id", "en"):
                self.placeholders(raw[lang], where, f"{field}.{lang}")
            return Text(raw["id"], raw["en"])
        self.add(where, field, "expected a text, or {id: ..., en: ...}")
        return Text("", "")

    def placeholders(self, text: str, where: str, field: str) -> None:
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
        except ValueError as exc:
            self.add(where, field, f"malformed placeholder: {exc}")
            return
        for name in sorted(names - PLACEHOLDERS):
            self.add(
                where, field, f"unknown placeholder {{{name}}} (known: {', '.join(sorted(PLACEHOLDERS))})"
            )

    def references(self, raw: object, where: str) -> tuple[str, ...]:
        if not isinstance(raw, list) or not raw or not all(isinstance(r, str) and r.strip() for r in raw):
            self.add(where, "references", "every rule cites at least one article (a list of texts)")
            return ()
        return tuple(raw)

    def enum_list(self, raw: object, enum: type[Any], where: str, field: str) -> tuple[Any, ...]:
        if raw is None:
            return ()
        items = raw if isinstance(raw, list) else [raw]
        out = []
        for item in items:
            try:
                out.append(enum(item))
            except ValueError:
                allowed = ", ".join(m.value for m in enum)
                self.add(where, field, f"unknown value {item!r} (allowed: {allowed})")
        return tuple(out)

    def number(self, raw: object, where: str, field: str, *, default: float | None = None) -> float | None:
        if raw is None:
            return default
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            self.add(where, field, f"{raw!r} is not a number")
            return default
        return float(raw)


def _compile_condition(
    c: _Checker, raw: object, where: str, path: str, scope: str, facts: set[str]
) -> Predicate:
    if not isinstance(raw, dict) or len(raw) == 0:
        c.add(where, path, "a condition is {all: [...]}, {any: [...]}, {not: ...} or {fact, op, value}")
        return always
    if set(raw) <= {"all", "any"} and len(raw) == 1:
        key = next(iter(raw))
        items = raw[key]
        if not isinstance(items, list) or not items:
            c.add(where, f"{path}.{key}", "expected a non-empty list of conditions")
            return always
        preds = [
            _compile_condition(c, it, where, f"{path}.{key}[{i}]", scope, facts) for i, it in enumerate(items)
        ]
        if key == "all":
            leaves = [
                (it["fact"], it["op"], it["value"])
                for it in items
                if isinstance(it, dict) and set(it) == {"fact", "op", "value"} and it.get("fact") in FACTS
            ]
            bad = contradiction(leaves) if not c.problems else None
            if bad is not None:
                c.add(where, f"{path}.all", f"unreachable: the conditions on '{bad}' can never hold together")
            return all_of(preds)
        return any_of(preds)
    if set(raw) == {"not"}:
        return not_(_compile_condition(c, raw["not"], where, f"{path}.not", scope, facts))
    if set(raw) != {"fact", "op", "value"}:
        c.add(where, path, f"unexpected keys {sorted(raw)} (a leaf is {{fact, op, value}})")
        return always
    return _compile_leaf(c, raw, where, path, scope, facts)


def _compile_leaf(
    c: _Checker, raw: dict[str, Any], where: str, path: str, scope: str, facts: set[str]
) -> Predicate:
    fact, op, value = raw["fact"], raw["op"], raw["value"]
    ft = FACTS.get(fact)
    if ft is None:
        c.add(where, f"{path}.fact", f"unknown fact {fact!r}")
        return always
    if ft.scope == "candidate" and scope == "request":
        c.add(where, f"{path}.fact", f"fact {fact!r} is about a candidate; this rule's scope is 'request'")
        return always
    facts.add(fact)
    if op not in OPERATORS[ft.kind]:
        c.add(
            where,
            f"{path}.op",
            f"operator {op!r} does not apply to {ft.kind} fact {fact!r} "
            f"(allowed: {', '.join(OPERATORS[ft.kind])})",
        )
        return always
    if ft.kind == "bool" and not isinstance(value, bool):
        c.add(where, f"{path}.value", f"{fact!r} is true or false, got {value!r}")
        return always
    if ft.kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
        c.add(where, f"{path}.value", f"{fact!r} is a number, got {value!r}")
        return always
    if ft.kind == "enum":
        vals = value if op in ("in", "not_in") else [value]
        if op in ("in", "not_in") and (not isinstance(value, list) or not value):
            c.add(where, f"{path}.value", f"operator {op!r} needs a non-empty list")
            return always
        unknown = [v for v in vals if v not in ft.values]
        if unknown:
            c.add(
                where,
                f"{path}.value",
                f"{unknown[0]!r} is not a value of {fact!r} (allowed: {', '.join(ft.values)})",
            )
            return always
    if ft.kind == "set":
        if op == "empty" and not isinstance(value, bool):
            c.add(where, f"{path}.value", "operator 'empty' takes true or false")
            return always
        if op != "empty" and value not in ft.values:
            c.add(
                where,
                f"{path}.value",
                f"{value!r} is not a value of {fact!r} (allowed: {', '.join(ft.values)})",
            )
            return always
    return leaf_predicate(fact, op, value)


def _rule_id(c: _Checker, raw: Mapping[str, Any], index: int, seen: set[str]) -> tuple[str, str]:
    """A rule's id (``#index`` if missing) and how problems name the rule; a repeated id is a problem."""
    rid = raw.get("id")
    if not isinstance(rid, str) or not rid:
        c.add(f"rules[{index}]", "id", "missing rule id")
        return f"#{index}", f"rules[{index}]"
    where = f"rule '{rid}'"
    if rid in seen:
        c.add(where, "id", "duplicate rule id")
    seen.add(rid)
    return rid, where


def _check_set_flags(c: _Checker, where: str, param: object) -> None:
    """A ``set`` effect's parameter: settable flags, each true or false."""
    if not isinstance(param, dict) or not param:
        c.add(where, "effect.set", "expected {flag: true|false, ...}")
        return
    for flag, v in param.items():
        if flag not in FACTS or not FACTS[flag].settable:
            settable = ", ".join(f for f, t in FACTS.items() if t.settable)
            c.add(where, f"effect.set.{flag}", f"not a settable flag (settable: {settable})")
        elif not isinstance(v, bool):
            c.add(where, f"effect.set.{flag}", f"expected true or false, got {v!r}")


def _check_effect(
    c: _Checker, where: str, effect: str, param: object, weights: Mapping[str, float], facts: set[str]
) -> None:
    """An effect's parameter (a decision, flags, a known weight, or true); the payer rule."""
    if effect == "decide" and param not in DECISIONS:
        c.add(where, "effect.decide", f"{param!r} is not a decision (allowed: {', '.join(DECISIONS)})")
    if effect == "set":
        _check_set_flags(c, where, param)
    if effect in ("boost", "demote") and param not in weights:
        c.add(where, f"effect.{effect}", f"unknown weight {param!r} (weights: {', '.join(sorted(weights))})")
    if effect in ("exclude", "admit", "warn") and param is not True:
        c.add(where, f"effect.{effect}", "expected true")
    if "payer" in facts and effect in ("boost", "demote", "exclude", "decide", "set"):
        c.add(where, "when", "the payer never affects referral decisions or ranking (Pasal 4 ayat (3))")


def _rule(c: _Checker, raw: object, index: int, weights: Mapping[str, float], seen: set[str]) -> Rule | None:
    """One rule checked and compiled (``_rule_id``, its condition, ``_check_effect``); None if unusable."""
    if not isinstance(raw, dict):
        c.add(f"rules[{index}]", "", "a rule is a mapping")
        return None
    rid, where = _rule_id(c, raw, index, seen)
    unknown = set(raw) - {"id", "scope", "description", "when", "effect", "references"}
    for k in sorted(unknown):
        c.add(where, k, "unknown field")
    scope = raw.get("scope")
    if scope not in ("request", "candidate"):
        c.add(where, "scope", f"{scope!r} is not 'request' or 'candidate'")
        return None
    desc = c.text(raw.get("description"), where, "description")
    refs = c.references(raw.get("references"), where)
    facts: set[str] = set()
    pred = _compile_condition(c, raw["when"], where, "when", scope, facts) if "when" in raw else always
    effect_raw = raw.get("effect")
    allowed = REQUEST_EFFECTS if scope == "request" else CANDIDATE_EFFECTS
    if not isinstance(effect_raw, dict) or len(effect_raw) != 1 or next(iter(effect_raw)) not in allowed:
        c.add(where, "effect", f"expected exactly one of {', '.join(allowed)} for scope {scope!r}")
        return None
    effect, param = next(iter(effect_raw.items()))
    _check_effect(c, where, effect, param, weights, facts)
    when = raw.get("when")
    gate, candidate_when = (
        _split(when, where, scope) if scope == "candidate" and not c.problems else (None, when)
    )
    return Rule(rid, scope, desc, pred, effect, param, refs, frozenset(facts), gate, candidate_when)


def _split(when: object, where: str, scope: str) -> tuple[Predicate | None, Any]:
    """A checked ``when`` split into the gate (its top-level ``all``'s conjuncts on request facts
    only, compiled) and what is left to test per candidate (None: always)."""  # noqa: D205, D209
    if not isinstance(when, dict) or set(when) != {"all"}:
        return None, when
    gate: list[Predicate] = []
    rest: list[Any] = []
    for i, item in enumerate(when["all"]):
        used: set[str] = set()
        pred = _compile_condition(_Checker(""), item, where, f"when.all[{i}]", scope, used)
        if all(FACTS[f].scope == "request" for f in used):
            gate.append(pred)
        else:
            rest.append(item)
    if not gate:
        return None, when
    return all_of(gate), ({"all": rest} if rest else None)


def _region(c: _Checker, raw: object, index: int) -> RegionRule | None:
    where = f"regions[{index}]"
    if not isinstance(raw, dict):
        c.add(where, "", "a region is a mapping")
        return None
    rid = str(raw["id"]) if isinstance(raw.get("id"), str) else f"#{index}"
    where = f"region '{rid}'"
    for k in sorted(set(raw) - {"id", "name", "hospital", "origins", "references"}):
        c.add(where, k, "unknown field")
    hospital = raw.get("hospital")
    origins = raw.get("origins")
    if not isinstance(hospital, str) or not hospital:
        c.add(where, "hospital", "missing the regional hospital's facility id")
        hospital = ""
    if not isinstance(origins, list) or not origins or not all(isinstance(o, str) for o in origins):
        c.add(where, "origins", "expected a non-empty list of facility ids")
        origins = []
    for o in sorted({o for o in origins if origins.count(o) > 1}):
        c.add(where, "origins", f"{o!r} listed twice")
    return RegionRule(
        rid,
        str(raw.get("name", rid)),
        hospital,
        frozenset(origins),
        c.references(raw.get("references"), where),
    )


def _need(c: _Checker, raw: object, index: int) -> NeedEntry | None:
    where = f"clinical_needs[{index}]"
    if not isinstance(raw, dict):
        c.add(where, "", "a clinical need is a mapping")
        return None
    nid = str(raw["id"]) if isinstance(raw.get("id"), str) else f"#{index}"
    where = f"clinical need '{nid}'"
    known = {
        "id",
        "icd10",
        "age_min_years",
        "age_max_years",
        "sex",
        "specialty",
        "beds",
        "equipment",
        "preferred_equipment",
        "preferred_within_min",
        "references",
        "description",
    }
    for k in sorted(set(raw) - known):
        c.add(where, k, "unknown field")
    codes = []
    for code in raw.get("icd10") or []:
        try:
            codes.append(icd.validate(str(code)))
        except UnknownCodeError as exc:
            c.add(where, "icd10", str(exc))
    if not raw.get("icd10"):
        c.add(where, "icd10", "expected a non-empty list of ICD-10 chapters, blocks or codes")
    specialty = c.enum_list(raw.get("specialty"), Service, where, "specialty")
    sex = c.enum_list(raw.get("sex"), Sex, where, "sex")
    return NeedEntry(
        id=nid,
        codes=tuple(codes),
        age_min=c.number(raw.get("age_min_years"), where, "age_min_years"),
        age_max=c.number(raw.get("age_max_years"), where, "age_max_years"),
        sex=sex[0] if sex else None,
        specialty=specialty[0] if specialty else None,
        beds=c.enum_list(raw.get("beds"), BedType, where, "beds"),
        equipment=c.enum_list(raw.get("equipment"), Equipment, where, "equipment"),
        preferred_equipment=c.enum_list(
            raw.get("preferred_equipment"), Equipment, where, "preferred_equipment"
        ),
        preferred_within_min=c.number(
            raw.get("preferred_within_min"), where, "preferred_within_min", default=0.0
        )
        or 0.0,
        references=c.references(raw.get("references"), where),
    )


_TOP_FIELDS = frozenset(
    {
        "id",
        "version",
        "title",
        "effective_date",
        "regency",
        "legal_references",
        "settings",
        "weights",
        "regions",
        "clinical_needs",
        "non_specialist",
        "rules",
    }
)


def _read_pack(p: Path) -> dict[Any, Any]:
    """The pack file's YAML mapping; a ``RulePackError`` if it cannot be read or is no mapping."""
    try:
        raw = safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RulePackError([PackProblem(p.name, "file", "", f"unreadable: {exc}")]) from exc
    if not isinstance(raw, dict):
        raise RulePackError([PackProblem(p.name, "file", "", "a rule pack is a YAML mapping")])
    return raw


def _header(c: _Checker, raw: Mapping[Any, Any]) -> dt.date:
    """Check the top-level fields and the texts that name the pack; its effective date."""
    for k in sorted(set(raw) - _TOP_FIELDS):
        c.add("pack", k, "unknown field")
    for k in ("id", "version", "title", "regency"):
        if not isinstance(raw.get(k), str) or not raw[k]:
            c.add("pack", k, "missing or not a text")
    eff = raw.get("effective_date")
    if not isinstance(eff, dt.date):
        c.add("pack", "effective_date", f"{eff!r} is not a date (YYYY-MM-DD)")
        eff = dt.date.min
    return eff


def _legal_references(c: _Checker, raw: Mapping[Any, Any]) -> dict[str, str]:
    """The ``legal_references`` section: title by reference id."""
    refs_raw = raw.get("legal_references")
    legal: dict[str, str] = {}
    if not isinstance(refs_raw, list) or not refs_raw:
        c.add("pack", "legal_references", "expected a non-empty list of {id, title}")
        return legal
    for i, r in enumerate(refs_raw):
        if isinstance(r, dict) and isinstance(r.get("id"), str) and isinstance(r.get("title"), str):
            legal[r["id"]] = r["title"]
        else:
            c.add(f"legal_references[{i}]", "", "expected {id, title}")
    return legal


def _settings(c: _Checker, raw: Mapping[Any, Any]) -> dict[str, float]:
    """The ``settings`` section: numbers, every required setting present."""
    settings: dict[str, float] = {}
    for k, v in (raw.get("settings") or {}).items():
        n = c.number(v, "settings", k)
        if n is not None:
            settings[str(k)] = n
    for k in REQUIRED_SETTINGS:
        if k not in settings:
            c.add("settings", k, "required setting is missing")
    return settings


def _weights(c: _Checker, raw: Mapping[Any, Any]) -> dict[str, float]:
    """The ``weights`` section: numbers >= 0, every required weight present."""
    weights: dict[str, float] = {}
    for k, v in (raw.get("weights") or {}).items():
        n = c.number(v, "weights", k)
        if n is not None:
            if n < 0:
                c.add("weights", k, "weights are >= 0 (boost subtracts, demote adds)")
            weights[str(k)] = n
    for k in REQUIRED_WEIGHTS:
        if k not in weights:
            c.add("weights", k, "required weight is missing")
    return weights


def _regions(c: _Checker, raw: Mapping[Any, Any]) -> list[RegionRule]:
    """The ``regions`` section, each region checked (``_region``)."""
    return [
        reg for i, item in enumerate(raw.get("regions") or []) if (reg := _region(c, item, i)) is not None
    ]


def _needs(c: _Checker, raw: Mapping[Any, Any]) -> list[NeedEntry]:
    """The ``clinical_needs`` section, each entry checked (``_need``)."""
    return [
        entry
        for i, item in enumerate(raw.get("clinical_needs") or [])
        if (entry := _need(c, item, i)) is not None
    ]


def _non_specialist(c: _Checker, raw: Mapping[Any, Any]) -> tuple[frozenset[str], tuple[str, ...]]:
    """The ``non_specialist`` section: its ICD-10 codes and its references."""
    ns_raw = raw.get("non_specialist") or {}
    non_specialist: set[str] = set()
    ns_refs: tuple[str, ...] = ()
    if not isinstance(ns_raw, dict):
        c.add("non_specialist", "", "expected {icd10: [...], references: [...]}")
    elif ns_raw:
        ns_refs = c.references(ns_raw.get("references"), "non_specialist")
        for code in ns_raw.get("icd10") or []:
            try:
                non_specialist.add(icd.validate(str(code)))
            except UnknownCodeError as exc:
                c.add("non_specialist", "icd10", str(exc))
    return frozenset(non_specialist), ns_refs


def _rules(c: _Checker, raw: Mapping[Any, Any], weights: Mapping[str, float]) -> list[Rule]:
    """The ``rules`` section, each rule checked and compiled (``_rule``); a pack needs rules."""
    seen: set[str] = set()
    rules = [
        rule
        for i, item in enumerate(raw.get("rules") or [])
        if (rule := _rule(c, item, i, weights, seen)) is not None
    ]
    if not rules:
        c.add("pack", "rules", "a pack needs rules")
    return rules


def _region_owners(c: _Checker, regions: Sequence[RegionRule]) -> dict[str, str]:
    """The region of every origin (the first that lists it); an origin in two regions is a problem."""
    owner: dict[str, str] = {}
    for r in regions:
        for o in sorted(r.origins):
            if o in owner:
                c.add(
                    f"region '{r.id}'",
                    "origins",
                    f"{o!r} is already in region '{owner[o]}' (regions overlap)",
                )
            owner.setdefault(o, r.id)
    return owner


def _check_reachable(c: _Checker, rules: Sequence[Rule]) -> None:
    """Every request rule after one that always decides can never run: a problem."""
    terminal = None
    for r in rules:
        if r.scope != "request":
            continue
        if terminal is not None:
            c.add(f"rule '{r.id}'", "when", f"unreachable: rule '{terminal}' before it always decides")
        elif r.effect == "decide" and r.predicate is always:
            terminal = r.id


def _check_facilities(
    c: _Checker,
    regions: Sequence[RegionRule],
    owner: Mapping[str, str],
    facilities: Sequence[Facility],
    regency: str,
) -> None:
    """Regions against the facility list: known ids, receiving hospitals, every Puskesmas covered."""
    by_id = {f.id: f for f in facilities}
    for r in regions:
        h = by_id.get(r.hospital)
        if h is None:
            c.add(f"region '{r.id}'", "hospital", f"unknown facility id {r.hospital!r}")
        elif not h.receiving:
            c.add(f"region '{r.id}'", "hospital", f"{r.hospital!r} ({h.name}) does not receive referrals")
        for o in sorted(r.origins):
            if o not in by_id:
                c.add(f"region '{r.id}'", "origins", f"unknown facility id {o!r}")
    for f in facilities:
        if (
            f.kind is FacilityKind.PUSKESMAS
            and f.regency.casefold() == regency.casefold()
            and f.id not in owner
        ):
            c.add("regions", "origins", f"{f.id} ({f.name}) is in no region (missing regional assignment)")


def load_rule_pack(path: str | Path, *, facilities: Sequence[Facility] | None = None) -> RulePack:
    """Load and validate a pack; with ``facilities``, facility ids and regional coverage are checked too.

    Every section is checked in the file's order (``_header``, ``_legal_references``,
    ``_settings``, ``_weights``, ``_regions``, ``_needs``, ``_non_specialist``, ``_rules``), then
    what sections say together; every problem found is reported at once.
    """
    p = Path(path)
    c = _Checker(p.name)
    raw = _read_pack(p)
    eff = _header(c, raw)
    legal = _legal_references(c, raw)
    settings = _settings(c, raw)
    weights = _weights(c, raw)
    regions = _regions(c, raw)
    needs = _needs(c, raw)
    non_specialist, ns_refs = _non_specialist(c, raw)
    rules = _rules(c, raw, weights)
    # overlapping regions; unreachable request rules after an unconditional decision
    owner = _region_owners(c, regions)
    _check_reachable(c, rules)
    if facilities is not None:
        _check_facilities(c, regions, owner, facilities, str(raw.get("regency", "")))
    if c.problems:
        raise RulePackError(c.problems)
    return RulePack(
        id=raw["id"],
        version=str(raw["version"]),
        title=raw["title"],
        effective_date=eff,
        regency=raw["regency"],
        references=legal,
        settings=settings,
        weights=weights,
        regions=tuple(regions),
        needs=tuple(needs),
        non_specialist=non_specialist,
        non_specialist_references=ns_refs,
        request_rules=tuple(r for r in rules if r.scope == "request"),
        candidate_rules=tuple(r for r in rules if r.scope == "candidate"),
        file=p.name,
    )
