"""What a board is and what it can run. Standard library only; every probe is best-effort."""

from __future__ import annotations

import glob
import importlib
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

from backends.machine import manifest

RUNTIME_MODULES = {
    "numpy": "numpy",
    "ai_edge_litert": "ai_edge_litert",
    "tflite_runtime": "tflite_runtime",
    "onnxruntime": "onnxruntime",
    "tensorrt": "tensorrt",
    "pycoral": "pycoral.utils.edgetpu",  # Google's PyCoral; PyPI's pycoral is another thing
    "tensorflow": "tensorflow",
}
# which mllib runtime each module provides
PROVIDES = {
    "ai_edge_litert": "litert",
    "tflite_runtime": "litert",
    "onnxruntime": "onnxruntime",
    "tensorrt": "tensorrt",
    "pycoral": "edgetpu",
    "tensorflow": "tensorflow",
}


def probe(workdir: str) -> dict[str, Any]:
    modules = {name: _version(module) for name, module in RUNTIME_MODULES.items()}
    found = {k: v for k, v in modules.items() if v is not None}
    return {
        **manifest(),
        "modules": found,
        "runtimes": sorted({PROVIDES[m] for m in found if m in PROVIDES} | _edgetpu(found)),
        "accelerators": _accelerators(),
        "tensorrt": _tensorrt(found.get("tensorrt")),
        "memory_mb": _meminfo("MemTotal"),
        **memory_state(),
        "disk_free_mb": shutil.disk_usage(workdir if os.path.isdir(workdir) else ".").free >> 20,
        "temperature_c": _temperature(),
        "kernel": platform.release(),
    }


def _version(module: str) -> str | None:
    if module == "tensorflow":  # importing TF takes seconds and megabytes: ask the metadata
        try:
            from importlib.metadata import version

            return version("tensorflow")
        except Exception:
            return None
    try:
        imported = importlib.import_module(module)
    except Exception:  # absent, or broken (e.g. built for another numpy)
        return None
    return str(getattr(imported, "__version__", "installed"))


def _accelerators() -> dict[str, Any]:
    found: dict[str, Any] = {}
    model = _read("/proc/device-tree/model").strip("\0 \n")
    if "Jetson" in model or Path("/etc/nv_tegra_release").exists():
        found["jetson"] = model or "NVIDIA Jetson"
        release = l4t_release()
        if release:
            found["l4t"] = release
    if "Raspberry Pi" in model:
        found["raspberry_pi"] = model
    if glob.glob("/dev/apex_*"):
        found["coral_pcie"] = len(glob.glob("/dev/apex_*"))
    usb = [_read(p).strip() for p in glob.glob("/sys/bus/usb/devices/*/idVendor")]
    if any(v in ("1a6e", "18d1") for v in usb):
        found["coral_usb"] = True
    if glob.glob("/dev/nvidia[0-9]*") or shutil.which("nvidia-smi"):
        found["nvidia_gpu"] = True
    from backends.engines.gpu import query

    cuda = query()
    if cuda and cuda["gpus"]:
        found["cuda"] = cuda
    return found


def _edgetpu(modules: dict[str, str]) -> set[str]:
    """libedgetpu plus an interpreter runs Edge TPU models, with or without PyCoral."""
    import ctypes.util

    interpreter = {"ai_edge_litert", "tflite_runtime"} & set(modules)
    return {"edgetpu"} if interpreter and ctypes.util.find_library("edgetpu") else set()


def l4t_release() -> str | None:
    """``R35 (release), REVISION: 4.1``: JetPack's L4T release, which pins CUDA and cuDNN."""
    text = _read("/etc/nv_tegra_release")
    return ", ".join(part.strip("# \n") for part in text.split(",")[:2]) or None


def _tensorrt(module_version: str | None) -> dict[str, Any] | None:
    """TensorRT's version, from its Python module or else from ``trtexec``'s banner."""
    from backends.engines.trtexec import find, parse

    trtexec = find()
    version = module_version
    if version is None and trtexec is not None:
        try:
            banner = subprocess.run(
                [trtexec, "--help"], capture_output=True, text=True, timeout=20, check=False
            )
            version = parse(banner.stdout + banner.stderr).tensorrt
        except (OSError, subprocess.SubprocessError):
            version = None
    if version is None:
        return None
    return {"version": version, "python": module_version is not None, "trtexec": trtexec}


def memory_state() -> dict[str, int | None]:
    return {
        "memory_available_mb": _meminfo("MemAvailable"),
        "swap_free_mb": _meminfo("SwapFree"),
    }


def _meminfo(key: str) -> int | None:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) // 1024
    return None


def _temperature() -> float | None:
    temps = []
    for path in glob.glob("/sys/class/thermal/thermal_zone*/temp"):
        try:
            temps.append(int(_read(path).strip()) / 1000)
        except ValueError:
            continue
    return max(temps) if temps else None


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""
