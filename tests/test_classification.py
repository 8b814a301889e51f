"""Classification end to end on real Fashion-MNIST (a subset): headless, in the app, and beside
segmentation in the same tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import DataTable, Label

from backends import events as ev
from backends.workspace import Workspace
from mllib_tui.app import MllibApp
from mllib_tui.headless.output import results_table
from mllib_tui.screens.board import BoardScreen
from mllib_tui.widgets.heatmap import ConfusionHeatmap
from mllib_tui.widgets.panes import TrainingPane
from tests.conftest import TINY_SOFTWARE, cli
from tests.test_app import Recorder, rows, wait_for
from tests.test_classification_data import needs_fashion

pytestmark = [pytest.mark.slow, needs_fashion]


def test_headless_run_reports_classification_figures(fashion) -> None:
    ws, _, events = fashion
    epochs = [e for e in events if isinstance(e, ev.Metric) and e.name == "val_accuracy"]
    assert [e.epoch for e in epochs] == [1, 2]
    results = [e for e in events if isinstance(e, ev.Result)]
    assert len(results) == len(TINY_SOFTWARE)  # streamed as they finish
    # other tests add runs to this shared workspace: the pipeline's run is the first
    report = json.loads(min((ws / "reports").glob("*/results.json")).read_text())
    rows_ = report["rows"]  # the same, compared with the reference

    assert [r["software"] for r in rows_] == TINY_SOFTWARE  # the same targets as tiny.toml
    reference = rows_[0]
    # Real data, 2 short epochs on 1,500 images: far above chance (0.1), short of the full run.
    assert reference["task"] == "classification" and reference["accuracy"] > 0.6
    assert reference["images"] == 300 and 0 < reference["macro_f1"] <= 1
    confusion = reference["confusion"]
    assert len(confusion) == 10 and sum(map(sum, confusion)) == 300
    assert set(reference["recall"]) == set(reference["classes"]) and "miou" not in reference
    for row in rows_[1:]:
        assert row["status"] == "ok" and abs(row["delta"]) <= 0.03, row["software"]
        assert row["fidelity"]["metric"] == "accuracy" and row["fidelity"]["passed"]
    assert rows_[1]["delta"] == 0 and rows_[1]["fidelity"]["argmax_agreement"] == 1

    markdown = (ws / "reports" / report["run_id"] / "results.md").read_text()
    assert "| Top-1 | Macro F1 | ΔTop-1 |" in markdown and "## Recall per class" in markdown
    assert "T-shirt/top" in markdown and "IoU" not in markdown
    png = ws / "reports" / report["run_id"] / report["rows"][0]["confusion_png"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stored = Workspace.open(ws).catalog.results(report["run_id"])
    assert [r.metric("accuracy") for r in stored] == [r["accuracy"] for r in rows_]


def test_accuracy_gate_exits_1(fashion) -> None:
    ws, pipeline, _ = fashion
    out = cli("run", "--headless", "-w", str(ws), str(pipeline), "--min-accuracy", "0.999")
    assert out.returncode == 1
    assert "gate failed: TensorFlow fp32 on" in out.stderr and "accuracy 0." in out.stderr


def test_results_of_both_tasks_share_one_table(fashion, trained_ws: Path) -> None:
    ws, _, _ = fashion
    catalogs = [Workspace.open(w).catalog for w in (ws, trained_ws)]
    mixed = [c.results(c.runs()[0][0])[0] for c in catalogs]
    table = results_table(mixed)
    headers = [str(c.header) for c in table.columns]
    expected = ["Software", "Images", "Accuracy", "Similarity", "mIoU", "Top-1", "Macro F1", "Δ"]
    assert headers[:8] == expected
    assert [r.task for r in mixed] == ["classification", "segmentation"]

    listed = cli("results", "latest", "-w", str(ws))
    assert listed.returncode == 0 and "Top-1" in listed.stdout and "mIoU" not in listed.stdout


async def test_the_app_runs_it_and_shows_a_ten_class_confusion_matrix(fashion) -> None:
    ws, pipeline, _ = fashion
    app, seen = MllibApp(ws, pipeline=pipeline), Recorder()
    async with app.run_test(size=(160, 48), message_hook=seen) as pilot:
        await wait_for(pilot, lambda: bool(app.snapshot.converted))  # the workspace is loaded
        await pilot.press("r")  # the pipeline again: reuses the trained model and conversions
        await wait_for(pilot, lambda: seen.ended("demo") is not None, 300)
        assert seen.ended("demo").error is None
        boards = app.dashboard.query_one("#boards-table", DataTable)
        boards.focus()
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, BoardScreen)
        columns = [str(c.label) for c in screen.query_one("#bench", DataTable).columns.values()]
        assert columns[:4] == ["Software", "Images", "Top-1", "Macro F1"]
        await pilot.press("b")
        await wait_for(pilot, lambda: seen.ended("bench:local") is not None, 300)
        assert seen.ended("bench:local").error is None
        bench = rows(screen.query_one("#bench", DataTable))
        converted = len(TINY_SOFTWARE) - 1  # every row of the run but TensorFlow's
        assert len(bench) == converted and all(r[-1] == "ok" and r[1] == "300" for r in bench)
        assert all(0.6 < float(r[2]) <= 1 for r in bench)
        heatmap = screen.query_one(ConfusionHeatmap)
        assert len(heatmap.matrix) == 10 and heatmap.class_names[-1] == "Ankle boot"
        rendered = heatmap.render()
        assert len(rendered.columns) == 11 and rendered.row_count == 10
        await pilot.press("escape")
        # The run above reused the trained model (no epochs): feed the training pane an epoch.
        app.dashboard.query_one(TrainingPane).metric("val_accuracy", 0.875, 3)
        label = app.dashboard.query_one("#val-label", Label)
        assert str(label.render()) == "val Top-1 0.8750 (epoch 3)"
