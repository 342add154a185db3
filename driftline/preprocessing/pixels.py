"""Images to model input: each decoded ``uint8`` image brought to the fitted size, then the batch as flat rows.

An image column (``RecordBatch.columns`` or a training frame's) holds ``uint8`` arrays shaped
``(height, width, channels)`` as they arrived. Images of another size are resized with Pillow's bilinear filter
(in ``uint8``, so training and serving round alike); images already of the fitted size are stacked as they are.
Rows are row-major ``(height, width, channel)``, the order a Keras ``Reshape`` reads them back in.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from driftline.errors import PreprocessingError
from driftline.preprocessing.spec import ImageParams


def pixel_rows(column: np.ndarray, params: ImageParams) -> np.ndarray:
    """An image column as ``uint8`` ``(n, height*width*channels)``, every image at the fitted size."""
    height, width, channels = params.height, params.width, params.channels
    images = []
    for i, image in enumerate(column):
        typed = image.__class__ is np.ndarray and image.dtype == np.uint8 and image.ndim == 3
        if not typed or image.shape[2] != channels:
            raise PreprocessingError(
                f"image feature {params.name!r}: expected uint8 arrays shaped (height, width, {channels}), found "
                f"{_describe(image)} at row {i}"
            )
        images.append(image if image.shape[0] == height and image.shape[1] == width else resized(image, params))
    if not images:
        return np.empty((0, height * width * channels), dtype=np.uint8)
    return np.stack(images).reshape(len(images), -1)


def resized(image: np.ndarray, params: ImageParams) -> np.ndarray:
    """One ``uint8`` image at the fitted (height, width), by Pillow's bilinear filter."""
    channels = params.channels
    picture = Image.fromarray(np.ascontiguousarray(image[:, :, 0] if channels == 1 else image))  # L or RGB
    out = np.asarray(picture.resize((params.width, params.height), Image.Resampling.BILINEAR), dtype=np.uint8)
    return out.reshape(params.height, params.width, channels)


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array shaped {value.shape}"
    return "null" if value is None else f"a {type(value).__name__}"
