"""What machine produced a result: CPU model, cores, architecture, OS and Python.

Standard library only: the board agent reports the same manifest.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

X86 = ("x86_64", "amd64", "i386", "i686")


def cpu_model() -> str:
    for key, value in _cpuinfo():
        if key in ("model name", "Model", "Hardware"):
            return value
    return platform.processor() or platform.machine()


def emulated() -> bool:
    """True under user-mode emulation (qemu-user): the process is of one architecture while
    /proc/cpuinfo, which qemu passes through, describes a CPU of another."""
    keys = {key for key, _ in _cpuinfo()}
    x86_cpu, arm_cpu = "vendor_id" in keys, "CPU implementer" in keys
    native_x86 = platform.machine().lower() in X86
    return (x86_cpu and not native_x86) or (arm_cpu and native_x86)


def manifest() -> dict[str, str | int]:
    info: dict[str, str | int] = {
        "hostname": platform.node(),
        "cpu": cpu_model(),
        "cores": os.cpu_count() or 1,
        "arch": platform.machine(),
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
    }
    if emulated():
        info["emulated"] = "qemu-user"  # latency figures say little about the real chip
    return info


def l4t_release() -> str | None:
    """``R35 (release), REVISION: 4.1``: JetPack's L4T release, which pins CUDA and cuDNN."""
    try:
        text = Path("/etc/nv_tegra_release").read_text(errors="replace")
    except OSError:
        return None
    return ", ".join(part.strip("# \n") for part in text.split(",")[:2]) or None


def hardware_label(info: dict[str, str | int]) -> str:
    """A short label for the results table's Hardware column, like the original's."""
    emulation = f", emulated by {info['emulated']}" if info.get("emulated") else ""
    return f"{info['arch']} {info['cpu']} ({info['cores']} cores{emulation})"


def _cpuinfo() -> list[tuple[str, str]]:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []
    return [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines)]
