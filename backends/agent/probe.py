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

from backends.formats import RUNTIMES
from backends.machine import l4t_release, manifest


def probe(workdir: str) -> dict[str, Any]:
    found = {"numpy": _version("numpy")} if _version("numpy") else {}
    for runtime in RUNTIMES.values():
        for module in runtime.probe:
            version = _version(module, runtime.metadata_only)
            if version is not None:
                found[module.split(".")[0]] = version
    return {
        **manifest(),
        "modules": found,
        "runtimes": sorted(_runtimes(found)),
        "accelerators": _accelerators(),
        "tensorrt": _tensorrt(found.get("tensorrt")),
        "memory_mb": _meminfo("MemTotal"),
        **memory_state(),
        "disk_free_mb": shutil.disk_usage(workdir if os.path.isdir(workdir) else ".").free >> 20,
        "temperature_c": temperature(),
        "kernel": platform.release(),
    }


def _runtimes(modules: dict[str, str]) -> set[str]:
    """The runtimes whose probe modules import here, and those whose shared library is here
    with a runtime it works through (libedgetpu with LiteRT: no PyCoral needed)."""
    import ctypes.util

    present = {
        r.name for r in RUNTIMES.values() if any(m.split(".")[0] in modules for m in r.probe)
    }
    for runtime in RUNTIMES.values():
        if runtime.library and set(runtime.through) & present:
            present |= {runtime.name} if ctypes.util.find_library(runtime.library) else set()
    return present


def _version(module: str, metadata_only: bool = False) -> str | None:
    if metadata_only:  # importing it takes seconds and megabytes: find it, ask the metadata
        from importlib import metadata, util

        try:
            if util.find_spec(module) is None:
                return None
        except (ImportError, ValueError):
            return None
        distributions = getattr(metadata, "packages_distributions", dict)()  # Python 3.10+
        for distribution in distributions.get(module, []):  # tensorflow-cpu provides tensorflow
            return metadata.version(distribution)
        return "installed"
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
    from backends.tensorrt.gpu import query

    cuda = query()
    if cuda and cuda["gpus"]:
        found["cuda"] = cuda
    return found


def _tensorrt(module_version: str | None) -> dict[str, Any] | None:
    """TensorRT's version, from its Python module or else from ``trtexec``'s banner."""
    from backends.tensorrt.trtexec import find, parse

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


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def _meminfo(key: str) -> int | None:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) // 1024
    return None


def temperature() -> float | None:
    """The hottest thermal zone, in degrees Celsius (None where none is readable)."""
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
