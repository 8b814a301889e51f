"""The labelling tools' own code (datumaro, Label Studio and its SDK), each in the venv
`scripts/install --test` makes for it, run as the independent side of the annotate tests."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).with_name("tools")


def python(tool: str) -> Path:
    exe = ROOT / ".venv-tools" / tool / "bin" / "python"
    if not exe.exists():
        pytest.fail(f"{exe} is missing: `scripts/install --test` installs {tool} there")
    return exe


def run(tool: str, script: str, *args: Any, timeout: float = 300) -> Any:
    """Run ``tests/tools/SCRIPT`` with the tool's Python; its stdout is one JSON document."""
    out = subprocess.run(
        [str(python(tool)), str(SCRIPTS / script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout or "null")
