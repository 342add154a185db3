"""The pure half of ``driftline replay``: a recorded prediction against the same record scored again, and the table.

A replayed score matches when the predicted label is the same and every probability is within ``TOLERANCE`` of the
recorded one. The worker writes float32 scores widened to float64 (orjson's shortest round-trip form), so the same
flatbuffer on the same inputs gives the same text; the tolerance only absorbs a different batch composition, which
may change the kernels' summation order. ``exact`` counts the bit-identical ones, so a drift inside the tolerance
still shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from driftline.messages import RecordedPrediction

TOLERANCE = 1e-6


@dataclass(frozen=True)
class Mismatch:
    prediction: RecordedPrediction
    why: str

    def line(self) -> str:
        p = self.prediction
        return f"id={p.id} partition={p.partition} offset={p.offset} version={p.version}: {self.why}"


@dataclass
class VersionTally:
    """How the predictions one version made compare with that version's replay."""

    version: int
    fingerprint: str = ""
    predictions: int = 0
    matched: int = 0
    exact: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)


def _scores(value: object) -> list[float] | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, list) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return [float(v) for v in value]
    return None


def compare(recorded: RecordedPrediction, score: object, label: object, fingerprint: str) -> tuple[str | None, bool]:
    """(why the replayed prediction differs from the recorded one, or None; whether the scores are bit-identical)."""
    if recorded.fingerprint != fingerprint:
        return f"recorded fingerprint {recorded.fingerprint[:12]}, the version has {fingerprint[:12]}", False
    before, after = _scores(recorded.score), _scores(score)
    if before is None or after is None or len(before) != len(after):
        return f"recorded score {recorded.score!r}, replayed {score!r}", False
    gap = max((abs(a - b) for a, b in zip(before, after, strict=True)), default=0.0)
    if gap > TOLERANCE:
        return f"recorded score {recorded.score!r}, replayed {score!r} (difference {gap:.3g})", False
    if recorded.label != label:
        return f"recorded label {recorded.label!r}, replayed {label!r}", False
    return None, before == after


def record(tally: VersionTally, recorded: RecordedPrediction, why: str | None, exact: bool) -> None:
    tally.predictions += 1
    if why is None:
        tally.matched += 1
        tally.exact += exact
    else:
        tally.mismatches.append(Mismatch(recorded, why))


@dataclass(frozen=True)
class ReplayReport:
    topic: str
    ranges: dict[int, tuple[int, int]]  # partition → [first offset, end offset)
    records: int
    tallies: Sequence[VersionTally]
    missing: Sequence[tuple[int, int]]  # (partition, offset) of records with no prediction nor dead letter
    dead_letters: int
    swaps: Sequence[str] = ()  # lines about the swap records found for the range

    @property
    def mismatched(self) -> int:
        return sum(len(t.mismatches) for t in self.tallies)

    def render(self, show: int = 5) -> str:
        spans = " ".join(f"{p}:[{a},{b})" for p, (a, b) in sorted(self.ranges.items()))
        lines = [f"replay of {self.topic} {spans}", "",
                 f"{'version':>7}  {'fingerprint':12}  {'predictions':>11}  {'matched':>7}  {'mismatched':>10}  "
                 f"{'exact':>7}"]  # fmt: skip
        for t in sorted(self.tallies, key=lambda t: t.version):
            lines.append(f"{t.version:>7}  {t.fingerprint[:12]:12}  {t.predictions:>11}  {t.matched:>7}  "
                         f"{len(t.mismatches):>10}  {t.exact:>7}")  # fmt: skip
        lines += ["", f"records {self.records}, predictions {sum(t.predictions for t in self.tallies)}, "
                      f"mismatched {self.mismatched}, missing predictions {len(self.missing)}, "
                      f"dead letters {self.dead_letters}"]  # fmt: skip
        if self.missing:
            lines.append("missing: " + " ".join(f"{p}:{o}" for p, o in list(self.missing)[:show]))
        mismatches = [m for t in sorted(self.tallies, key=lambda t: t.version) for m in t.mismatches]
        if mismatches:
            lines += [f"first {min(show, len(mismatches))} mismatches:"] + [f"  {m.line()}" for m in mismatches[:show]]
        lines += list(self.swaps)
        return "\n".join(lines)
