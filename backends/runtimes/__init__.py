"""Inference runtimes: one small adapter per runtime, one interface.

An adapter loads a model file, says what input it takes and turns a batch of uint8 RGB images
(B, H, W, 3) into class probabilities (B, H, W, C) as float32. Normalisation is inside the model,
so every runtime is fed the same bytes.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Runtime(Protocol):
    name: str  # e.g. "tensorflow"
    version: str
    threads: int

    @property
    def input_size(self) -> tuple[int, int]: ...

    def infer(self, images: np.ndarray) -> np.ndarray: ...
