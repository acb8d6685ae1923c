"""The tracking Redis: one server (``redis://``, ``unix://``) or a Redis Cluster.

``RUJUK_REDIS_CLUSTER=1`` makes ``RUJUK_REDIS_URL`` one node of a Cluster (any: redis-py
discovers the others and the slot map, and follows MOVED redirections and failovers). Live
events then travel by sharded pub/sub (``SPUBLISH`` / ``SSUBSCRIBE``): the deployment's channel
hashes to the slot of its keys, so it lives on the same primary and is not broadcast to every
node as a plain ``PUBLISH`` would be.
"""

from __future__ import annotations

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

#: either client: the commands tracking uses exist on both
Client = aioredis.Redis | RedisCluster

#: a cluster command is tried this many more times (slot map refreshed in between) before the
#: request answers 503; the client never gives up on the cluster for good
CLUSTER_RETRIES = 3

#: errors after which a write to a Cluster is tried again on a refreshed slot map: the node died
#: or is no longer the slot's primary (failover), or the cluster is between two states
CLUSTER_RETRY_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.MovedError,
    redis.exceptions.AskError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.SlotNotCoveredError,
    redis.exceptions.ReadOnlyError,
    OSError,
)


def connect(url: str, *, cluster: bool) -> Client:
    """A client of the tracking Redis (no connection is made until the first command)."""
    if not cluster:
        return aioredis.Redis.from_url(
            url, socket_connect_timeout=0.5, socket_timeout=2.0, health_check_interval=30
        )
    return RedisCluster.from_url(
        url,
        socket_connect_timeout=0.5,
        socket_timeout=2.0,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.1), retries=CLUSTER_RETRIES),
    )
