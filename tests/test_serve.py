"""Serve on real boards: sshd on loopback, the agent in a board venv with OpenCV and LiteRT, a
camera that is a video file, and the tiny pipeline's real TFLite model."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from backends import events as ev
from backends.acquire.frames import frame_path
from backends.boards.inventory import load_inventory
from backends.errors import GateFailed
from backends.live import predict, resample
from backends.runtimes import load
from backends.serve.run import Serve, serve
from backends.workspace import Workspace
from tests.camera import FRAMES, video_frames, watch
from tests.conftest import cli
from tests.sshd import Fleet


@pytest.fixture(scope="module")
def served(trained_ws: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A copy of the trained workspace and its TFLite fp32 model's artifact id."""
    root = tmp_path_factory.mktemp("serve") / "ws"
    shutil.copytree(trained_ws, root)
    ws = Workspace.open(root)
    model = next(
        a for a in ws.catalog.artifacts("tflite") if a.meta["precision"] == "fp32"
    )  # the pipeline's own (others import more)
    return root, model.id


def test_each_mask_is_what_a_local_run_of_the_same_model_makes(
    camera_boards: tuple[Fleet, Path], served: tuple[Path, int]
) -> None:
    fleet, devices = camera_boards
    root, model = served
    settings = Serve(artifact=model, board="cam", every=4, record="served")
    figures, seen = watch(root, devices, settings)
    assert figures["frames"] == FRAMES and figures["lost"] == 0  # the video, every frame
    assert figures["fps"] > 0 and figures["inference_p50_ms"] > 0
    assert figures["e2e_p99_ms"] >= figures["e2e_p50_ms"] >= figures["inference_p50_ms"]
    assert "no more frames" in figures["reason"]
    ws = Workspace.open(root)
    runtime = load("litert", ws.verify(ws.catalog.artifact(model)))
    frames = video_frames(fleet.root / "camera.avi")
    for live in seen:
        mask, _ = predict(runtime, frames[live.index])
        full = resample(mask, 0, (480, 640))  # with --record the board sends the frame's size
        assert np.array_equal(live.mask, full), live.index
        assert live.shares == pytest.approx(
            np.bincount(mask.ravel(), minlength=4)[:4] / mask.size, abs=1e-4
        )
    assert [live.index for live in seen] == list(range(FRAMES))
    assert all((live.frame is not None) for live in seen)  # from the first frame on

    # --record kept every 4th frame with the model's mask as its pre-label
    record = ws.catalog.dataset("served")
    kept = record.manifest["frames"]
    assert [f["index"] for f in kept] == list(range(0, FRAMES, 4))
    for frame in kept:
        sha = frame["prelabel"]["sha256"]
        prelabel = cv2.imread(str(root / "frames" / sha[:2] / f"{sha}.png"), cv2.IMREAD_UNCHANGED)
        mask, _ = predict(runtime, frames[frame["index"]])
        assert np.array_equal(prelabel, resample(mask, 0, (480, 640)))
        assert frame_path(root, frame["sha256"]).is_file()


def test_stopping_ends_the_board_process(
    camera_boards: tuple[Fleet, Path], served: tuple[Path, int]
) -> None:
    """The connection's command ends: when the caller is cancelled (a dropped link, Ctrl-C
    twice) nothing is left running on the board."""
    fleet, devices = camera_boards
    root, model = served
    ws = Workspace.open(root)
    user = fleet.boards["cam"].user

    async def cancelled_midway() -> int:
        first = asyncio.Event()
        settings = Serve(artifact=model, board="cam", mask_width=32)
        task = asyncio.ensure_future(
            serve(ws, load_inventory(devices, ws.root), settings, lambda _e: None,
                  lambda _live: first.set())
        )  # fmt: skip
        await asyncio.wait_for(first.wait(), 60)
        running = subprocess.run(["pgrep", "-u", user, "-f", "mllib-agent"], capture_output=True)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return running.returncode

    assert asyncio.run(cancelled_midway()) == 0  # it was running on the board
    deadline = time.monotonic() + 10
    while subprocess.run(["pgrep", "-u", user, "-f", "mllib-agent"]).returncode == 0:
        assert time.monotonic() < deadline, "the agent is still running on the board"
        time.sleep(0.1)


def test_mjpeg_is_forwarded_through_the_ssh_connection(
    camera_boards: tuple[Fleet, Path], served: tuple[Path, int]
) -> None:
    _, devices = camera_boards
    root, model = served
    ws = Workspace.open(root)
    parts: list[bytes] = []

    def on_event(event: ev.Event) -> None:
        if isinstance(event, ev.Log) and "http://127.0.0.1:" in event.message:
            url = event.message.split("browser: ")[1]
            parts.append(url.encode())

    async def watch() -> None:
        stop = asyncio.Event()
        settings = Serve(artifact=model, board="cam", http=18765, mask_width=32)
        task = asyncio.ensure_future(
            serve(ws, load_inventory(devices, ws.root), settings, on_event, until=stop)
        )
        for _ in range(600):
            if parts:
                break
            await asyncio.sleep(0.05)
        url = parts[0].decode()

        def fetch() -> tuple[str, bytes]:
            for _ in range(50):  # the board's server starts with the loop
                try:
                    with urllib.request.urlopen(url, timeout=5) as response:
                        return response.headers["Content-Type"], response.read(4096)
                except OSError:
                    time.sleep(0.1)
            raise AssertionError("the forwarded port never answered")

        content_type, body = await asyncio.to_thread(fetch)
        stop.set()
        await task
        assert content_type == "multipart/x-mixed-replace; boundary=mllib-frame"
        head, _, rest = body.partition(b"\r\n\r\n")
        assert head.startswith(b"--mllib-frame\r\nContent-Type: image/jpeg")
        assert rest[:2] == b"\xff\xd8"  # a JPEG part

    asyncio.run(watch())


def test_headless_soak_prints_the_run_and_gates_on_fps(
    camera_boards: tuple[Fleet, Path], served: tuple[Path, int]
) -> None:
    _, devices = camera_boards
    root, model = served
    args = [str(model), "cam", "--devices", str(devices), "-w", str(root), "--headless"]
    result = cli("serve", *args, "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])["data"]
    assert figures["frames"] == FRAMES and figures["board"] == "cam"
    slow = cli("serve", *args, "--min-fps", "100000")
    assert slow.returncode == 1
    assert "gate failed: serve on cam:" in slow.stderr
    assert "frames/s is below --min-fps 100000" in slow.stderr
    with pytest.raises(GateFailed):
        watch(root, devices, Serve(artifact=model, board="cam", min_fps=100000, mask_width=16))


@pytest.fixture
def local_video(tmp_path: Path) -> Path:
    from tests.camera import write_video

    video = tmp_path / "camera.avi"
    write_video(video, 200)
    return video


async def test_the_preview_shows_frames_masks_and_figures(
    served: tuple[Path, int], local_video: Path
) -> None:
    """The app's serve screen on this machine's board (the agent as a subprocess), in Pilot."""
    from textual.app import App
    from textual.widgets import Static

    from mllib_tui.screens.serve import ServeScreen
    from mllib_tui.widgets.image import ImageView

    root, model = served
    settings = Serve(artifact=model, camera=str(local_video), every=2)
    screen = ServeScreen(Workspace.open(root), None, settings, ["void", "a", "b", "c"])

    class Preview(App[None]):
        def on_mount(self) -> None:
            self.push_screen(screen)

    app = Preview()
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(600):
            if screen.drawn >= 5:
                break
            await pilot.pause(0.05)
        assert screen.drawn >= 5
        figures = str(screen.query_one("#figures", Static).render())
        assert "frames/s" in figures and "inference p50" in figures
        assert "void" in str(screen.query_one("#legend", Static).render())
        image = screen.query_one(ImageView)
        assert image._image is not None and image._mask is not None
        await pilot.press("q")  # stops the board's loop, then closes
        for _ in range(200):
            if isinstance(screen.outcome, dict):
                break
            await pilot.pause(0.05)
    assert isinstance(screen.outcome, dict) and screen.outcome["frames"] >= 5
    assert screen.outcome["reason"] == "the workstation stopped it"
