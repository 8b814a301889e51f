"""Will an engine build fit? TensorRT's builder needs its workspace plus a few copies of the
weights; on Jetson the GPU shares the board's memory, so free RAM and swap are what count.
A build that runs out of memory on a board can take the board down with it: check first."""

from __future__ import annotations

from typing import Any

from backends.errors import BadInput

OVERHEAD_MB = 512  # CUDA context, cuDNN/cuBLAS handles, the builder itself


def needed_mb(onnx_bytes: int, workspace_mb: int) -> int:
    return workspace_mb + 3 * (onnx_bytes >> 20) + OVERHEAD_MB


def check(needed: int, machine: dict[str, Any], workspace_mb: int, where: str) -> None:
    """``machine``: ``memory_available_mb``, ``swap_free_mb`` and the GPU's ``free_mb`` /
    ``integrated`` (``backends.tensorrt.gpu``)."""
    gpu = machine.get("gpu") or {}
    if gpu.get("integrated", True):  # Jetson, or unknown: what the board itself has free
        memory, swap = machine.get("memory_available_mb"), machine.get("swap_free_mb") or 0
        if memory is None:
            return  # nothing to go by: let TensorRT try
        free, detail = memory + swap, f"{memory} MB memory + {swap} MB swap"
    else:
        if gpu.get("free_mb") is None:
            return
        free, detail = gpu["free_mb"], f"{gpu['free_mb']} MB GPU memory"
    if free < needed:
        prefix = f"{where}: " if where else ""
        raise BadInput(
            f"{prefix}the engine build needs about {needed} MB but {detail} is free: add swap "
            "(sudo fallocate -l 4G /swapfile && sudo mkswap /swapfile && sudo swapon "
            "/swapfile), stop other GPU work (on Jetson: sudo systemctl stop gdm), or lower "
            f"--workspace-mb (now {workspace_mb})"
        )
