"""A real Label Studio server (its own package, SQLite, on loopback; started and stopped here):
a capture exported with the model's pre-labels, a project made from our labelling config, a
person's annotations submitted through its API (accepted pre-labels, a brush stroke, a
rectangle, a skipped task), pulled back into a version, and the tiny pipeline trained on it.
The token never reaches the workspace or the output."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from backends.datasets.shards import split
from backends.workspace import Workspace
from tests import labelling_tools
from tests.conftest import cli
from tests.test_annotate import capture

TOKEN = "5f0c7a1e9b3d42c8a6e1f0b7d9c3a2e4b8f6d1c0"


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    exe = labelling_tools.python("label-studio").with_name("label-studio")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = tmp_path_factory.mktemp("label-studio")
    log = (data / "server.log").open("w")
    server = subprocess.Popen(
        [
            str(exe),
            "start",
            "--no-browser",
            "--internal-host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(data / "data"),
            "--username",
            "labeller@example.com",
            "--password",
            "labeller-password",
            "--user-token",
            TOKEN,
            "--enable-legacy-api-token",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        assert server.poll() is None, (data / "server.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "Label Studio did not start in 180 s"
        time.sleep(1)
    yield url
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(30)
    log.close()


def test_label_studio_round_trip_trains(label_studio: str, app_ws: Path, tmp_path: Path) -> None:
    ws = Workspace.open(app_ws)
    tiny = ws.catalog.dataset("tiny")
    frames = [cv2.resize(f, (96, 72)) for f in split(ws.path(tiny.path), "val").read(0)[0][:4]]
    ref = capture(ws, frames)
    model = next(a for a in ws.catalog.artifacts("onnx"))
    out = cli(
        "datasets",
        "export",
        ref,
        "--format",
        "label-studio",
        "--prelabel",
        str(model.id),
        "--output",
        str(tmp_path / "ls"),
        "-w",
        str(app_ws),
    )
    assert out.returncode == 0, out.stderr
    made = labelling_tools.run(
        "label-studio",
        "label_studio_project.py",
        label_studio,
        TOKEN,
        tmp_path / "ls/labelling-config.xml",
        tmp_path / "ls/tasks.json",
    )

    pulled = cli(
        "datasets",
        "pull-labels",
        "label-studio",
        "--url",
        label_studio,
        "--project",
        str(made["project"]),
        "--name",
        "bench-ls",
        "--val-fraction",
        "0.5",
        "-w",
        str(app_ws),
        env={"LABEL_STUDIO_API_KEY": TOKEN},
    )
    assert pulled.returncode == 0, pulled.stderr
    assert "1 task(s) have no finished annotation: left out" in pulled.stderr  # the skipped one
    assert "1 annotation(s) are rectangles without a mask" in pulled.stderr
    record = ws.catalog.dataset("bench-ls")
    assert record.images == {"train": 1, "val": 1}
    assert record.manifest["source"]["label_studio"]["project"] == made["project"]
    labels = record.manifest["source"]["labels"]
    assert (labels["of"], labels["matched"], labels["exported"]) == (ref, 2, 4)
    masks = {}
    for name in ("train", "val"):
        _, (mask,) = split(ws.path(record.path), name).read(0)
        masks[name] = mask
    # 96x72 frames letterboxed into 64x64: scale 2/3, 8 rows of padding above
    brushed = [m for m in masks.values() if (m[8 + 10 : 8 + 22, 18:38] == 1).all()]
    boxed = [m for m in masks.values() if (m[8 + 26 : 8 + 34, 34:44] == 255).all()]
    assert len(brushed) == 1 and len(boxed) == 1 and brushed[0] is not boxed[0]

    for text in (pulled.stdout, pulled.stderr, out.stdout, out.stderr):
        assert TOKEN not in text
    for file in app_ws.rglob("*"):
        if file.is_file():
            assert TOKEN.encode() not in file.read_bytes(), file

    pipeline = tmp_path / "train.toml"
    pipeline.write_text(
        'stages = ["dataset", "train"]\n[dataset]\nsource = "workspace"\n'
        'name = "bench-ls"\n[train]\nepochs = 1\nbatch_size = 1\n'
    )
    trained = cli("run", "--headless", "-w", str(app_ws), str(pipeline))
    assert trained.returncode == 0, trained.stderr
    shown = cli("datasets", "show", "bench-ls", "-w", str(app_ws)).stdout
    steps = [line.split()[0] for line in shown[shown.index("Lineage") :].splitlines()[1:]]
    assert steps == ["captured", "exported", "labelled", "trained"]
