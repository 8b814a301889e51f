"""Serve through the accelerators' adapters on real sshd boards whose camera is a video file: a
Jetson's TensorRT engine and a Coral's Edge TPU model.

What a Jetson or a Coral would add (a CUDA driver, TensorRT, libedgetpu's delegate) comes from
tests/standins: these tests check that mllib's serve loop drives the adapters (the engine's
fingerprint, its buffers, the delegate found by name) to the masks a local run of the same model
makes, and that a board without the accelerator says so; they verify nothing about a GPU or a
TPU (tests/standins/README.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from backends.live import predict, resample
from backends.runtimes import load
from backends.serve.run import Serve
from backends.workspace import Workspace
from tests.camera import FRAMES, video_frames, watch, write_video
from tests.conftest import cli
from tests.sshd import CAMERA_PACKAGES, Fleet, board_python
from tests.standins import install

pytestmark = pytest.mark.slow
COMPILER_LOG = Path(__file__).parent / "data" / "tool-output" / "edgetpu-partial.log"


@dataclass
class Bench:
    fleet: Fleet
    devices: Path
    root: Path  # a copy of the trained workspace
    standins: Path

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return cli(*args, "-w", str(self.root), "--devices", str(self.devices))

    def frames(self) -> list[np.ndarray]:
        return video_frames(self.fleet.root / "camera.avi")


@pytest.fixture(scope="module")
def bench(trained_ws: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    """jetson: a stand-in TensorRT 10.3.0 on an "Orin"; coral: a stand-in libedgetpu; pi:
    neither. Each has OpenCV and the same camera."""
    os.makedirs("/run/sshd", exist_ok=True)
    fleet = Fleet()
    for index, name in enumerate(("jetson", "coral", "pi")):
        fleet.add(name, index)
    fleet.trust_all()
    standins = install(fleet.root)
    shutil.copy(COMPILER_LOG, standins / "bin" / "edgetpu-compiler.log")
    video = fleet.root / "camera.avi"
    write_video(video, FRAMES)
    os.chmod(video, 0o644)
    python = board_python(CAMERA_PACKAGES)
    lib = f"export LD_LIBRARY_PATH={standins}/lib"
    gpu = f"{lib} STANDIN_GPU=Orin STANDIN_CC=8.7 PYTHONPATH={standins} STANDIN_TENSORRT=10.3.0"
    pythons = {
        "jetson": fleet.python_with("jetson", gpu, python),
        "coral": fleet.python_with("coral", lib, python),
        "pi": python,
    }
    here = tmp_path_factory.mktemp("accelerators")
    devices = fleet.devices_toml(
        here / "devices.toml",
        **{name: {"python": p, "camera": str(video)} for name, p in pythons.items()},
    )
    root = here / "ws"
    shutil.copytree(trained_ws, root)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLLIB_KNOWN_HOSTS", str(fleet.known_hosts))
        yield Bench(fleet, devices, root, standins)
    fleet.stop()


@pytest.fixture(scope="module")
def engine(bench: Bench) -> int:
    """An fp16 engine of the pipeline's ONNX model, built on the jetson."""
    onnx = Workspace.open(bench.root).catalog.artifacts("onnx")[0]
    out = bench("engines", "build", str(onnx.id), "jetson", "--precision", "fp16", "--json")
    assert out.returncode == 0, out.stderr
    return int(json.loads(out.stdout.splitlines()[-1])["jetson"]["artifact"])


@pytest.fixture(scope="module")
def edgetpu(bench: Bench) -> int:
    """The int8 TFLite compiled for the Edge TPU (the stand-in compiler copies it)."""
    (model,) = Workspace.open(bench.root).catalog.artifacts("model")
    path = f"{bench.standins}/bin:{os.environ['PATH']}"
    args = ("convert", str(model.id), "--to", "edgetpu", "--precision", "int8")
    out = cli(*args, "-w", str(bench.root), env={"PATH": path})
    assert out.returncode == 0, out.stderr
    return Workspace.open(bench.root).catalog.artifacts("edgetpu")[-1].id


def _same_masks(bench: Bench, settings: Serve, runtime: str, model: int) -> dict:
    """Serve ``settings``; every mask must be what ``runtime`` on ``model`` makes here."""
    figures, seen = watch(bench.root, bench.devices, settings)
    assert figures["frames"] == FRAMES and figures["lost"] == 0, figures
    ws = Workspace.open(bench.root)
    local = load(runtime, ws.verify(ws.catalog.artifact(model)))
    frames = bench.frames()
    assert [live.index for live in seen] == list(range(FRAMES))
    for live in seen:
        mask, _ = predict(local, frames[live.index])
        assert np.array_equal(live.mask, resample(mask, 0, (480, 640))), live.index
    return figures


def test_a_tensorrt_engine_serves_the_masks_of_its_onnx_model(bench: Bench, engine: int) -> None:
    """The stand-in engine computes with the ONNX model it was built from, so the masks that
    come back through the TensorRT adapter's buffers are ONNX Runtime's."""
    onnx = Workspace.open(bench.root).catalog.artifact(engine).parent_id
    assert onnx is not None
    settings = Serve(artifact=engine, board="jetson", mask_width=0, every=6)
    figures = _same_masks(bench, settings, "onnxruntime", onnx)
    assert figures["runtime"] == "tensorrt" and figures["runtime_version"] == "TensorRT 10.3.0"


def test_an_edge_tpu_model_serves_through_libedgetpus_delegate(bench: Bench, edgetpu: int) -> None:
    facts = json.loads(bench("boards", "probe", "coral", "pi", "--json").stdout)
    assert "edgetpu" in facts["coral"]["runtimes"]  # libedgetpu found by name, as on a Coral
    assert "edgetpu" not in facts["pi"]["runtimes"]
    settings = Serve(artifact=edgetpu, board="coral", mask_width=0, every=6)
    figures = _same_masks(bench, settings, "litert", edgetpu)  # no node taken: LiteRT's CPU
    assert figures["runtime"] == "edgetpu"


def test_a_board_without_the_accelerator_says_so_in_one_line(
    bench: Bench, engine: int, edgetpu: int
) -> None:
    out = bench("serve", str(edgetpu), "pi", "--headless", "--seconds", "5")
    assert out.returncode == 2
    assert "board pi" in out.stderr and "the Edge TPU delegate did not load" in out.stderr
    assert "libedgetpu1-std" in out.stderr and "Traceback" not in out.stderr

    out = bench("serve", str(engine), "pi", "--headless", "--seconds", "5")
    assert out.returncode == 2
    assert "board pi has no TensorRT: install JetPack's python3-libnvinfer" in out.stderr
    assert "Traceback" not in out.stderr
    out = bench("deploy", str(engine), "pi")  # deploy refuses it the same way
    assert out.returncode != 0 and "board pi has no TensorRT" in out.stdout + out.stderr
    sha = Workspace.open(bench.root).catalog.artifact(engine).sha256
    assert not (bench.fleet.boards["pi"].home / "mllib" / "store" / sha).exists()  # never sent
