"""What changes between two runs on the same demand: the referrals whose destination moves.

By Puskesmas and by desa, and what the move does to their travel time. A scenario that moves a
few Puskesmas changes the destination of a small share of the referrals; the regency's overall
mean, median and shares then barely move (the rest travel as before). The changed referrals' own
times say what the change does to the people it concerns.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from service.planning.maps import PALETTE

if TYPE_CHECKING:
    from collections.abc import Sequence

    from geodata.dataset import Dataset
    from service.planning.demand import DemandRecord
    from service.planning.simulate import Outcome

Flow = tuple[str | None, str | None]  # (destination today, destination in the scenario)


def _mean_min(seconds: list[float]) -> float | None:
    return sum(seconds) / len(seconds) / 60 if seconds else None


def changes(
    demand: Sequence[DemandRecord],
    base: Sequence[Outcome],
    scenario: Sequence[Outcome],
    dataset: Dataset,
) -> dict[str, Any]:
    """The changed referrals: how many, their mean time today and in the scenario, the changes
    (today's destination -> the scenario's, each with a colour), per Puskesmas and per desa (its
    largest change, for the map)."""  # noqa: D205, D209
    names = {f.id: f.name for f in dataset.facilities}
    desa = {s.id: s for s in dataset.settlements}
    flows: Counter[Flow] = Counter()
    by_origin: Counter[tuple[str, str | None, str | None]] = Counter()
    by_desa: dict[str, Counter[Flow]] = defaultdict(Counter)
    per_desa: Counter[str] = Counter()
    t_base: list[float] = []
    t_scen: list[float] = []
    emergencies = 0
    for rec, a, b in zip(demand, base, scenario, strict=True):
        per_desa[rec.settlement_id] += 1
        if a.destination_id == b.destination_id:
            continue
        flow = (a.destination_id, b.destination_id)
        flows[flow] += 1
        by_origin[rec.origin_id, *flow] += 1
        by_desa[rec.settlement_id][flow] += 1
        emergencies += rec.emergency
        if a.travel_time_s is not None and b.travel_time_s is not None:
            t_base.append(a.travel_time_s)
            t_scen.append(b.travel_time_s)
    order = [f for f, _ in sorted(flows.items(), key=lambda kv: (-kv[1], str(kv[0])))]
    colour = {f: PALETTE[i % len(PALETTE)] for i, f in enumerate(order)}
    mb, ms = _mean_min(t_base), _mean_min(t_scen)

    def name(fid: str | None) -> str | None:
        return names.get(fid, fid) if fid else None

    desa_rows = []
    for sid, counts in sorted(by_desa.items()):
        s = desa.get(sid)
        if s is None:
            continue
        (frm, to), _ = counts.most_common(1)[0]
        desa_rows.append({"id": sid, "name": s.name, "kecamatan": s.kecamatan, "lon": s.centroid.lon,
                          "lat": s.centroid.lat, "from_id": frm, "to_id": to, "colour": colour[frm, to],
                          "referrals": sum(counts.values()), "of": per_desa[sid]})  # fmt: skip
    # fmt: off
    return {
        "referrals": sum(flows.values()),
        "emergencies": int(emergencies),
        "timed": len(t_base),
        "mean_min_base": mb,
        "mean_min_scenario": ms,
        "mean_min_diff": ms - mb if mb is not None and ms is not None and math.isfinite(ms - mb) else None,
        "flows": [
            {"from_id": f[0], "from_name": name(f[0]), "to_id": f[1], "to_name": name(f[1]),
             "colour": colour[f], "referrals": flows[f]}
            for f in order
        ],
        "by_puskesmas": [
            {"origin_id": o, "origin_name": name(o), "from_id": frm, "from_name": name(frm), "to_id": to,
             "to_name": name(to), "referrals": n}
            for (o, frm, to), n in sorted(by_origin.items(), key=lambda kv: (-kv[1], str(kv[0])))
        ],
        "desa": desa_rows,
    }
    # fmt: on
