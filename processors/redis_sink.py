"""Predictions into Redis (one server, or a Redis Cluster): one round trip per batch and server, a TTL on every key,
retried until it succeeds, and optionally held until replicas have it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry  # the asyncio client's own (redis-py 8.2 warns on the synchronous one)
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException, RedisError, SlotNotCoveredError

from driftline.messages import prediction_key
from driftline.redis_clients import connection_options
from driftline.settings import RedisSettings

logger = logging.getLogger(__name__)

T = TypeVar("T")


RedisClient = aioredis.Redis | RedisCluster


class ReplicasBehind(RedisError):
    """Fewer replicas than ``redis.replica_acks`` acknowledged a batch in time: it is written again."""


def redis_client(settings: RedisSettings) -> RedisClient:
    """The workers' asyncio client: user, password and TLS from ``connection_options``, as every client's."""
    options = {**connection_options(settings), "socket_timeout": 5, "socket_connect_timeout": 5}
    if settings.cluster:
        # No retries inside redis-py: they would resend a failed node's commands without the WAIT meant for them.
        # until_redis_answers retries instead, after forget_topology.
        return RedisCluster.from_url(settings.url, retry=Retry(NoBackoff(), 0), **options)
    return aioredis.Redis.from_url(settings.url, **options)


async def forget_topology(client: RedisClient) -> None:
    """After a failed command a cluster client asks the cluster again which primary owns which slots (a failover
    moves them); a client of one server needs nothing."""
    if isinstance(client, RedisCluster):
        await client.aclose()


# A cluster primary's share of a lookup in one command (as _SET_PAIRS: the keys span many slots of this node).
_GET_ALL = """#!lua flags=allow-cross-slot-keys,no-writes
local values = {}
for i = 1, #ARGV do
  values[i] = redis.call('GET', ARGV[i])
end
return values
"""


async def get_many(client: RedisClient, keys: Sequence[bytes]) -> list[bytes | None]:
    """The values of ``keys`` (None where absent): one MGET, or in a cluster one script per primary over the keys
    of the slots it owns, all primaries in one pipelined round trip."""
    if not isinstance(client, RedisCluster):
        return list(await client.mget(keys))  # type: ignore[arg-type]  # bytes: the client does not decode
    await client.initialize()
    by_node: dict[str, tuple[ClusterNode, list[int]]] = {}
    for i, key in enumerate(keys):
        node = _primary_of(client, key)
        by_node.setdefault(node.name, (node, []))[1].append(i)
    pipe = client.pipeline()
    for node, indexes in by_node.values():
        pipe.execute_command("EVAL", _GET_ALL, 0, *[keys[i] for i in indexes], target_nodes=node)
    out: list[bytes | None] = [None] * len(keys)
    for (_, indexes), values in zip(by_node.values(), await pipe.execute(allow_redirections=False), strict=True):
        for i, value in zip(indexes, values, strict=True):
            out[i] = value
    return out


def _primary_of(client: RedisCluster, key: bytes) -> ClusterNode:
    node = client.get_node_from_key(key)
    if node is None:  # mid-failover: tried again once a primary serves the slot
        raise SlotNotCoveredError(f"no primary serves the slot of {key!r}")
    return node


async def until_redis_answers(
    operation: Callable[[], Awaitable[T]],
    *,
    what: str,
    stopping: Callable[[], bool],
    on_retry: Callable[[Exception], None],
    client: RedisClient | None = None,
    max_backoff: float = 5.0,
) -> T | None:
    """Run ``operation`` until Redis answers, backing off exponentially; None only if asked to stop first.

    ``operation`` must not itself return None. Nothing is dropped: the caller does not acknowledge its batch. A
    cluster ``client`` relearns the slots' owners after each failure.
    """
    backoff = 0.05
    while True:
        try:
            return await operation()
        except (RedisError, RedisClusterException, OSError) as exc:  # a cluster's own errors are not RedisErrors
            on_retry(exc)
            if client is not None:
                with contextlib.suppress(RedisError, RedisClusterException, OSError):
                    await forget_topology(client)
            if stopping():
                return None
            logger.warning("redis %s failed (%s); retrying in %.2fs", what, exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff)


# One command per batch: SET every key with the same TTL. Packing one command of 2n+1 arguments costs a fraction
# of packing n pipelined SETs in redis-py, and Redis answers once instead of n times.
_SET_ALL = """
local ttl = ARGV[#ARGV]
for i, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[i], 'EX', ttl)
end
return #KEYS
"""


# A cluster primary's share of a batch in one command: its keys span many slots, so they travel as arguments (a
# script's declared keys must share one slot). Redis still refuses any key this node does not own, a slot being
# migrated away included, so a stale slot map fails the batch instead of misplacing a key.
_SET_PAIRS = """#!lua flags=allow-cross-slot-keys
local ttl = ARGV[#ARGV]
for i = 1, #ARGV - 1, 2 do
  redis.call('SET', ARGV[i], ARGV[i + 1], 'EX', ttl)
end
return (#ARGV - 1) / 2
"""


class RedisSink:
    """Writes a batch of predictions in one command per server: to one server a script over every key; to a cluster
    one script per primary over the keys of the slots it owns, all primaries in one pipelined round trip. With
    ``replica_acks`` each server's script is followed by a WAIT on the same connection, and the batch counts only once
    every primary's replicas have it. Never drops: on failure it backs off and tries again."""

    def __init__(
        self,
        client: RedisClient,
        settings: RedisSettings,
        *,
        on_retry: Callable[[Exception], None] = lambda exc: None,
        max_backoff: float = 5.0,
        key: Callable[[str, str], str] = prediction_key,
    ) -> None:
        """``key(key_prefix, record_id)``: where a prediction goes (``shadow_key`` for the staging version's)."""
        self.client = client
        self._key = key
        self.settings = settings
        self._on_retry = on_retry
        self._max_backoff = max_backoff
        self._set_all = None if isinstance(client, RedisCluster) else client.register_script(_SET_ALL)

    async def write(self, ids: Sequence[str], documents: Sequence[bytes], *, stopping: Callable[[], bool]) -> bool:
        """True once written; False only if asked to stop before Redis came back (the batch is then not acked)."""
        if not ids:
            return True
        # bytes: redis-py packs a str argument through its encoder, which costs more than the whole rest of the
        # command's packing (docs/performance.md)
        keys = [self._key(self.settings.key_prefix, record_id).encode() for record_id in ids]
        written = await until_redis_answers(
            lambda: self._write(keys, documents),
            what=f"write of {len(ids)} predictions",
            stopping=stopping,
            on_retry=self._on_retry,
            client=self.client,
            max_backoff=self._max_backoff,
        )
        return written is not None

    async def _write(self, keys: list[bytes], documents: Sequence[bytes]) -> int:
        if isinstance(self.client, RedisCluster):
            return await self._write_cluster(self.client, keys, documents)
        return await self._write_server(self.client, keys, documents)

    async def _write_server(self, client: aioredis.Redis, keys: list[bytes], documents: Sequence[bytes]) -> int:
        assert self._set_all is not None
        acks = self.settings.replica_acks
        args: list[bytes | int] = [*documents, self.settings.prediction_ttl_seconds]
        if not acks:
            return int(await self._set_all(keys=keys, args=args))
        async with client.pipeline(transaction=False) as single:  # one connection: WAIT follows the script
            await self._set_all(keys=keys, args=args, client=single)
            single.execute_command("WAIT", acks, self.settings.replica_ack_timeout_ms)
            written, replicas = await single.execute()
        self._check_acks([self.settings.url], [replicas])
        return int(written)

    async def _write_cluster(self, client: RedisCluster, keys: list[bytes], documents: Sequence[bytes]) -> int:
        await client.initialize()  # the slots' owners known before the first batch (a no-op after)
        acks, ttl = self.settings.replica_acks, self.settings.prediction_ttl_seconds
        by_node: dict[str, tuple[ClusterNode, list[bytes]]] = {}
        for key, document in zip(keys, documents, strict=True):
            node = _primary_of(client, key)
            by_node.setdefault(node.name, (node, []))[1].extend((key, document))
        pipe = client.pipeline()
        for node, pairs in by_node.values():
            pipe.execute_command("EVAL", _SET_PAIRS, 0, *pairs, ttl, target_nodes=node)
            if acks:  # on the connection that sent the script, so it waits for exactly these writes
                pipe.execute_command("WAIT", acks, self.settings.replica_ack_timeout_ms, target_nodes=node)
        # A slot that moved fails the batch (Redis refuses a key it does not own); it is written again.
        results = await pipe.execute(allow_redirections=False)
        if acks:
            self._check_acks(list(by_node), results[1::2])
        return len(keys)

    def _check_acks(self, servers: Sequence[str], replicas: Sequence[object]) -> None:
        wanted = self.settings.replica_acks
        behind = [f"{server} ({count})" for server, count in zip(servers, replicas, strict=True)
                  if not isinstance(count, int) or count < wanted]  # fmt: skip
        if behind:
            raise ReplicasBehind(f"fewer than {wanted} replica(s) acknowledged the batch within "
                                 f"{self.settings.replica_ack_timeout_ms} ms on {', '.join(behind)}")  # fmt: skip
