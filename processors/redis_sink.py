"""Predictions into Redis: one command per batch, a TTL on every key, retried until it succeeds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from driftline.messages import prediction_key
from driftline.settings import RedisSettings

logger = logging.getLogger(__name__)

T = TypeVar("T")


def redis_client(settings: RedisSettings) -> aioredis.Redis:
    password = settings.password.get_secret_value() if settings.password else None
    return aioredis.Redis.from_url(settings.url, password=password, socket_timeout=5, socket_connect_timeout=5)


async def until_redis_answers(
    operation: Callable[[], Awaitable[T]],
    *,
    what: str,
    stopping: Callable[[], bool],
    on_retry: Callable[[Exception], None],
    max_backoff: float = 5.0,
) -> T | None:
    """Run ``operation`` until Redis answers, backing off exponentially; None only if asked to stop first.

    ``operation`` must not itself return None. Nothing is dropped: the caller does not acknowledge its batch.
    """
    backoff = 0.05
    while True:
        try:
            return await operation()
        except (RedisError, OSError) as exc:
            on_retry(exc)
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


class RedisSink:
    """Writes a batch of predictions in one command. Never drops: on failure it backs off and tries again."""

    def __init__(
        self,
        client: aioredis.Redis,
        settings: RedisSettings,
        *,
        on_retry: Callable[[Exception], None] = lambda exc: None,
        max_backoff: float = 5.0,
    ) -> None:
        self.client = client
        self.settings = settings
        self._on_retry = on_retry
        self._max_backoff = max_backoff
        self._set_all = client.register_script(_SET_ALL)

    async def write(self, ids: Sequence[str], documents: Sequence[bytes], *, stopping: Callable[[], bool]) -> bool:
        """True once written; False only if asked to stop before Redis came back (the batch is then not acked)."""
        if not ids:
            return True
        keys = [prediction_key(self.settings.key_prefix, record_id) for record_id in ids]
        args: list[bytes | int] = [*documents, self.settings.prediction_ttl_seconds]
        written = await until_redis_answers(
            lambda: self._set_all(keys=keys, args=args),
            what=f"write of {len(ids)} predictions",
            stopping=stopping,
            on_retry=self._on_retry,
            max_backoff=self._max_backoff,
        )
        return written is not None
