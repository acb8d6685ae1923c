"""Routing partitioned by province: a shard holds only what its origin province's patients need.

A shard is named by its origin province; it covers that province and its neighbours
(``geodata.registry.shard_of``): the road graph of those provinces only (``shard_graph`` over
their generated nodes, ``geodata.national_synth``) and facility trees only to their hospitals.
A patient of the origin province gets candidates from the shard's hospitals; a patient of
another province is the business of that province's shard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from geodata.national_synth import place_puskesmas, province_points, shard_graph
from geodata.registry import shard_of
from routing.engine import RoutingEngine

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from geodata.national_synth import ProvincePlan, Puskesmas
    from geodata.registry import RegistryHospital
    from geodata.roadgraph import RoadGraph

#: A hospital lies this close to a generated road node (its urban square): farther is an error
SHARD_MAX_SNAP_M = 2_000.0


@dataclass(frozen=True, slots=True)
class ShardSpec:
    """What a shard covers: its origin province, its provinces (sorted) and their routable hospitals."""

    origin: str
    provinces: tuple[str, ...]
    #: the hospitals of ``provinces`` with a credible point, in the registry's order
    hospitals: tuple[RegistryHospital, ...]
    #: each one's facility id (``hospital_ids``)
    ids: tuple[str, ...]

    @property
    def facilities(self) -> dict[str, tuple[float, float]]:
        """The shard's hospitals as the routing engine takes them: id -> lon/lat."""
        return {i: h.point for i, h in zip(self.ids, self.hospitals, strict=True) if h.point is not None}


def hospital_ids(hospitals: Sequence[RegistryHospital]) -> list[str]:
    """A facility id per hospital: its ``kode_rs``, with ``~2``, ``~3``... on the second and later
    hospitals given the same code (the 2021 registry has a few), in the registry's order."""  # noqa: D205, D209
    seen: dict[str, int] = {}
    out = []
    for h in hospitals:
        seen[h.code] = seen.get(h.code, 0) + 1
        out.append(h.code if seen[h.code] == 1 else f"{h.code}~{seen[h.code]}")
    return out


def shard_spec(
    origin: str, hospitals: Sequence[RegistryHospital], neighbours_of: Mapping[str, frozenset[str]]
) -> ShardSpec:
    """The shard of ``origin``'s patients, from the whole registry's ``hospitals``."""
    provinces = shard_of(origin, neighbours_of)
    chosen = [
        (i, h)
        for i, h in zip(hospital_ids(hospitals), hospitals, strict=True)
        if h.province in provinces and h.point is not None
    ]
    return ShardSpec(
        origin, tuple(sorted(provinces)), tuple(h for _, h in chosen), tuple(i for i, _ in chosen)
    )


def shard_network(
    spec: ShardSpec,
    plans: Mapping[str, ProvincePlan],
    hospitals: Sequence[RegistryHospital],
    *,
    seed: int = 1,
) -> tuple[RoadGraph, list[Puskesmas]]:
    """The shard's road graph (its provinces' generated nodes, linked) and its origin province's Puskesmas."""
    parts = {p: province_points(plans[p], hospitals, seed=seed) for p in spec.provinces}
    graph = shard_graph([parts[p] for p in spec.provinces], seed=seed)
    return graph, place_puskesmas(plans[spec.origin], parts[spec.origin], seed=seed)


def shard_engine(
    spec: ShardSpec,
    graph: RoadGraph,
    *,
    cache_dir: Path | None = None,
    workers: int = 1,
    warm: bool = True,
    max_travel_s: float | None = None,
) -> RoutingEngine:
    """The routing engine of a shard: its graph, trees to its hospitals only (cached on disk when
    asked), each tree bounded by ``max_travel_s`` when given (the longest a referral may travel)."""  # noqa: D205, D209
    return RoutingEngine(
        graph,
        spec.facilities,
        max_snap_m=SHARD_MAX_SNAP_M,
        workers=workers,
        cache_dir=cache_dir,
        warm=warm,
        max_travel_s=max_travel_s,
    )
