"""Boards over real OpenSSH servers on loopback: trust, probe, deploy, bench, and faults."""

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backends import events as ev
from backends.workspace import Workspace
from tests.conftest import cli
from tests.sshd import Fleet

pytestmark = pytest.mark.slow
FAST = ["--warmup-runs", "1", "--warmup-seconds", "0", "--runs", "3", "--seconds", "0"]


@pytest.fixture(scope="module")
def fleet():
    os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege-separation directory
    boards = Fleet()
    boards.add("alpha", 0)
    boards.add("beta", 1)
    boards.trust_all()
    yield boards
    boards.stop()


class Env:
    """Runs the CLI against the fleet with its devices.toml and known-hosts file."""

    def __init__(self, fleet: Fleet, ws: Path, devices: Path) -> None:
        self.fleet, self.ws, self.devices = fleet, ws, devices

    def __call__(self, *args: str, **kw) -> subprocess.CompletedProcess[str]:
        return cli(
            *args,
            "-w",
            str(self.ws),
            "--devices",
            str(self.devices),
            env={"MLLIB_KNOWN_HOSTS": str(self.fleet.known_hosts), **kw.pop("env", {})},
            **kw,
        )

    def results(self, run_id: str) -> list[dict]:
        out = cli("results", run_id, "--json", "-w", str(self.ws))
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def artifact(self, kind: str, precision: str = "fp32"):
        return next(
            a
            for a in Workspace.open(self.ws).catalog.artifacts(kind)
            if a.meta.get("precision") == precision and "fidelity" in a.meta
        )


@pytest.fixture
def env(fleet: Fleet, trained_ws: Path, tmp_path: Path) -> Env:
    return Env(fleet, trained_ws, fleet.devices_toml(tmp_path / "devices.toml"))


def _board_file(fleet: Fleet, board: str, *parts: str) -> Path:
    return fleet.boards[board].home.joinpath("mllib", *parts)


def test_probe_finds_runtimes_and_is_remembered(env: Env) -> None:
    out = env("boards", "probe", "alpha", "beta", "--json")
    assert out.returncode == 0, out.stderr
    facts = json.loads(out.stdout)
    for board in ("alpha", "beta"):
        assert facts[board]["arch"] == os.uname().machine
        assert facts[board]["runtimes"] == ["litert", "onnxruntime"]
        assert facts[board]["modules"]["onnxruntime"] == "1.32.0"
    listed = json.loads(env("boards", "list", "--json").stdout)
    assert {b["name"]: (b["probe"] or {}).get("arch") for b in listed}[
        "alpha"
    ] == os.uname().machine


def test_deploy_skip_and_rollback(env: Env, fleet: Fleet) -> None:
    int8, fp16 = env.artifact("tflite", "int8"), env.artifact("tflite", "fp16")
    first = env("deploy", str(int8.id), "alpha", "beta")
    assert first.returncode == 0, first.stderr
    for board in ("alpha", "beta"):
        current = _board_file(fleet, board, "deployed", "tflite-int8", "current", "model.tflite")
        assert hashlib.sha256(current.read_bytes()).hexdigest() == int8.sha256
    start = time.monotonic()
    again = env("deploy", str(int8.id), "alpha", "--json")
    assert json.loads(again.stdout.splitlines()[-1])["alpha"]["action"] == "already current"
    assert json.loads(again.stdout.splitlines()[-1])["alpha"]["seconds"] < 0.5
    assert time.monotonic() - start < 5  # the whole command, interpreter start included
    assert env("deploy", str(fp16.id), "alpha", "--slot", "tflite-int8").returncode == 0
    slot = _board_file(fleet, "alpha", "deployed", "tflite-int8")
    assert os.readlink(slot / "current").endswith(fp16.sha256)
    assert os.readlink(slot / "previous").endswith(int8.sha256)
    assert (
        env("deploy", str(int8.id), "alpha", "--slot", "tflite-int8", "--rollback").returncode == 0
    )
    assert os.readlink(slot / "current").endswith(fp16.sha256) is False
    assert os.readlink(slot / "current").endswith(int8.sha256)


def test_bench_on_boards_equals_the_local_run(env: Env) -> None:
    int8 = env.artifact("tflite", "int8")
    out = env("bench", str(int8.id), "--board", "alpha", "--board", "beta", *FAST, "--json")
    assert out.returncode == 0, out.stderr
    rows = [
        e.data
        for e in map(ev.decode, out.stdout.splitlines())
        if isinstance(e, ev.Result) and e.stage == "bench"
    ]
    assert {r["board"] for r in rows} == {"alpha", "beta"}
    assert {r["hardware"].split(":")[0] for r in rows} == {"alpha", "beta"}
    local = cli("bench", str(int8.id), *FAST, "-w", str(env.ws), "--json")
    (local_row,) = [
        e.data for e in map(ev.decode, local.stdout.splitlines()) if isinstance(e, ev.Result)
    ]
    for row in rows:
        assert row["confusion"] == local_row["confusion"]
        assert row["miou"] == local_row["miou"] and row["status"] == "ok"
        assert row["machine"]["python"] != ""  # the board's own manifest


def test_killed_mid_deploy_keeps_the_old_model(env: Env, fleet: Fleet, tmp_path: Path) -> None:
    int8 = env.artifact("tflite", "int8")
    assert env("deploy", str(int8.id), "beta", "--slot", "victim").returncode == 0
    big = tmp_path / "big.tflite"
    big.write_bytes(os.urandom(60 * 1024 * 1024))
    imported = Workspace.open(env.ws).import_file(big, "tflite", {"precision": "fp32"})
    deploy = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("mllib-tui")),
            "deploy",
            str(imported.id),
            "beta",
            "--slot",
            "victim",
            "--json",
            "-w",
            str(env.ws),
            "--devices",
            str(env.devices),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MLLIB_KNOWN_HOSTS": str(fleet.known_hosts)},
    )
    for line in deploy.stdout:
        event = json.loads(line)
        if event.get("type") == "progress" and event["done"] > 0:
            fleet.boards["beta"].kill()  # mid-upload
            break
    _, stderr = deploy.communicate(timeout=60)
    assert deploy.returncode != 0 and "beta" in stderr and "Traceback" not in stderr
    fleet.boards["beta"].start()
    current = _board_file(fleet, "beta", "deployed", "victim", "current", "model.tflite")
    assert hashlib.sha256(current.read_bytes()).hexdigest() == int8.sha256
    load = subprocess.run(
        [
            fleet.python,
            "-c",
            "import sys; from ai_edge_litert.interpreter "
            "import Interpreter; Interpreter(model_path=sys.argv[1])"
            ".allocate_tensors()",
            str(current),
        ],
        capture_output=True,
        text=True,
    )
    assert load.returncode == 0, load.stderr  # the old model still runs


def test_killed_mid_bench_keeps_partial_results_and_retry_finishes(env: Env, fleet: Fleet) -> None:
    onnx = env.artifact("onnx")
    cmd = [
        str(Path(sys.executable).with_name("mllib-tui")),
        "bench",
        str(onnx.id),
        "--board",
        "alpha",
        "--board",
        "beta",
        "--concurrency",
        "1",
        "--runs",
        "3",
        "--seconds",
        "2",
        "--warmup-runs",
        "1",
        "--warmup-seconds",
        "0",
        "--json",
        "-w",
        str(env.ws),
        "--devices",
        str(env.devices),
    ]
    bench = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MLLIB_KNOWN_HOSTS": str(fleet.known_hosts)},
    )
    for line in bench.stdout:  # alpha runs first and finishes; beta dies in the middle
        event = ev.decode(line)
        if isinstance(event, ev.StageStarted) and event.stage == "beta/bench":
            fleet.boards["beta"].kill()
            break
    _, stderr = bench.communicate(timeout=120)
    fleet.boards["beta"].start()
    assert bench.returncode == 3, stderr
    assert "was interrupted" in stderr and "Traceback" not in stderr
    run_id = stderr.split("--retry ")[1].split()[0]
    rows = {r["board"]: r for r in env.results(run_id)}
    assert rows["alpha"]["status"] == "ok" and rows["beta"]["status"] == "interrupted"
    jobs = [j for j in Workspace.open(env.ws).catalog.jobs("bench") if j.key == run_id]
    assert jobs[-1].state == "interrupted"

    finished = env("bench", str(onnx.id), "--retry", run_id, *FAST, "--json")
    assert finished.returncode == 0, finished.stderr
    again = {r["board"]: r for r in env.results(run_id)}
    assert again["beta"]["status"] == "ok"
    assert again["alpha"] == rows["alpha"]  # kept as it was, not run again
