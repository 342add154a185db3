"""The worker's model slot: loads a version off the event loop, verifies and warms it, swaps between batches.

The old model serves until the new one is fully ready (load before release, as a server would). A load that
fails keeps the old model, counts ``driftline_model_swaps_total{outcome="failed"}`` and logs why; a worker with no
model yet whose production version does not load serves the newest version that does, and sets
``driftline_model_fallback`` (DriftlineModelFallback alerts). ``load`` only
stages a version; ``swap_staged``, called between two batches, puts it in service (the first model at once, as
no batch can be in flight before it).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable, Sequence

from driftline.bundle import ModelBundle
from driftline.errors import DriftlineError
from driftline.registry import Registry
from processors.metrics import ModelMetrics
from processors.scoring_step import ScoringStep

logger = logging.getLogger(__name__)

Loader = Callable[[Registry, int], ScoringStep]


def load_step(registry: Registry, version: int) -> ScoringStep:
    """Load, verify and warm ``version``, and build its scoring step (blocking: run it off the event loop)."""
    return ScoringStep(ModelBundle.load(registry, version, warm_up=True))


class ModelSlot:
    def __init__(
        self,
        registry: Registry,
        metrics: ModelMetrics,
        *,
        loader: Loader = load_step,
        on_swap: Sequence[Callable[[ModelBundle], None]] = (),
    ) -> None:
        self.registry = registry
        self.metrics = metrics
        self._loader = loader
        self._on_swap = tuple(on_swap)
        self._step: ScoringStep | None = None
        self._staged: ScoringStep | None = None
        self._lock = asyncio.Lock()
        self._ready = asyncio.Event()
        self._refused: set[tuple[int, str]] = set()  # (version, fingerprint) that failed; not retried

    @property
    def version(self) -> int | None:
        """The version staged, else the one serving."""
        step = self._staged or self._step
        return step.bundle.version if step else None

    @property
    def step(self) -> ScoringStep:
        """The step serving now."""
        if self._step is None:
            raise RuntimeError("no model loaded; await wait_ready() first")
        return self._step

    async def wait_ready(self) -> None:
        await self._ready.wait()

    async def load(self, version: int) -> bool:
        """Load ``version`` off the loop and stage it for the next batch. True if staged or already serving."""
        async with self._lock:
            if self.version == version:
                return True
            try:
                fingerprint = self.registry.manifest(version).fingerprint
            except DriftlineError as exc:
                fingerprint = f"unreadable: {exc}"
            if (version, fingerprint) in self._refused:
                return False
            loop = asyncio.get_running_loop()
            try:
                step = await loop.run_in_executor(None, self._loader, self.registry, version)
            except Exception as exc:  # a bad version must never take the worker down
                self._refused.add((version, fingerprint))
                self.metrics.model_swaps.labels(outcome="failed").inc()
                logger.error("model version=%s refused, keeping version=%s: %s", version, self.version, exc)
                return False
            self._staged = step
            if self._step is None:
                self.swap_staged()  # the first model: no batch in flight to wait for
            self._ready.set()
            logger.info("model version=%s fingerprint=%s loaded; swapping in at the next batch", version,
                        step.bundle.fingerprint[:12])  # fmt: skip
            return True

    async def reconcile(self) -> bool:
        """Follow the registry's production alias (on start and periodically)."""
        try:
            alias = await asyncio.get_running_loop().run_in_executor(None, self.registry.alias, "production")
        except (DriftlineError, OSError) as exc:  # e.g. a shared filesystem hiccup: keep serving what we have
            logger.error("cannot read the production alias (%s); keeping version=%s", exc, self.version)
            return False
        if alias is None:
            if self._step is None:
                logger.warning("no production model in %s yet; waiting", self.registry.root)
            return False
        if await self.load(alias.version):
            self.metrics.model_fallback.set(0)
            return True
        if self._step is None and self._staged is None:  # nothing serves: the newest version that loads will
            return await self._fall_back(alias.version)
        self.metrics.model_fallback.set(1)  # the one serving is not production, which does not load
        return False

    async def _fall_back(self, production: int) -> bool:
        """Serve the newest version that loads, when production does not and nothing serves yet; say so."""
        infos = await asyncio.get_running_loop().run_in_executor(None, self.registry.versions)
        for version in sorted((i.version for i in infos if i.version != production), reverse=True):
            if await self.load(version):
                self.metrics.model_fallback.set(1)
                logger.error("production version=%s does not load; serving version=%s, the newest that does",
                             production, version)  # fmt: skip
                return True
        logger.error("production version=%s does not load, nor does any other version; waiting", production)
        return False

    def swap_staged(self) -> bool:
        """Put the staged model in service (call it between two batches); False if nothing was staged."""
        if self._staged is None:
            return False
        previous, self._step, self._staged = self._step, self._staged, None
        bundle = self._step.bundle
        self.metrics.set_model(bundle.model_name, bundle.version, bundle.fingerprint)
        for listener in self._on_swap:
            listener(bundle)
        # A loaded model leaves many long-lived objects; full collections walking them stall the event loop.
        # Freeze them out of the collector's way (docs/architecture.md).
        gc.collect()
        gc.freeze()
        if previous is not None:
            self.metrics.model_swaps.labels(outcome="succeeded").inc()
            logger.info("swapped model version=%s → version=%s", previous.bundle.version, bundle.version)
        return True
