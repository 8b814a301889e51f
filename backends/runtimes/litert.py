"""LiteRT (``ai_edge_litert``), falling back to ``tflite_runtime`` on boards that have it.

Handles quantised I/O: int8/uint8 inputs are quantised with the tensor's scale and zero point,
and quantised outputs dequantised. ``disable_default_delegates`` turns off XNNPACK (needed where it
crashes, e.g. under qemu emulation), and is recorded with the figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from backends.runtimes import dequantise, quantise
from backends.stdio import native_stderr_silenced


def interpreter_module() -> tuple[Any, str]:
    try:
        from importlib.metadata import version

        from ai_edge_litert import interpreter

        return interpreter, f"ai-edge-litert {version('ai-edge-litert')}"
    except ImportError:
        import tflite_runtime
        from tflite_runtime import interpreter

        return interpreter, f"tflite-runtime {tflite_runtime.__version__}"


class LiteRTRuntime:
    name = "litert"

    def __init__(
        self,
        path: Path,
        threads: int,
        disable_default_delegates: bool,
        delegates: list[Any] | None = None,
    ) -> None:
        module, self.version = interpreter_module()
        kwargs: dict[str, Any] = {"model_path": str(path), "num_threads": threads or None}
        if delegates:
            kwargs["experimental_delegates"] = delegates
        if disable_default_delegates:
            kwargs["experimental_op_resolver_type"] = (
                module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
            )
        with native_stderr_silenced():  # "INFO: Created TensorFlow Lite XNNPACK delegate"
            self._interpreter = module.Interpreter(**kwargs)
            self._interpreter.allocate_tensors()
        self.threads = threads
        self.options: dict[str, Any] = {"default_delegates": not disable_default_delegates}
        (self._in,) = self._interpreter.get_input_details()
        (self._out,) = self._interpreter.get_output_details()
        self._batch = int(self._in["shape"][0])
        self._fixed_batch = int(self._in["shape_signature"][0]) != -1

    @property
    def input_size(self) -> tuple[int, int]:
        return int(self._in["shape"][1]), int(self._in["shape"][2])

    @property
    def io_dtype(self) -> str:
        return np.dtype(self._in["dtype"]).name

    def prepare(self, images: np.ndarray) -> np.ndarray:
        dtype = self._in["dtype"]
        if dtype in (np.int8, np.uint8):
            scale, zero_point = self._in["quantization"]
            return quantise(images, scale, zero_point, dtype)
        return images.astype(dtype)

    def run(self, prepared: np.ndarray) -> np.ndarray:
        if self._fixed_batch and len(prepared) != self._batch:  # batch-1 models: one at a time
            return np.concatenate([self.run(prepared[i : i + 1]) for i in range(len(prepared))])
        if len(prepared) != self._batch:
            self._interpreter.resize_tensor_input(self._in["index"], list(prepared.shape))
            self._interpreter.allocate_tensors()
            self._batch = len(prepared)
        self._interpreter.set_tensor(self._in["index"], prepared)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._out["index"])  # a copy

    def probabilities(self, raw: np.ndarray) -> np.ndarray:
        if raw.dtype in (np.int8, np.uint8):
            scale, zero_point = self._out["quantization"]
            return dequantise(raw, scale, zero_point)
        return raw.astype(np.float32, copy=False)


def load(path: Path, threads: int = 0, disable_default_delegates: bool = False) -> LiteRTRuntime:
    return LiteRTRuntime(path, threads, disable_default_delegates)
