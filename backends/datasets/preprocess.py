"""Geometry shared by import, training and evaluation. Masks are only ever resampled nearest.

Evaluation uses :func:`letterbox` (deterministic: scale to fit, centre, pad with the ignore label),
so every runtime on every board sees identical bytes. Training adds :func:`augment` (random flip,
scale and crop) on top, drawn from a seeded generator.
"""

from __future__ import annotations

import numpy as np

Size = tuple[int, int]  # (height, width)


def letterbox(
    image: np.ndarray, mask: np.ndarray, size: Size, ignore: int
) -> tuple[np.ndarray, np.ndarray]:
    """Scale to fit inside ``size`` keeping the aspect ratio, then pad (image 0, mask ignore)."""
    h, w = image.shape[:2]
    scale = min(size[0] / h, size[1] / w)
    new = (max(1, round(h * scale)), max(1, round(w * scale)))
    image, mask = _resize(image, mask, new)
    return _place(image, mask, size, ignore, ((size[0] - new[0]) // 2, (size[1] - new[1]) // 2))


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
    image, mask = _resize(image, mask, (max(1, round(h * scale)), max(1, round(w * scale))))
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
    return _place(image, mask, size, ignore, offset)


def _resize(image: np.ndarray, mask: np.ndarray, size: Size) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    if image.shape[:2] == size:
        return image, mask
    shrink = size[0] * size[1] < image.shape[0] * image.shape[1]
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    dsize = (size[1], size[0])
    return (
        cv2.resize(np.ascontiguousarray(image), dsize, interpolation=interpolation),
        cv2.resize(np.ascontiguousarray(mask), dsize, interpolation=cv2.INTER_NEAREST),
    )


def _place(
    image: np.ndarray, mask: np.ndarray, size: Size, ignore: int, offset: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    if image.shape[:2] == size:
        return np.ascontiguousarray(image), np.ascontiguousarray(mask)
    canvas = np.zeros((*size, 3), np.uint8)
    labels = np.full(size, ignore, np.uint8)
    top, left = offset
    h, w = image.shape[:2]
    canvas[top : top + h, left : left + w] = image
    labels[top : top + h, left : left + w] = mask
    return canvas, labels
