"""What one running service holds: settings, dataset, matcher, database, clock; and request deps.

Nothing here is state that only this process may hold: referrals, statuses, events and the
escalation schedule live in the database, so any number of workers can serve.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import jwt
from fastapi import Depends, HTTPException, Request

from service import store
from service.ambulances import snapshot as ambulance_snapshot
from service.auth import Principal, Role, read_token

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from geodata.dataset import Dataset
    from rules.model import FacilityStatus
    from service.ambulances import AmbulanceInfo
    from service.matching import Matcher
    from service.settings import Settings
    from service.tracking import Tracker


def utc_now() -> dt.datetime:
    """The real clock."""
    return dt.datetime.now(dt.UTC)


@dataclass
class Runtime:
    """The loaded service; tests may swap ``clock``."""

    settings: Settings
    dataset: Dataset
    matcher: Matcher
    engine: Engine
    sessions: sessionmaker[Any]
    secret: str
    clock: Callable[[], dt.datetime] = utc_now
    #: verified tokens -> (principal, expiry timestamp): a signature is checked once per token
    token_cache: dict[str, tuple[Principal, float]] = field(default_factory=dict)
    #: live statuses read from the database, reused for ``status_ttl_s`` (a cache, not the truth:
    #: a status written on another worker is seen within that time; this worker's writes at once)
    status_cache: tuple[float, dict[str, FacilityStatus]] | None = None
    status_ttl_s: float = 1.0
    #: device tokens -> (ambulance id, monotonic expiry): see ``service.api_ambulances``
    device_cache: dict[str, tuple[str, float]] = field(default_factory=dict)
    #: ambulance positions in Redis (None: no Redis configured, positions unavailable)
    tracker: Tracker | None = None
    #: the ambulance registry as the tracking path sees it, at most ``ambulance_ttl_s`` old
    ambulance_cache: tuple[float, dict[str, AmbulanceInfo]] | None = None
    ambulance_ttl_s: float = 2.0
    _available: tuple[dict[str, AmbulanceInfo], dict[str | None, frozenset[str]]] | None = None

    def ambulances(self) -> dict[str, AmbulanceInfo]:
        """The registry snapshot (blocking when stale: call from a worker thread)."""
        cached = self.ambulance_cache
        if cached is not None and time.monotonic() - cached[0] < self.ambulance_ttl_s:
            return cached[1]
        with self.sessions() as s:
            fresh = ambulance_snapshot(s)
        self.ambulance_cache = (time.monotonic(), fresh)
        return fresh

    def cached_ambulances(self) -> dict[str, AmbulanceInfo] | None:
        """The snapshot if fresh enough (no I/O)."""
        cached = self.ambulance_cache
        if cached is not None and time.monotonic() - cached[0] < self.ambulance_ttl_s:
            return cached[1]
        return None

    def available_ambulances(self, snapshot: dict[str, AmbulanceInfo], kind: str | None) -> frozenset[str]:
        """Ids of the available ambulances (of a kind) in a snapshot, worked out once per snapshot."""
        memo = self._available
        if memo is None or memo[0] is not snapshot:
            by_kind: dict[str | None, set[str]] = {None: set()}
            for a in snapshot.values():
                if a.status == "available":
                    by_kind[None].add(a.id)
                    by_kind.setdefault(a.kind, set()).add(a.id)
            memo = self._available = (snapshot, {k: frozenset(v) for k, v in by_kind.items()})
        return memo[1].get(kind, frozenset())

    def ambulances_changed(self) -> None:
        """Forget the snapshot (after this worker changed an ambulance or a dispatch)."""
        self.ambulance_cache = None

    def statuses(self, s: Session) -> dict[str, FacilityStatus]:
        """Every facility's live status, at most ``status_ttl_s`` old (reads with ``s`` when stale)."""
        cached = self.cached_statuses()
        if cached is not None:
            return cached
        fresh = store.engine_statuses(s)
        self.status_cache = (time.monotonic(), fresh)
        return fresh

    def cached_statuses(self) -> dict[str, FacilityStatus] | None:
        """The cached statuses if fresh enough, else None (no I/O: safe on the event loop)."""
        cached = self.status_cache
        if cached is not None and time.monotonic() - cached[0] < self.status_ttl_s:
            return cached[1]
        return None

    def load_statuses(self) -> dict[str, FacilityStatus]:
        """Read the statuses from the database (blocking: call from a worker thread)."""
        with self.sessions() as s:
            return self.statuses(s)

    def statuses_changed(self) -> None:
        """Forget the cached statuses (after this worker wrote one)."""
        self.status_cache = None

    @property
    def answer_within_min(self) -> float:
        """Minutes a receiver has to answer (settings override the rule pack)."""
        if self.settings.answer_within_min is not None:
            return self.settings.answer_within_min
        return float(self.matcher.pack.settings["answer_within_min"])

    @property
    def receiving_ids(self) -> set[str]:
        """Facilities that receive referrals."""
        return {f.id for f in self.dataset.facilities if f.receiving}

    @property
    def facility_ids(self) -> set[str]:
        """Every facility id of the dataset."""
        return {f.id for f in self.dataset.facilities}


async def runtime(request: Request) -> Runtime:
    """The runtime of the app serving this request."""
    rt: Runtime = request.app.state.runtime
    return rt


async def session(rt: Annotated[Runtime, Depends(runtime)]) -> AsyncIterator[Session]:
    """One session per request; rolled back if the request fails before committing.

    An async dependency on purpose: making a Session does no I/O (it connects lazily, inside the
    endpoint's worker thread), and a sync generator dependency would cost two thread hops.
    """
    s = rt.sessions()
    try:
        yield s
    finally:
        s.close()


#: The OAuth2 password-flow scheme named in the OpenAPI document (``service.app`` marks the
#: operations that need it). Requests are authenticated by one plain dependency, ``principal``
#: or ``require`` below, not by FastAPI's security classes: each dependency costs about ten
#: microseconds, and every authenticated request would pay for four.
SECURITY_SCHEME = "OAuth2PasswordBearer"


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        401, {"type": "unauthorized", "detail": detail}, headers={"WWW-Authenticate": "Bearer"}
    )


def authenticate(rt: Runtime, authorization: str | None) -> Principal:
    """The user of an ``Authorization: Bearer`` header (401 without a valid, unexpired token).

    A signature is checked once per token; the verified principal is cached until it expires.
    """
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("sign in first (Bearer token)")
    now = rt.clock()
    hit = rt.token_cache.get(token)
    if hit is not None and hit[1] > now.timestamp():
        return hit[0]
    try:
        p = read_token(token, key=rt.secret, now=now)
    except jwt.InvalidTokenError as exc:
        raise _unauthorized(f"invalid token: {exc}") from None
    if len(rt.token_cache) > 10_000:
        rt.token_cache.clear()
    rt.token_cache[token] = (p, float(jwt.decode(token, options={"verify_signature": False})["exp"]))
    return p


async def principal(request: Request) -> Principal:
    """The signed-in user (async: a cached token check takes microseconds, a thread hop more)."""
    return authenticate(request.app.state.runtime, request.headers.get("authorization"))


principal.needs_sign_in = True  # type: ignore[attr-defined]


def require(*roles: Role) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency admitting users with any of ``roles`` (admins always)."""
    need = " or ".join(r.value for r in roles)

    async def dep(request: Request) -> Principal:
        p = authenticate(request.app.state.runtime, request.headers.get("authorization"))
        if not (p.is_admin or p.has(*roles)):
            raise HTTPException(403, {"type": "forbidden", "detail": f"needs the role {need}"})
        return p

    dep.needs_sign_in = True  # type: ignore[attr-defined]  # read by service.app's OpenAPI
    return dep


def own_facility(p: Principal, facility_id: str) -> None:
    """403 unless the user is staff of this facility (or an admin)."""
    if not p.is_admin and p.facility_id != facility_id:
        raise HTTPException(
            403, {"type": "forbidden", "detail": "only this facility's own staff may do this"}
        )
