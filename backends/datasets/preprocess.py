"""Geometry shared by import, training and evaluation. Masks are only ever resampled nearest.

Evaluation uses :func:`letterbox` (deterministic: scale to fit, centre, pad with the ignore label),
so every runtime on every board sees identical bytes. Training adds :func:`augment` (random flip,
scale and crop) on top, drawn from a seeded generator. Classification images (no mask) use
:func:`letterbox_image` at import and :func:`augment_batch` (flip and shift) in training.

"""

from __future__ import annotations

from typing import Tuple

import numpy as np

Size = Tuple[int, int]  # (height, width)


def letterbox(
    image: np.ndarray, mask: np.ndarray, size: Size, ignore: int
) -> tuple[np.ndarray, np.ndarray]:
    """Scale to fit inside ``size`` keeping the aspect ratio, then pad (image 0, mask ignore)."""
    new, offset = _fit(image.shape[:2], size)
    return (
        _pad(_resize(image, new), size, 0, offset),
        _pad(_resize(mask, new, nearest=True), size, ignore, offset),
    )


def letterbox_image(image: np.ndarray, size: Size) -> np.ndarray:
    """:func:`letterbox` for an image without a mask (classification)."""
    new, offset = _fit(image.shape[:2], size)
    return _pad(_resize(image, new), size, 0, offset)


def unpad(mask: np.ndarray, shape: Size) -> np.ndarray:
    """A model's output for a letterboxed image of ``shape`` (height, width), without the
    padding: the image's own region, at the model's resolution."""
    new, (top, left) = _fit(shape, mask.shape[:2])
    return mask[top : top + new[0], left : left + new[1]]


def resize_mask(mask: np.ndarray, size: Size) -> np.ndarray:
    """Class indices resampled (nearest) to ``size`` (height, width)."""
    return _resize(mask, size, nearest=True)


def augment(
    image: np.ndarray,
    mask: np.ndarray,
    size: Size,
    ignore: int,
    rng: np.random.Generator,
    scale_range: tuple[float, float] = (0.75, 1.25),
) -> tuple[np.ndarray, np.ndarray]:
    """Random horizontal flip, random scale, then a random crop or pad back to ``size``."""
    if rng.random() < 0.5:
        image, mask = image[:, ::-1], mask[:, ::-1]
    scale = rng.uniform(*scale_range)
    h, w = image.shape[:2]
    new = (max(1, round(h * scale)), max(1, round(w * scale)))
    image, mask = _resize(image, new), _resize(mask, new, nearest=True)
    h, w = image.shape[:2]
    # Crop where larger than the target, pad at a random offset where smaller.
    top = int(rng.integers(0, h - size[0] + 1)) if h > size[0] else 0
    left = int(rng.integers(0, w - size[1] + 1)) if w > size[1] else 0
    image, mask = (
        image[top : top + size[0], left : left + size[1]],
        mask[top : top + size[0], left : left + size[1]],
    )
    h, w = image.shape[:2]
    offset = (int(rng.integers(0, size[0] - h + 1)), int(rng.integers(0, size[1] - w + 1)))
    return _pad(image, size, 0, offset), _pad(mask, size, ignore, offset)


def augment_batch(images: np.ndarray, rng: np.random.Generator, shift: int) -> np.ndarray:
    """Classification: a random horizontal flip and a random shift of up to ``shift`` pixels
    (zero-filled) per image of a (B, H, W, C) batch."""
    out = np.where(rng.random(len(images))[:, None, None, None] < 0.5, images[:, :, ::-1], images)
    if shift <= 0:
        return out
    h, w = images.shape[1:3]
    padded = np.pad(out, ((0, 0), (shift, shift), (shift, shift), (0, 0)))
    tops, lefts = rng.integers(0, 2 * shift + 1, (2, len(images)))
    return np.stack(
        [p[t : t + h, left : left + w] for p, t, left in zip(padded, tops, lefts)]  # one each
    )


def _fit(shape: tuple[int, ...], size: Size) -> tuple[Size, tuple[int, int]]:
    """The scaled size that fits ``size`` and its centring offset."""
    h, w = shape
    scale = min(size[0] / h, size[1] / w)
    new = (max(1, round(h * scale)), max(1, round(w * scale)))
    return new, ((size[0] - new[0]) // 2, (size[1] - new[1]) // 2)


def _resize(array: np.ndarray, size: Size, *, nearest: bool = False) -> np.ndarray:
    """Area when shrinking, linear when growing, nearest for masks; channels kept as they were
    (OpenCV drops a single channel's axis)."""
    import cv2

    if array.shape[:2] == size:
        return array
    if nearest:
        interpolation = cv2.INTER_NEAREST
    else:
        shrink = size[0] * size[1] < array.shape[0] * array.shape[1]
        interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    resized = cv2.resize(
        np.ascontiguousarray(array), (size[1], size[0]), interpolation=interpolation
    )
    return resized.reshape(*size, *array.shape[2:])


def _pad(array: np.ndarray, size: Size, fill: int, offset: tuple[int, int]) -> np.ndarray:
    if array.shape[:2] == size:
        return np.ascontiguousarray(array)
    canvas = np.full((*size, *array.shape[2:]), fill, array.dtype)
    top, left = offset
    h, w = array.shape[:2]
    canvas[top : top + h, left : left + w] = array
    return canvas
