"""Inference runtimes: one small adapter per runtime, one interface, one loader.

An adapter takes a batch of uint8 RGB images (B, H, W, 3) and returns class probabilities
(B, H, W, C) as float32. Normalisation is inside the model, so every runtime is fed the same bytes.
The work is split so the benchmark can time its parts:

- ``prepare``: uint8 images -> what the model takes (float32, or quantised int8/uint8);
- ``run``: the inference itself, output in host memory;
- ``probabilities``: raw output -> float32 probabilities (dequantised where needed).

The ONNX Runtime and LiteRT adapters import neither TensorFlow nor anything else the board lacks.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from backends.errors import BadInput
from backends.formats import RUNTIMES


class LoadedModel(Protocol):
    """A model loaded by a runtime's adapter: the one interface every runtime offers."""

    name: str
    version: str
    threads: int  # as configured; 0 means the runtime's default
    options: dict[str, Any]  # whatever else shaped the figures (delegates, providers)

    @property
    def input_size(self) -> tuple[int, int]: ...

    def prepare(self, images: np.ndarray) -> Any: ...

    def run(self, prepared: Any) -> np.ndarray: ...

    def probabilities(self, raw: np.ndarray) -> np.ndarray: ...


def infer(runtime: LoadedModel, images: np.ndarray) -> np.ndarray:
    """uint8 images -> float32 class probabilities."""
    return runtime.probabilities(runtime.run(runtime.prepare(images)))


def predict(runtime: LoadedModel, images: np.ndarray) -> np.ndarray:
    """uint8 images -> class indices (uint8 up to 256 classes): the argmax of the
    probabilities. A quantised output is not dequantised first: dequantising is affine with a
    positive scale, so it keeps every argmax (and skips a float copy of the output)."""
    raw = runtime.run(runtime.prepare(images))
    scores = raw if raw.dtype in (np.int8, np.uint8) else runtime.probabilities(raw)
    labels = scores.argmax(axis=-1)
    return labels.astype(np.uint8) if scores.shape[-1] <= 256 else labels


def load(name: str, path: Path, *, threads: int = 0, **options: Any) -> LoadedModel:
    """Load ``path`` with runtime ``name``; a missing runtime or a bad file is one clear line."""
    if name not in RUNTIMES:
        raise BadInput(f"unknown runtime {name!r}: use one of {', '.join(RUNTIMES)}")
    spec = RUNTIMES[name]
    try:
        adapter = importlib.import_module(spec.adapter)
        return adapter.load(Path(path), threads=threads, **options)
    except ImportError as exc:
        raise BadInput(
            f"runtime {spec.label} is not available here ({exc}); install {spec.package}"
        ) from None
    except BadInput:
        raise
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise BadInput(
            f"{path}: cannot be loaded by {spec.label} ({reason}); is the file complete and of "
            "the right format?"
        ) from None


def installed(name: str) -> bool:
    """Whether runtime ``name``'s Python package is on this machine (its probe modules)."""
    for module in RUNTIMES[name].probe:
        try:
            if importlib.util.find_spec(module.split(".")[0]) is not None:
                return True
        except (ImportError, ValueError):
            continue
    return False


def quantise(values: np.ndarray, scale: float, zero_point: int, dtype: Any) -> np.ndarray:
    info = np.iinfo(dtype)
    q = np.round(values.astype(np.float32) / scale + zero_point)
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantise(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (values.astype(np.float32) - zero_point) * np.float32(scale)
