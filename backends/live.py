"""One live frame through a segmentation model: what the board's ``serve`` loop does per frame,
and what the workstation repeats to check it (the same code, so the same mask).

The mask stays at the model's resolution (the letterbox padding cut off) until it is resampled,
once, to the size it is sent or kept at: post-processing costs next to nothing per frame."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from backends.datasets.preprocess import letterbox_image, resize_mask, unpad
from backends.errors import BadInput
from backends.runtimes import LoadedModel


def predict(runtime: LoadedModel, bgr: np.ndarray) -> tuple[np.ndarray, float]:
    """The class mask of a BGR frame at the model's resolution (the frame letterboxed to the
    model's input as evaluation is; the padding cut off) and the runtime call's seconds."""
    image = letterbox_image(np.ascontiguousarray(bgr[..., ::-1]), runtime.input_size)
    prepared = runtime.prepare(image[None])
    start = time.perf_counter()
    raw = runtime.run(prepared)
    seconds = time.perf_counter() - start
    probabilities = runtime.probabilities(raw)
    if probabilities.ndim != 4:
        raise BadInput("serve draws class masks: the model is not a segmentation model")
    return unpad(probabilities[0].argmax(-1).astype(np.uint8), bgr.shape[:2]), seconds


def resample(mask: np.ndarray, width: int, frame: tuple[int, int]) -> np.ndarray:
    """``mask`` at ``width`` pixels wide, the frame's aspect kept; 0: at the frame's size
    (``frame`` is its height, width)."""
    if width <= 0:
        return resize_mask(mask, frame)
    return resize_mask(mask, (max(1, round(frame[0] * width / frame[1])), width))


def shares(mask: np.ndarray, classes: int) -> list[float]:
    """Each class's share of the mask's pixels."""
    counts: Any = np.bincount(mask.ravel(), minlength=classes)[:classes]
    return (counts / max(1, mask.size)).round(5).tolist()
