"""What one running service holds: settings, dataset, matcher, database, clock, short-lived caches.

Nothing here is state that only this process may hold: referrals, statuses, events and the
escalation schedule live in the database, so any number of workers can serve. The caches are
copies of database reads, at most a second or two old, forgotten at once when this worker writes.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from geodata.dataset import Dataset
    from rules.pack import RulePack
    from service.accounts.throttle import Throttle
    from service.auth import Principal
    from service.matcher import Matcher
    from service.notifications.notifier import Notifier
    from service.peers.config import Peers
    from service.referrals.registry import PopulationRegistry
    from service.settings import Settings
    from service.tracking.tracker import Tracker

T = TypeVar("T")


def utc_now() -> dt.datetime:
    """The real clock."""
    return dt.datetime.now(dt.UTC)


class Cached(Generic[T]):
    """A database read kept for ``ttl_s`` seconds (a copy, not the truth).

    Written on another worker, a change is seen within ``ttl_s``; written on this one, at once
    (the writer calls ``forget``).
    """

    def __init__(self, load: Callable[[Session], T], ttl_s: float) -> None:
        self.load = load
        self.ttl_s = ttl_s
        self._value: tuple[float, T] | None = None

    def fresh(self) -> T | None:
        """The value if fresh enough, else None (no I/O: safe on the event loop)."""
        v = self._value
        if v is not None and time.monotonic() - v[0] < self.ttl_s:
            return v[1]
        return None

    def read(self, s: Session) -> T:
        """The value, read with ``s`` when stale (blocking: call from a worker thread)."""
        hit = self.fresh()
        if hit is not None:
            return hit
        value = self.load(s)
        self._value = (time.monotonic(), value)
        return value

    def forget(self) -> None:
        """Drop the copy (after this worker changed what it holds)."""
        self._value = None


@dataclass
class Runtime:
    """The loaded service; tests may swap ``clock``."""

    settings: Settings
    dataset: Dataset
    matcher: Matcher
    engine: Engine
    sessions: sessionmaker[Any]
    secret: str
    #: every facility's live status (``service.facilities.status.engine_statuses``)
    statuses: Cached[Any]
    #: the ambulance registry as the tracking path sees it (``service.tracking.ambulances.snapshot``)
    registry: Cached[Any]
    clock: Callable[[], dt.datetime] = utc_now
    #: verified tokens -> (principal, expiry timestamp): a signature is checked once per token
    token_cache: dict[str, tuple[Principal, float]] = field(default_factory=dict)
    #: the planner's answers by what decides them, oldest first: see ``service.planning.cache``
    plan_cache: dict[str, Any] = field(default_factory=dict)
    #: device tokens -> (ambulance id, monotonic expiry): see ``service.tracking.devices``
    device_cache: dict[str, tuple[str, float]] = field(default_factory=dict)
    #: refused station uses already audited -> when (service clock, seconds): see
    #: ``service.accounts.stations.first_refusal``
    station_refusals: dict[tuple[str, str, str], float] = field(default_factory=dict)
    #: ambulance positions in Redis (None: no Redis configured, positions unavailable)
    tracker: Tracker | None = None
    #: sign-in limits (``service.accounts.throttle``), set when the service starts
    throttle: Throttle | None = None
    #: notices of referral events to push and webhook (``service.notifications``), set when the
    #: service starts
    notifier: Notifier | None = None
    #: the population registry asked of every letter's NIK (None: not configured, structure only)
    population_registry: PopulationRegistry | None = None
    #: the other rujuk deployments (``service.peers.config``; None: no peers file)
    peers: Peers | None = None

    def served_elsewhere(self, facility_id: str) -> bool:
        """Whether another rujuk deployment serves this facility (the peers file's destinations)."""
        return self.peers is not None and facility_id in self.peers.destinations

    def read(self, cache: Cached[T]) -> T:
        """A cached read in a session of its own (blocking: call from a worker thread)."""
        hit = cache.fresh()
        if hit is not None:
            return hit
        with self.sessions() as s:
            return cache.read(s)

    @property
    def answer_within_min(self) -> float:
        """Minutes a receiver has to answer a referral from the dataset's own regency (settings
        override the rule pack): see ``answer_within_min_for`` for any origin."""  # noqa: D205, D209
        return self.answer_within_min_of(self.matcher.pack)

    def answer_within_min_of(self, pack: RulePack) -> float:
        """Minutes a receiver has to answer under this pack (settings override every pack)."""
        if self.settings.answer_within_min is not None:
            return self.settings.answer_within_min
        return float(pack.settings["answer_within_min"])

    def answer_within_min_for(self, origin_id: str) -> float:
        """Minutes a receiver has to answer a referral from this facility: its pack's (the origin's
        regency, else the province's), unless the settings say otherwise."""  # noqa: D205, D209
        return self.answer_within_min_of(self.matcher.pack_for(origin_id))

    @cached_property
    def answer_within_by_origin(self) -> Mapping[str, float] | None:
        """The answer time of every origin facility where the packs differ (None: one for all)."""
        times = {f.id: self.answer_within_min_for(f.id) for f in self.dataset.facilities}
        return times if len(set(times.values())) > 1 else None

    @cached_property
    def receiving_ids(self) -> frozenset[str]:
        """Facilities that receive referrals."""
        return frozenset(f.id for f in self.dataset.facilities if f.receiving)

    @cached_property
    def facility_ids(self) -> frozenset[str]:
        """Every facility id of the dataset."""
        return frozenset(f.id for f in self.dataset.facilities)
