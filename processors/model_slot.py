"""The worker's model slot: loads a version off the event loop, verifies and warms it, swaps between batches.

The old model serves until the new one is fully ready (load before release, as a server would). A load that
fails keeps the old model, counts ``driftline_model_swaps_total{outcome="failed"}`` and logs why.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable

from driftline.bundle import ModelBundle
from driftline.drift import DriftWindow
from driftline.errors import DriftlineError
from driftline.registry import Registry
from driftline.settings import ProcessorSettings
from processors.metrics import ProcessorMetrics
from processors.scoring_step import ScoringStep

logger = logging.getLogger(__name__)

Loader = Callable[[Registry, int], ModelBundle]


def _load(registry: Registry, version: int) -> ModelBundle:
    return ModelBundle.load(registry, version, warm_up=True)


class ModelSlot:
    def __init__(
        self,
        registry: Registry,
        metrics: ProcessorMetrics,
        settings: ProcessorSettings,
        *,
        loader: Loader = _load,
    ) -> None:
        self.registry = registry
        self.metrics = metrics
        self.settings = settings
        self._loader = loader
        self._step: ScoringStep | None = None
        self._pending: ScoringStep | None = None
        self._window: DriftWindow | None = None
        self._lock = asyncio.Lock()
        self._ready = asyncio.Event()
        self._refused: set[tuple[int, str]] = set()  # (version, fingerprint) that failed; not retried

    @property
    def version(self) -> int | None:
        step = self._pending or self._step
        return step.bundle.version if step else None

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
                bundle = await loop.run_in_executor(None, self._loader, self.registry, version)
                step = ScoringStep(bundle)
            except Exception as exc:  # a bad version must never take the worker down
                self._refused.add((version, fingerprint))
                self.metrics.model_swaps.labels(outcome="failed").inc()
                logger.error("model version=%s refused, keeping version=%s: %s", version, self.version, exc)
                return False
            self._pending = step
            if self._step is None:
                self.current()  # the first model: no batch in flight to wait for
            self._ready.set()
            logger.info("model version=%s fingerprint=%s loaded; swapping in at the next batch", version,
                        bundle.fingerprint[:12])  # fmt: skip
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
        return await self.load(alias.version)

    def current(self) -> tuple[ScoringStep, DriftWindow]:
        """The step for the next batch. A staged model becomes current here, between two batches."""
        if self._pending is not None:
            previous = self._step
            self._step, self._pending = self._pending, None
            bundle = self._step.bundle
            self._window = DriftWindow(bundle.profile, size=self.settings.drift_window,
                                       min_records=self.settings.drift_min_records)  # fmt: skip
            self.metrics.set_model(bundle.model_name, bundle.version, bundle.fingerprint)
            self.metrics.drift.clear()  # the new model's window starts empty; old PSI values must not linger
            # TensorFlow leaves hundreds of thousands of long-lived objects; full collections walking them stalled
            # the event loop for hundreds of ms. Freeze them out of the collector's way (bench/stream.py).
            gc.collect()
            gc.freeze()
            if previous is not None:
                self.metrics.model_swaps.labels(outcome="succeeded").inc()
                logger.info("swapped model version=%s → version=%s", previous.bundle.version, bundle.version)
        if self._step is None or self._window is None:
            raise RuntimeError("no model loaded; await wait_ready() first")
        return self._step, self._window
