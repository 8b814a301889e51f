from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from backends.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "examples" / "tiny.toml"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.open(tmp_path / "ws")


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real console script, as a user would."""
    exe = Path(sys.executable).with_name("mllib-tui")
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        cwd=cwd,
    )


@pytest.fixture(scope="session")
def trained_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace where the tiny pipeline has run once (shared: training costs seconds)."""
    root = tmp_path_factory.mktemp("trained") / "ws"
    result = cli("run", "--headless", "--json", "-w", str(root), str(TINY))
    assert result.returncode == 0, result.stderr
    return root
