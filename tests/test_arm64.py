"""The Raspberry Pi path on a real arm64 userland: Debian bookworm's python3 with numpy 1.x and
tflite-runtime, run by qemu-user, reached over real SSH (the host's sshd confines the board user
to the arm64 root file system, as ChrootDirectory; SFTP is the host sshd's own).

Metrics must equal the x86 LiteRT run on the same model and shard within TOLERANCE; latency is
recorded, and labelled emulated.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from backends.workspace import Workspace
from tests import arm64
from tests.conftest import cli, result_rows
from tests.sshd import Fleet

pytestmark = pytest.mark.slow
FAST = ["--warmup-runs", "1", "--warmup-seconds", "0", "--runs", "3", "--seconds", "0"]
# Different kernels (XNNPACK's aarch64 and x86 paths) may round floats differently: a changed
# argmax on a few pixels is allowed, a changed model is not.
TOLERANCE = {"pixel_accuracy": 0.001, "miou": 0.002, "pixels_changed": 0.001}


@pytest.fixture(scope="module")
def pi() -> tuple[Fleet, Path]:
    """(fleet with the arm64 board ``pi``, its devices.toml)."""
    why = arm64.missing()
    if why:
        pytest.fail(why)  # CI runs as root with scripts/install --test: this must not skip
    root = arm64.rootfs()
    os.makedirs("/run/sshd", exist_ok=True)
    with arm64.proc_mounted(root):
        fleet = Fleet()
        try:
            fleet.add("pi", 7, chroot=root)
            fleet.trust_all()
            devices = fleet.devices_toml(
                fleet.root / "devices.toml", pi={"python": arm64.PYTHON, "tags": ["arm64"]}
            )
            yield fleet, devices
        finally:
            fleet.stop()


def _cli(pi: tuple[Fleet, Path], ws: Path, *args: str):
    fleet, devices = pi
    return cli(
        *args,
        "-w",
        str(ws),
        "--devices",
        str(devices),
        env={"MLLIB_KNOWN_HOSTS": str(fleet.known_hosts)},
        timeout=900,
    )


def _tflite(ws: Path, precision: str):
    return next(
        a
        for a in Workspace.open(ws).catalog.artifacts("tflite")
        if a.meta.get("precision") == precision and "fidelity" in a.meta
    )


def test_probe_reports_aarch64_numpy_1_and_tflite_runtime(pi, trained_ws: Path) -> None:
    out = _cli(pi, trained_ws, "boards", "probe", "pi", "--json")
    assert out.returncode == 0, out.stderr
    facts = json.loads(out.stdout)["pi"]
    assert facts["arch"] == "aarch64" and facts["emulated"] == "qemu-user"
    assert facts["runtimes"] == ["litert"] and facts["can_run"] == ["tflite fp32/fp16/int8"]
    assert facts["modules"]["numpy"].startswith("1.") and facts["modules"]["tflite_runtime"]
    assert facts["python"].startswith("3.11") and "aarch64" in facts["os"]


@pytest.mark.parametrize(
    ("precision", "options"), [("int8", []), ("fp32", ["--disable-default-delegates"])]
)
def test_deploy_and_bench_equal_the_x86_run(
    pi, trained_ws: Path, precision: str, options: list[str]
) -> None:
    fleet, _ = pi
    model = _tflite(trained_ws, precision)
    deployed = _cli(pi, trained_ws, "deploy", str(model.id), "pi")
    assert deployed.returncode == 0, deployed.stderr
    current = fleet.boards["pi"].home / "mllib" / "deployed" / f"tflite-{precision}" / "current"
    assert (current / "model.tflite").stat().st_size == model.size

    # XNNPACK (LiteRT's default delegate) crashed under qemu in ai-edge-litert builds; with
    # tflite-runtime 2.14 it runs, and turning it off is tested on the fp32 model.
    remote = _cli(
        pi, trained_ws, "bench", str(model.id), "--board", "pi", *FAST, *options, "--json"
    )
    assert remote.returncode == 0, remote.stderr
    local = cli("bench", str(model.id), *FAST, "-w", str(trained_ws), "--json")
    (arm, x86) = result_rows(remote, local)
    assert arm["status"] == "ok", arm.get("error")
    assert arm["machine"]["arch"] == "aarch64" and "emulated by qemu-user" in arm["hardware"]
    assert arm["runtime_version"].startswith("tflite-runtime 2.14")
    assert arm["options"] == {"default_delegates": not options}  # recorded with the figures
    assert arm["latency"]["p50_ms"] > 0  # recorded, but it measures the emulator
    for key in ("pixel_accuracy", "miou"):
        assert abs(arm[key] - x86[key]) <= TOLERANCE[key], (key, arm[key], x86[key])
    # Half the summed change of the confusion counts: pixels whose prediction moved (a lower
    # bound: two pixels trading places cancel out).
    changed = np.abs(np.array(arm["confusion"]) - np.array(x86["confusion"])).sum() / 2
    assert changed / x86["pixels"] <= TOLERANCE["pixels_changed"]
