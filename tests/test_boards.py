"""Boards over real OpenSSH servers on loopback: trust, probe, deploy, bench, and faults."""

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backends import events as ev
from backends.workspace import Workspace
from tests.conftest import cli, result_rows
from tests.sshd import Fleet
from tests.test_classification_data import needs_fashion

pytestmark = pytest.mark.slow
FAST = ["--warmup-runs", "1", "--warmup-seconds", "0", "--runs", "3", "--seconds", "0"]


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
        assert facts[board]["can_run"] == ["onnx fp32/int8", "tflite fp32/fp16/int8"]
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
    (local_row,) = result_rows(local)
    for row in rows:
        assert row["confusion"] == local_row["confusion"]
        assert row["miou"] == local_row["miou"] and row["status"] == "ok"
        assert row["machine"]["python"] != ""  # the board's own manifest


@needs_fashion
def test_classification_on_a_board_equals_the_local_run(fleet: Fleet, fashion, tmp_path) -> None:
    ws, _, _ = fashion
    board = Env(fleet, ws, fleet.devices_toml(tmp_path / "devices.toml"))
    int8 = board.artifact("tflite", "int8")
    remote = board("bench", str(int8.id), "--board", "beta", *FAST, "--json")
    assert remote.returncode == 0, remote.stderr
    local = cli("bench", str(int8.id), *FAST, "-w", str(ws), "--json")
    (row, local_row) = result_rows(remote, local)
    assert row["board"] == "beta" and row["task"] == local_row["task"] == "classification"
    assert row["accuracy"] == local_row["accuracy"] > 0.6 and row["images"] == 300
    assert row["confusion"] == local_row["confusion"] and len(row["confusion"]) == 10
    assert row["recall"] == local_row["recall"]


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
    try:
        for line in deploy.stdout:
            event = json.loads(line)
            if event.get("type") == "progress" and event["done"] > 0:
                fleet.boards["beta"].kill()  # mid-upload
                break
        _, stderr = deploy.communicate(timeout=60)
    finally:
        fleet.boards["beta"].start()  # for the tests after this one, whatever happens here
    assert deploy.returncode != 0 and "beta" in stderr and "Traceback" not in stderr
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
        if isinstance(event, ev.StageStarted) and (event.board, event.stage) == ("beta", "bench"):
            fleet.boards["beta"].kill()
            break
    try:
        _, stderr = bench.communicate(timeout=120)
    finally:
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


def test_unknown_then_trusted_then_changed_host_key(fleet: Fleet, env: Env, tmp_path: Path) -> None:
    gamma = fleet.add("gamma", 2)  # not in the known-hosts file
    devices = fleet.devices_toml(tmp_path / "devices.toml")
    run = Env(fleet, env.ws, devices)
    unknown = run("boards", "probe", "gamma")
    assert unknown.returncode == 2
    assert "offers an unknown host key SHA256:" in unknown.stderr
    assert "mllib-tui boards trust gamma" in unknown.stderr
    wrong = run("boards", "trust", "gamma", "--fingerprint", "SHA256:not-it")
    assert wrong.returncode == 2 and "does not match --fingerprint" in wrong.stderr
    trusted = run("boards", "trust", "gamma", "--yes")
    assert trusted.returncode == 0, trusted.stderr
    assert run("boards", "probe", "gamma").returncode == 0
    gamma.kill()
    gamma.new_host_key()
    gamma.start()
    changed = run("boards", "probe", "gamma")
    assert changed.returncode == 2 and "HOST KEY CHANGED" in changed.stderr
    refused = run("boards", "trust", "gamma", "--yes")
    assert refused.returncode == 2 and "DIFFERS from its trusted key" in refused.stderr


def test_unreachable_silent_and_wrong_key(fleet: Fleet, env: Env, tmp_path: Path) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    silent = socket.socket()  # accepts connections and never says a word
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    other_key = tmp_path / "other"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)], check=True
    )
    devices = fleet.devices_toml(tmp_path / "devices.toml", alpha={"identity": str(other_key)})
    devices.write_text(
        devices.read_text()
        + f"""
[boards.gone]
host = "127.0.0.1"
port = {closed_port}

[boards.mute]
host = "127.0.0.1"
port = {silent.getsockname()[1]}
connect_timeout = 1
"""
    )
    run = Env(fleet, env.ws, devices)
    gone = run("boards", "probe", "gone")
    assert gone.returncode == 2 and "board gone (127.0.0.1:" in gone.stderr
    assert "unreachable" in gone.stderr and "is sshd running there?" in gone.stderr
    start = time.monotonic()
    mute = run("boards", "probe", "mute")
    assert mute.returncode == 2 and "did not answer within 1 s" in mute.stderr
    assert time.monotonic() - start < 10
    silent.close()
    wrong = run("boards", "probe", "alpha")
    assert wrong.returncode == 2 and f"refused the key {other_key}" in wrong.stderr
    for out in (gone, mute, wrong):
        assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_a_board_without_the_runtime_says_what_to_install(
    fleet: Fleet, env: Env, tmp_path: Path
) -> None:
    bare = fleet.root / "numpy-only"  # numpy but no runtime; readable by the board user
    if not bare.exists():
        subprocess.run([fleet.python, "-m", "venv", str(bare)], check=True)
        subprocess.run([str(bare / "bin/pip"), "install", "-q", "numpy==2.4.6"], check=True)

    devices = fleet.devices_toml(
        tmp_path / "devices.toml", alpha={"python": str(bare / "bin/python")}
    )
    run = Env(fleet, env.ws, devices)
    onnx = env.artifact("onnx")
    out = run("bench", str(onnx.id), "--board", "alpha", *FAST)
    assert out.returncode == 3
    assert "runtime ONNX Runtime is not available here" in out.stdout + out.stderr
    assert "install onnxruntime" in out.stdout + out.stderr


def test_shell_metacharacters_in_paths_are_never_executed(
    fleet: Fleet, env: Env, tmp_path: Path
) -> None:
    marker = Path(f"/tmp/mllib-pwned-{os.getpid()}")
    workdir = f"ml lib;$(touch {marker});`touch {marker}`'\"x"
    devices = fleet.devices_toml(tmp_path / "devices.toml", beta={"workdir": workdir})
    run = Env(fleet, env.ws, devices)
    int8 = env.artifact("tflite", "int8")
    assert run("deploy", str(int8.id), "beta").returncode == 0
    bench = run("bench", str(int8.id), "--board", "beta", *FAST)
    assert bench.returncode == 0, bench.stderr
    assert not marker.exists()
    home = fleet.boards["beta"].home
    assert (home / workdir / "deployed" / "tflite-int8" / "current" / "model.tflite").exists()
    created = [p for p in home.rglob("*") if "touch" in str(p.relative_to(home))]
    assert created and all(p.resolve().is_relative_to(home.resolve()) for p in created)


def test_secrets_never_reach_logs_events_results_or_catalog(
    fleet: Fleet, env: Env, tmp_path: Path
) -> None:
    passphrase = "correct horse battery staple 7f3a"
    key = tmp_path / "locked"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(key)], check=True
    )
    beta = fleet.boards["beta"]
    authorized = beta.dir / "authorized_keys"
    authorized.write_text(authorized.read_text() + key.with_suffix(".pub").read_text())
    devices = fleet.devices_toml(tmp_path / "devices.toml", beta={"identity": str(key)})
    run = Env(fleet, env.ws, devices)
    without = run("boards", "probe", "beta")
    assert without.returncode == 2
    secret_env = {"MLLIB_SSH_PASSPHRASE": passphrase}
    outputs = [
        run("boards", "probe", "beta", "--json", env=secret_env),
        run(
            "bench",
            str(env.artifact("tflite", "int8").id),
            "--board",
            "beta",
            *FAST,
            "--json",
            env=secret_env,
        ),
    ]
    assert all(o.returncode == 0 for o in outputs), [o.stderr for o in outputs]
    private = key.read_text().split("-----")[2].strip().splitlines()[0]
    haystacks = [o.stdout + o.stderr for o in outputs]
    haystacks += [
        p.read_bytes().decode(errors="replace")
        for p in env.ws.rglob("*")
        if p.is_file() and p.suffix in ("", ".json", ".md", ".xml", ".sqlite", ".sqlite-wal")
    ]
    for text in haystacks:
        assert passphrase not in text and private not in text


def test_proxy_jump_through_another_board(fleet: Fleet, env: Env, tmp_path: Path) -> None:
    devices = fleet.devices_toml(tmp_path / "devices.toml", beta={"proxy_jump": "alpha"})
    run = Env(fleet, env.ws, devices)
    out = run("boards", "probe", "beta", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["beta"]["arch"] == os.uname().machine
