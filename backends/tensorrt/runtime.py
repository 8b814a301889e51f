"""TensorRT engines, on the board that built them.

TensorRT 8.5 and newer (JetPack 5.1+, JetPack 6): named I/O tensors, ``set_input_shape``,
``set_tensor_address`` and ``execute_async_v3``. Older 8.x: bindings and ``execute_async_v2``.
Device buffers come from ``backends.tensorrt.cuda`` (cuda-python, PyCUDA or CuPy).

With ``fingerprint`` (what the catalog recorded when the engine was built), the engine is
checked against this GPU and TensorRT before it is deserialised, and refused on a mismatch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class TensorRTRuntime:
    name = "tensorrt"

    def __init__(self, path: Path, trt: Any, device: Any) -> None:
        self.version = f"TensorRT {trt.__version__}"
        self.threads = 0
        self._trt, self._device = trt, device
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self._engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if self._engine is None:
            raise ValueError("TensorRT could not deserialise the engine")
        self._context = self._engine.create_execution_context()
        self._v3 = hasattr(self._context, "execute_async_v3")
        self.options: dict[str, Any] = {
            "device_buffers": device.name,
            "api": "execute_async_v3" if self._v3 else "execute_async_v2",
        }
        self._io = [self._describe(i) for i in range(self._count())]
        (self._in,) = [t for t in self._io if t["input"]]
        (self._out,) = [t for t in self._io if not t["input"]]
        self._capacity = 0  # images the device buffers hold
        self._pointers: dict[str, int] = {}

    def _count(self) -> int:
        return self._engine.num_io_tensors if self._v3 else self._engine.num_bindings

    def _describe(self, index: int) -> dict[str, Any]:
        engine, trt = self._engine, self._trt
        if self._v3:
            name = engine.get_tensor_name(index)
            is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            shape, dtype = engine.get_tensor_shape(name), engine.get_tensor_dtype(name)
        else:
            name = engine.get_binding_name(index)
            is_input = engine.binding_is_input(index)
            shape, dtype = engine.get_binding_shape(index), engine.get_binding_dtype(index)
        return {
            "index": index,
            "name": name,
            "input": bool(is_input),
            "shape": tuple(int(d) for d in tuple(shape)),
            "dtype": np.dtype(trt.nptype(dtype)),
        }

    @property
    def input_size(self) -> tuple[int, int]:
        return self._in["shape"][1], self._in["shape"][2]

    def prepare(self, images: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(images, dtype=self._in["dtype"])

    def run(self, prepared: np.ndarray) -> np.ndarray:
        batch = len(prepared)
        self._reserve(batch)
        if self._v3:
            self._context.set_input_shape(self._in["name"], prepared.shape)
        else:
            self._context.set_binding_shape(self._in["index"], prepared.shape)
        out_shape = (batch, *self._out["shape"][1:])
        output = np.empty(out_shape, self._out["dtype"])
        self._device.upload(self._pointers[self._in["name"]], prepared)
        if self._v3:
            for tensor in self._io:
                self._context.set_tensor_address(tensor["name"], self._pointers[tensor["name"]])
            ok = self._context.execute_async_v3(self._device.stream)
        else:
            bindings = [self._pointers[t["name"]] for t in sorted(self._io, key=_index)]
            ok = self._context.execute_async_v2(bindings, self._device.stream)
        if not ok:
            raise RuntimeError("TensorRT could not enqueue the inference")
        self._device.download(output, self._pointers[self._out["name"]])
        self._device.synchronize()
        return output

    def _reserve(self, batch: int) -> None:
        """Device buffers for ``batch`` images, replaced by larger ones as batches grow."""
        if batch <= self._capacity:
            return
        for tensor in self._io:
            per_image = int(np.prod(tensor["shape"][1:])) * tensor["dtype"].itemsize
            old = self._pointers.get(tensor["name"])
            self._pointers[tensor["name"]] = self._device.alloc(batch * per_image)
            if old is not None:
                self._device.free(old)
        self._capacity = batch

    def probabilities(self, raw: np.ndarray) -> np.ndarray:
        return raw.astype(np.float32, copy=False)


def _index(tensor: dict[str, Any]) -> int:
    return int(tensor["index"])


def load(
    path: Path,
    threads: int = 0,
    fingerprint: dict[str, Any] | None = None,
    trt: Any = None,
    device: Any = None,
) -> TensorRTRuntime:
    if trt is None:
        import tensorrt as trt
    if fingerprint is not None:
        from backends.tensorrt.fingerprint import Fingerprint, check

        check(Fingerprint.from_dict(fingerprint), live_identity(trt), f"{path.name}")
    if device is None:
        from backends.tensorrt.cuda import open_device

        device = open_device()
    return TensorRTRuntime(path, trt, device)


def live_identity(trt: Any) -> dict[str, str | None]:
    """This machine's side of a fingerprint, with the TensorRT module that would load it."""
    from backends.tensorrt.fingerprint import identity_here

    return identity_here(str(trt.__version__))
