"""Ambulance positions in Redis: the latest in a GEO set and a hash, the history in a stream.

Per ambulance: ``amb:last:<id>`` (hash: the newest fix, its ETA when transporting),
``amb:track:<id>`` (stream: every fix in arrival order, bounded to one fix a second over the
retention window) and ``amb:seen:<id>`` (sorted set of fix times: a fix sent twice is stored
once). All ambulances: ``amb:geo`` (GEO set of newest positions). One Lua script stores a batch
of fixes of one ambulance atomically: duplicates are skipped, every new fix goes to the history,
and the latest position moves only to a fix newer than the one it holds, so late, out-of-order
fixes never replace a newer one. Every key carries the deployment's prefix, whose hash tag
keeps them in one Redis Cluster slot (the events channel too: sharded pub/sub on a Cluster).

With ``wait_replicas`` (1 on a Cluster by default) a batch is acknowledged only once that many
replicas confirmed it (``WAIT`` on the connection that ran the script, right after it); fewer in
time is a 503 and the device sends again, which is safe: a fix is stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import redis.exceptions
from redis.asyncio.cluster import RedisCluster

from service.errors import PositionsNotReplicatedError, PositionsUnavailableError
from service.tracking.positions import Position
from service.tracking.redis_client import CLUSTER_RETRY_ERRORS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from service.tracking.redis_client import Client

#: Redis errors that mean "positions are unavailable right now" (HTTP 503): on a Cluster also a
#: slot without a primary for the moment (a failover under way)
REDIS_DOWN = CLUSTER_RETRY_ERRORS

_INGEST = """
local geo, last, track, seen, pos, sync = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local member, maxlen, min_ts, recv, channel = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local publish, confirm = ARGV[6], ARGV[7]
local cur = tonumber(redis.call('HGET', last, 'ts') or '-1')
local stored, newest = 0, nil
for i = 8, #ARGV, 6 do
  local ts = ARGV[i]
  if redis.call('ZADD', seen, 'NX', ts, ts) == 1 then
    stored = stored + 1
    redis.call('XADD', track, 'MAXLEN', '~', maxlen, '*', 'ts', ts, 'lat', ARGV[i + 1],
      'lon', ARGV[i + 2], 'speed', ARGV[i + 3], 'heading', ARGV[i + 4], 'acc', ARGV[i + 5])
    if tonumber(ts) > cur then
      cur = tonumber(ts)
      newest = i
    end
  end
end
redis.call('ZREMRANGEBYSCORE', seen, '-inf', '(' .. min_ts)
if newest then
  redis.call('HSET', last, 'ts', ARGV[newest], 'lat', ARGV[newest + 1], 'lon', ARGV[newest + 2],
    'speed', ARGV[newest + 3], 'heading', ARGV[newest + 4], 'acc', ARGV[newest + 5], 'recv', recv)
  redis.call('GEOADD', geo, ARGV[newest + 2], ARGV[newest + 1], member)
  redis.call('SET', pos, table.concat({ARGV[newest], ARGV[newest + 1], ARGV[newest + 2], ARGV[newest + 3],
    ARGV[newest + 4], ARGV[newest + 5], recv}, ','))
  redis.call(publish, channel, cjson.encode({type = 'position', ambulance_id = member,
    ts = tonumber(ARGV[newest]), lat = tonumber(ARGV[newest + 1]), lon = tonumber(ARGV[newest + 2]),
    speed = tonumber(ARGV[newest + 3]), heading = tonumber(ARGV[newest + 4])}))
end
if confirm == '1' then
  -- always a write, so that the WAIT after the script covers this call even when every fix was
  -- a duplicate (a batch sent again after a 503): the replica then has the first copy too
  redis.call('SET', sync, recv)
end
return {stored, newest and 1 or 0}
"""


#: a confirmed ingestion is tried this many times in all (2.5 s of back-off: a Cluster
#: failover with a short node timeout is over by then; a longer one answers 503, send again)
CONFIRM_ATTEMPTS = 6
CONFIRM_BACKOFF_S = 0.1
CONFIRM_BACKOFF_MAX_S = 1.0


_DWELL = """
local key, target, inside, ts = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])
if inside == '0' then
  redis.call('DEL', key)
  return -1
end
local cur = redis.call('HMGET', key, 'target', 'since')
if cur[1] ~= target or tonumber(cur[2]) > ts then
  redis.call('HSET', key, 'target', target, 'since', ARGV[3])
  redis.call('PEXPIRE', key, 86400000)
  return 0
end
return ts - tonumber(cur[2])
"""


@dataclass(frozen=True, slots=True)
class Latest:
    """An ambulance's newest fix as stored, with its ETA when it is transporting."""

    ambulance_id: str
    position: Position
    received_ms: int
    eta_s: float | None = None
    eta_at_ms: int | None = None
    destination_id: str | None = None


@dataclass(frozen=True, slots=True)
class Stored:
    """What one ingestion did: fixes stored, duplicates skipped, the newest if it moved."""

    stored: int
    duplicates: int
    newest: Position | None


def _f(x: float | None) -> str:
    return "" if x is None else repr(float(x))


def _text(raw: Any) -> str:  # noqa: ANN401  a Redis reply
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _opt(raw: Any) -> float | None:  # noqa: ANN401  a Redis reply
    if raw is None or raw in ("", b""):
        return None
    return float(raw)


class Tracker:
    """Positions of one deployment in one Redis (or one Cluster slot)."""

    def __init__(
        self,
        client: Client,
        *,
        prefix: str,
        retention_s: float,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 1000,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.cluster = isinstance(client, RedisCluster)
        #: replicas that must confirm a batch before it is acknowledged (0: no WAIT)
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        #: on a Cluster, events go to the channel's shard (the slot of the keys), not everywhere
        self.publish_command = "SPUBLISH" if self.cluster else "PUBLISH"
        #: written by every confirmed ingestion (see the script)
        self.sync_key = f"{prefix}amb:sync"
        self.retention_ms = round(retention_s * 1000)
        #: history kept per ambulance: one fix a second over the retention window (fixes older
        #: than the window are refused when they arrive)
        self.max_fixes = max(100, round(retention_s))
        self.geo = f"{prefix}amb:geo"
        self.channel = f"{prefix}events"
        self._ingest = client.register_script(_INGEST)
        self._dwell = client.register_script(_DWELL)

    def last_key(self, ambulance_id: str) -> str:
        """The hash of the newest fix."""
        return f"{self.prefix}amb:last:{ambulance_id}"

    def track_key(self, ambulance_id: str) -> str:
        """The history stream."""
        return f"{self.prefix}amb:track:{ambulance_id}"

    def pos_key(self, ambulance_id: str) -> str:
        """The newest fix as one compact string (many read with one MGET)."""
        return f"{self.prefix}amb:pos:{ambulance_id}"

    def fence_key(self, ambulance_id: str) -> str:
        """Since when the ambulance has been inside the geofence it is heading for."""
        return f"{self.prefix}amb:fence:{ambulance_id}"

    async def dwell(self, ambulance_id: str, target: str, *, inside: bool, ts_ms: int) -> float | None:
        """Seconds the ambulance has been inside ``target``'s geofence, by its fixes' times (0 on
        the first fix inside); None when outside (the count starts again next time)."""  # noqa: D205, D209
        try:
            ms = await self._dwell(
                keys=[self.fence_key(ambulance_id)], args=[target, "1" if inside else "0", str(ts_ms)]
            )
        except REDIS_DOWN as exc:
            raise PositionsUnavailableError from exc
        return None if int(ms) < 0 else int(ms) / 1000

    def seen_key(self, ambulance_id: str) -> str:
        """Fix times already stored."""
        return f"{self.prefix}amb:seen:{ambulance_id}"

    def _args(self, ambulance_id: str, positions: Sequence[Position], now_ms: int) -> list[str]:
        args = [ambulance_id, str(self.max_fixes), str(now_ms - self.retention_ms)]
        args += [str(now_ms), self.channel, self.publish_command, "1" if self.wait_replicas else "0"]
        for p in sorted(positions, key=lambda p: p.ts_ms):  # history in fix order within a batch
            args += [str(p.ts_ms), repr(p.lat), repr(p.lon), _f(p.speed_ms), _f(p.heading), _f(p.accuracy_m)]
        return args

    def _keys(self, ambulance_id: str) -> list[str]:
        return [
            self.geo,
            self.last_key(ambulance_id),
            self.track_key(ambulance_id),
            self.seen_key(ambulance_id),
            self.pos_key(ambulance_id),
            self.sync_key,
        ]

    async def ingest(self, ambulance_id: str, positions: Sequence[Position], *, now_ms: int) -> Stored:
        """Store a batch of fixes of one ambulance (one atomic script call), confirmed by
        ``wait_replicas`` replicas when set."""  # noqa: D205, D209
        keys, args = self._keys(ambulance_id), self._args(ambulance_id, positions, now_ms)
        if self.wait_replicas:
            stored, moved = await self._ingest_confirmed(keys, args)
        else:
            try:
                stored, moved = await self._ingest(keys=keys, args=args)
            except REDIS_DOWN as exc:
                raise PositionsUnavailableError from exc
        newest = max(positions, key=lambda p: p.ts_ms) if moved else None
        return Stored(int(stored), len(positions) - int(stored), newest)

    async def _script_then_wait(self, keys: list[str], args: list[str]) -> tuple[Any, Any]:
        """The script and ``WAIT`` pipelined on one connection (WAIT counts the replicas that have
        this connection's writes); on a Cluster both sent to the slot's primary as the client
        knows it (a MOVED answer means it knew wrong: no redirection, the caller tries again)."""  # noqa: D205, D209
        wait: tuple[str | int, ...] = ("WAIT", self.wait_replicas, self.wait_timeout_ms)
        script: tuple[str | int, ...] = ("EVALSHA", self._ingest.sha, len(keys), *keys, *args)
        if isinstance(self.client, RedisCluster):
            await self.client.initialize()  # no-op once the slot map is known
            node = self.client.get_node_from_key(keys[0])
            cpipe = self.client.pipeline()
            cpipe.execute_command(*script, target_nodes=node)
            cpipe.execute_command(*wait, target_nodes=node)
            # no error raised inside: the pipeline's own retry would resend WAIT alone, elsewhere
            replies = await cpipe.execute(raise_on_error=False, allow_redirections=False)
        else:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.execute_command(*script)
                pipe.execute_command(*wait)
                replies = await pipe.execute(raise_on_error=False)
        for r in replies:
            if isinstance(r, Exception):
                raise r
        return replies[0], replies[1]

    async def _load_script(self, key: str) -> None:
        if isinstance(self.client, RedisCluster):  # a promoted replica has no script cache
            node = self.client.get_node_from_key(key)
            await self.client.execute_command("SCRIPT LOAD", _INGEST, target_nodes=node)
        else:
            await self.client.script_load(_INGEST)

    async def _ingest_confirmed(self, keys: list[str], args: list[str]) -> tuple[int, int]:
        """The ingestion script, acknowledged once ``wait_replicas`` replicas have it.

        A failed attempt (the primary died, a failover moved the slot) is tried again on a
        refreshed slot map after a short back-off, ``CONFIRM_ATTEMPTS`` times in all; then 503.
        Trying again is safe: fixes already stored are duplicates, and the script's write makes
        the next ``WAIT`` cover them.
        """
        delay = CONFIRM_BACKOFF_S
        for attempt in range(CONFIRM_ATTEMPTS):
            try:
                try:
                    (stored, moved), acked = await self._script_then_wait(keys, args)
                except redis.exceptions.NoScriptError:
                    await self._load_script(keys[0])
                    (stored, moved), acked = await self._script_then_wait(keys, args)
            except CLUSTER_RETRY_ERRORS as exc:
                if attempt == CONFIRM_ATTEMPTS - 1:
                    raise PositionsUnavailableError from exc
                await asyncio.sleep(delay)
                delay = min(2 * delay, CONFIRM_BACKOFF_MAX_S)
                if isinstance(self.client, RedisCluster):
                    # the slot map as the nodes see it now (the next attempt fails fast if unsettled)
                    with contextlib.suppress(redis.exceptions.RedisError, OSError):
                        await self.client.nodes_manager.initialize()
                continue
            if int(acked) < self.wait_replicas:
                msg = (
                    f"positions stored but confirmed by {int(acked)} of {self.wait_replicas} Redis "
                    f"replicas within {self.wait_timeout_ms} ms: not acknowledged, send them again"
                )
                raise PositionsNotReplicatedError(msg)
            return int(stored), int(moved)
        raise PositionsUnavailableError

    async def positions(self, ambulance_ids: Sequence[str]) -> dict[str, Latest]:
        """The newest fix of each ambulance that has one (one MGET; no ETA)."""
        if not ambulance_ids:
            return {}
        try:
            raw = await self.client.mget([self.pos_key(a) for a in ambulance_ids])
        except REDIS_DOWN as exc:
            raise PositionsUnavailableError from exc
        out = {}
        for a, v in zip(ambulance_ids, raw, strict=True):
            if v is None:
                continue
            ts, lat, lon, speed, heading, acc, recv = _text(v).split(",")
            out[a] = Latest(
                ambulance_id=a,
                position=Position(
                    lat=float(lat),
                    lon=float(lon),
                    ts_ms=int(ts),
                    speed_ms=_opt(speed),
                    heading=_opt(heading),
                    accuracy_m=_opt(acc),
                ),
                received_ms=int(recv),
            )
        return out

    async def latest(self, ambulance_ids: Sequence[str]) -> dict[str, Latest]:
        """The newest fix of each ambulance that has one, with its ETA when transporting."""
        pos = await self.positions(ambulance_ids)
        ids = list(pos)
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for a in ids:
                    pipe.hmget(self.last_key(a), ["eta_s", "eta_at", "dest"])
                replies = await pipe.execute() if ids else []
        except REDIS_DOWN as exc:
            raise PositionsUnavailableError from exc
        for a, (eta_s, eta_at, dest) in zip(ids, replies, strict=True):
            if eta_s not in (None, b"", ""):
                pos[a] = replace(
                    pos[a],
                    eta_s=_opt(eta_s),
                    eta_at_ms=int(float(eta_at)) if eta_at not in (None, b"", "") else None,
                    destination_id=_text(dest) or None if dest is not None else None,
                )
        return pos

    async def near(
        self, lon: float, lat: float, *, radius_m: float, count: int | None = None
    ) -> list[tuple[str, float]]:
        """Ambulances within ``radius_m`` by straight-line distance: ``(id, metres)``, nearest first
        (the nearest ``count`` only, when given)."""  # noqa: D205, D209
        try:
            rows: list[Any] = await self.client.geosearch(
                self.geo,
                longitude=lon,
                latitude=lat,
                radius=radius_m,
                unit="m",
                sort="ASC",
                count=count,
                withdist=True,
            )
        except REDIS_DOWN as exc:
            raise PositionsUnavailableError from exc
        return [(_text(row[0]), float(row[1])) for row in rows]

    async def set_eta(
        self, ambulance_id: str, *, eta_s: float | None, eta_at_ms: int | None, destination_id: str | None
    ) -> None:
        """Record (or clear, with None) the ETA of a transporting ambulance and announce it."""
        key = self.last_key(ambulance_id)
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.hset(
                    key,
                    mapping={
                        "eta_s": _f(eta_s),
                        "eta_at": "" if eta_at_ms is None else str(eta_at_ms),
                        "dest": destination_id or "",
                    },
                )
                pipe.execute_command(
                    self.publish_command,
                    self.channel,
                    json.dumps(
                        {
                            "type": "eta",
                            "ambulance_id": ambulance_id,
                            "destination_id": destination_id,
                            "eta_s": eta_s,
                            "eta_at_ms": eta_at_ms,
                        }
                    ),
                )
                await pipe.execute()
        except REDIS_DOWN as exc:
            raise PositionsUnavailableError from exc

    async def publish(self, event: dict[str, Any]) -> None:
        """Announce a change (status, dispatch, arrival) to every live feed; best effort."""
        try:
            await self.client.execute_command(self.publish_command, self.channel, json.dumps(event))
        except REDIS_DOWN:
            return

    async def track(self, ambulance_id: str, *, since_ms: int, until_ms: int) -> list[Position]:
        """The fixes taken in ``[since, until]``, in fix-time order (late arrivals included)."""
        try:
            # arrival order is not fix order (buffered uploads): read the bounded history whole
            rows = await self.client.xrange(self.track_key(ambulance_id), min="-", max="+")
        except REDIS_DOWN as exc:
            raise PositionsUnavailableError from exc
        out = []
        for _, fields in rows or ():
            if not fields:
                continue
            d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in fields.items()}
            ts = int(d["ts"])
            if since_ms <= ts <= until_ms:
                out.append(
                    Position(
                        lat=float(d["lat"]),
                        lon=float(d["lon"]),
                        ts_ms=ts,
                        speed_ms=_opt(d.get("speed")),
                        heading=_opt(d.get("heading")),
                        accuracy_m=_opt(d.get("acc")),
                    )
                )
        out.sort(key=lambda p: p.ts_ms)
        return out

    async def ping(self) -> bool:
        """True if Redis answers."""
        try:
            return bool(await self.client.ping())
        except REDIS_DOWN:
            return False
