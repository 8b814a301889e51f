"""The real thing in a real terminal: tmux runs `mllib-tui`, keys deploy the demo model to the
local board and start a benchmark, and the screen shows the rows and the heatmap."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
SESSION = f"mllib-test-{os.getpid()}"


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def screen() -> str:
    return tmux("capture-pane", "-p", "-t", SESSION)


def wait_for(text: str, seconds: float = 120) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        shown = screen()
        if text in shown:
            return shown
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared; the screen was:\n{screen()}")


def test_deploy_and_benchmark_from_the_keyboard(trained_ws: Path, tmp_path: Path) -> None:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is missing: scripts/install --test installs it")
    ws = tmp_path / "ws"
    shutil.copytree(trained_ws, ws)
    exe = Path(sys.executable).with_name("mllib-tui")
    tmux(
        "new-session",
        "-d",
        "-s",
        SESSION,
        "-x",
        "120",
        "-y",
        "36",
        # COLUMNS/LINES from the test's environment would override the real terminal size
        f"env -u COLUMNS -u LINES TERM=xterm-256color {exe} -w {ws}",
    )
    try:
        wait_for("conversion(s)")  # the workspace summary: loaded
        tmux("send-keys", "-t", SESSION, "Tab")  # the models table
        for _ in range(4):
            tmux("send-keys", "-t", SESSION, "Down")  # onto the int8 row (the fifth)
        tmux("send-keys", "-t", SESSION, "d")
        wait_for("Deploy tflite int8")
        tmux("send-keys", "-t", SESSION, "Enter")
        wait_for("online")
        assert (ws / "boards/local/deployed/tflite-int8/current/model.tflite").exists()
        tmux("send-keys", "-t", SESSION, "Tab")  # the boards table
        tmux("send-keys", "-t", SESSION, "Enter")
        wait_for("board local")
        tmux("send-keys", "-t", SESSION, "b")
        shown = wait_for("LiteRT int8: ok", 180)
        for text in ("ONNX Runtime fp32", "LiteRT int8", "row-normalised", "void", "animal"):
            assert text in shown
    finally:
        subprocess.run(["tmux", "kill-session", "-t", SESSION], check=False)


def test_a_dataset_image_in_a_real_terminal(tmp_path: Path) -> None:
    """The image widget in tmux: half-block cells in 24-bit colour, the legend beside them."""
    from backends.datasets.build import synth_dataset
    from backends.workspace import Workspace

    if shutil.which("tmux") is None:
        pytest.fail("tmux is missing: scripts/install --test installs it")
    ws = tmp_path / "ws"
    synth_dataset(Workspace.open(ws), name="demo", images=8, size=(64, 64), emit=lambda _: None)
    exe = Path(sys.executable).with_name("mllib-tui")
    tmux(
        "new-session", "-d", "-s", SESSION, "-x", "100", "-y", "30",
        f"env -u COLUMNS -u LINES TERM=xterm-256color COLORTERM=truecolor {exe} -w {ws}",
    )  # fmt: skip
    try:
        wait_for("dataset(s)")
        tmux("send-keys", "-t", SESSION, "Enter")  # the datasets table has the focus
        wait_for("val 1/")
        shown = wait_for("Overlay")  # the footer: the screen is drawn whole
        for text in ("Class", "void", "vehicle"):
            assert text in shown
        cells = sum(line.count("\u2580") for line in shown.splitlines())
        assert cells > 100 * 30 // 4  # the image fills most of the left of the screen
        coloured = tmux("capture-pane", "-p", "-e", "-t", SESSION)
        truecolour = {seq for seq in coloured.split("\x1b[") if seq.startswith(("38;2;", "48;2;"))}
        assert len(truecolour) > 20  # many distinct 24-bit colours, not a palette of 16
        tmux("send-keys", "-t", SESSION, "o")  # the overlay off: the image's colours change
        deadline = time.monotonic() + 10
        while True:
            after = tmux("capture-pane", "-p", "-e", "-t", SESSION)
            now = {seq for seq in after.split("\x1b[") if seq.startswith(("38;2;", "48;2;"))}
            if len(now ^ truecolour) > 20:  # many cells recoloured: not a toast or a footer
                break
            assert time.monotonic() < deadline, "o did not redraw the image without its mask"
            time.sleep(0.1)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", SESSION], check=False)


def test_serve_previews_in_a_real_terminal_and_quits(trained_ws: Path, tmp_path: Path) -> None:
    """`mllib-tui serve` at 80x24 in tmux: the frame with its mask, the figures; q quits and
    the run's figures are printed."""
    from backends.workspace import Workspace
    from tests.camera import write_video

    if shutil.which("tmux") is None:
        pytest.fail("tmux is missing: scripts/install --test installs it")
    ws = tmp_path / "ws"
    shutil.copytree(trained_ws, ws)
    tflite = Workspace.open(ws).catalog.artifacts("tflite")
    model = next(a for a in tflite if a.meta["precision"] == "int8")  # the pipeline's own
    video = tmp_path / "camera.avi"
    write_video(video, 2000)
    out = tmp_path / "out.txt"
    exe = Path(sys.executable).with_name("mllib-tui")
    command = (
        f"env -u COLUMNS -u LINES TERM=xterm-256color COLORTERM=truecolor {exe} serve "
        f"{model.id} local --camera {video} -w {ws}; echo exit=$? > {out}; sleep 30"
    )
    tmux("new-session", "-d", "-s", SESSION, "-x", "80", "-y", "24", command)
    try:
        shown = wait_for("frames/s", 60)
        assert "\u2580" in shown and "inference p50" in shown
        tmux("send-keys", "-t", SESSION, "q")
        deadline = time.monotonic() + 30
        while not out.exists():
            assert time.monotonic() < deadline, f"serve did not quit:\n{screen()}"
            time.sleep(0.2)
        assert out.read_text().strip() == "exit=0"
        assert "frames in" in screen() and "frames/s" in screen()  # the summary line
    finally:
        subprocess.run(["tmux", "kill-session", "-t", SESSION], check=False)
