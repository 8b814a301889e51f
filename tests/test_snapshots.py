"""Snapshots of the dashboard and the board screen at 80x24 and 160x48, on deterministic data
(a catalog written by hand: no clock, no animation, no cursor blink)."""

import dataclasses
import io
import re
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from rich.console import Console
from textual.widgets import DataTable

from backends.bench.protocol import Latency
from backends.bench.rows import BenchmarkRow
from backends.workspace import Workspace
from mllib_tui.app import MllibApp
from mllib_tui.screens.board import BoardScreen
from mllib_tui.screens.results import ResultsScreen, row_detail

TRAINED = 1_796_203_800.0  # 2026-12-02 09:30 UTC
CLASSES = ["void", "person", "vehicle", "animal"]
FACTS = {
    "arch": "aarch64",
    "cpu": "Cortex-A72",
    "cores": 4,
    "os": "Linux-6.6-rpi",
    "python": "3.11.2",
    "modules": {"numpy": "1.26.4", "tflite_runtime": "2.14.0"},
    "runtimes": ["litert"],
    "accelerators": {"raspberry_pi": "Raspberry Pi 4 Model B"},
    "memory_mb": 3796,
}
CONFUSION = [[9200, 40, 60, 100], [80, 700, 10, 30], [90, 5, 800, 15], [70, 10, 20, 600]]


@pytest.fixture(autouse=True)
def _clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Dates as a UTC machine shows them (the models pane shows when a model was trained)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _workspace(root: Path) -> Path:
    with mock.patch("time.time", return_value=TRAINED):  # the catalog's clock
        return _written(root)


def _written(root: Path) -> Path:
    ws = Workspace.open(root)
    c = ws.catalog
    split = {"images": 64, "shards": [], "pixels": [1, 1, 1, 1], "ignored": 0}
    dataset = c.add_dataset(
        name="demo",
        version="bc6d0e4d82762b0e",
        task="segmentation",
        path="datasets/demo/bc6d0e4d82762b0e",
        job_id=None,
        manifest={
            "classes": CLASSES,
            "image_size": [128, 128],
            "ignore": 255,
            "splits": {"train": {**split, "images": 256}, "val": split},
        },
    )
    model = c.add_artifact(
        kind="model",
        path="m/unet.keras",
        sha256="0" * 64,
        size=10,
        dataset_id=dataset.id,
        meta={"input_size": [128, 128]},
    )
    saved = c.add_artifact(
        kind="savedmodel",
        path="m/unet.savedmodel",
        sha256="1" * 64,
        size=10,
        parent_id=model.id,
        dataset_id=dataset.id,
    )
    for i, (kind, precision, delta) in enumerate(
        [("onnx", "fp32", 0.0), ("tflite", "fp32", 0.0), ("tflite", "int8", -0.0002)]
    ):
        c.add_artifact(
            kind=kind,
            path=f"c/{i}",
            sha256=str(i + 2) * 64,
            size=10,
            parent_id=model.id if kind == "onnx" else saved.id,
            dataset_id=dataset.id,
            meta={"precision": precision, "fidelity": {"passed": True, "delta": delta}},
        )
    c.add_probe("local", {**FACTS, "arch": "x86_64", "runtimes": ["litert", "onnxruntime"]})
    (root / "devices.toml").write_text('[boards.rpi4]\nhost = "rpi4.local"\ntags = ["arm64"]\n')
    c.add_probe("rpi4", FACTS)
    return root


def _row(software: str, runtime: str, artifact: int, p50: float) -> BenchmarkRow:
    latency = Latency(50, p50, 0.1, p50, p50 * 1.1, p50 * 1.4, p50, p50 * 1.5, 1000 / p50)
    return BenchmarkRow(
        name=f"rpi4-{runtime}",
        task="segmentation",
        software=software,
        runtime=runtime,
        precision=software.rsplit(" ", 1)[-1],
        format=runtime,
        artifact=artifact,
        size_bytes=1,
        hardware="rpi4: aarch64",
        machine={},
        board="rpi4",
        images=64,
        latency=latency,
        figures={
            "pixel_accuracy": 0.982,
            "similarity": 0.8134,
            "miou": 0.8468,
            "confusion": CONFUSION,
        },
    )


async def _settled(pilot) -> None:
    """Until the tables have sized their columns for their rows (DataTable does that when idle:
    a screenshot taken earlier shows cells cut to the header's width)."""
    for _ in range(200):
        tables = pilot.app.screen.query(DataTable)
        if not any(t._require_update_dimensions for t in tables):
            break
        await pilot.pause(0.02)
    await pilot.pause(0.1)


async def _loaded(pilot) -> None:
    for _ in range(100):
        if pilot.app.snapshot.datasets:
            break
        await pilot.pause(0.05)
    await _settled(pilot)


async def _board_screen(pilot) -> None:
    await _loaded(pilot)
    screen = BoardScreen("rpi4", pilot.app.snapshot.focus_dataset(), FACTS)
    await pilot.app.push_screen(screen)
    await pilot.pause(0.1)
    screen.show_row(_row("ONNX Runtime fp32", "onnxruntime", 3, 41.2))
    screen.show_row(_row("LiteRT int8", "litert", 5, 12.7))
    await _settled(pilot)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_dashboard(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    app = MllibApp(_workspace(tmp_path / "ws"))
    assert snap_compare(app, terminal_size=size, run_before=_loaded)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_board_screen(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    app = MllibApp(_workspace(tmp_path / "ws"))
    assert snap_compare(app, terminal_size=size, run_before=_board_screen)


async def _dataset_screen(pilot) -> None:
    from mllib_tui.screens.dataset import DatasetScreen

    await _loaded(pilot)
    await pilot.press("enter")  # the datasets table has the focus
    for _ in range(100):
        screen = pilot.app.screen
        if isinstance(screen, DatasetScreen) and screen.view is not None:
            break
        await pilot.pause(0.05)
    await pilot.pause(0.2)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_dataset_screen(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    from backends.datasets.build import synth_dataset

    synth_dataset(
        Workspace.open(tmp_path / "ws"), name="demo", images=8, size=(64, 64), emit=lambda _: None
    )
    app = MllibApp(tmp_path / "ws")
    assert snap_compare(app, terminal_size=size, run_before=_dataset_screen)


async def test_the_board_table_fits_at_120_columns(tmp_path: Path) -> None:
    app = MllibApp(_workspace(tmp_path / "ws"))
    async with app.run_test(size=(120, 34)) as pilot:
        await _board_screen(pilot)
        table = app.screen.query_one("#bench", DataTable)
        assert table.virtual_size.width <= table.scrollable_content_region.width  # Status too


def _with_results(root: Path) -> Path:
    """The workspace with three runs on this machine and the rpi4: the last one slower."""
    root = _workspace(root)
    catalog = Workspace.open(root).catalog
    with mock.patch("time.time", return_value=TRAINED):
        for run, (slower, miou) in enumerate([(1.0, 0.85), (1.05, 0.84), (1.3, 0.80)]):
            rows = [
                dataclasses.replace(
                    _row("TensorFlow fp32", "tensorflow", 1, 30.0),
                    board=None,
                    format="model",
                    hardware="x86_64 workstation",
                ),
                _row("ONNX Runtime fp32", "onnxruntime", 3, 41.2),
                _row("LiteRT int8", "litert", 5, 12.7),
            ]
            rows = [
                dataclasses.replace(
                    r,
                    classes=tuple(CLASSES),
                    latency=_latency(r.latency.p50_ms * slower),
                    figures={
                        **r.figures,
                        "miou": miou,
                        "iou": dict(zip(CLASSES, IOU, strict=True)),
                    },
                )
                for r in rows
            ]
            catalog.add_results(f"20261202-09{run}000-run{run}", "snapshots", rows)
    return root


IOU = [0.97, 0.81, 0.78, 0.72]


def _latency(p50: float) -> Latency:
    """Calls spread over 1x-3x p50 with a tail, the same every run."""
    samples = [p50 * (1 + (i % 7) / 30) for i in range(90)] + [p50 * 2, p50 * 3] * 5
    return Latency.from_seconds([s / 1000 for s in samples], 1)


async def _results_screen(pilot) -> None:
    await _loaded(pilot)
    await pilot.press("v")
    for _ in range(100):
        if isinstance(pilot.app.screen, ResultsScreen) and pilot.app.screen.shown:
            break
        await pilot.pause(0.05)
    await _settled(pilot)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_results_screen(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    app = MllibApp(_with_results(tmp_path / "ws"))
    assert snap_compare(app, terminal_size=size, run_before=_results_screen)


async def test_results_sort_baseline_and_history(tmp_path: Path) -> None:
    app = MllibApp(_with_results(tmp_path / "ws"))
    async with app.run_test(size=(160, 48)) as pilot:
        await _results_screen(pilot)
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        table = screen.query_one("#results", DataTable)

        def column(header: str) -> list[str]:
            return [str(c) for c in table.get_column(header)]

        assert column("Software") == ["TensorFlow fp32", "ONNX Runtime fp32", "LiteRT int8"]
        assert column("Hardware")[0] == "x86_64 workstation"  # this machine first
        assert column("p50 x") == ["1.00x", "1.37x", "0.42x"]  # against TensorFlow fp32
        for _ in range(4):  # hardware -> pixel_accuracy -> similarity -> miou -> p50
            await pilot.press("s")
        assert column("Software") == ["LiteRT int8", "TensorFlow fp32", "ONNX Runtime fp32"]
        await pilot.press("o")
        assert column("Software")[0] == "ONNX Runtime fp32"
        await pilot.press("o", "down", "down", "b")  # the slowest row, ONNX Runtime, as baseline
        assert screen.baseline is not None and screen.baseline.software == "ONNX Runtime fp32"
        assert column("p50 x") == ["0.31x", "0.73x", "1.00x"]
        await pilot.press("up", "up")  # LiteRT int8 on the rpi4: three runs, the last slower
        history = str(screen.query_one("#history").render())
        assert "LiteRT int8@rpi4 over 3 runs" in history
        assert "13.97 → 18.16" in history and "0.8500 → 0.8000" in history
        assert "p50 ms ▁▂█" in history and "mIoU   █▇▁" in history  # p50 rose; mIoU fell
        console = Console(width=54, record=True, file=io.StringIO())
        console.print(row_detail(screen.selected, screen.baseline))  # what #detail shows
        detail = console.export_text()
        assert re.search(r"person +0\.8100 +\+0\.0000", detail)  # IoU, against the baseline's
        assert "5 p50 18.16  9 p90 21.13  P p99 49.53 ms" in detail  # the histogram's legend
        await pilot.press("i")  # differences need two different rows: this one and the baseline
        await pilot.pause(0.1)
        assert "no images" in str(screen.query_one("#status").render())  # a board's file only
