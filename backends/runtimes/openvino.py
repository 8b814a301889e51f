"""OpenVINO on the CPU: the ONNX model read as it is (fp32, or the QDQ int8 model, which
OpenVINO runs in int8), one stream, the latency hint, f32 where not quantised and the threads
pinned, so figures compare with the other runtimes' batch-1 latency."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class OpenVinoRuntime:
    name = "openvino"

    def __init__(self, path: Path, threads: int, device: str) -> None:
        import openvino

        # f32 inference precision: on CPUs with bf16 OpenVINO would otherwise run "fp32" rows
        # in bf16
        config: dict[str, Any] = {
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": "1",
            "INFERENCE_PRECISION_HINT": "f32",
        }
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        core = openvino.Core()
        model = core.read_model(str(path))
        batch, height, width, channels = model.input(0).get_partial_shape()
        if batch.is_dynamic:  # ONNX from Keras has a dynamic batch: fix it for the compiler
            model.reshape([1, height, width, channels])
        self._model = core.compile_model(model, device, config)
        self._request = self._model.create_infer_request()
        self.version = openvino.get_version()
        self.threads = int(self._model.get_property("INFERENCE_NUM_THREADS"))
        self.options: dict[str, Any] = {
            "device": device,
            "hint": "latency",
            "precision": self._model.get_property("INFERENCE_PRECISION_HINT").get_type_name(),
        }
        self._size = (height.get_length(), width.get_length())

    @property
    def input_size(self) -> tuple[int, int]:
        return self._size

    def prepare(self, images: np.ndarray) -> np.ndarray:
        return images.astype(np.float32)

    def run(self, prepared: np.ndarray) -> np.ndarray:
        outputs = []
        for image in prepared:  # compiled for batch 1: a batch is that many calls
            self._request.infer({0: image[None]})
            outputs.append(self._request.get_output_tensor(0).data.copy())
        return np.concatenate(outputs)

    def probabilities(self, raw: np.ndarray) -> np.ndarray:
        return raw


def load(path: Path, threads: int = 0, device: str = "CPU") -> OpenVinoRuntime:
    return OpenVinoRuntime(path, threads, device)
