"""How a live road condition is told where it changed a travel time: in a suggestion's reasons, an
ETA, the nearest ambulances (Pasal 4 ayat (4): geographic conditions)."""  # noqa: D205, D209

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from routing.conditions import RoadCondition

#: the rule id of a road-condition reason (not a rule of the pack: the road network's state)
RULE_ID = "road-condition"
REFERENCES = ("Pasal 4 ayat (4)",)


def _what(c: RoadCondition) -> tuple[str, str]:
    if math.isinf(c.factor):
        return "ditutup", "closed"
    f = f"{c.factor:g}"
    return f"diperlambat x{f.replace('.', ',')}", f"slowed x{f}"


def condition_json(c: RoadCondition) -> dict[str, Any]:
    """A condition as an ETA or a nearest row names it."""
    what_id, what_en = _what(c)
    return {"id": c.id, "kind": "closed" if math.isinf(c.factor) else "slow", "reason": c.reason,
            "text": {"id": f"{c.reason} ({what_id})", "en": f"{c.reason} ({what_en})"}}  # fmt: skip


def reason_json(conds: Sequence[RoadCondition], lang: str) -> dict[str, Any]:
    """A suggestion reason saying which live road conditions its travel time takes into account."""
    ids = "; ".join(f"{c.reason} ({_what(c)[0]})" for c in conds)
    ens = "; ".join(f"{c.reason} ({_what(c)[1]})" for c in conds)
    texts = {"id": f"Waktu tempuh memperhitungkan kondisi jalan: {ids}",
             "en": f"The travel time takes road conditions into account: {ens}"}  # fmt: skip
    text = texts if lang == "all" else {lang: texts[lang]}
    return {"rule_id": RULE_ID, "effect": "info", "text": text, "references": list(REFERENCES)}
