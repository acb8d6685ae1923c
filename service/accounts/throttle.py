"""Sign-in limits: failed attempts per account and per client address, then a temporary lockout.

The counts are moving windows kept by the ``limits`` package in the service's Redis, so every
worker and every host of a deployment shares them (without Redis, in this worker's memory). Only
refused sign-ins count: staff who type their password right are never slowed, however many share
one address. Once a window is full, every attempt on that account or from that address, right
password or not, is answered 429 with ``Retry-After`` until the oldest failure leaves the window.

Each worker remembers the locks it has seen until they end, so a flood of attempts on a locked
account or from a locked address is refused without a Redis round trip (a lock only ends with
time: while it holds, no attempt is counted or forgiven).

If Redis cannot be reached the limits are skipped (and logged): at 2 a.m. a Redis outage must
not lock every nurse out; the argon2 pool still bounds what a flood costs.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from limits import parse
from limits.aio.storage import MemoryStorage, RedisClusterStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio.cluster import RedisCluster

log = logging.getLogger(__name__)


def storage_uri(redis_url: str, *, cluster: bool = False) -> str:
    """The ``limits`` storage URI for the service's Redis URL (memory when there is none)."""
    if not redis_url:
        return "async+memory://"
    if cluster:  # one node of the cluster: limits' redis-py cluster client discovers the rest
        return "async+redis+cluster://" + redis_url.split("://", 1)[1].split("/", 1)[0]
    if redis_url.startswith("unix://"):
        return "async+redis+unix://" + redis_url.removeprefix("unix://")
    return "async+" + redis_url


#: locks a worker remembers at most (a flood from many addresses costs it no more memory than this)
MAX_REMEMBERED = 10_000


@dataclass(frozen=True)
class Refusal:
    """Why an attempt is refused before its password is checked, and for how long."""

    scope: str  # "account" or "address"
    retry_after_s: int


class Throttle:
    """The sign-in limits of one deployment."""

    def __init__(
        self, redis_url: str, *, account: str, address: str, key_prefix: str, cluster: bool = False
    ) -> None:
        uri = storage_uri(redis_url, cluster=cluster)
        self.pool: aioredis.ConnectionPool | None = None
        if uri.startswith("async+memory"):
            self.storage: MemoryStorage | RedisStorage = MemoryStorage()
        elif cluster:
            self.storage = RedisClusterStorage(
                uri, wrap_exceptions=True, implementation="redispy", key_prefix=f"{key_prefix}limits"
            )
        else:
            # our own pool, so that ``aclose`` can close its connections when the service stops
            self.pool = aioredis.ConnectionPool.from_url(
                redis_url, socket_connect_timeout=0.5, socket_timeout=1.0
            )
            self.storage = RedisStorage(
                uri,
                wrap_exceptions=True,
                implementation="redispy",
                key_prefix=f"{key_prefix}limits",
                connection_pool=self.pool,  # type: ignore[arg-type]
            )
        self.limiter = MovingWindowRateLimiter(self.storage)
        #: (scope, key) -> monotonic time its lock ends, as seen by this worker
        self._locked: dict[tuple[str, str], float] = {}
        #: limits notation (``10 per 15 minutes``), checked by the settings
        self.limits = {"account": parse(account), "address": parse(address)}

    @staticmethod
    def _keys(username: str, client: str) -> dict[str, str]:
        # a digest: no username in Redis, and a bounded key however long the form field
        user = hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]
        return {"account": user, "address": client[:64]}

    def _remembered(self, keys: dict[str, str]) -> Refusal | None:
        now = time.monotonic()
        for scope, key in keys.items():
            until = self._locked.get((scope, key))
            if until is not None:
                if until > now:
                    return Refusal(scope, max(1, math.ceil(until - now)))
                del self._locked[(scope, key)]
        return None

    def _remember(self, scope: str, key: str, seconds: float) -> None:
        if len(self._locked) >= MAX_REMEMBERED:
            now = time.monotonic()
            self._locked = {k: t for k, t in self._locked.items() if t > now}
            if len(self._locked) >= MAX_REMEMBERED:
                return
        self._locked[(scope, key)] = time.monotonic() + seconds

    async def refusal(self, username: str, client: str) -> Refusal | None:
        """A refusal if this account or this address used up its failures; else None."""
        keys = self._keys(username, client)
        remembered = self._remembered(keys)
        if remembered is not None:
            return remembered
        try:
            for scope, key in keys.items():
                item = self.limits[scope]
                if not await self.limiter.test(item, "sign-in", scope, key):
                    stats = await self.limiter.get_window_stats(item, "sign-in", scope, key)
                    seconds = stats.reset_time - time.time()
                    self._remember(scope, key, seconds)
                    return Refusal(scope, max(1, math.ceil(seconds)))
        except StorageError as exc:
            log.warning("sign-in limits skipped: %s", type(exc.storage_error).__name__)
        return None

    async def failed(self, username: str, client: str) -> list[str]:
        """Count a refused sign-in; the scopes this failure has just locked (to audit once)."""
        locked = []
        try:
            for scope, key in self._keys(username, client).items():
                item = self.limits[scope]
                counted = await self.limiter.hit(item, "sign-in", scope, key)
                if counted and not await self.limiter.test(item, "sign-in", scope, key):
                    locked.append(scope)
        except StorageError as exc:
            log.warning("sign-in limits skipped: %s", type(exc.storage_error).__name__)
        return locked

    async def aclose(self) -> None:
        """Close the Redis connections (when the service stops)."""
        if self.pool is not None:
            await self.pool.aclose()
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        if isinstance(client, RedisCluster):  # the cluster client limits made
            await client.aclose()
        timer = getattr(self.storage, "timer", None)  # the memory storage's expiry task
        if timer is not None and not timer.done():
            timer.cancel()

    async def succeeded(self, username: str, client: str) -> None:
        """A right password: the account's failures are forgotten (the address's are not)."""
        try:
            key = self._keys(username, client)["account"]
            await self.limiter.clear(self.limits["account"], "sign-in", "account", key)
        except StorageError as exc:
            log.warning("sign-in limits skipped: %s", type(exc.storage_error).__name__)
