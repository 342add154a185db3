"""Malformed records, one of each kind the validator rejects (an image contract's bad pictures too), for testing
dead letters end to end."""

from __future__ import annotations

import base64
import itertools
import random
import struct
import zlib
from collections.abc import Iterator

import numpy as np

from driftline.contract import Contract, Feature, ImageEncoding
from driftline.images import encode_png, encode_raw
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
            elif f.is_image:
                fields[f.name] = f'"{_black(f)}"'
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
    if contract.image is not None:
        corpus += [(f"{tag}-{name}".encode(), record(f"{tag}-{name}", **{contract.image.name: value}), reason)
                   for name, value, reason in _bad_images(contract.image)]  # fmt: skip
    required = [f for f in contract.features if not f.nullable]
    if required:
        name = required[0].name
        corpus.append(
            (f"{tag}-null".encode(), record(f"{tag}-null", **{name: "null"}), Reason.MISSING_FIELD)
        )
    return corpus


def _black(feature: Feature) -> str:
    """A valid all-black image for ``feature``, encoded as it says."""
    pixels = np.zeros(feature.shape, dtype=np.uint8)
    return encode_png(pixels) if feature.encoding is ImageEncoding.PNG else encode_raw(pixels)


def _bad_images(feature: Feature) -> list[tuple[str, str, Reason]]:
    """(name, JSON value, reason) for each way an image field goes wrong."""
    height, width, channels = feature.shape
    bad = [("image-number", "12", Reason.WRONG_TYPE), ("image-text", '"not base64!"', Reason.NOT_AN_IMAGE)]
    if feature.encoding is ImageEncoding.RAW:
        short = base64.b64encode(bytes(height * width * channels - 1)).decode()
        return [*bad, ("image-short", f'"{short}"', Reason.CORRUPT_IMAGE)]
    png = base64.b64decode(_black(feature))
    other = np.zeros((height, width, 3 if channels == 1 else 1), dtype=np.uint8)  # the channel count not wanted
    side = 100_000  # a decompression bomb's header: 10^10 pixels declared, a few bytes sent
    bomb = _png_chunks((b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)),
                       (b"IDAT", zlib.compress(bytes(1024))), (b"IEND", b""))  # fmt: skip
    return [
        *bad,
        ("image-gif", f'"{base64.b64encode(b"GIF89a" + bytes(32)).decode()}"', Reason.NOT_AN_IMAGE),
        ("image-cut", f'"{base64.b64encode(png[: len(png) // 2]).decode()}"', Reason.CORRUPT_IMAGE),
        ("image-channels", f'"{encode_png(other)}"', Reason.WRONG_CHANNELS),
        ("image-bomb", f'"{base64.b64encode(bomb).decode()}"', Reason.IMAGE_TOO_LARGE),
    ]


def _png_chunks(*chunks: tuple[bytes, bytes]) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data)) for kind, data in chunks
    )


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
