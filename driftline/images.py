"""Images in JSON records: decoding with its limits (the validator's judge of an image field), and encoding.

An image field holds base64 text: of a PNG file (``encoding: png``) or of ``height*width*channels`` raw uint8
bytes, row-major (``encoding: raw``). Decoding gives a ``uint8`` array shaped ``(height, width, channels)``, or
raises :class:`~driftline.validation.invalid.Invalid` with one of four reasons:

- ``not_an_image``: not base64, or not a PNG file;
- ``corrupt_image``: a PNG with a chunk whose CRC does not match (checked for every chunk, the pixel data's
  too, which Pillow skips: a flipped bit there could otherwise decode into other pixels), that is truncated or
  does not decode to its end, or raw bytes of the wrong length;
- ``wrong_channels``: a channel count other than the contract's (alpha and two-channel images are refused, never
  guessed away); 16-bit grayscale is brought to 8 bits, a palette image to RGB or grayscale;
- ``image_too_large``: more than ``max_pixels`` pixels declared in the PNG header, checked before a byte of pixel
  data is inflated, so a decompression bomb costs nothing.

Pillow decodes (its PNG decoder is the most used in Python, ships wheels for every platform, and reads the header
lazily, which the size check needs); see docs/architecture.md.
"""

from __future__ import annotations

import base64
import binascii
import io
import struct
import warnings
import zlib

import numpy as np
from PIL import Image

from driftline.contract import Feature, ImageEncoding
from driftline.records import Reason
from driftline.validation.invalid import Invalid, show

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_U32 = struct.Struct(">I")
_CHANNELS = {"1": 1, "L": 1, "I;16": 1, "I;16B": 1, "I": 1, "LA": 2, "RGB": 3, "RGBA": 4, "P": 3}


def decode_image(value: object, feature: Feature) -> np.ndarray:
    """One image field's JSON value → ``uint8`` ``(height, width, channels)``, or Invalid saying why not."""
    name = feature.name
    if value.__class__ is not str:
        raise Invalid(Reason.WRONG_TYPE, f"{name!r}: expected base64 {feature.encoding} text, found {show(value)}")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid(Reason.NOT_AN_IMAGE, f"{name!r}: expected base64 {feature.encoding} text, found "
                      f"{show(value)}") from None  # fmt: skip
    if feature.encoding is ImageEncoding.RAW:
        return _raw(data, feature)
    return _png(data, feature)


def encode_png(pixels: np.ndarray) -> str:
    """A ``uint8`` image (``(h, w)`` or ``(h, w, 1|3)``) as base64 PNG text, as a record carries it."""
    array = np.asarray(pixels)
    if array.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, found {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise ValueError(f"expected an image shaped (h, w), (h, w, 1) or (h, w, 3), found {array.shape}")
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", optimize=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def encode_raw(pixels: np.ndarray) -> str:
    """A ``uint8`` image as base64 of its raw row-major bytes (``encoding: raw``)."""
    array = np.ascontiguousarray(pixels)
    if array.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, found {array.dtype}")
    return base64.b64encode(array.tobytes()).decode("ascii")


def read_png_file(data: bytes, feature: Feature) -> np.ndarray:
    """A PNG file's bytes (e.g. from disk) → pixels, with the same checks as a record's field."""
    return _png(data, feature)


def _raw(data: bytes, feature: Feature) -> np.ndarray:
    height, width, channels = feature.shape
    if len(data) != height * width * channels:
        raise Invalid(Reason.CORRUPT_IMAGE, f"{feature.name!r}: expected {height * width * channels} raw bytes "
                      f"({height}x{width}x{channels}), found {len(data)}")  # fmt: skip
    return np.frombuffer(data, dtype=np.uint8).reshape(height, width, channels)


def _png(data: bytes, feature: Feature) -> np.ndarray:
    name = feature.name
    if not data.startswith(PNG_SIGNATURE):
        raise Invalid(Reason.NOT_AN_IMAGE, f"{name!r}: expected a PNG file, found {len(data)} bytes without the "
                      "PNG signature")  # fmt: skip
    _check_chunks(data, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=["PNG"])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Invalid(Reason.IMAGE_TOO_LARGE, f"{name!r}: expected at most {feature.max_pixels} pixels, found a "
                      "decompression bomb") from None  # fmt: skip
    except (OSError, SyntaxError, ValueError) as exc:
        raise Invalid(Reason.CORRUPT_IMAGE, f"{name!r}: the PNG header does not decode: {exc}") from None
    width, height = image.size
    limit = feature.max_pixels or 0
    if width * height > limit:
        raise Invalid(Reason.IMAGE_TOO_LARGE, f"{name!r}: expected at most {limit} pixels, found {width}x{height}")
    wanted = feature.shape[2]
    channels = _CHANNELS.get(image.mode)
    if image.mode == "P":
        channels = 3 if wanted == 3 else 1
    if channels != wanted:
        raise Invalid(Reason.WRONG_CHANNELS, f"{name!r}: expected {wanted} channel(s), found "
                      f"{channels or image.mode} ({image.mode})")  # fmt: skip
    try:
        image.load()
        pixels = _as_uint8(image, wanted)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise Invalid(Reason.CORRUPT_IMAGE, f"{name!r}: the PNG does not decode: {exc}") from None
    return pixels.reshape(height, width, wanted)


def _check_chunks(data: bytes, name: str) -> None:
    """Every chunk up to IEND is whole and matches its CRC (no byte is inflated here), or Invalid."""
    view = memoryview(data)
    pos, end = len(PNG_SIGNATURE), len(data)
    while True:
        if pos + 12 > end:
            raise Invalid(Reason.CORRUPT_IMAGE, f"{name!r}: expected a whole PNG, found it truncated at byte {pos} "
                          "(no IEND chunk)")  # fmt: skip
        (length,) = _U32.unpack_from(data, pos)
        stop = pos + 8 + length
        if stop + 4 > end:
            raise Invalid(Reason.CORRUPT_IMAGE, f"{name!r}: expected a whole PNG, found a chunk of {length} bytes "
                          f"cut off at byte {end}")  # fmt: skip
        kind = bytes(view[pos + 4 : pos + 8])
        if zlib.crc32(view[pos + 4 : stop]) != _U32.unpack_from(data, stop)[0]:
            raise Invalid(Reason.CORRUPT_IMAGE, f"{name!r}: expected intact PNG chunks, found {kind!r} at byte {pos} "
                          "failing its CRC")  # fmt: skip
        if kind == b"IEND":
            return
        pos = stop + 4


def _as_uint8(image: Image.Image, channels: int) -> np.ndarray:
    mode = image.mode
    if mode == "P":
        image = image.convert("RGB" if channels == 3 else "L")
    elif mode == "1":
        image = image.convert("L")
    elif mode.startswith("I"):
        wide = np.asarray(image, dtype=np.int64)
        return (np.clip(wide, 0, 65535) >> 8).astype(np.uint8)
    return np.asarray(image, dtype=np.uint8)
