"""End to end: the tiny pipeline through the real console script (seconds, not minutes)."""

import json
import shutil
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from backends import events as ev
from tests.conftest import TINY, TINY_SOFTWARE, cli

pytestmark = pytest.mark.slow


def test_headless_json_run_streams_events_and_writes_the_report(trained_ws: Path) -> None:
    # other tests add runs to this shared workspace: the pipeline's run is the first
    reports = [min((trained_ws / "reports").glob("*/results.json"))]
    result = json.loads(reports[0].read_text())
    row = result["rows"][0]
    assert [r["software"] for r in result["rows"]] == TINY_SOFTWARE
    assert all(r["status"] == "ok" for r in result["rows"])
    assert row["images"] == 5 and row["delta"] == 0 and row["task"] == "segmentation"
    assert set(row["iou"]) == {"void", "person", "vehicle", "animal"}
    assert 0 <= row["miou"] <= 1 and 0 <= row["pixel_accuracy"] <= 1
    assert sum(map(sum, row["confusion"])) == row["pixels"] > 0
    assert "| TensorFlow fp32 |" in (reports[0].parent / "results.md").read_text()
    for r in result["rows"]:
        for picture in (r["confusion_png"], r["latency_png"]):
            assert (reports[0].parent / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert r["latency"]["p50_ms"] > 0 and r["machine"]["cores"] >= 1
        assert sum(r["latency"]["histogram"]) == r["latency"]["runs"]
    # where TensorFlow fp32 scores lowest, and where LiteRT int8 differs most from it
    pictures = result["pictures"]
    failing = [p for p in pictures if p["png"].startswith("failure-")]
    differing = [p for p in pictures if p["png"].startswith("differs-")]
    assert len(failing) == 3 and all(
        "TensorFlow fp32@local: image" in p["caption"] for p in failing
    )
    assert all("| LiteRT int8@local |" in p["caption"] for p in differing)
    markdown = (reports[0].parent / "results.md").read_text()
    for picture in pictures:
        assert f"]({picture['png']})" in markdown
        assert (reports[0].parent / picture["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## Latency (inference only; p50, p90, p99 marked)" in markdown


def test_json_lines_are_events_only(tmp_path: Path, trained_ws: Path) -> None:
    # Reuses the trained model: same data and config hash.
    out = cli("run", "--headless", "--json", "-w", str(trained_ws), str(TINY))
    assert out.returncode == 0, out.stderr
    decoded = [ev.decode(line) for line in out.stdout.splitlines()]
    stages = [e.stage for e in decoded if isinstance(e, ev.StageFinished)]
    assert stages == ["dataset", "train", "convert", "bench"]
    train_done = next(e for e in decoded if isinstance(e, ev.StageFinished) and e.stage == "train")
    assert "reused" in train_done.detail
    results = [e for e in decoded if isinstance(e, ev.Result)]
    assert len(results) == len(TINY_SOFTWARE) and all(r.data["miou"] is not None for r in results)
    convert_done = next(
        e for e in decoded if isinstance(e, ev.StageFinished) and e.stage == "convert"
    )
    assert convert_done.detail == "onnx fp32, tflite fp32, tflite fp16, tflite int8"


def test_gate_failure_exits_1_naming_the_row(trained_ws: Path) -> None:
    out = cli("run", "--headless", "-w", str(trained_ws), str(TINY), "--min-miou", "0.999")
    assert out.returncode == 1
    assert "gate failed: TensorFlow fp32 on" in out.stderr and "miou" in out.stderr
    assert "| TensorFlow fp32 |" in out.stdout  # the table is still shown


def test_a_baseline_run_gates_the_slowed_row_and_the_worse_row(
    trained_ws: Path, tmp_path: Path
) -> None:
    """Against a stored run where LiteRT fp32 was 20x faster and ONNX Runtime fp32 scored
    0.2 higher: both rows fail, each with its line, in stderr and in the JUnit file."""
    from backends.workspace import Workspace

    root = tmp_path / "ws"
    shutil.copytree(trained_ws, root)  # the shared workspace keeps its runs as they are
    catalog = Workspace.open(root).catalog
    first = catalog.results(catalog.runs()[0][0])
    faster = {"LiteRT fp32"}
    better = {"ONNX Runtime fp32"}
    baseline = [
        replace(r, latency=replace(r.latency, p50_ms=r.latency.p50_ms / 20))
        if r.software in faster and r.latency
        else replace(r, figures={**r.figures, "miou": r.headline + 0.2})
        if r.software in better and r.headline is not None
        else r
        for r in first
    ]
    catalog.add_results("baseline-run", "crafted: one row faster, one better", baseline)
    junit = tmp_path / "junit.xml"
    gates = ["--max-slowdown", "3", "--max-drop", "0.1", "--junit", str(junit)]
    out = cli("run", "--headless", "-w", str(root), str(TINY), "--baseline", "latest", *gates)
    assert out.returncode == 1, out.stderr
    assert "LiteRT fp32 on" in out.stderr and "slower than run baseline-run's" in out.stderr
    assert "ONNX Runtime fp32 on" in out.stderr and "0.2000 below run baseline-run's" in out.stderr
    failed = {
        case.get("name"): case.find("failure").get("message")
        for case in ET.parse(junit).getroot()
        if case.find("failure") is not None
    }
    assert set(failed) == faster | better, failed
    assert "slower" in failed["LiteRT fp32"] and "below" in failed["ONNX Runtime fp32"]

    out = cli("run", "--headless", "-w", str(root), str(TINY), "--baseline", "no-such-run")
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert "--baseline no-such-run: no such run" in line


def test_training_emits_epoch_metrics_and_lineage(trained_ws: Path) -> None:
    from backends.workspace import Workspace

    ws = Workspace.open(trained_ws)
    (model,) = ws.catalog.artifacts("model")
    (saved,) = ws.catalog.artifacts("savedmodel")
    assert saved.parent_id == model.id
    dataset = ws.catalog.dataset("tiny")
    assert model.dataset_id == dataset.id
    assert (ws.path(saved.path) / "saved_model.pb").exists()
    first = {}
    for job in ws.catalog.jobs():
        first.setdefault(job.kind, job.state)
    pipeline_jobs = {kind: first[kind] for kind in ("dataset", "train", "convert")}
    assert pipeline_jobs == {"dataset": "done", "train": "done", "convert": "done"}

    assert "running" not in {j.state for j in ws.catalog.jobs()}


def test_killed_training_resumes_from_its_last_checkpoint(tmp_path: Path) -> None:
    pipeline = tmp_path / "p.toml"
    only_training = 'stages = ["dataset", "train"]\n'  # what resuming is about, no more
    pipeline.write_text(only_training + TINY.read_text().replace("epochs = 2", "epochs = 4"))
    ws = tmp_path / "ws"
    exe = Path(sys.executable).with_name("mllib-tui")
    child = subprocess.Popen(
        [str(exe), "run", "--headless", "--json", "-w", str(ws), str(pipeline)],
        stdout=subprocess.PIPE,
        text=True,
    )
    for line in child.stdout:  # an epoch's metrics come after its checkpoint is on disk
        event = ev.decode(line)
        if isinstance(event, ev.Metric) and event.name == "val_miou" and event.epoch == 1:
            break
    child.send_signal(signal.SIGKILL)
    child.wait()
    (checkpoint,) = (ws / "checkpoints").glob("*/epoch-*.keras")
    saved = int(checkpoint.stem.split("-")[1])
    assert 1 <= saved < 4

    out = cli("run", "--headless", "--json", "-w", str(ws), str(pipeline))
    assert out.returncode == 0, out.stderr
    decoded = [ev.decode(line) for line in out.stdout.splitlines()]
    logs = [e.message for e in decoded if isinstance(e, ev.Log)]
    assert any(f"resuming from epoch {saved}" in m for m in logs)
    epochs = [e.epoch for e in decoded if isinstance(e, ev.Metric) and e.name == "val_miou"]
    assert epochs == list(range(saved + 1, 5))

    from backends.workspace import Workspace

    catalog = Workspace.open(ws).catalog
    assert [j.state for j in catalog.jobs("train")] == ["interrupted", "done"]
    history = catalog.artifacts("model")[-1].meta["history"]  # the killed run's epochs too
    assert len(history["loss"]) == len(history["val_miou"]) == 4
