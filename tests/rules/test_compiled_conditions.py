"""The engine's compiled conditions say what the rule pack's closures say, for every fact value."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.facts import FACTS, compile_conditions, leaf_predicate
from rules.pack import RulePack

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _value(kind: str, values: tuple[str, ...]) -> st.SearchStrategy[Any]:
    if kind == "bool":
        return st.booleans()
    if kind == "number":
        # the boundaries the rules compare with, often: equality is where < and <= part
        edges = st.sampled_from([0, 0.0, 0.5, 0.85, 0.9, 1, 15, 30, 45, 60, 60.0, 90, 120, 180, 240, 16, 65])
        return st.one_of(edges, edges, st.floats(-10, 400, allow_nan=False), st.just(float("inf")))
    if kind == "enum":
        return st.sampled_from(values)
    return st.frozensets(st.sampled_from(values)) if values else st.just(frozenset())


@st.composite
def all_facts(draw: st.DrawFn) -> dict[str, Any]:
    """Every fact the rules may read, each with a value of its kind."""
    return {name: draw(_value(ft.kind, ft.values)) for name, ft in FACTS.items()}


@PROPS
@given(facts=all_facts())
def test_the_bundled_packs_rules_compiled_hold_where_their_closures_do(pack: RulePack, facts: dict) -> None:
    rules = pack.candidate_rules
    held = compile_conditions([(r, r.candidate_when) for r in rules])
    # with its gate: exactly the rule's whole condition
    on = [r.gate_holds(facts) for r in rules]
    assert held(facts, on) == [r for r in rules if r.predicate(facts)]
    # a rule whose gate does not hold is not tested
    assert held(facts, [False] * len(rules)) == []
    # compiled with only the rules whose gate holds (as the engine does per set of gates): the same
    active = compile_conditions(
        [(r, r.candidate_when) for r, o in zip(rules, on, strict=True) if o], gated=False
    )
    assert active(facts, []) == [r for r in rules if r.predicate(facts)]


LEAVES = [
    ("candidate_travel_min", "lt", 60),
    ("candidate_travel_min", "le", 60.0),
    ("candidate_occupancy", "gt", 0.85),
    ("candidate_occupancy", "ge", 0.85),
    ("age_years", "eq", 0),
    ("age_years", "ne", 0),
    ("candidate_status", "in", ["stale", "none"]),
    ("candidate_status", "not_in", ["fresh"]),
    ("candidate_reachable", "eq", False),
    ("origin_conditions", "contains", "no_doctor"),
    ("origin_conditions", "not_contains", "no_doctor"),
    ("origin_conditions", "empty", True),
    ("origin_conditions", "empty", False),
]


@pytest.mark.parametrize(("fact", "op", "value"), LEAVES)
def test_each_operator_at_its_boundaries(fact: str, op: str, value: Any) -> None:
    ft = FACTS[fact]
    if ft.kind == "number":
        seen: list[Any] = [
            value - 1,
            value - 0.001,
            value,
            float(value),
            value + 0.001,
            value + 1,
            float("inf"),
        ]
    elif ft.kind == "bool":
        seen = [True, False]
    elif ft.kind == "enum":
        seen = list(ft.values)
    else:
        seen = [frozenset(), *(frozenset({v}) for v in ft.values), frozenset(ft.values)]
    held = compile_conditions([("x", {"fact": fact, "op": op, "value": value})])
    closure = leaf_predicate(fact, op, value)
    for v in seen:
        assert (held({fact: v}, [True]) == ["x"]) is closure({fact: v}), (fact, op, value, v)


@PROPS
@given(
    facts=all_facts(), picks=st.lists(st.sampled_from(LEAVES), min_size=1, max_size=4), how=st.integers(0, 3)
)
def test_every_operator_and_combination_compiles_to_the_same_answer(
    facts: dict, picks: list[tuple[str, str, Any]], how: int
) -> None:
    leaves = [{"fact": f, "op": op, "value": v} for f, op, v in picks]
    preds = [leaf_predicate(f, op, v) for f, op, v in picks]
    if how == 0:
        cond: dict[str, Any] = {"all": leaves}
        expected = all(p(facts) for p in preds)
    elif how == 1:
        cond = {"any": leaves}
        expected = any(p(facts) for p in preds)
    elif how == 2:
        cond = {"not": {"any": leaves}}
        expected = not any(p(facts) for p in preds)
    else:
        cond = {"all": [leaves[0], {"not": {"all": leaves[1:] or leaves}}]}
        expected = preds[0](facts) and not all(p(facts) for p in (preds[1:] or preds))
    held = compile_conditions([("x", cond), ("always", None), ("off", cond)])
    assert held(facts, [True, True, False]) == (["x", "always"] if expected else ["always"])


def test_values_are_data_never_source() -> None:
    # a value that reads like code is compared as the string it is
    sneaky = "x') or True or ('"
    held = compile_conditions([("x", {"fact": "payer", "op": "eq", "value": sneaky})])
    assert held({"payer": "bpjs"}, [True]) == []
    assert held({"payer": sneaky}, [True]) == ["x"]
    # and the compiled function reaches no builtin but len
    held = compile_conditions([("x", {"fact": "__import__('os')", "op": "eq", "value": 1})])
    assert held({"__import__('os')": 1}, [True]) == ["x"]
