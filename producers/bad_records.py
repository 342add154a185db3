"""Malformed records, one of each kind the validator rejects, for testing dead letters end to end."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

from driftline.contract import Contract
from driftline.records import Reason


def bad_corpus(contract: Contract, *, tag: str = "bad") -> list[tuple[bytes | None, bytes, Reason]]:
    """(key, payload, expected reason) for every rejection reason, built from the contract's own fields."""
    numeric = contract.numeric[0] if contract.numeric else None
    categorical = contract.categorical[0] if contract.categorical else None
    idf, tf = contract.id_field, contract.event_time_field

    def record(rid: str, **overrides: str) -> bytes:
        fields = {idf: f'"{rid}"', tf: "1700000000000"}
        for f in contract.features:
            if f.is_numeric:
                fields[f.name] = str(f.min if f.min is not None else 1.0)
            else:
                fields[f.name] = f'"{f.categories[0]}"' if f.categories else '"x"'
        fields.update(overrides)
        return ("{" + ",".join(f'"{k}":{v}' for k, v in fields.items()) + "}").encode()

    corpus: list[tuple[bytes | None, bytes, Reason]] = [
        (f"{tag}-json".encode(), b'{"id": "broken", ', Reason.MALFORMED_JSON),
        (f"{tag}-utf8".encode(), b'{"id": "\xff\xfe"}', Reason.MALFORMED_JSON),
        (f"{tag}-array".encode(), b"[1, 2, 3]", Reason.NOT_AN_OBJECT),
        (None, record("x").replace(f'"{idf}":"x",'.encode(), b""), Reason.MISSING_ID),
        (f"{tag}-dup".encode(), record(f"{tag}-dup")[:-1] + f',"{idf}":"{tag}-dup2"}}'.encode(),
         Reason.DUPLICATE_FIELD),
        (f"{tag}-big".encode(), record(f"{tag}-big", pad='"' + "x" * contract.max_record_bytes + '"'),
         Reason.TOO_LARGE),
        (f"{tag}-time".encode(), record(f"{tag}-time", **{tf: "true"}), Reason.WRONG_TYPE),
    ]  # fmt: skip
    if numeric is not None:
        corpus += [
            (f"{tag}-str".encode(), record(f"{tag}-str", **{numeric.name: '"12"'}), Reason.WRONG_TYPE),
            (f"{tag}-bool".encode(), record(f"{tag}-bool", **{numeric.name: "true"}), Reason.WRONG_TYPE),
            (f"{tag}-nan".encode(), record(f"{tag}-nan", **{numeric.name: "NaN"}), Reason.NON_FINITE),
            (f"{tag}-inf".encode(), record(f"{tag}-inf", **{numeric.name: "Infinity"}), Reason.NON_FINITE),
            (f"{tag}-huge".encode(), record(f"{tag}-huge", **{numeric.name: "1e999"}), Reason.NON_FINITE),
        ]
        if numeric.min is not None:
            low = numeric.min - abs(numeric.min) - 1e6
            corpus.append(
                (f"{tag}-range".encode(), record(f"{tag}-range", **{numeric.name: repr(low)}), Reason.OUT_OF_RANGE)
            )
    if categorical is not None:
        corpus.append(
            (f"{tag}-obj".encode(), record(f"{tag}-obj", **{categorical.name: '{"a": 1}'}), Reason.WRONG_TYPE)
        )
    required = [f for f in contract.features if not f.nullable]
    if required:
        name = required[0].name
        corpus.append(
            (f"{tag}-null".encode(), record(f"{tag}-null", **{name: "null"}), Reason.MISSING_FIELD)
        )
    return corpus


class BadRecords:
    """An endless, seeded shuffle of the corpus; keys made unique so each bad record is traceable."""

    def __init__(self, contract: Contract, *, seed: int = 0) -> None:
        self._corpus = bad_corpus(contract)
        self._rng = random.Random(seed)
        self._counter: Iterator[int] = itertools.count()

    def next(self) -> tuple[bytes | None, bytes]:
        key, payload, _ = self._rng.choice(self._corpus)
        n = next(self._counter)
        return (None if key is None else key + f"-{n}".encode()), payload
