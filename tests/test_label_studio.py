"""A real Label Studio server (its own package, SQLite, on loopback; started and stopped here):
a capture exported with the model's pre-labels, a project made from our labelling config, a
person's annotations submitted through its API (accepted pre-labels, a brush stroke, a
rectangle, a skipped task), pulled back into a version, and the tiny pipeline trained on it.
The token never reaches the workspace or the output."""

from __future__ import annotations

import json
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

pytestmark = pytest.mark.slow  # a server's start, a training

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


def labelled_project(url: str, export: Path, tasks: Path) -> dict:
    """A project made from the export's labelling config and ``tasks``, labelled by a person
    (tests/tools/label_studio_project.py): its id and the tasks' files."""
    config = export / "labelling-config.xml"
    return labelling_tools.run("label-studio", "label_studio_project.py", url, TOKEN, config, tasks)


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
    made = labelled_project(label_studio, tmp_path / "ls", tmp_path / "ls/tasks.json")

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

    # The same annotations through Label Studio's own JSON export and its SDK's COCO converter:
    # the brush stroke is gone there, and the import says where to get it
    project_export = tmp_path / "project.json"
    request = urllib.request.Request(
        f"{label_studio}/api/projects/{made['project']}/export?exportType=JSON",
        headers={"Authorization": f"Token {TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        project_export.write_bytes(answer.read())
    labelling_tools.run(
        "label-studio",
        "label_studio_to_coco.py",
        tmp_path / "ls/labelling-config.xml",
        project_export,
        tmp_path / "coco",
    )
    via_file = cli(
        "datasets",
        "import",
        "coco",
        "bench-file",
        "--annotations",
        str(tmp_path / "coco/result.json"),
        "--images",
        str(tmp_path / "ls"),
        "--val-fraction",
        "0.5",
        "-w",
        str(app_ws),
    )
    assert via_file.returncode == 0, via_file.stderr
    assert "leaves brush strokes out" in via_file.stderr
    assert "1 annotation(s) are rectangles without a mask" in via_file.stderr
    from_file = ws.catalog.dataset("bench-file")
    assert from_file.manifest["source"]["labels"]["matched"] == sum(from_file.images.values())
    assert from_file.version != record.version  # the brush stroke is missing from the file

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


async def test_pull_labels_from_the_dataset_screen(
    label_studio: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """i: the pull form, then the project's labels become a version the app lists."""
    from textual.widgets import Input, Static

    from backends.annotate.export import export
    from backends.datasets.build import synth_dataset
    from mllib_tui.app import MllibApp
    from tests.test_dataset_screen import _open, _until

    ws = Workspace.open(tmp_path / "ws")
    synth_dataset(ws, name="demo", images=8, size=(72, 96), emit=lambda _e: None)
    export(ws, "demo", "label-studio", tmp_path / "ls", lambda _e: None)
    tasks = json.loads((tmp_path / "ls/tasks.json").read_text())
    for task in tasks:  # the labels go up as predictions, then a person accepts three
        task["predictions"] = [
            {"model_version": "labels", "result": task["annotations"][0]["result"]}
        ]
        del task["annotations"]
    (tmp_path / "tasks.json").write_text(json.dumps(tasks))
    made = labelled_project(label_studio, tmp_path / "ls", tmp_path / "tasks.json")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", TOKEN)
    app = MllibApp(tmp_path / "ws")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await _open(pilot, tmp_path / "ws")
        await pilot.press("i")
        await _until(pilot, lambda: pilot.app.screen.query("#project"))
        form = pilot.app.screen
        form.query_one("#url", Input).value = label_studio
        form.query_one("#project", Input).value = str(made["project"])
        form.query_one("#name", Input).value = "demo-back"
        await pilot.click("#pull")
        status = screen.query_one("#status", Static)
        await _until(pilot, lambda: "are demo-back@" in str(status.render()))
        await _until(pilot, lambda: any(d.name == "demo-back" for d in app.snapshot.datasets))
    assert ws.catalog.dataset("demo-back").manifest["source"]["labels"]["matched"] == 2
