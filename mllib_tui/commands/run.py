"""``mllib-tui run``: the whole pipeline, for people at a terminal and for CI."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from backends.bench.stage import Gates
from backends.errors import BadInput
from backends.pipeline import Pipeline, load_pipeline
from backends.pipeline import run as run_pipeline
from backends.workspace import Workspace
from mllib_tui.console import new_console
from mllib_tui.headless.diagnostics import diagnosed
from mllib_tui.headless.output import JsonLines, RichProgress, print_results
from mllib_tui.options import DevicesOption, JsonOption, JunitOption, WorkspaceOption, bounds


def run(
    pipeline_file: Annotated[
        Path | None,
        typer.Argument(
            metavar="[PIPELINE.toml]",
            help="Pipeline file (examples/: tiny.toml, fashion-mnist.toml); without one, the "
            "demo: synthetic dataset -> UNet -> ONNX and TFLite fp32/fp16/int8 -> benchmark on "
            "this machine.",
        ),
    ] = None,
    headless: Annotated[
        bool,
        typer.Option(
            "--headless",
            help="Run without the app: progress on stderr, results on stdout, and an exit "
            "status for CI. (Headless is the only mode this version has.)",
        ),
    ] = False,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Retrain and reconvert even when finished jobs with the same inputs exist "
            "(by default they are reused).",
        ),
    ] = False,
    min_miou: Annotated[
        float | None,
        typer.Option(
            help="Gate (segmentation): exit 1 when a row's mIoU is below this.",
            **bounds(Gates, "min_miou"),
        ),
    ] = None,
    min_pixel_accuracy: Annotated[
        float | None,
        typer.Option(
            help="Gate (segmentation): exit 1 when a row's pixel accuracy is below this.",
            **bounds(Gates, "min_pixel_accuracy"),
        ),
    ] = None,
    min_accuracy: Annotated[
        float | None,
        typer.Option(
            help="Gate (classification): exit 1 when a row's top-1 is below this.",
            **bounds(Gates, "min_accuracy"),
        ),
    ] = None,
    max_drop: Annotated[
        float | None,
        typer.Option(
            help="Gate: exit 1 when a row's mIoU (top-1 for classification) is this much below "
            "TensorFlow fp32.",
            **bounds(Gates, "max_drop"),
        ),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            metavar="RUN|latest",
            help="Compare each row with the matching row (same board, same software) of this "
            "stored run, or of the newest one: --max-drop and --max-slowdown then gate against "
            "it too. `mllib-tui results` lists the runs.",
        ),
    ] = None,
    max_slowdown: Annotated[
        float | None,
        typer.Option(
            help="Gate (with --baseline): exit 1 when a row's p50 latency is slower than the "
            "baseline's matching row by more than this fraction (0.2: 20%).",
            **bounds(Gates, "max_slowdown"),
        ),
    ] = None,
    executor: Annotated[
        str | None,
        typer.Option(
            metavar="local|ray",
            help="Where trainings, conversions and this machine's benchmark rows run: here "
            "(local, the default) or as tasks on a Ray cluster (ray; overrides the pipeline "
            "file's [executor] kind).",
        ),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            help="The Ray cluster: auto (the one started on this machine), HOST:PORT, or "
            "ray://HOST:10001 (Ray Client). Implies --executor ray.",
        ),
    ] = None,
    junit: JunitOption = None,
    devices: DevicesOption = None,
) -> None:
    """Run the pipeline's stages (without a file, or one naming no stage, the loop dataset ->
    train -> convert -> bench; [engines] adds TensorRT builds on boards; `stages = [...]` runs
    exactly those) and write the report to <workspace>/reports/<run-id>/ (results.md,
    results.json, confusion-matrix PNGs).

    With --executor ray (or [executor] kind = "ray"), each training, conversion and
    benchmark row of this machine is a task on a Ray cluster, and a [sweep] trains its
    variants at once: see docs/ray.md.

    Gate options override the pipeline file's [gates]. Exit status: 0 ok, 1 a quality gate
    failed, 2 bad input or configuration, 3 a stage or a benchmark row failed, 130 interrupted.
    An interrupted run resumes where it stopped when run again.
    """
    stdout = new_console()
    with diagnosed():
        pipeline = load_pipeline(pipeline_file) if pipeline_file else Pipeline()
        overrides = {
            "min_miou": min_miou,
            "min_pixel_accuracy": min_pixel_accuracy,
            "min_accuracy": min_accuracy,
            "max_drop": max_drop,
            "max_slowdown": max_slowdown,
            "baseline": baseline,
        }
        pipeline.gates = dataclasses.replace(
            pipeline.gates, **{k: v for k, v in overrides.items() if v is not None}
        )
        if executor is not None and executor not in ("local", "ray"):
            raise BadInput(f"--executor must be local or ray, got {executor!r}")
        chosen = {"kind": executor or ("ray" if ray_address else None), "address": ray_address}
        pipeline.executor = dataclasses.replace(
            pipeline.executor, **{k: v for k, v in chosen.items() if v is not None}
        )
        ws = Workspace.open(workspace)
        with JsonLines() if as_json else RichProgress() as render:
            result = run_pipeline(ws, pipeline, render, force=force, junit=junit, devices=devices)
        if result is not None and not as_json:
            print_results(stdout, result.report_dir)
        if isinstance(render, RichProgress):
            render.print_timings()  # on stderr, after the table: stdout holds only results
        if result is not None:  # without a bench stage there is nothing to gate
            result.raise_for_outcome()
