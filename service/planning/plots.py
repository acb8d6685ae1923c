"""PNG figures for planners (matplotlib, no display needed): the two maps and travel-time curves."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import matplotlib as mpl

mpl.use("Agg")  # files only: no display on a server
import matplotlib.pyplot as plt
import numpy as np

from service.planning.maps import TIME_BANDS, catchments

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    import pandas as pd

    from service.matcher import Matcher
    from service.planning.demand import DemandRecord
    from service.planning.simulate import Outcome


def maps_png(
    matcher: Matcher,
    demand: Sequence[DemandRecord],
    outcomes: Sequence[Outcome],
    by_desa: pd.DataFrame,
    path: Path,
    *,
    title: str = "",
) -> None:
    """Catchments by hospital, and road time to the nearest hospital, side by side."""
    ds = matcher.dataset
    dest_of, hospitals, colour = catchments(demand, outcomes)
    names = {f.id: f.name for f in ds.facilities}
    size = 8 + 120 * np.sqrt(by_desa["population"] / max(1, by_desa["population"].max()))
    fig, axes = plt.subplots(1, 2, figsize=(13, 7.5))
    g = ds.roads
    for ax in axes:
        for u, v in zip(g.edge_u.tolist(), g.edge_v.tolist(), strict=True):
            if u < v:
                ax.plot([g.lon[u], g.lon[v]], [g.lat[u], g.lat[v]], color="#c8c8c0", linewidth=0.6, zorder=1)
        ax.set_xlim(by_desa["lon"].min() - 0.05, by_desa["lon"].max() + 0.05)
        ax.set_ylim(by_desa["lat"].min() - 0.05, by_desa["lat"].max() + 0.05)
        ax.set_aspect(1 / math.cos(math.radians(float(by_desa["lat"].mean()))))
        ax.set_xticks([])
        ax.set_yticks([])
        hosp = [f for f in ds.facilities if f.is_hospital]
        ax.scatter([f.location.lon for f in hosp], [f.location.lat for f in hosp], marker="s", s=40,
                   facecolor="white", edgecolor="black", zorder=3)  # fmt: skip
    catch = [
        colour[dest_of[d].most_common(1)[0][0]] if d in dest_of else "#dddddd" for d in by_desa["desa_id"]
    ]
    dots = {"s": size, "edgecolor": "#333", "linewidth": 0.3, "zorder": 2}
    axes[0].scatter(by_desa["lon"], by_desa["lat"], c=catch, **dots)
    axes[0].set_title("Catchments: where each desa's referrals go")
    for h in hospitals[:8]:
        axes[0].scatter([], [], color=colour[h], label=names.get(h, h))
    axes[0].legend(loc="lower right", fontsize=8)
    t = by_desa["any-hospital_min"].fillna(np.inf).to_numpy()
    band = [next(c for limit, c, _ in TIME_BANDS if x <= limit) for x in t]
    axes[1].scatter(by_desa["lon"], by_desa["lat"], c=band, **dots)
    axes[1].set_title("Road time to the nearest hospital")
    for _, c, label in TIME_BANDS:
        axes[1].scatter([], [], color=c, label=label)
    axes[1].legend(loc="lower right", fontsize=8)
    note = (
        "modelled road network: travel times are estimates" if ds.roads.modelled else "imported road network"
    )
    fig.suptitle(f"{title} ({note})" if title else note)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def travel_time_png(runs: Mapping[str, Sequence[Outcome]], path: Path) -> None:
    """The share of referrals reached within t minutes, one curve per run (base, scenario)."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for label, outcomes in runs.items():
        minutes = np.sort([o.travel_time_s / 60 for o in outcomes if o.travel_time_s is not None])
        if len(minutes):
            ax.plot(minutes, np.arange(1, len(minutes) + 1) / len(minutes), label=label)
    for limit in (60, 120):
        ax.axvline(limit, color="#999", linestyle="--", linewidth=0.8)
    ax.set_xlabel("road travel time to the receiving facility (minutes)")
    ax.set_ylabel("share of referrals")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
