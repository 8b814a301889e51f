"""Snapshots of the dashboard and the board screen at 80x24 and 160x48, on deterministic data
(a catalog written by hand: no clock, no animation, no cursor blink)."""

import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from textual.widgets import DataTable

from backends.bench.protocol import Latency
from backends.bench.rows import BenchmarkRow
from backends.workspace import Workspace
from mllib_tui.app import MllibApp
from mllib_tui.screens.board import BoardScreen

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
