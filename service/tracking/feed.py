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

from redis.asyncio.cluster import RedisCluster

if TYPE_CHECKING:
    from service.tracking.redis_client import Client


class Feed:
    """The events of one channel, as dicts; ``subscribe`` again after a connection was lost."""

    def __init__(self, client: Client, channel: str) -> None:
        self.client = client
        self.channel = channel
        self.sharded = isinstance(client, RedisCluster)
        self._pubsub: Any = None

    async def subscribe(self) -> None:
        """(Re)subscribe on a fresh connection."""
        await self.close()
        self._pubsub = self.client.pubsub()
        if self.sharded:
            await self._pubsub.ssubscribe(self.channel)
        else:
            await self._pubsub.subscribe(self.channel)

    async def next(self, timeout_s: float) -> dict[str, Any] | None:
        """The next event within ``timeout_s``, or None."""
        if self.sharded:
            msg = await self._pubsub.get_sharded_message(ignore_subscribe_messages=True, timeout=timeout_s)
        else:
            msg = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout_s)
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
