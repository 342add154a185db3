"""Where in the records stream a worker's model changed: one ``ModelSwap`` on ``<prefix>model-swaps`` per change.

The first batch a new version scores tells, for the partitions in it, the first offset that version scored; for
the other partitions the worker holds, that is the consumer's position (the next offset it hands over), since every
later batch is scored by the new version too. The worker's first model is recorded the same way (``previous`` None),
so each worker's records show where it began. The registry stays read-only to workers: this is their own record.
A partition that moves to another worker during a rebalance is not a swap; the prediction documents, which name
the version that made each of them, remain the truth that ``driftline replay`` goes by.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from driftline.bundle import ModelBundle
from driftline.messages import ModelSwap, encode_model_swap
from processors.scoring_step import Incoming

logger = logging.getLogger(__name__)

Positions = Callable[[], Awaitable[dict[int, int]]]


class SwapSender(Protocol):
    async def send(self, topic: str, key: bytes | None, value: bytes | None,
                   headers: list[tuple[str, bytes]]) -> Awaitable[object]: ...  # fmt: skip


async def no_positions() -> dict[int, int]:
    return {}


def first_offsets(messages: Sequence[Incoming]) -> dict[int, int]:
    """The first offset of each partition in a batch (a partition's messages arrive in offset order)."""
    first: dict[int, int] = {}
    for message in messages:
        first.setdefault(message.partition, message.offset)
    return first


class SwapLog:
    def __init__(self, sender: SwapSender, *, topic: str, records_topic: str, worker: str,
                 positions: Positions = no_positions) -> None:  # fmt: skip
        self.sender = sender
        self.topic = topic
        self.records_topic = records_topic
        self.worker = worker
        self.positions = positions
        self._version: int | None = None

    async def observe(self, messages: Sequence[Incoming], bundle: ModelBundle) -> Awaitable[object] | None:
        """Call with each batch and the bundle that scored it: sends a swap record when the version differs from
        the last batch's, and returns its acknowledgement (None when nothing changed)."""
        if bundle.version == self._version:
            return None
        previous, self._version = self._version, bundle.version
        positions = {**await self.positions(), **first_offsets(messages)}
        swap = ModelSwap(model=bundle.model_name, version=bundle.version, fingerprint=bundle.fingerprint,
                         previous=previous, worker=self.worker, topic=self.records_topic, positions=positions,
                         swapped_at=datetime.now(UTC).isoformat())  # fmt: skip
        logger.info("model version=%s began scoring at %s (previous version=%s)", bundle.version,
                    " ".join(f"{p}:{o}" for p, o in sorted(positions.items())), previous)  # fmt: skip
        return await self.sender.send(self.topic, bundle.model_name.encode(), encode_model_swap(swap), [])
