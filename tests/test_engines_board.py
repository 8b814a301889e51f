"""TensorRT engines built on boards over real sshd: probe, preflight, build, catalog cache,
fingerprint refusal, benchmark, and the trtexec fallback.

The boards are real OpenSSH servers running the real agent; what a Jetson would add (a CUDA
driver, TensorRT, trtexec, a CUDA binding) comes from tests/standins, so these tests check
mllib's control flow end to end, not TensorRT (see tests/standins/README.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from backends.workspace import Workspace
from tests.conftest import cli, result_rows
from tests.sshd import Fleet
from tests.standins import install

pytestmark = pytest.mark.slow
SUMMARY = Path(__file__).parent / "data" / "tool-output" / "trtexec-8-jetson-summary.log"
FAST = ["--warmup-runs", "1", "--warmup-seconds", "0", "--runs", "3", "--seconds", "0"]


@pytest.fixture(scope="module")
def fleet():
    """jetson: stand-in TensorRT 10.3.0 on an "Orin"; jetson8: the same with 8.6.1;
    trtexec: trtexec 8.5.2 but no Python module; pi: nothing NVIDIA."""
    os.makedirs("/run/sshd", exist_ok=True)
    boards = Fleet()
    for index, name in enumerate(("jetson", "jetson8", "trtexec", "pi")):
        boards.add(name, index)
    boards.trust_all()
    standins = install(boards.root)
    shutil.copy(SUMMARY, standins / "bin" / "trtexec-summary.log")
    gpu = f"export LD_LIBRARY_PATH={standins}/lib STANDIN_GPU=Orin STANDIN_CC=8.7"
    trt = f"{gpu} PYTHONPATH={standins} STANDIN_TENSORRT="
    boards.pythons = {
        "jetson": boards.python_with("jetson", f"{trt}10.3.0"),
        "jetson8": boards.python_with("jetson8", f"{trt}8.6.1"),
        "trtexec": boards.python_with("trtexec", f"{gpu} PATH={standins}/bin:$PATH"),
    }
    yield boards
    boards.stop()


class Env:
    def __init__(self, fleet: Fleet, ws: Path, tmp: Path) -> None:
        self.fleet, self.ws = fleet, ws
        overrides = {name: {"python": python} for name, python in fleet.pythons.items()}
        self.devices = fleet.devices_toml(tmp / "devices.toml", **overrides)

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return cli(
            *args,
            "-w",
            str(self.ws),
            "--devices",
            str(self.devices),
            env={"MLLIB_KNOWN_HOSTS": str(self.fleet.known_hosts)},
        )

    def build(self, *args: str) -> dict:
        out = self("engines", "build", *args, "--json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.splitlines()[-1])

    def artifacts(self, kind: str) -> list:
        return Workspace.open(self.ws).catalog.artifacts(kind)


@pytest.fixture
def env(fleet: Fleet, trained_ws: Path, tmp_path: Path) -> Env:
    return Env(fleet, trained_ws, tmp_path)


def _onnx(env: Env) -> str:
    return str(env.artifacts("onnx")[0].id)


def test_a_board_without_tensorrt_explains_itself(env: Env) -> None:
    facts = json.loads(env("boards", "probe", "pi", "--json").stdout)["pi"]
    assert facts["tensorrt"] is None and "tensorrt" not in facts["runtimes"]
    out = env("engines", "build", _onnx(env), "pi")
    assert out.returncode == 2
    assert "board pi has no TensorRT: install JetPack's python3-libnvinfer" in out.stderr
    assert "Traceback" not in out.stderr


def test_the_probe_reads_gpu_and_tensorrt(env: Env) -> None:
    facts = json.loads(env("boards", "probe", "jetson", "trtexec", "--json").stdout)
    jetson, trtexec = facts["jetson"], facts["trtexec"]
    assert jetson["accelerators"]["cuda"]["gpus"][0]["compute_capability"] == "8.7"
    assert jetson["tensorrt"] == {"version": "10.3.0", "python": True, "trtexec": None}
    assert "tensorrt fp32/fp16/int8" in jetson["can_run"]
    assert trtexec["tensorrt"]["version"] == "8.5.2" and trtexec["tensorrt"]["python"] is False


def test_int8_engines_calibrate_once_per_tensorrt_and_are_cached(env: Env) -> None:
    onnx = _onnx(env)
    first = env.build(onnx, "jetson", "--precision", "int8", "--calibration-images", "16")
    engine = first["jetson"]
    assert engine["built"] and engine["builder"] == "tensorrt-python"
    assert engine["calibrated_batches"] == 2  # 16 images, batches of 8
    fp = engine["fingerprint"]
    assert (fp["gpu"], fp["compute_capability"], fp["tensorrt"], fp["l4t"]) == (
        "Orin",
        "8.7",
        "10.3.0",
        None,
    )
    (cache,) = env.artifacts("calibration-cache")
    assert fp["calibration_sha256"] == cache.sha256 and cache.meta["tensorrt"] == "10.3.0"
    assert len(env.artifacts("calibration-shard")) == 1

    again = env.build(onnx, "jetson", "--precision", "int8", "--calibration-images", "16")
    assert again["jetson"]["built"] is False  # a catalog hit: nothing uploaded or built
    assert again["jetson"]["artifact"] == engine["artifact"]
    assert len(env.artifacts("tensorrt")) == 1

    other = env.build(onnx, "jetson8", "--precision", "int8", "--calibration-images", "16")
    assert other["jetson8"]["built"] and other["jetson8"]["calibrated_batches"] == 2
    assert {c.meta["tensorrt"] for c in env.artifacts("calibration-cache")} == {"10.3.0", "8.6.1"}


def test_an_engine_runs_only_where_its_fingerprint_matches(env: Env, fleet: Fleet) -> None:
    onnx = _onnx(env)
    built = env.build(onnx, "jetson", "--precision", "fp16")["jetson"]
    engine = str(built["artifact"])
    rows = result_rows(
        env("bench", engine, "--board", "jetson", "--board", "jetson8", *FAST, "--json")
    )
    by_board = {r["board"]: r for r in rows if "board" in r and "status" in r}
    ok, refused = by_board["jetson"], by_board["jetson8"]
    assert ok["status"] == "ok" and ok["runtime"] == "tensorrt"
    assert ok["options"] == {"device_buffers": "cuda-python", "api": "execute_async_v3"}
    assert refused["status"] == "failed"
    assert "refusing a TensorRT engine" in refused["error"]
    assert "tensorrt 10.3.0 (engine) vs 8.6.1" in refused["error"]
    sha = Workspace.open(env.ws).catalog.artifact(int(engine)).sha256
    assert not (fleet.boards["jetson8"].home / "mllib" / "store" / sha).exists()  # never sent
    # the stand-in engine computes with the ONNX model: mllib's buffers carried it faithfully
    local = result_rows(
        cli("bench", onnx, "--runtime", "onnxruntime", *FAST, "-w", str(env.ws), "--json")
    )
    assert ok["confusion"] == local[-1]["confusion"]


def test_preflight_refuses_a_build_that_cannot_fit(env: Env) -> None:
    too_big = ["--workspace-mb", "900000", "--max-batch", "3"]  # not in the catalog yet
    out = env("engines", "build", _onnx(env), "jetson", "--precision", "fp32", *too_big)
    assert out.returncode == 2
    assert "board jetson: the engine build needs about" in out.stderr
    assert "add swap" in out.stderr and "--workspace-mb (now 900000)" in out.stderr


def test_trtexec_builds_where_the_python_module_is_missing(env: Env) -> None:
    onnx = _onnx(env)
    outcome = env.build(onnx, "trtexec", "--precision", "fp16")["trtexec"]
    assert outcome["builder"] == "trtexec" and outcome["fingerprint"]["tensorrt"] == "8.5.2"
    assert outcome["trtexec"]["latency_ms"]["median"] == 6.02185  # read from its summary
    int8 = env("engines", "build", onnx, "trtexec", "--precision", "int8")
    assert int8.returncode == 2
    assert "has trtexec but not TensorRT's Python module" in int8.stderr


def test_an_engines_stage_runs_the_ladder_on_each_board_inside_run(
    fleet: Fleet, trained_ws: Path, tmp_path: Path
) -> None:
    """[engines] in a pipeline file: on each board int8 -> fp16 -> fp32 are built, their
    fidelity is measured there against the Keras model, the fastest that passes is kept, and
    the bench stage benchmarks it on its board next to the workstation's rows."""
    from tests.conftest import TINY

    ws = tmp_path / "ws"
    shutil.copytree(trained_ws, ws)
    env = Env(fleet, ws, tmp_path)
    pipeline = tmp_path / "engines.toml"
    pipeline.write_text(
        TINY.read_text() + '\n[engines]\nboards = ["jetson", "jetson8"]\nladder = true\n'
        "calibration_images = 8\n"
    )
    out = env("run", "--headless", "--json", str(pipeline))
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    finished = [e["stage"] for e in events if e["type"] == "stage_finished" and not e["board"]]
    assert finished == ["dataset", "train", "convert", "engines", "bench"]
    rows = [r for r in result_rows(out) if r.get("runtime") == "tensorrt"]
    assert sorted(r["board"] for r in rows) == ["jetson", "jetson8"]
    assert all(r["status"] == "ok" and r["fidelity"]["passed"] for r in rows)
    assert all(r["fidelity"]["max_abs_diff"] is None for r in rows)  # measured on the board
    runs = sorted((ws / "reports").glob("*/results.json"), key=lambda p: p.stat().st_mtime)
    report = json.loads(runs[-1].read_text())
    for board in ("jetson", "jetson8"):
        rungs = [r for r in report["ladder"] if r["format"] == f"tensorrt on {board}"]
        assert [r["precision"] for r in rungs] == ["int8", "fp16", "fp32"]
        assert sum(r["chosen"] for r in rungs) == 1
        assert all(r["passed"] for r in rungs)  # the stand-in runs the ONNX model: faithful
