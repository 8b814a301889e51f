"""The work behind the app's keys: engine calls wrapped as ``emit -> None`` callables that the
app runs in thread workers. The same engine functions as the CLI; nothing here touches widgets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backends import events as ev
from backends.catalog import ArtifactRecord
from backends.workspace import Workspace

Work = Callable[[ev.Emit], Any]
APP_FRAMES, APP_INTERVAL = 30, 0.5  # what the board screen's acquire key captures
APP_BENCH = dict(warmup_runs=3, warmup_seconds=0.2, min_runs=20, min_seconds=0.5)


def demo(ws: Workspace, pipeline_file: Path | None, devices: Path | None) -> Work:
    """The pipeline file's stages (the demo without one), an [engines] stage's boards too."""

    def work(emit: ev.Emit) -> None:
        from backends.pipeline import Pipeline, load_pipeline, run

        pipeline = load_pipeline(pipeline_file) if pipeline_file else Pipeline()
        run(ws, pipeline, emit, devices=devices)

    return work


def train(ws: Workspace, dataset: str, epochs: int) -> Work:
    def work(emit: ev.Emit) -> None:
        from backends.train.loop import train as run_train
        from backends.train.stage import TrainConfig

        run_train(ws, ws.catalog.dataset(dataset), TrainConfig(epochs=epochs), emit)

    return work


def convert(ws: Workspace, model: ArtifactRecord, target: str) -> Work:
    def work(emit: ev.Emit) -> None:
        from backends.convert.job import convert as run_convert
        from backends.convert.job import parse_target
        from backends.convert.stage import ConvertStep

        fmt, precision = parse_target(target)
        run_convert(ws, model, fmt, precision, ConvertStep(targets=(target,)), emit)

    return work


def acquire(ws: Workspace, devices: Path | None, board: str) -> Work:
    """APP_FRAMES frames, one every APP_INTERVAL seconds, from the board's devices.toml camera."""

    def work(emit: ev.Emit) -> None:
        from backends.acquire.run import Acquire
        from backends.acquire.run import acquire as run_acquire
        from backends.boards.inventory import load_inventory

        settings = Acquire(board=board, frames=APP_FRAMES, interval=APP_INTERVAL)
        asyncio.run(run_acquire(ws, load_inventory(devices, ws.root), settings, emit))

    return work


def probe(ws: Workspace, devices: Path | None) -> Work:
    """Probe every board; a board that fails is an ``Error`` on stage ``BOARD/probe``."""

    def work(emit: ev.Emit) -> None:
        from backends.boards import fleet
        from backends.boards.inventory import load_inventory

        inventory = load_inventory(devices, ws.root)
        boards = list(inventory.boards.values())
        for name, outcome in asyncio.run(fleet.probe(ws, inventory, boards, emit)).items():
            if isinstance(outcome, BaseException):
                emit(
                    ev.Error(
                        stage="probe",
                        board=name,
                        message=str(outcome),
                        error_type=type(outcome).__name__,
                    )
                )

    return work


def deploy(ws: Workspace, devices: Path | None, artifact: ArtifactRecord, board: str) -> Work:
    def work(emit: ev.Emit) -> None:
        from backends.boards import fleet
        from backends.boards.inventory import load_inventory

        inventory = load_inventory(devices, ws.root)
        outcome = asyncio.run(fleet.deploy(ws, inventory, artifact, [inventory.get(board)], emit))[
            board
        ]
        if isinstance(outcome, BaseException):
            raise outcome

    return work


def bench(ws: Workspace, devices: Path | None, board: str, artifacts: list[ArtifactRecord]) -> Work:
    """Each artifact on ``board`` with a short protocol; recorded like a CLI run."""

    def work(emit: ev.Emit) -> None:
        from backends.bench.run import benchmark_run
        from backends.bench.stage import BenchStep, Gates
        from backends.boards.inventory import load_inventory

        inventory = load_inventory(devices, ws.root)
        step = BenchStep(**APP_BENCH)
        for artifact in artifacts:
            dataset = ws.catalog.dataset_by_id(artifact.dataset_id)
            benchmark_run(
                ws, artifact, dataset, step, Gates(), emit, description=f"app: bench on {board}",
                boards=[board], inventory=inventory,
            ).raise_for_outcome()  # fmt: skip

    return work


def export(ws: Workspace, ref: str, fmt: str, output: Path, prelabel: int | None) -> Work:
    def work(emit: ev.Emit) -> None:
        from backends.annotate.export import export as run_export

        run_export(ws, ref, fmt, output, emit, prelabel=prelabel)

    return work


def pull_labels(ws: Workspace, url: str, project: int, name: str) -> Work:
    def work(emit: ev.Emit) -> None:
        from backends.annotate.labelstudio import pull

        pull(ws, url=url, project=project, name=name, emit=emit)

    return work
