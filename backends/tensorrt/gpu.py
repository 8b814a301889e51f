"""The NVIDIA GPU as the CUDA driver sees it, through ctypes: no Python binding needed.

``libcuda`` is there wherever a GPU can run anything (desktop driver or Jetson's L4T), so the
probe and the engine fingerprint read the GPU's name and compute capability the same way on
every board, and the build preflight reads free device memory.
"""

from __future__ import annotations

import ctypes
from typing import Any

COMPUTE_CAPABILITY_MAJOR, COMPUTE_CAPABILITY_MINOR, INTEGRATED = 75, 76, 18


def query() -> dict[str, Any] | None:
    """``{"cuda_driver": "13.0", "gpus": [{"name", "compute_capability", "memory_mb",
    "free_mb", "integrated"}]}``; None where there is no usable driver or GPU."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return None
    if cuda.cuInit(0) != 0:
        return None
    version, count = ctypes.c_int(), ctypes.c_int()
    if cuda.cuDriverGetVersion(ctypes.byref(version)) or cuda.cuDeviceGetCount(ctypes.byref(count)):
        return None
    gpus = [_device(cuda, ordinal) for ordinal in range(count.value)]
    return {
        "cuda_driver": f"{version.value // 1000}.{version.value % 1000 // 10}",
        "gpus": [gpu for gpu in gpus if gpu is not None],
    }


def _device(cuda: Any, ordinal: int) -> dict[str, Any] | None:
    device = ctypes.c_int()
    if cuda.cuDeviceGet(ctypes.byref(device), ordinal):
        return None
    name = ctypes.create_string_buffer(256)
    cuda.cuDeviceGetName(name, 256, device)
    major, minor, integrated = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    cuda.cuDeviceGetAttribute(ctypes.byref(major), COMPUTE_CAPABILITY_MAJOR, device)
    cuda.cuDeviceGetAttribute(ctypes.byref(minor), COMPUTE_CAPABILITY_MINOR, device)
    cuda.cuDeviceGetAttribute(ctypes.byref(integrated), INTEGRATED, device)
    total = ctypes.c_size_t()
    cuda.cuDeviceTotalMem_v2(ctypes.byref(total), device)
    return {
        "name": name.value.decode(errors="replace"),
        "compute_capability": f"{major.value}.{minor.value}",
        "memory_mb": total.value >> 20,
        "free_mb": _free_mb(cuda, device),
        "integrated": bool(integrated.value),  # Jetson: the GPU shares the board's memory
    }


def _free_mb(cuda: Any, device: ctypes.c_int) -> int | None:
    """Free device memory; needs the device's primary context, released again after."""
    context = ctypes.c_void_p()
    if cuda.cuDevicePrimaryCtxRetain(ctypes.byref(context), device):
        return None
    try:
        free, total = ctypes.c_size_t(), ctypes.c_size_t()
        if cuda.cuCtxPushCurrent_v2(context):
            return None
        try:
            if cuda.cuMemGetInfo_v2(ctypes.byref(free), ctypes.byref(total)):
                return None
            return free.value >> 20
        finally:
            cuda.cuCtxPopCurrent_v2(ctypes.byref(ctypes.c_void_p()))
    finally:
        cuda.cuDevicePrimaryCtxRelease_v2(device)
