"""One subscriber to a deployment's live events, on a single Redis or on a Redis Cluster.

On one Redis the events are plain pub/sub (``PUBLISH`` / ``SUBSCRIBE``). On a Cluster they are
sharded pub/sub (``SPUBLISH`` / ``SSUBSCRIBE``, Redis 7): the channel carries the deployment's
hash tag, so it belongs to the slot of the deployment's keys and the ingestion script may publish
on it; redis-py's cluster pub/sub follows the channel to the new primary after a failover.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any

import redis.exceptions
from redis.asyncio.cluster import RedisCluster

from service.errors import PositionsUnavailableError
from service.tracking.redis_client import CLUSTER_RETRY_ERRORS

if TYPE_CHECKING:
    from service.tracking.redis_client import Client


#: the subscription is gone: Redis unreachable, or the slot between two primaries
_LOST = (*CLUSTER_RETRY_ERRORS, redis.exceptions.RedisClusterException)


class Feed:
    """The events of one channel, as dicts; ``subscribe`` again after a connection was lost."""

    def __init__(self, client: Client, channel: str) -> None:
        self.client = client
        self.channel = channel
        self.sharded = isinstance(client, RedisCluster)
        self._pubsub: Any = None

    async def subscribe(self) -> None:
        """(Re)subscribe on a fresh connection; PositionsUnavailableError when Redis cannot be
        reached or the channel's slot has no primary right now (a failover)."""  # noqa: D205, D209
        await self.close()
        try:
            if isinstance(self.client, RedisCluster):
                await self.client.initialize()  # the slot map, to find the channel's node
                self._pubsub = self.client.pubsub()
                await self._pubsub.ssubscribe(self.channel)
            else:
                self._pubsub = self.client.pubsub()
                await self._pubsub.subscribe(self.channel)
        except _LOST as exc:
            raise PositionsUnavailableError from exc

    async def next(self, timeout_s: float) -> dict[str, Any] | None:
        """The next event within ``timeout_s``, or None; PositionsUnavailableError when the
        connection was lost (``subscribe`` again)."""  # noqa: D205, D209
        if not self.sharded:
            try:
                msg = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout_s)
            except _LOST as exc:
                raise PositionsUnavailableError from exc
        else:
            try:
                msg = await self._pubsub.get_sharded_message(
                    ignore_subscribe_messages=True, timeout=timeout_s
                )
            except (*_LOST, RuntimeError) as exc:
                # redis-py 8.1, after a failover moved the channel: the new node's subscriber may
                # have no connection yet ("pubsub connection not set"): lost all the same
                raise PositionsUnavailableError from exc
        if msg is None or msg.get("type") not in ("message", "smessage"):
            return None
        data = msg["data"]
        event: dict[str, Any] = json.loads(data.decode() if isinstance(data, bytes) else data)
        return event

    async def close(self) -> None:
        """Drop the subscription and its connection (never raises)."""
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = None
