"""ONNX Runtime: one session, threads pinned, sequential execution (comparable figures)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class OnnxRuntime:
    name = "onnxruntime"

    def __init__(self, path: Path, threads: int, providers: tuple[str, ...]) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session = ort.InferenceSession(str(path), options, providers=list(providers))
        self.version = ort.__version__
        self.threads = threads
        self.options: dict[str, Any] = {"providers": self._session.get_providers()}
        (model_input,) = self._session.get_inputs()
        self._input = model_input.name
        self._shape = model_input.shape

    @property
    def input_size(self) -> tuple[int, int]:
        return int(self._shape[1]), int(self._shape[2])

    def prepare(self, images: np.ndarray) -> np.ndarray:
        return images.astype(np.float32)

    def run(self, prepared: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input: prepared})[0]

    def probabilities(self, raw: np.ndarray) -> np.ndarray:
        return raw


def load(
    path: Path, threads: int = 0, providers: tuple[str, ...] = ("CPUExecutionProvider",)
) -> OnnxRuntime:
    return OnnxRuntime(path, threads, providers)
