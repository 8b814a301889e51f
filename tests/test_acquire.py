"""Acquire on real boards: sshd on loopback, the agent in a board venv with OpenCV, and a camera
that is a video file the test writes (the board opens it with the same ``VideoCapture`` call as
a device). A second board has no OpenCV."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from backends.acquire.frames import frame_path
from backends.catalog import DatasetRecord
from backends.errors import BadInput
from backends.runtimes import load
from backends.tasks import task_of
from backends.uncertainty import score_jpeg
from backends.workspace import Workspace
from tests.camera import FRAMES, video_frames, write_video
from tests.conftest import cli
from tests.sshd import Fleet

SIZE = (320, 240)  # what the board is asked for: it resizes and encodes


def board_jpeg(bgr: np.ndarray) -> bytes:
    """What the board encodes for one frame at SIZE."""
    resized = cv2.resize(bgr, SIZE, interpolation=cv2.INTER_AREA)
    return cv2.imencode(".jpg", resized, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def capture_of(root: Path) -> DatasetRecord:
    (record,) = [d for d in Workspace.open(root).catalog.datasets() if not d.labelled]
    return record


def stored(root: Path, record: DatasetRecord) -> list[bytes]:
    return [frame_path(root, f["sha256"]).read_bytes() for f in record.manifest["frames"]]


def test_frames_arrive_byte_identical_with_their_metadata(
    camera_boards: tuple[Fleet, Path], tmp_path: Path
) -> None:
    fleet, devices = camera_boards
    root = tmp_path / "ws"
    started = time.time()
    size = "x".join(map(str, SIZE))
    args = ["--devices", str(devices), "-w", str(root), "--interval", "0"]
    result = cli("acquire", "cam", "--frames", "10", "--size", size, "--dataset", "bench", *args)
    assert result.returncode == 0, result.stderr
    record = capture_of(root)
    assert f"bench@{record.version}: 10 frames from cam" in result.stdout
    expected = [board_jpeg(f) for f in video_frames(fleet.root / "camera.avi")[:10]]
    assert stored(root, record) == expected  # byte for byte what the board encoded
    manifest = record.manifest
    assert (manifest["task"], manifest["partial"], manifest["image_size"]) == (
        "unlabelled",
        False,
        [240, 320],
    )
    assert manifest["capture"]["board"] == "cam"
    assert manifest["capture"]["camera"] == str(fleet.root / "camera.avi")
    assert manifest["capture"]["backend"] == "opencv-ffmpeg"
    assert manifest["capture"]["examined"] == 10
    frames = manifest["frames"]
    assert [f["index"] for f in frames] == list(range(10))
    assert all((f["width"], f["height"]) == SIZE for f in frames)
    assert all(started - 5 < f["captured"] < time.time() + 5 for f in frames)
    assert [f["captured"] for f in frames] == sorted(f["captured"] for f in frames)

    # Without --size the camera's own JPEG bytes pass through (an MJPEG camera): no re-encode.
    result = cli("acquire", "cam", "--frames", "5", "--dataset", "raw", *args)
    assert result.returncode == 0, result.stderr
    capture = cv2.VideoCapture(str(fleet.root / "camera.avi"))
    capture.set(cv2.CAP_PROP_FORMAT, -1)
    packets = [capture.read()[1].tobytes() for _ in range(5)]
    raw = Workspace.open(root).catalog.dataset("raw")
    assert stored(root, raw) == packets
    assert raw.manifest["image_size"] == [480, 640]

    # What the catalog says is what `datasets show` and the training guard say.
    shown = cli("datasets", "show", "bench", "-w", str(root))
    assert "unlabelled camera frames" in shown.stdout and "10 frames from board cam" in shown.stdout
    with pytest.raises(BadInput, match="camera frames without labels: label them"):
        task_of(record.manifest)  # what training and conversion ask first
    refused = cli("bench", "tests/data/missing.tflite", "--dataset", "bench", "-w", str(root))
    assert refused.returncode == 2
    assert "bench@" in refused.stderr and "camera frames without labels" in refused.stderr


def test_a_board_without_opencv_is_one_line_naming_what_to_install(
    camera_boards: tuple[Fleet, Path], tmp_path: Path
) -> None:
    _, devices = camera_boards
    args = ["--devices", str(devices), "-w", str(tmp_path)]
    result = cli("acquire", "plain", "--camera", "0", *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    (line,) = lines
    assert "board plain" in line and "OpenCV is not installed" in line
    assert "opencv-python-headless" in line
    missing = cli("acquire", "cam", "--camera", "/nonexistent.avi", *args)
    assert missing.returncode == 2
    assert "board cam: camera '/nonexistent.avi' cannot be opened" in missing.stderr


def _start(devices: Path, root: Path, *extra: str) -> subprocess.Popen[str]:
    exe = Path(sys.executable).with_name("mllib-tui")
    return subprocess.Popen(
        [
            *(str(exe), "acquire", "cam", "--frames", str(FRAMES), "--interval", "0.25"),
            *("--json", "--devices", str(devices), "-w", str(root), *extra),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _after_frames(process: subprocess.Popen[str], count: int) -> list[dict]:
    """The JSON lines up to the ``count``-th stored frame."""
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(json.loads(line))
        if sum(e["type"] == "frame" for e in lines) >= count:
            return lines
    raise AssertionError(f"the capture ended early: {process.stderr and process.stderr.read()}")


def _check_partial(root: Path, at_least: int) -> DatasetRecord:
    record = capture_of(root)
    assert record.manifest["partial"] is True
    assert at_least <= record.manifest["images"] < FRAMES
    for frame, data in zip(record.manifest["frames"], stored(root, record), strict=True):
        assert hashlib.sha256(data).hexdigest() == frame["sha256"]  # nothing half-written
    assert not list((root / "tmp").iterdir())
    return record


def test_a_capture_killed_midway_keeps_the_frames_that_arrived(
    camera_boards: tuple[Fleet, Path], tmp_path: Path
) -> None:
    fleet, devices = camera_boards
    root = tmp_path / "ws"
    process = _start(devices, root)
    _after_frames(process, 3)
    user = fleet.boards["cam"].user
    subprocess.run(["pkill", "-KILL", "-u", user, "-f", "mllib-agent"], check=True)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 3, stderr
    assert "board cam" in stderr and "Traceback" not in stderr
    _check_partial(root, 3)


def test_ctrl_c_stops_the_capture_and_keeps_a_partial_version(
    camera_boards: tuple[Fleet, Path], tmp_path: Path
) -> None:
    _, devices = camera_boards
    root = tmp_path / "ws"
    process = _start(devices, root)
    _after_frames(process, 3)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr  # a stop asked for, not a failure
    record = _check_partial(root, 3)
    assert json.loads(stdout.strip().splitlines()[-1])["data"]["partial"] is True
    assert record.manifest["capture"]["reason"] == "the workstation stopped it"


def test_keep_uncertain_keeps_the_frames_a_local_run_ranks_highest(
    camera_boards: tuple[Fleet, Path], trained_ws: Path, tmp_path: Path
) -> None:
    fleet, devices = camera_boards
    root = tmp_path / "ws"
    subprocess.run(["cp", "-a", str(trained_ws), str(root)], check=True)
    ws = Workspace.open(root)
    model = next(
        a for a in ws.catalog.artifacts("tflite") if a.meta["precision"] == "fp32"
    )  # the pipeline's own (others import more)
    result = cli(
        "acquire", "cam", "--keep", "uncertain", "--model", str(model.id), "--frames", "4",
        "--candidates", "16", "--size", "x".join(map(str, SIZE)), "--interval", "0",
        "--dataset", "uncertain", "--devices", str(devices), "-w", str(root),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    record = ws.catalog.dataset("uncertain")
    runtime = load("litert", ws.verify(model))
    candidates = [board_jpeg(f) for f in video_frames(fleet.root / "camera.avi")[:16]]
    local = sorted(range(16), key=lambda i: -score_jpeg(runtime, candidates[i]))
    kept = record.manifest["frames"]
    assert [f["index"] for f in kept] == local[:4]  # least sure first, as ranked here
    for frame in kept:
        assert frame["score"] == pytest.approx(score_jpeg(runtime, candidates[frame["index"]]))
    assert stored(root, record) == [candidates[i] for i in local[:4]]
    assert record.manifest["capture"]["model"] == model.id


async def test_the_board_screen_captures_with_live_thumbnails(
    camera_boards: tuple[Fleet, Path], tmp_path: Path
) -> None:
    from mllib_tui.app import MllibApp
    from mllib_tui.messages import JobEnded
    from mllib_tui.screens.board import BoardScreen
    from mllib_tui.widgets.image import ImageView

    _, devices = camera_boards
    root = tmp_path / "ws"
    app = MllibApp(root, devices=devices)
    ended: list[JobEnded] = []
    async with app.run_test(size=(140, 40), message_hook=ended.append) as pilot:
        for _ in range(100):
            if app.ws is not None:
                break
            await pilot.pause(0.05)
        screen = BoardScreen("cam", None, None)
        await app.push_screen(screen)
        await pilot.press("a")
        live = screen.query_one("#live", ImageView)
        for _ in range(300):
            if (live.border_title or "").startswith("camera: frame") and live.size.height:
                break
            await pilot.pause(0.05)
        assert screen.has_class("capturing") and live._image is not None
        assert live._image.shape == (480, 640, 3)  # the frame as it was stored
        await pilot.press("x")  # stop: the frames so far are kept
        for _ in range(300):
            if any(isinstance(m, JobEnded) and m.job == "acquire:cam" for m in ended):
                break
            await pilot.pause(0.05)
    (job,) = [m for m in ended if isinstance(m, JobEnded) and m.job == "acquire:cam"]
    assert job.error is not None and "cancelled" in job.error
    record = capture_of(root)
    assert record.manifest["partial"] and 1 <= record.manifest["images"] < FRAMES
    assert "cancelled" in record.manifest["capture"]["reason"]
    assert record.manifest["capture"]["camera"].endswith("camera.avi")  # devices.toml's camera


def test_the_python_api_and_the_pipeline_stage_capture_on_this_machine(tmp_path: Path) -> None:
    """The local board (the agent as a subprocess here): the same capture from Python and from
    a pipeline file's [acquire] section."""
    import mllib

    video = tmp_path / "camera.avi"
    write_video(video, 6)
    ws = mllib.Workspace(tmp_path / "ws")
    record = ws.acquire(mllib.Acquire(camera=str(video), frames=4, interval=0, dataset="api"))
    assert (record.name, record.manifest["images"], record.manifest["partial"]) == ("api", 4, False)
    assert record in ws.datasets()

    pipeline = tmp_path / "acquire.toml"
    pipeline.write_text(
        f'stages = ["acquire"]\n[acquire]\ncamera = "{video}"\nframes = 10\ninterval = 0\n'
        'dataset = "piped"\nsize = [64, 48]\n'
    )
    result = cli("run", "--headless", "-w", str(tmp_path / "ws"), str(pipeline))
    assert result.returncode == 0, result.stderr
    piped = ws.dataset("piped")
    assert piped.manifest["partial"] is True  # the video has 6 frames, 10 were asked for
    assert piped.manifest["images"] == 6 and piped.manifest["image_size"] == [48, 64]
    assert "the camera gave no more frames after 6" in piped.manifest["capture"]["reason"]


HOSTILE = """
import hashlib, json, sys
sys.stdin.readline()
jpeg = bytes.fromhex("ffd8ffe0") + bytes(200)
def frame(index, data, **lie):
    fields = {"schema": 1, "type": "frame", "stage": "acquire", "index": index,
              "sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "width": 8,
              "height": 8, "captured": 1.0, **lie}
    sys.stdout.buffer.write(json.dumps(fields).encode() + b"\\n" + data)
frame(0, jpeg)  # a good one first: it is kept
case = "CASE"
if case == "hash":
    frame(1, jpeg, sha256="0" * 64)
elif case == "magic":
    frame(1, b"GIF89a" + bytes(100))
elif case == "size":
    frame(1, jpeg, size=1 << 40)
elif case == "more":
    frame(1, jpeg[:-1] + b"x")
elif case == "summary":
    print(json.dumps({"schema": 1, "type": "result", "stage": "acquire", "name": "capture",
                      "data": [1, 2]}))
sys.stdout.flush()
"""


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("hash", "frame 1: its bytes do not match its sha256"),
        ("magic", "frame 1: not a JPEG"),
        ("size", "a frame of 1099511627776 bytes is not a camera frame"),
        ("more", "sent more than the 1 frames"),
        ("summary", "the capture's summary is not an object"),
    ],
)
def test_a_hostile_board_is_refused_in_one_line_and_the_good_frames_kept(
    tmp_path: Path, case: str, message: str
) -> None:
    """A board whose 'agent' lies (a real process on a real pipe, its output written by hand):
    each lie is refused, naming the board, and the frame before it is kept as a partial version."""
    import asyncio

    from backends.acquire.run import Acquire, acquire
    from backends.boards.inventory import Board, Inventory
    from backends.errors import StageFailed

    script = tmp_path / "hostile.py"
    script.write_text(HOSTILE.replace("CASE", case))
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\nexec {sys.executable} {script} "$@"\n')
    python.chmod(0o755)
    board = Board("evil", python=str(python), workdir=str(tmp_path / "board"))
    inventory = Inventory({"evil": board}, "test")
    ws = Workspace.open(tmp_path / "ws")
    settings = Acquire(board="evil", frames=1 if case == "more" else 5, interval=0)
    with pytest.raises(StageFailed, match="board evil") as raised:
        asyncio.run(acquire(ws, inventory, settings, lambda _e: None))
    assert message in str(raised.value)
    record = capture_of(ws.root)
    assert record.manifest["partial"] and record.manifest["images"] == 1
    assert stored(ws.root, record) == [bytes.fromhex("ffd8ffe0") + bytes(200)]
