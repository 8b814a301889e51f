"""What a TensorRT engine is bound to, and whether a board matches it.

An engine runs only on the GPU model (compute capability) and the exact TensorRT release that
built it; on Jetson the L4T release pins the CUDA/cuDNN stack too. Its fingerprint also names
what it was built from (ONNX hash, precision, calibration cache hash), so the catalog caches
one engine per fingerprint and a mismatched engine is refused before TensorRT sees it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from backends.errors import BadInput

BOARD_FIELDS = ("gpu", "compute_capability", "tensorrt", "l4t")


@dataclass(frozen=True)
class Fingerprint:
    gpu: str  # "Orin", "NVIDIA H100 80GB HBM3"
    compute_capability: str  # "8.7"
    tensorrt: str  # "8.5.2.2", "10.3.0"
    l4t: str | None  # "R35 (release), REVISION: 4.1" on Jetson; None elsewhere
    precision: str
    onnx_sha256: str
    calibration_sha256: str | None = None  # int8 only: the cache the engine was built with

    @property
    def key(self) -> str:
        """One hash of every field: the catalog's cache key."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fingerprint:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def board_identity(probe: dict[str, Any], board: str) -> dict[str, str | None]:
    """The board's side of a fingerprint, from ``boards probe``; a board without an NVIDIA
    GPU or TensorRT is one line saying what to install."""
    accelerators = probe.get("accelerators") or {}
    gpus = (accelerators.get("cuda") or {}).get("gpus") or []
    tensorrt = probe.get("tensorrt") or {}
    if not tensorrt.get("version"):
        raise BadInput(
            f"board {board} has no TensorRT: install JetPack's python3-libnvinfer (Jetson: "
            "sudo apt install python3-libnvinfer nvidia-tensorrt), or TensorRT's Python wheel "
            "on an x86 GPU host"
        )
    if not gpus:
        raise BadInput(
            f"board {board} has TensorRT {tensorrt['version']} but no CUDA GPU answers "
            "(libcuda.so.1 missing or no device): check the NVIDIA driver / JetPack install"
        )
    return {
        "gpu": gpus[0]["name"],
        "compute_capability": gpus[0]["compute_capability"],
        "tensorrt": tensorrt["version"],
        "l4t": accelerators.get("l4t"),
    }


def identity_here(tensorrt: str | None) -> dict[str, str | None]:
    """This machine's side of a fingerprint: the GPU as the CUDA driver reports it, the L4T
    release, and ``tensorrt`` (the module's version, or trtexec's)."""
    from backends.machine import l4t_release
    from backends.tensorrt.gpu import query

    gpus = (query() or {}).get("gpus") or [{}]
    return {
        "gpu": gpus[0].get("name"),
        "compute_capability": gpus[0].get("compute_capability"),
        "tensorrt": tensorrt,
        "l4t": l4t_release(),
    }


def mismatches(engine: Fingerprint, board: dict[str, str | None]) -> list[str]:
    """What differs between where the engine was built and ``board``: empty when it may run."""
    found = []
    for name in BOARD_FIELDS:
        built, here = getattr(engine, name), board.get(name)
        if built != here:
            found.append(f"{name.replace('_', ' ')} {built or 'none'} (engine) vs {here or 'none'}")
    return found


def check(engine: Fingerprint, board: dict[str, str | None], where: str) -> None:
    """Refuse an engine built elsewhere, before anything tries to deserialise it."""
    differences = mismatches(engine, board)
    if differences:
        raise BadInput(
            f"{where}: refusing a TensorRT engine built for another device or TensorRT "
            f"({'; '.join(differences)}); build one for this board with `mllib-tui engines "
            "build`"
        )
