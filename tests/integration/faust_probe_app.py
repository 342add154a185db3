"""A minimal faust-streaming worker for the integration test: records topic → Redis, in micro-batches.

Run as ``python -m tests.integration.faust_probe_app BROKER TOPIC REDIS_URL APP_ID DATADIR``.
"""

from __future__ import annotations

import sys

import faust
import redis.asyncio


def create_app(broker: str, topic_name: str, redis_url: str, app_id: str, datadir: str) -> faust.App:
    app = faust.App(
        app_id,
        broker=f"kafka://{broker}",
        value_serializer="raw",
        key_serializer="raw",
        web_enabled=False,
        topic_disable_leader=True,
        store="memory://",
        datadir=datadir,
    )
    topic = app.topic(topic_name, value_type=bytes, key_type=bytes)
    client = redis.asyncio.Redis.from_url(redis_url)

    @app.agent(topic)
    async def to_redis(stream):  # type: ignore[no-untyped-def]
        async for events in stream.take(500, within=0.2):
            async with client.pipeline(transaction=False) as pipe:
                for value in events:
                    pipe.set(f"faustprobe:{topic_name}:{value.decode()}", b"1", ex=600)
                await pipe.execute()

    return app


if __name__ == "__main__":
    broker, topic_name, redis_url, app_id, datadir = sys.argv[1:6]
    faust.Worker(create_app(broker, topic_name, redis_url, app_id, datadir), loglevel="INFO").execute_from_commandline()
