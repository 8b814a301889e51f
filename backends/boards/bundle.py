"""The board agent as a zipapp, named by the hash of its contents (uploaded once per version).

Only the modules a board needs go in: stdlib + numpy + one runtime. A test checks that the list
is closed (every ``backends`` import inside it is inside it) and runs on Python 3.8.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the backends package
MODULES = (
    "__init__.py",
    "errors.py",
    "events.py",
    "formats.py",
    "metrics.py",
    "bench.py",
    "evaluation.py",
    "machine.py",
    "stdio.py",
    "datasets/__init__.py",
    "datasets/shards.py",
    "runtimes/__init__.py",
    "runtimes/onnxruntime.py",
    "runtimes/litert.py",
    "runtimes/tensorflow.py",
    "runtimes/tensorrt.py",
    "runtimes/edgetpu.py",
    "engines/__init__.py",
    "engines/build.py",
    "engines/calibration.py",
    "engines/cuda.py",
    "engines/fingerprint.py",
    "engines/gpu.py",
    "engines/preflight.py",
    "engines/trtexec.py",
    "agent/__init__.py",
    "agent/__main__.py",
    "agent/probe.py",
)
MAIN = b"from backends.agent.__main__ import main\nimport sys\nsys.exit(main())\n"


def build() -> tuple[str, bytes]:
    """(file name, zipapp bytes); byte-identical for identical sources."""
    buffer = io.BytesIO()
    buffer.write(b"#!/usr/bin/env python3\n")
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in MODULES:
            info = zipfile.ZipInfo(f"backends/{name}", date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (ROOT / name).read_bytes())
        info = zipfile.ZipInfo("__main__.py", date_time=(2020, 1, 1, 0, 0, 0))
        archive.writestr(info, MAIN)
    data = buffer.getvalue()
    return f"mllib-agent-{hashlib.sha256(data).hexdigest()[:16]}.pyz", data
