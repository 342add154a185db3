"""Validation of image records: good PNG and raw images come out as decoded uint8 columns; every bad image is a
rejection with its reason and a one-line message (a dead letter), never an exception."""

from __future__ import annotations

import base64
import io
import struct
import time
import zlib
from typing import Any

import numpy as np
import orjson
import pytest
from PIL import Image, ImageFile

from driftline.contract import Contract, builtin_contract
from driftline.images import encode_png, encode_raw
from driftline.records import Reason, RecordBatch, Rejection, Row
from driftline.validation import Validator, validate, validate_batch

DIGITS = builtin_contract("digits")
RAW = Contract.model_validate(
    {
        "name": "raw-images",
        "label": {"name": "label", "task": "multiclass", "classes": ["a", "b", "c"]},
        "features": [
            {"name": "pixels", "kind": "image", "nullable": False, "height": 4, "width": 5, "channels": 3,
             "encoding": "raw"}
        ],
    }
)
RGB = Contract.model_validate(
    {
        "name": "rgb-images",
        "label": {"name": "label", "task": "multiclass", "classes": ["a", "b", "c"]},
        "features": [{"name": "image", "kind": "image", "nullable": False, "height": 8, "width": 8, "channels": 3}],
    }
)


def digit(seed: int, size: int = 28) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 1), dtype=np.uint8)


def ring(size: int = 28) -> np.ndarray:
    """A smooth drawn "0": its PNG compresses well, so a flipped bit can still inflate (into other pixels)."""
    y, x = np.mgrid[:size, :size] / size
    distance = np.hypot(y - 0.52, x - 0.47)
    return (np.clip(1 - np.abs(distance - 0.27) * 12, 0, 1) * 255).astype(np.uint8)[:, :, None]


def record(value: Any, record_id: str = "r-1", field: str = "image") -> bytes:
    return orjson.dumps({"id": record_id, "event_time": 1_767_225_600_000, field: value})


def png_bytes(pixels: np.ndarray) -> bytes:
    return base64.b64decode(encode_png(pixels))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def declared_png(width: int, height: int, idat: bytes) -> bytes:
    """A grayscale 8-bit PNG whose header declares ``width`` x ``height``, with the given compressed pixel data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def rejected(raw: bytes, contract: Contract = DIGITS) -> Rejection:
    outcome = validate(raw, contract)
    assert isinstance(outcome, Rejection), outcome
    assert "\n" not in outcome.error and outcome.error.endswith("(record id 'r-1')")
    batch, rejections = Validator(contract).validate_batch([raw])  # the column pass agrees with the judge
    assert len(batch) == 0 and [(r.reason, r.error) for r in rejections] == [(outcome.reason, outcome.error)]
    return outcome


# -- good images --------------------------------------------------------------------------------------------


def test_a_png_record_decodes_to_its_pixels() -> None:
    pixels = digit(1)
    row = validate(record(encode_png(pixels)), DIGITS)
    assert isinstance(row, Row) and row.id == "r-1"
    image = row.features["image"]
    assert isinstance(image, np.ndarray) and image.dtype == np.uint8 and np.array_equal(image, pixels)


def test_a_raw_record_decodes_to_its_pixels() -> None:
    pixels = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    batch, rejections = validate_batch([record(encode_raw(pixels), field="pixels")], RAW)
    assert not rejections and np.array_equal(batch.columns["pixels"][0], pixels)


def test_an_rgb_png_decodes_into_an_rgb_contract() -> None:
    pixels = np.random.default_rng(2).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    row = validate(record(encode_png(pixels)), RGB)
    assert isinstance(row, Row)
    image = row.features["image"]
    assert isinstance(image, np.ndarray) and np.array_equal(image, pixels)


def test_images_are_kept_at_the_size_they_arrived() -> None:
    small, large = digit(3, 8), digit(4, 56)
    batch, rejections = validate_batch([record(encode_png(small)), record(encode_png(large), "r-2")], DIGITS)
    assert not rejections
    assert [a.shape for a in batch.columns["image"]] == [(8, 8, 1), (56, 56, 1)]


def test_a_batch_column_is_one_decoded_array_per_record() -> None:
    images = [digit(i) for i in range(5)]
    batch, rejections = validate_batch([record(encode_png(p), f"r-{i}") for i, p in enumerate(images)], DIGITS)
    column = batch.columns["image"]
    assert not rejections and column.dtype == object and column.shape == (5,)  # not stacked into (5, 28, 28, 1)
    assert all(a.dtype == np.uint8 and np.array_equal(a, p) for a, p in zip(column, images, strict=True))
    taken = batch.take(np.array([3, 1]))
    assert np.array_equal(taken.columns["image"][0], images[3]) and taken.ids == ["r-3", "r-1"]


def test_an_empty_batch_has_an_object_image_column() -> None:
    batch, rejections = validate_batch([record(17)], DIGITS)
    assert len(rejections) == 1 and batch.columns["image"].dtype == object and len(batch.columns["image"]) == 0
    empty = RecordBatch.empty(DIGITS.feature_names, {f.name for f in DIGITS.numeric})
    assert empty.columns["image"].dtype == object


# -- bad images ---------------------------------------------------------------------------------------------


def test_text_that_is_not_base64_is_not_an_image() -> None:
    r = rejected(record("this is not base64!"))
    assert r.reason is Reason.NOT_AN_IMAGE and "'image'" in r.error


def test_base64_of_something_else_is_not_an_image() -> None:
    assert rejected(record(b64(b"GIF89a" + bytes(40)))).reason is Reason.NOT_AN_IMAGE
    assert rejected(record(b64(b""))).reason is Reason.NOT_AN_IMAGE


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9, 0.99])
def test_a_truncated_png_is_corrupt(keep: float) -> None:
    data = png_bytes(digit(5))
    r = rejected(record(b64(data[: max(9, int(len(data) * keep))])))
    assert r.reason is Reason.CORRUPT_IMAGE


def test_every_flipped_bit_inside_the_pixel_data_is_corrupt() -> None:
    data = png_bytes(ring())  # without the chunks' CRCs, 15 of these 975 flips decode silently
    start = data.index(b"IDAT") + 4
    (length,) = struct.unpack(">I", data[start - 8 : start - 4])
    flipped = []
    for pos in range(start, start + length):
        for bit in (0, 3, 7):
            changed = bytearray(data)
            changed[pos] ^= 1 << bit
            flipped.append(record(b64(bytes(changed)), f"r-{pos}-{bit}"))
    batch, rejections = validate_batch(flipped, DIGITS)
    assert len(batch) == 0 and {r.reason for r in rejections} == {Reason.CORRUPT_IMAGE}


def test_a_flipped_byte_in_the_header_is_corrupt() -> None:
    data = bytearray(png_bytes(digit(7)))
    data[data.index(b"IHDR") + 6] ^= 0x01  # inside the width: the header's CRC no longer matches
    assert rejected(record(b64(bytes(data)))).reason is Reason.CORRUPT_IMAGE


def test_pixel_data_that_does_not_inflate_is_corrupt() -> None:
    data = declared_png(28, 28, b"not zlib at all")  # CRCs right, the compressed stream wrong
    assert rejected(record(b64(data))).reason is Reason.CORRUPT_IMAGE


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "LA"])
def test_colour_or_alpha_into_a_grayscale_contract_is_wrong_channels(mode: str) -> None:
    bands = len(mode)
    pixels = np.random.default_rng(8).integers(0, 256, (28, 28, bands), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels if bands > 1 else pixels[:, :, 0], mode=mode).save(buffer, format="PNG")
    r = rejected(record(b64(buffer.getvalue())))
    assert r.reason is Reason.WRONG_CHANNELS and "expected 1 channel" in r.error


def test_grayscale_into_an_rgb_contract_is_wrong_channels() -> None:
    r = rejected(record(encode_png(digit(9, 8))), RGB)
    assert r.reason is Reason.WRONG_CHANNELS


@pytest.mark.parametrize("side", [2_000, 100_000])  # above the contract's limit; the second above Pillow's too
def test_a_decompression_bomb_is_refused_without_inflating(side: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = zlib.compressobj(9)
    idat = rows.compress(bytes(1 + side) * 64) + rows.flush()  # the first rows of zeros: they would inflate
    data = declared_png(side, side, idat)

    def inflate(self: ImageFile.ImageFile) -> None:
        raise AssertionError("the bomb's pixel data was inflated")

    monkeypatch.setattr(ImageFile.ImageFile, "load", inflate)
    started = time.perf_counter()
    r = rejected(record(b64(data)))
    assert r.reason is Reason.IMAGE_TOO_LARGE and time.perf_counter() - started < 1.0
    assert str(DIGITS.image.max_pixels if DIGITS.image else "") in r.error


def test_raw_bytes_of_the_wrong_length_are_corrupt() -> None:
    r = rejected(record(b64(bytes(4 * 5 * 3 - 1)), field="pixels"), RAW)
    assert r.reason is Reason.CORRUPT_IMAGE and "60 raw bytes" in r.error


@pytest.mark.parametrize(("value", "reason"), [(7, Reason.WRONG_TYPE), (True, Reason.WRONG_TYPE),
                                               ([1, 2], Reason.WRONG_TYPE), (None, Reason.MISSING_FIELD)])  # fmt: skip
def test_a_value_that_is_not_text_is_refused(value: Any, reason: Reason) -> None:
    assert rejected(record(value)).reason is reason


def test_an_absent_image_is_a_missing_field() -> None:
    r = rejected(orjson.dumps({"id": "r-1", "event_time": 1_767_225_600_000}))
    assert r.reason is Reason.MISSING_FIELD and "absent" in r.error


# -- batches ------------------------------------------------------------------------------------------------


def test_a_mixed_batch_keeps_the_good_images_in_order() -> None:
    good = {i: digit(10 + i, 28 if i % 2 else 20) for i in (0, 2, 3, 6)}
    bad = {1: 7, 4: "%%%", 5: b64(png_bytes(digit(1))[:50]), 7: None}
    values = {**{i: encode_png(p) for i, p in good.items()}, **bad}
    raws = [record(values[i], f"r-{i}") for i in range(8)]
    batch, rejections = Validator(DIGITS).validate_batch(raws)
    assert batch.ids == ["r-0", "r-2", "r-3", "r-6"] and batch.index.tolist() == [0, 2, 3, 6]
    assert all(np.array_equal(a, good[i]) for a, i in zip(batch.columns["image"], (0, 2, 3, 6), strict=True))
    assert [(r.index, r.reason) for r in rejections] == [
        (1, Reason.WRONG_TYPE), (4, Reason.NOT_AN_IMAGE), (5, Reason.CORRUPT_IMAGE), (7, Reason.MISSING_FIELD)
    ]  # fmt: skip
    singles = [validate(raws[r.index], DIGITS) for r in rejections]
    assert [(s.reason, s.error) for s in singles if isinstance(s, Rejection)] == [
        (r.reason, r.error) for r in rejections
    ]


def test_parsed_objects_validate_like_their_bytes() -> None:
    raws = [record(encode_png(digit(20)), "r-0"), record("nope", "r-1"), record(encode_png(digit(21, 9)), "r-2")]
    from_bytes, bytes_rejected = Validator(DIGITS).validate_batch(raws)
    from_objects, objects_rejected = Validator(DIGITS).validate_objects(orjson.loads(r) for r in raws)
    assert from_objects.ids == from_bytes.ids == ["r-0", "r-2"]
    assert all(np.array_equal(a, b) for a, b in zip(from_objects.columns["image"], from_bytes.columns["image"],
                                                    strict=True))  # fmt: skip
    assert [(r.index, r.reason) for r in objects_rejected] == [(r.index, r.reason) for r in bytes_rejected]


def test_a_non_finite_literal_elsewhere_still_rejects_an_image_record() -> None:
    raw = b'{"id": "r-1", "event_time": 1767225600000, "image": "%s", "extra": NaN}' % encode_png(digit(22)).encode()
    assert rejected(raw).reason is Reason.NON_FINITE
