"""Device buffers for TensorRT from whichever CUDA binding the board has: cuda-python, PyCUDA
or CuPy. One small interface, so the engine builder and the runtime adapter need neither.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from backends.errors import BadInput

INSTALL = (
    "no CUDA Python binding here: install one of cuda-python (pip install cuda-python), "
    "PyCUDA (pip install pycuda) or CuPy (pip install cupy-cuda12x)"
)


class Device(Protocol):
    name: str  # which binding, recorded with the figures
    stream: int  # the CUDA stream handle TensorRT enqueues on

    def alloc(self, nbytes: int) -> int: ...  # a device pointer

    def free(self, pointer: int) -> None: ...

    def upload(self, pointer: int, array: np.ndarray) -> None: ...

    def download(self, array: np.ndarray, pointer: int) -> None: ...

    def synchronize(self) -> None: ...

    def close(self) -> None: ...


def open_device() -> Device:
    """The first binding that imports and works, in the order of the module docstring."""
    reasons = []
    for make in (CudaPython, PyCuda, CuPy):
        try:
            return make()
        except ImportError as exc:
            reasons.append(str(exc.name or exc))
    raise BadInput(f"{INSTALL} (none of {', '.join(reasons)} imports)")


class CudaPython:
    name = "cuda-python"

    def __init__(self) -> None:
        try:
            from cuda.bindings import runtime  # cuda-python 12.6 and newer
        except ImportError:
            from cuda import cudart as runtime  # older cuda-python
        self._rt = runtime
        self._pointers: list[int] = []
        self.stream = int(self._check(runtime.cudaStreamCreate()))

    def _check(self, result: tuple[Any, ...]) -> Any:
        error, *values = result
        if int(error) != 0:
            raise RuntimeError(f"CUDA error {int(error)} ({error})")
        return values[0] if values else None

    def alloc(self, nbytes: int) -> int:
        pointer = int(self._check(self._rt.cudaMalloc(nbytes)))
        self._pointers.append(pointer)
        return pointer

    def free(self, pointer: int) -> None:
        self._pointers.remove(pointer)
        self._check(self._rt.cudaFree(pointer))

    def upload(self, pointer: int, array: np.ndarray) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._check(
            self._rt.cudaMemcpyAsync(pointer, array.ctypes.data, array.nbytes, kind, self.stream)
        )

    def download(self, array: np.ndarray, pointer: int) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._check(
            self._rt.cudaMemcpyAsync(array.ctypes.data, pointer, array.nbytes, kind, self.stream)
        )

    def synchronize(self) -> None:
        self._check(self._rt.cudaStreamSynchronize(self.stream))

    def close(self) -> None:
        for pointer in self._pointers:
            self._rt.cudaFree(pointer)
        self._pointers.clear()
        self._rt.cudaStreamDestroy(self.stream)


class PyCuda:
    name = "pycuda"

    def __init__(self) -> None:
        import pycuda.autoinit  # noqa: F401  (creates the context)
        import pycuda.driver as driver

        self._driver = driver
        self._stream = driver.Stream()
        self.stream = int(self._stream.handle)
        self._allocations: dict[int, Any] = {}

    def alloc(self, nbytes: int) -> int:
        allocation = self._driver.mem_alloc(nbytes)
        self._allocations[int(allocation)] = allocation
        return int(allocation)

    def free(self, pointer: int) -> None:
        self._allocations.pop(pointer).free()

    def upload(self, pointer: int, array: np.ndarray) -> None:
        self._driver.memcpy_htod_async(pointer, array, self._stream)

    def download(self, array: np.ndarray, pointer: int) -> None:
        self._driver.memcpy_dtoh_async(array, pointer, self._stream)

    def synchronize(self) -> None:
        self._stream.synchronize()

    def close(self) -> None:
        for allocation in self._allocations.values():
            allocation.free()
        self._allocations.clear()


class CuPy:
    name = "cupy"

    def __init__(self) -> None:
        import cupy

        self._cupy = cupy
        self._stream = cupy.cuda.Stream(non_blocking=True)
        self.stream = int(self._stream.ptr)
        self._memory: dict[int, Any] = {}

    def alloc(self, nbytes: int) -> int:
        memory = self._cupy.cuda.alloc(nbytes)
        self._memory[int(memory.ptr)] = memory
        return int(memory.ptr)

    def free(self, pointer: int) -> None:
        del self._memory[pointer]  # CuPy frees it with its last reference

    def upload(self, pointer: int, array: np.ndarray) -> None:
        self._memory[pointer].copy_from_host_async(array.ctypes.data, array.nbytes, self._stream)

    def download(self, array: np.ndarray, pointer: int) -> None:
        self._memory[pointer].copy_to_host_async(array.ctypes.data, array.nbytes, self._stream)

    def synchronize(self) -> None:
        self._stream.synchronize()

    def close(self) -> None:
        self._memory.clear()
