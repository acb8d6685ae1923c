"""Ambulance positions in Redis: the latest in a GEO set and a hash, the history in a stream.

Per ambulance: ``amb:last:<id>`` (hash: the newest fix, its ETA when transporting),
``amb:track:<id>`` (stream: every fix in arrival order, bounded to one fix a second over the
retention window) and ``amb:seen:<id>`` (sorted set of fix times: a fix sent twice is stored
once). All ambulances: ``amb:geo`` (GEO set of newest positions). One Lua script stores a batch
of fixes of one ambulance atomically: duplicates are skipped, every new fix goes to the history,
and the latest position moves only to a fix newer than the one it holds, so late, out-of-order
fixes never replace a newer one. Every key carries the deployment's prefix, whose hash tag
keeps them in one Redis Cluster slot.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import redis.exceptions

from service.errors import PositionsUnavailableError
from service.tracking.positions import Position

if TYPE_CHECKING:
    from collections.abc import Sequence

    from redis.asyncio import Redis

#: Redis errors that mean "positions are unavailable right now" (HTTP 503).
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)

_INGEST = """
local geo, last, track, seen, pos = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local member, maxlen, min_ts, recv, channel = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local cur = tonumber(redis.call('HGET', last, 'ts') or '-1')
local stored, newest = 0, nil
for i = 6, #ARGV, 6 do
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
  redis.call('PUBLISH', channel, cjson.encode({type = 'position', ambulance_id = member,
    ts = tonumber(ARGV[newest]), lat = tonumber(ARGV[newest + 1]), lon = tonumber(ARGV[newest + 2]),
    speed = tonumber(ARGV[newest + 3]), heading = tonumber(ARGV[newest + 4])}))
end
return {stored, newest and 1 or 0}
"""


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

    def __init__(self, client: Redis, *, prefix: str, retention_s: float) -> None:
        self.client = client
        self.prefix = prefix
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
        args += [str(now_ms), self.channel]
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
        ]

    async def ingest(self, ambulance_id: str, positions: Sequence[Position], *, now_ms: int) -> Stored:
        """Store a batch of fixes of one ambulance (one atomic script call)."""
        try:
            stored, moved = await self._ingest(
                keys=self._keys(ambulance_id), args=self._args(ambulance_id, positions, now_ms)
            )
        except REDIS_DOWN as exc:
            raise PositionsUnavailableError from exc
        newest = max(positions, key=lambda p: p.ts_ms) if moved else None
        return Stored(int(stored), len(positions) - int(stored), newest)

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
                pipe.publish(
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
            await self.client.publish(self.channel, json.dumps(event))
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
