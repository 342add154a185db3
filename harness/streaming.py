"""A stream of records sent from a thread while a test does something to the stack; its ids known in advance."""

from __future__ import annotations

import threading

from driftline.settings import KafkaSettings
from driftline.sources import AgrawalSource
from producers.producer import ProduceOptions, RecordProducer


class BackgroundStream:
    """``count`` records of a seeded Agrawal scenario at ``rate`` records/s (labels too), from a daemon thread."""

    def __init__(self, kafka: KafkaSettings, *, seed: int, count: int, rate: float) -> None:
        self.ids = [str(r.record["id"]) for r in AgrawalSource(seed=seed).take(count)]
        self.count, self.rate = count, rate
        self._source = AgrawalSource(seed=seed)
        self._producer = RecordProducer(kafka)
        self._failures: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self._producer.run(self._source, ProduceOptions(count=self.count, rate=self.rate))
        except BaseException as exc:  # reported by finish(), not lost in the thread
            self._failures.append(exc)

    def start(self) -> BackgroundStream:
        self._thread.start()
        return self

    def finish(self, slack: float = 120) -> None:
        """Wait until every record is sent (their time at the rate, plus ``slack`` seconds); fail if one was not."""
        self._thread.join(timeout=self.count / self.rate + slack)
        assert not self._thread.is_alive() and not self._failures, self._failures or "the producer is still sending"

    def close(self) -> None:
        self._producer.close()
