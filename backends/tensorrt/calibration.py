"""INT8 calibration on the board: the calibration shard in full batches, and TensorRT's entropy
calibrator reading them, with its cache written once and reused.

The shard is a ``.npy`` of uint8 images (N, H, W, 3) drawn stratified from the training set on
the workstation (``backends.convert.representative``). A cache, when given and present, is
returned to TensorRT first, and TensorRT then skips calibration altogether.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from backends.tensorrt.cuda import Device


def load_images(path: str | Path) -> np.ndarray:
    images = np.load(str(path), allow_pickle=False)
    if images.dtype != np.uint8 or images.ndim != 4 or len(images) == 0:
        raise ValueError(
            f"{path}: a calibration shard is uint8 images (N, H, W, C), N > 0; got "
            f"{images.dtype} {images.shape}"
        )
    return images


def batches(images: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    """Full batches of float32 pixel values (normalisation is inside the model), in order.
    TensorRT takes only full batches: a short last one is left out."""
    for start in range(0, len(images) - batch_size + 1, batch_size):
        yield np.ascontiguousarray(images[start : start + batch_size], dtype=np.float32)


def entropy_calibrator(
    trt: Any, images: np.ndarray, batch_size: int, cache: Path, device: Device
) -> Any:
    """An ``IInt8EntropyCalibrator2`` over ``images``; ``cache`` is read if present, else
    written (atomically) when TensorRT hands it over."""

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.batch_size = max(1, min(batch_size, len(images)))
            self.batches = batches(images, self.batch_size)
            self.pointer = device.alloc(self.batch_size * int(np.prod(images.shape[1:])) * 4)
            self.served = 0  # batches handed to TensorRT: 0 when the cache was used

        def get_batch_size(self) -> int:
            return self.batch_size

        def get_batch(self, names: list[str]) -> list[int] | None:
            batch = next(self.batches, None)
            if batch is None:
                return None
            device.upload(self.pointer, batch)
            device.synchronize()
            self.served += 1
            return [self.pointer]

        def read_calibration_cache(self) -> bytes | None:
            return cache.read_bytes() if cache.exists() else None

        def write_calibration_cache(self, data: Any) -> None:
            tmp = cache.with_name(cache.name + ".tmp")
            tmp.write_bytes(bytes(data))
            os.replace(tmp, cache)

    return EntropyCalibrator()
