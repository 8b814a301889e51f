from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from backends import events as ev
from backends.boards.bundle import build
from backends.runtimes import installed
from backends.workspace import Workspace
from tests.s3server import S3Server
from tests.sshd import Fleet

# Fuzzers run a bounded number of examples in CI, with no example database left behind;
# HYPOTHESIS_PROFILE=deep runs many more on demand.
settings.register_profile("ci", max_examples=150, deadline=None, database=None)
settings.register_profile("deep", max_examples=5000, deadline=None, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "examples" / "tiny.toml"
# The rows of a tiny pipeline's run on this machine: OpenVINO's where it is installed (an
# optional runtime; `scripts/install --test` installs it)
TINY_SOFTWARE = [
    "TensorFlow fp32",
    "ONNX Runtime fp32",
    *(["OpenVINO fp32"] if installed("openvino") else []),
    "LiteRT fp32",
    "LiteRT fp16",
    "LiteRT int8",
]


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.open(tmp_path / "ws")


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The board agent's zipapp, as a deploy uploads it."""
    name, data = build()
    path = tmp_path_factory.mktemp("agent") / name
    path.write_bytes(data)
    return path


def start_agent(agent: Path, **request: object) -> subprocess.Popen[str]:
    """The agent running here with ``request`` on its stdin (which stays open)."""
    process = subprocess.Popen(
        [sys.executable, str(agent)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    process.stdin.write(json.dumps(request) + "\n")
    process.stdin.flush()
    return process


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    """Two real sshd boards on loopback, alpha and beta, their host keys trusted."""
    os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege-separation directory
    boards = Fleet()
    boards.add("alpha", 0)
    boards.add("beta", 1)
    boards.trust_all()
    yield boards
    boards.stop()


@pytest.fixture(scope="module")
def camera_boards(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Path]]:
    """Board ``cam`` (OpenCV; its camera a 640x480 MJPEG video, devices.toml's ``camera``) and
    board ``plain`` (no OpenCV), their host keys trusted for the commands the tests run."""
    from tests.camera import FRAMES, write_video
    from tests.sshd import CAMERA_PACKAGES, board_python

    os.makedirs("/run/sshd", exist_ok=True)
    boards = Fleet()
    boards.add("cam", 0)
    boards.add("plain", 1)
    boards.trust_all()
    video = boards.root / "camera.avi"
    write_video(video, FRAMES)
    os.chmod(video, 0o644)
    devices = boards.devices_toml(
        tmp_path_factory.mktemp("cameras") / "devices.toml",
        cam={"python": board_python(CAMERA_PACKAGES), "camera": str(video)},
    )
    before = os.environ.get("MLLIB_KNOWN_HOSTS")
    os.environ["MLLIB_KNOWN_HOSTS"] = str(boards.known_hosts)
    yield boards, devices
    boards.stop()
    if before is None:
        os.environ.pop("MLLIB_KNOWN_HOSTS")
    else:
        os.environ["MLLIB_KNOWN_HOSTS"] = before


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3 server (SeaweedFS) on loopback."""
    server = S3Server(tmp_path_factory.mktemp("s3"))
    server.start()
    yield server
    server.stop()


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


def result_rows(*outputs: subprocess.CompletedProcess[str]) -> list[dict]:
    """The data of every Result event in the JSON-lines stdout of CLI runs, in order."""
    return [
        e.data
        for out in outputs
        for e in map(ev.decode, out.stdout.splitlines())
        if isinstance(e, ev.Result)
    ]


@pytest.fixture(scope="session")
def trained_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace where the tiny pipeline has run once (shared: training costs seconds)."""
    root = tmp_path_factory.mktemp("trained") / "ws"
    result = cli("run", "--headless", "--json", "-w", str(root), str(TINY))
    assert result.returncode == 0, result.stderr
    return root


@pytest.fixture
def app_ws(trained_ws: Path, tmp_path: Path) -> Path:
    """A copy of the trained workspace that a test may change."""
    copy = tmp_path / "ws"
    shutil.copytree(trained_ws, copy)
    return copy


SUBSET = """
[dataset]
source = "fashion-mnist"
name = "fm-subset"
train_images = 1500
val_images = 300

[train]
epochs = 2
batch_size = 32
width = 0.5

[convert]
targets = ["onnx:fp32", "tflite:fp32", "tflite:fp16", "tflite:int8"]
representative_images = 40
fidelity_images = 300
max_drop_int8 = 0.03

[bench]
warmup_runs = 2
warmup_seconds = 0
min_runs = 5
min_seconds = 0
eval_batch_size = 32
"""


@pytest.fixture(scope="session")
def fashion(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[ev.Event]]:
    """(workspace, pipeline file, events) after one headless run of the classification
    pipeline on a subset of the real Fashion-MNIST (shared: training costs seconds)."""
    root = tmp_path_factory.mktemp("fashion")
    pipeline = root / "fm.toml"
    pipeline.write_text(SUBSET)
    out = cli("run", "--headless", "--json", "-w", str(root / "ws"), str(pipeline))
    assert out.returncode == 0, out.stderr
    return root / "ws", pipeline, [ev.decode(line) for line in out.stdout.splitlines()]
