"""scikit-learn's handwritten digits brought to MNIST's shape, and the vectorised pixel operations on stacks of them.

Every function here takes and returns a stack of grayscale images, ``uint8`` shaped ``(n, height, width)``, ink
white on black, and works on the whole stack at once (a chunk of a stream is one call, not one per image).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from driftline.errors import ConfigError

SIZE = 28  # MNIST's frame
BOX = 20  # MNIST's digit box, centred in the frame


def load_digits_28() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digits as ``uint8 (1797, 28, 28)`` images and their ``int64`` digits.

    Values 0..16 are scaled to 0..255, resized to 20x20 (Pillow bilinear) and centred in 28x28, as MNIST frames its
    digits. The images ship inside scikit-learn's wheel: nothing is downloaded.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ConfigError("the digits scenario needs scikit-learn: pip install 'driftline[ml]'") from None
    digits = load_digits()
    small = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)
    frames = np.zeros((len(small), SIZE, SIZE), dtype=np.uint8)
    at = (SIZE - BOX) // 2
    for i, image in enumerate(small):
        box = Image.fromarray(image).resize((BOX, BOX), Image.Resampling.BILINEAR)
        frames[i, at : at + BOX, at : at + BOX] = np.asarray(box)
    return frames, digits.target.astype(np.int64)


def warp(images: np.ndarray, degrees: np.ndarray, shear: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Each image rotated by ``degrees[i]`` and slanted by ``shear[i]`` about its centre, then moved by
    ``shift[i]`` = (rows, columns) pixels; bilinear, black outside the frame.

    A positive shear leans the top of the image right (an italic hand). With all three zero an image comes back
    unchanged, bit for bit.
    """
    n, height, width = images.shape
    centre = np.array([(height - 1) / 2.0, (width - 1) / 2.0])
    theta = np.deg2rad(degrees)
    cos, sin = np.cos(theta), np.sin(theta)
    # The inverse map, output pixel -> source pixel: undo the shift, the rotation, then the shear.
    # Rotation (row, col): r' = cos*r - sin*c, c' = sin*r + cos*c; its inverse uses -theta.
    # Shear: c' = c - shear*r; its inverse adds shear*r back.
    inv = np.empty((n, 2, 2))
    inv[:, 0, 0], inv[:, 0, 1] = cos, sin
    inv[:, 1, 0], inv[:, 1, 1] = -sin + shear * cos, cos + shear * sin
    rows, cols = np.mgrid[0:height, 0:width]
    r = rows.ravel()[None, :] - centre[0] - shift[:, :1]  # (n, p): output pixels, relative to the centre
    c = cols.ravel()[None, :] - centre[1] - shift[:, 1:]
    source_r = inv[:, 0, 0, None] * r + inv[:, 0, 1, None] * c + centre[0]
    source_c = inv[:, 1, 0, None] * r + inv[:, 1, 1, None] * c + centre[1]
    return _bilinear(images, source_r, source_c).reshape(n, height, width)


def _bilinear(images: np.ndarray, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Bilinear samples of each image at (r, c) (each ``(n, p)``), zero outside; ``uint8 (n, p)``."""
    n, height, width = images.shape
    padded = np.zeros((n, height + 2, width + 2), dtype=np.float32)  # a black border: outside reads 0
    padded[:, 1:-1, 1:-1] = images
    flat = padded.reshape(n, -1)
    r = np.clip(r + 1.0, 0.0, height + 0.999)
    c = np.clip(c + 1.0, 0.0, width + 0.999)
    r0, c0 = np.floor(r).astype(np.int64), np.floor(c).astype(np.int64)
    fr, fc = (r - r0).astype(np.float32), (c - c0).astype(np.float32)
    r1, c1 = np.minimum(r0 + 1, height + 1), np.minimum(c0 + 1, width + 1)
    stride = width + 2

    def at(rr: np.ndarray, cc: np.ndarray) -> np.ndarray:
        return np.take_along_axis(flat, rr * stride + cc, axis=1)

    top = at(r0, c0) * (1 - fc) + at(r0, c1) * fc
    bottom = at(r1, c0) * (1 - fc) + at(r1, c1) * fc
    return np.clip(np.rint(top * (1 - fr) + bottom * fr), 0, 255).astype(np.uint8)


def dilate(images: np.ndarray, radius: int) -> np.ndarray:
    """Strokes thickened by ``radius`` pixels: each pixel the brightest within a disc of that radius."""
    return _filter(images, radius, np.maximum, disc=True)


def thin(images: np.ndarray) -> np.ndarray:
    """Strokes thinned by one pixel on each side: each pixel the darkest of itself and its four neighbours."""
    return _filter(images, 1, np.minimum, disc=True)


def _filter(images: np.ndarray, radius: int, pick: np.ufunc, *, disc: bool) -> np.ndarray:
    n, height, width = images.shape
    fill = 0 if pick is np.maximum else 255
    padded = np.full((n, height + 2 * radius, width + 2 * radius), fill, dtype=np.uint8)
    padded[:, radius : radius + height, radius : radius + width] = images
    out = images.copy()
    for dr in range(-radius, radius + 1):
        for dc in range(-radius, radius + 1):
            if (dr or dc) and (not disc or dr * dr + dc * dc <= radius * radius):
                window = padded[:, radius + dr : radius + dr + height, radius + dc : radius + dc + width]
                pick(out, window, out=out)
    return out


def invert(images: np.ndarray) -> np.ndarray:
    """Black ink on white: 255 - x."""
    return 255 - images


def add_noise(images: np.ndarray, standard_normal: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian pixel noise of ``sigma`` intensity units (from pre-drawn standard normals), clipped to 0..255."""
    noisy = images.astype(np.float32) + standard_normal.astype(np.float32) * np.float32(sigma)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
