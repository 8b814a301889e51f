"""The board agent: a closed set of modules, Python 3.8 syntax and library, real runs."""

import ast
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backends import events as ev
from backends.boards.bundle import MODULES, ROOT, build
from tests.conftest import start_agent

BUNDLED = {f"backends.{m[:-3].replace('/', '.')}".removesuffix(".__init__") for m in MODULES}


def test_the_bundle_is_closed_and_reproducible() -> None:
    for module in MODULES:
        tree = ast.parse((ROOT / module).read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("backends") and name not in BUNDLED:
                    parent = name.rsplit(".", 1)[0]
                    assert parent in BUNDLED, f"{module} imports {name}, which is not bundled"
    assert build() == build()  # same sources, same bytes, same name


def test_agent_modules_need_python_38_at_most() -> None:
    files = [str(ROOT / m) for m in MODULES]
    out = subprocess.run(
        [
            str(Path(sys.executable).with_name("vermin")),
            "-t=3.8-",
            "--no-tips",
            "--violations",
            *files,
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def _events(stdout: str) -> list[ev.Event]:
    return [ev.decode(line) for line in stdout.splitlines()]


def _request(**fields: object) -> str:
    """One request, as the workstation sends it: a JSON line on the agent's stdin."""
    return json.dumps(fields) + "\n"


def test_probe_without_numpy_or_runtimes(agent: Path, tmp_path: Path) -> None:
    """A bare interpreter (no site packages) still probes: stdlib only."""
    out = subprocess.run(
        [sys.executable, "-I", "-S", str(agent)],
        input=_request(command="probe", workdir=str(tmp_path)),
        capture_output=True,
        text=True,
        check=True,
    )
    (result,) = _events(out.stdout)
    assert result.data["arch"] and result.data["runtimes"] == []
    assert result.data["disk_free_mb"] > 0


@pytest.mark.slow
def test_agent_on_python_38_with_tflite_runtime(
    agent: Path, trained_ws: Path, tmp_path: Path
) -> None:
    """The real thing: Python 3.8, numpy 1.x and tflite-runtime, nothing else installed."""
    found = [
        *glob.glob(os.path.expanduser("~/.pyenv/versions/3.8*/bin/python3.8")),
        *filter(None, [shutil.which("python3.8", path="/usr/bin:/usr/local/bin")]),
    ]
    if not found:
        pytest.skip("no Python 3.8 interpreter on this machine (the dev image has one in pyenv)")
    python38 = found[0]
    venv = Path("/tmp/mllib-agent-py38-venv")
    if not (venv / ".complete").exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([python38, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "numpy<2", "tflite-runtime==2.14.0"],
            check=True,
        )
        (venv / ".complete").write_text("")
    python = str(venv / "bin" / "python")
    probe = _events(
        subprocess.run(
            [python, str(agent)],
            input=_request(command="probe", workdir=str(tmp_path)),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )[0]
    assert probe.data["python"].startswith("3.8")
    assert set(probe.data["modules"]) == {"numpy", "tflite_runtime"}
    assert probe.data["runtimes"] == ["litert"]

    from backends.workspace import Workspace

    ws = Workspace.open(trained_ws)
    model = next(a for a in ws.catalog.artifacts("tflite") if a.meta["precision"] == "int8")
    dataset = ws.catalog.dataset("tiny")
    split = tmp_path / "split.json"
    root = ws.path(dataset.path)
    split.write_text(
        json.dumps(
            {
                **dataset.manifest,
                "shards": [
                    {**s, "file": str(root / s["file"])}
                    for s in dataset.manifest["splits"]["val"]["shards"]
                ],
            }
        )
    )
    protocol = {"warmup_runs": 1, "warmup_seconds": 0, "min_runs": 3, "min_seconds": 0}
    out = subprocess.run(
        [python, str(agent)],
        input=_request(
            command="bench",
            model=str(ws.verify(model)),
            runtime="litert",
            split=str(split),
            protocol=protocol,
        ),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    (row,) = [e.data for e in _events(out.stdout) if isinstance(e, ev.Result)]
    assert row["runtime_version"].startswith("tflite-runtime 2.14")
    assert row["images"] == 5 and row["latency"]["runs"] >= 3
    assert 0 <= row["pixel_accuracy"] <= 1


def test_a_python_without_numpy_is_told_what_to_install(agent: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "split.json"
    manifest.write_text(json.dumps({"classes": ["a"], "ignore": 255, "shards": []}))
    out = subprocess.run(
        [sys.executable, "-I", "-S", str(agent)],
        input=_request(
            command="bench", model="m", runtime="litert", split=str(manifest), protocol={}
        ),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    (error,) = [e for e in _events(out.stdout) if isinstance(e, ev.Error)]
    assert "numpy is not installed" in error.message and "pip install" in error.message


def test_sigterm_ends_the_agent_cleanly(agent: Path, tmp_path: Path) -> None:
    """A bench that is stopped says so on stdout and exits 128+15, without a traceback."""
    manifest = tmp_path / "split.json"
    manifest.write_text(json.dumps({"classes": ["a"], "ignore": 255, "shards": []}))
    slow = start_agent(
        agent,
        command="receive",
        path="/dev/zero",
        sha256="0" * 64,
        store=str(tmp_path / "store"),
        size=10**18,
    )
    time.sleep(1.0)  # hashing /dev/zero never ends
    slow.send_signal(signal.SIGTERM)
    stdout, stderr = slow.communicate(timeout=10)
    assert slow.returncode == 128 + signal.SIGTERM
    (finished,) = _events(stdout)
    assert finished.status == "interrupted" and "Traceback" not in stderr


def test_closed_stdout_is_not_an_error(agent: Path, tmp_path: Path) -> None:
    read, write = os.pipe()
    os.close(read)  # nobody listens: the connection is gone
    out = subprocess.run(
        [sys.executable, str(agent)],
        input=_request(command="probe", workdir=str(tmp_path)),
        stdout=write,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(write)
    assert out.returncode == 141 and "Traceback" not in out.stderr
