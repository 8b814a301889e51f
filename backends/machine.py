"""What machine produced a result: CPU model, cores, architecture, OS and Python.

Standard library only: the board agent reports the same manifest.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware"):
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def manifest() -> dict[str, str | int]:
    return {
        "hostname": platform.node(),
        "cpu": cpu_model(),
        "cores": os.cpu_count() or 1,
        "arch": platform.machine(),
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
    }


def hardware_label(info: dict[str, str | int]) -> str:
    """A short label for the results table's Hardware column, like the original's."""
    return f"{info['arch']} {info['cpu']} ({info['cores']} cores)"
