"""Class colours, and masks blended over images with them (numpy only: the board agent draws
the live overlay with it too)."""

from __future__ import annotations

import numpy as np

# A distinct colour per class index (class 0, void, is left uncoloured); ignored pixels grey.
PALETTE = np.array(
    [(0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
     (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
     (0, 128, 128), (220, 190, 255), (170, 110, 40), (255, 250, 200), (128, 0, 0)],
    np.uint8,
)  # fmt: skip
IGNORED = np.array((128, 128, 128), np.uint8)


def overlay(rgb: np.ndarray, classes: np.ndarray, ignore: int = 255) -> np.ndarray:
    """Class colours blended half over ``rgb`` (HxWx3 uint8)."""
    colours = PALETTE[classes % len(PALETTE)]
    colours[classes == ignore] = IGNORED
    out = rgb.astype(np.uint16)
    painted = classes != 0
    out[painted] = (out[painted] + colours[painted]) // 2
    return out.astype(np.uint8)
