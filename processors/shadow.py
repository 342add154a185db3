"""The shadow: the staging version scored beside production on the live stream, never in its place.

``ShadowSlot`` follows the registry's ``staging`` alias as ``ModelSlot`` follows ``production`` (loaded off the event
loop, verified and warmed; put in service between two batches). The batch pipeline scores a batch with it once
production's batch is written: one more batched model call, only while a staging version other than production's
exists; its predictions go to Redis under ``shadow_key`` and to the ``predictions-shadow`` topic, so the label join
can compare both versions on the same records (processors/labels.py). A shadow that fails is logged and skipped: it
never holds up or fails production's batch.
"""

from __future__ import annotations

import asyncio
import logging

from driftline.errors import DriftlineError
from driftline.registry import STAGING, Registry
from processors.model_slot import Loader, load_step
from processors.scoring_step import ScoringStep

logger = logging.getLogger(__name__)


class ShadowSlot:
    """Holds the staging version's scoring step, or None while there is no staging version."""

    def __init__(self, registry: Registry, *, loader: Loader = load_step) -> None:
        self.registry = registry
        self._loader = loader
        self.step: ScoringStep | None = None
        self._next: ScoringStep | None = None
        self._pending = False  # a change (a new step, or none) waits for the next batch
        self._lock = asyncio.Lock()
        self._refused: set[int] = set()

    @property
    def version(self) -> int | None:
        """The version staged for the next batch, else the one scoring."""
        step = self._next if self._pending else self.step
        return step.bundle.version if step else None

    async def reconcile(self) -> None:
        """Follow the staging alias: load its version off the loop, or drop the shadow when the alias is gone."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            try:
                alias = await loop.run_in_executor(None, self.registry.alias, STAGING)
            except (DriftlineError, OSError) as exc:
                logger.error("cannot read the staging alias (%s); keeping shadow version=%s", exc, self.version)
                return
            target = None if alias is None else alias.version
            if target == self.version or target in self._refused:
                return
            if target is None:
                self._next, self._pending = None, True
                logger.info("no staging version any more; the shadow stops at the next batch")
                return
            try:
                step = await loop.run_in_executor(None, self._loader, self.registry, target)
            except Exception as exc:  # a bad staging version must never take the worker down
                self._refused.add(target)
                logger.error("staging version=%s refused, no shadow for it: %s", target, exc)
                return
            self._next, self._pending = step, True
            logger.info("staging version=%s loaded; scoring it in the shadow from the next batch", target)

    def swap_staged(self) -> None:
        """Put the staged change in service (between two batches)."""
        if self._pending:
            self.step, self._next, self._pending = self._next, None, False


    def active(self, production_version: int) -> ScoringStep | None:
        """The step to shadow a batch of ``production_version`` with (after any staged change), or None: no staging
        version, or staging is production's own version (just promoted; the alias is cleared at the next reconcile)."""
        self.swap_staged()
        step = self.step
        return step if step is not None and step.bundle.version != production_version else None
