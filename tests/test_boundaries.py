"""The engine and the Python API never import the UI, and nothing heavy is imported at
start-up."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UI = {"textual", "typer", "rich", "mllib_tui"}
HEAVY = {"tensorflow", "keras", "onnxruntime", "cv2", "pycocotools", "matplotlib", "tf2onnx"}


def _modules_after(statement: str) -> set[str]:
    code = (
        f"import sys\n{statement}\nprint('\\n'.join(sorted(m.split('.')[0] for m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_engine_imports_no_ui_and_nothing_heavy() -> None:
    engine = [
        p.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")
        for p in (ROOT / "backends").rglob("*.py")
        if p.relative_to(ROOT).as_posix() != "backends/train/loop.py"  # imports Keras
    ]
    loaded = _modules_after("\n".join(f"import {m}" for m in engine))
    assert not loaded & UI
    assert not loaded & HEAVY, "heavy libraries must be imported inside the functions using them"


def test_the_python_api_imports_no_ui_and_nothing_heavy() -> None:
    loaded = _modules_after("import mllib")
    assert not loaded & UI
    assert not loaded & (HEAVY | {"pandas", "IPython", "asyncssh", "aioboto3"})


def test_no_engine_or_api_source_mentions_the_ui() -> None:
    for path in [*(ROOT / "backends").rglob("*.py"), *(ROOT / "mllib").rglob("*.py")]:
        for line in path.read_text().splitlines():
            words = line.split()
            if words[:1] in (["import"], ["from"]) and len(words) > 1:
                assert words[1].split(".")[0] not in UI, f"{path}: {line}"


def test_cli_start_up_imports_nothing_heavy() -> None:
    loaded = _modules_after("import mllib_tui.cli")
    assert not loaded & HEAVY


def test_the_app_reaches_its_first_frame_without_numpy() -> None:
    """numpy (about a tenth of the app's imports on a slow machine) loads with the first
    image, row or measurement, after the first frame."""
    loaded = _modules_after("import mllib_tui.app")
    assert not loaded & (HEAVY | {"numpy"})
