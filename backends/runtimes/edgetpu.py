"""The Edge TPU: an Edge TPU-compiled TFLite model through libedgetpu's delegate.

The delegate comes from Google's PyCoral (Coral's apt repository: python3-pycoral) where it is
installed, else from the interpreter's own ``load_delegate('libedgetpu.so.1')`` (tflite_runtime
or ai_edge_litert). PyPI's ``pycoral`` is an unrelated package with the same import name; it has
no ``pycoral.utils.edgetpu`` and is passed over. Everything else is the LiteRT adapter.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from backends.errors import BadInput
from backends.runtimes.litert import LiteRTRuntime, interpreter_module

LIBRARY = "libedgetpu.so.1"
INSTALL = (
    "install libedgetpu1-std from Coral's apt repository (https://coral.ai/software/), and "
    "check the Coral is connected (USB: lsusb shows 1a6e or 18d1; PCIe: /dev/apex_0 exists)"
)


def load(path: Path, threads: int = 0, device: str | None = None) -> LiteRTRuntime:
    runtime = LiteRTRuntime(path, threads, False, delegates=[delegate(device)])
    runtime.name = "edgetpu"
    runtime.options = {"delegate": LIBRARY, "device": device or "first found"}
    return runtime


def delegate(device: str | None = None) -> Any:
    """libedgetpu's delegate for ``device`` (``usb``, ``pci:0``...; default: the first)."""
    options = {"device": device} if device else {}
    try:
        from pycoral.utils import edgetpu  # Google's PyCoral only

        load_delegate: Any = edgetpu.load_edgetpu_delegate
    except ImportError:
        module, _ = interpreter_module()

        def load_delegate(options: dict[str, str]) -> Any:
            return module.load_delegate(LIBRARY, options)

    hook = sys.unraisablehook
    # after a failed load, LiteRT's half-built Delegate fails again in __del__: noise, dropped
    sys.unraisablehook = lambda _unraisable: None
    try:
        try:
            return load_delegate(options)
        except (ValueError, OSError, RuntimeError) as exc:
            reason = (str(exc).strip().splitlines() or ["no reason given"])[0]
    finally:
        sys.unraisablehook = hook
    raise BadInput(f"the Edge TPU delegate did not load ({reason}): {INSTALL}")
