"""The facts a rule may test, their types, and the closed set of operators.

Conditions are compiled once, when a pack is loaded, into plain Python closures: no ``eval``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from geodata.models import FacilityKind
from rules.model import OriginCondition, Payer, ServiceType

Facts = Mapping[str, Any]
Predicate = Callable[[Facts], bool]


class Level(StrEnum):
    """Where a candidate stands relative to the origin."""

    LOWER = "lower"
    SAME = "same"
    HIGHER = "higher"


class Tri(StrEnum):
    """Known yes/no, or unknown (no live status)."""

    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"


class Specialist(StrEnum):
    """Whether the needed specialist is there."""

    NOT_NEEDED = "not_needed"
    ON_DUTY = "on_duty"
    ON_CALL = "on_call"
    ABSENT = "absent"
    UNKNOWN = "unknown"


class StatusAge(StrEnum):
    """Freshness of a facility's live status."""

    FRESH = "fresh"
    STALE = "stale"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class FactType:
    """A fact's scope (request or candidate), kind and, for enums and sets, its values."""

    scope: str  # "request" or "candidate"
    kind: str  # "bool", "number", "enum", "set"
    values: tuple[str, ...] = ()
    settable: bool = False  # a flag that request rules may set


def _enum(e: type[StrEnum]) -> tuple[str, ...]:
    return tuple(m.value for m in e)


FACTS: Mapping[str, FactType] = {
    # the request
    "emergency": FactType("request", "bool"),
    "disaster": FactType("request", "bool"),
    "service_type": FactType("request", "enum", _enum(ServiceType)),
    "transportable": FactType("request", "bool"),
    "consent": FactType("request", "bool"),
    "payer": FactType("request", "enum", _enum(Payer)),
    "age_years": FactType("request", "number"),
    "back_referral": FactType("request", "bool"),
    "non_specialist": FactType("request", "bool"),
    "tacc_given": FactType("request", "bool"),
    "origin_kind": FactType("request", "enum", _enum(FacilityKind)),
    "origin_is_hospital": FactType("request", "bool"),
    "origin_conditions": FactType("request", "set", _enum(OriginCondition)),
    "origin_has_specialty": FactType("request", "bool"),
    "origin_in_region": FactType("request", "bool"),
    # flags set by request rules
    "regionalisation_waived": FactType("request", "bool", settable=True),
    "bed_required": FactType("request", "bool", settable=True),
    "horizontal_first": FactType("request", "bool", settable=True),
    # each candidate
    "candidate_is_origin": FactType("candidate", "bool"),
    "candidate_referred_the_patient": FactType("candidate", "bool"),
    "candidate_receiving": FactType("candidate", "bool"),
    "candidate_is_hospital": FactType("candidate", "bool"),
    "candidate_level_vs_origin": FactType("candidate", "enum", _enum(Level)),
    "candidate_has_specialty": FactType("candidate", "bool"),
    "candidate_specialist": FactType("candidate", "enum", _enum(Specialist)),
    "candidate_bed_available": FactType("candidate", "enum", _enum(Tri)),
    "candidate_has_equipment": FactType("candidate", "bool"),
    "candidate_equipment_working": FactType("candidate", "enum", _enum(Tri)),
    "candidate_has_preferred_equipment": FactType("candidate", "bool"),
    "candidate_accepting": FactType("candidate", "bool"),
    "candidate_reachable": FactType("candidate", "bool"),
    "candidate_regional_for_origin": FactType("candidate", "bool"),
    "candidate_status": FactType("candidate", "enum", _enum(StatusAge)),
    "candidate_occupancy": FactType("candidate", "number"),
    "candidate_travel_min": FactType("candidate", "number"),
}

OPERATORS: Mapping[str, tuple[str, ...]] = {
    "bool": ("eq", "ne"),
    "number": ("eq", "ne", "lt", "le", "gt", "ge"),
    "enum": ("eq", "ne", "in", "not_in"),
    "set": ("contains", "not_contains", "empty"),
}


def leaf_predicate(fact: str, op: str, value: Any) -> Predicate:  # noqa: ANN401  one branch per operator
    """A closure testing ``facts[fact] <op> value`` (types checked by the pack loader)."""
    if op == "eq":
        return lambda f: f[fact] == value
    if op == "ne":
        return lambda f: f[fact] != value
    if op == "lt":
        return lambda f: f[fact] < value
    if op == "le":
        return lambda f: f[fact] <= value
    if op == "gt":
        return lambda f: f[fact] > value
    if op == "ge":
        return lambda f: f[fact] >= value
    if op == "in":
        allowed = frozenset(value)
        return lambda f: f[fact] in allowed
    if op == "not_in":
        banned = frozenset(value)
        return lambda f: f[fact] not in banned
    if op == "contains":
        return lambda f: value in f[fact]
    if op == "not_contains":
        return lambda f: value not in f[fact]
    if op == "empty":
        return lambda f: (len(f[fact]) == 0) == value
    msg = f"unknown operator {op!r}"
    raise ValueError(msg)


T = TypeVar("T")

#: Each operator as Python source, on the fact's value ``{f}`` and the rule's value ``{v}``
#: (the same comparisons as ``leaf_predicate``).
_OPERATOR_SOURCE: Mapping[str, str] = {
    "eq": "{f} == {v}",
    "ne": "{f} != {v}",
    "lt": "{f} < {v}",
    "le": "{f} <= {v}",
    "gt": "{f} > {v}",
    "ge": "{f} >= {v}",
    "in": "{f} in {v}",
    "not_in": "{f} not in {v}",
    "contains": "{v} in {f}",
    "not_contains": "{v} not in {f}",
    "empty": "(len({f}) == 0) == {v}",
}


def condition_source(raw: Mapping[str, Any], consts: list[object]) -> str:
    """A checked condition as one Python expression reading the facts from ``f``.

    Fact names and values are never written into the source: each is appended to ``consts`` and
    read as ``_k{i}``, so the source holds only names, operators and parentheses.
    """

    def const(v: object) -> str:
        consts.append(v)
        return f"_k{len(consts) - 1}"

    if "all" in raw or "any" in raw:
        join = " and " if "all" in raw else " or "
        return (
            "(" + join.join(condition_source(c, consts) for c in raw["all" if "all" in raw else "any"]) + ")"
        )
    if "not" in raw:
        return f"(not {condition_source(raw['not'], consts)})"
    op, value = raw["op"], raw["value"]
    if op in ("in", "not_in"):
        value = frozenset(value)
    return "(" + _OPERATOR_SOURCE[op].format(f=f"f[{const(raw['fact'])}]", v=const(value)) + ")"


def compile_conditions(
    items: list[tuple[T, Mapping[str, Any] | None]],
    *,
    gated: bool = True,
) -> Callable[[Facts, list[bool]], list[T]]:
    """One function testing many checked conditions: ``held(facts, on)`` lists, in order, the tag
    of each condition that is on and holds (None is a condition that always holds).

    Written as Python source and compiled once (``condition_source``): one call per candidate
    instead of one closure call per condition and per leaf, the engine's hottest loop. Not
    ``gated``: every condition is on, and ``on`` is not read.
    """  # noqa: D205
    consts: list[object] = []
    lines = ["def held(f, on):", "    h = []"]
    for i, (_, raw) in enumerate(items):
        cond = condition_source(raw, consts) if raw is not None else "True"
        lines.append(f"    if on[{i}] and {cond}:" if gated else f"    if {cond}:")
        lines.append(f"        h.append(_t{i})")
    lines.append("    return h")
    namespace: dict[str, Any] = {f"_k{i}": v for i, v in enumerate(consts)}
    namespace |= {f"_t{i}": tag for i, (tag, _) in enumerate(items)}
    namespace["__builtins__"] = {"len": len}
    exec(compile("\n".join(lines), "<rule pack conditions>", "exec"), namespace)  # noqa: S102  our own source: names and operators only (values are constants)
    held: Callable[[Facts, list[bool]], list[T]] = namespace["held"]
    return held


def all_of(preds: list[Predicate]) -> Predicate:
    """True when every predicate is (short-circuit, in order)."""
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda f: a(f) and b(f)

    def every(f: Facts) -> bool:
        for p in preds:  # noqa: SIM110  a plain loop is faster than all() over a generator
            if not p(f):
                return False
        return True

    return every


def any_of(preds: list[Predicate]) -> Predicate:
    """True when some predicate is (short-circuit, in order)."""
    if len(preds) == 1:
        return preds[0]

    def some(f: Facts) -> bool:
        for p in preds:  # noqa: SIM110  a plain loop is faster than any() over a generator
            if p(f):
                return True
        return False

    return some


def not_(pred: Predicate) -> Predicate:
    """Negation."""
    return lambda f: not pred(f)


def always(_: Facts) -> bool:
    """The condition of a rule without ``when``."""
    return True


@dataclass
class _Domain:
    """What values a fact can still take inside an ``all``: for the unreachable-rule check."""

    values: set[Any] | None = None  # bool/enum: the allowed values
    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False

    def empty(self) -> bool:
        if self.values is not None and not self.values:
            return True
        return self.lo > self.hi or (self.lo == self.hi and (self.lo_open or self.hi_open))


def contradiction(leaves: list[tuple[str, str, Any]]) -> str | None:
    """If leaves joined by ``all`` can never hold together, say which fact makes it so."""
    domains: dict[str, _Domain] = {}
    for fact, op, value in leaves:
        ft = FACTS[fact]
        d = domains.setdefault(fact, _Domain())
        if ft.kind in ("bool", "enum"):
            universe = {True, False} if ft.kind == "bool" else set(ft.values)
            current = d.values if d.values is not None else set(universe)
            if op == "eq":
                current &= {value}
            elif op == "ne":
                current -= {value}
            elif op == "in":
                current &= set(value)
            elif op == "not_in":
                current -= set(value)
            d.values = current
        elif ft.kind == "number":
            v = float(value)
            if op in ("gt", "ge") and (v > d.lo or (v == d.lo and op == "gt")):
                d.lo, d.lo_open = v, op == "gt"
            elif op in ("lt", "le") and (v < d.hi or (v == d.hi and op == "lt")):
                d.hi, d.hi_open = v, op == "lt"
            elif op == "eq":
                if not (d.lo <= v <= d.hi):
                    d.lo, d.hi = math.inf, -math.inf
                else:
                    d.lo = d.hi = v
        if d.empty():
            return fact
    return None
