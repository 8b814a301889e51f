"""``mllib-tui bench``: benchmark one artifact on this machine with the full protocol."""

from __future__ import annotations

from typing import Annotated

import typer

from backends.bench.stage import BenchStep, Gates
from backends.workspace import Workspace
from mllib_tui.console import new_console
from mllib_tui.headless.diagnostics import diagnosed
from mllib_tui.headless.output import JsonLines, RichProgress, print_results
from mllib_tui.options import (
    ConcurrencyOption,
    DevicesOption,
    JsonOption,
    JunitOption,
    ThreadsOption,
    WorkspaceOption,
    bounds,
)

DEFAULTS = BenchStep()


def bench(
    artifact: Annotated[
        str,
        typer.Argument(
            help="Artifact id (`mllib-tui artifacts`), or a .keras/.onnx/.tflite "
            "file, which is copied into the workspace first."
        ),
    ],
    runtime: Annotated[
        list[str] | None,
        typer.Option(help="Runtime(s) to use; default: every runtime that loads the format."),
    ] = None,
    dataset: Annotated[
        str | None, typer.Option(help="Dataset NAME[@VERSION]; default: the one it was trained on.")
    ] = None,
    threads: ThreadsOption = DEFAULTS.threads,
    warmup_runs: Annotated[
        int, typer.Option(help="Warm-up calls (at least).", **bounds(BenchStep, "warmup_runs"))
    ] = DEFAULTS.warmup_runs,
    warmup_seconds: Annotated[
        float, typer.Option(help="Warm-up time (at least).", **bounds(BenchStep, "warmup_seconds"))
    ] = DEFAULTS.warmup_seconds,
    runs: Annotated[
        int, typer.Option(help="Timed calls (at least).", **bounds(BenchStep, "min_runs"))
    ] = DEFAULTS.min_runs,
    seconds: Annotated[
        float, typer.Option(help="Timed duration (at least).", **bounds(BenchStep, "min_seconds"))
    ] = DEFAULTS.min_seconds,
    batch_size: Annotated[
        int, typer.Option(help="Images per timed call.", **bounds(BenchStep, "batch_size"))
    ] = DEFAULTS.batch_size,
    disable_default_delegates: Annotated[
        bool, typer.Option(help="LiteRT: turn off XNNPACK (recorded with the figures).")
    ] = False,
    precision: Annotated[
        str, typer.Option(help="Precision label for a model file (an artifact knows its own).")
    ] = "fp32",
    min_miou: Annotated[
        float | None,
        typer.Option(
            help="Gate (segmentation): exit 1 below this mIoU.", **bounds(Gates, "min_miou")
        ),
    ] = None,
    min_accuracy: Annotated[
        float | None,
        typer.Option(
            help="Gate (classification): exit 1 below this top-1.", **bounds(Gates, "min_accuracy")
        ),
    ] = None,
    board: Annotated[
        list[str] | None,
        typer.Option(help="Run on this board over SSH (repeatable); the Hardware column names it."),
    ] = None,
    tag: Annotated[str | None, typer.Option(help="Run on every board with this tag.")] = None,
    retry: Annotated[
        str | None,
        typer.Option(help="Finish an interrupted board run: keep its finished rows, run the rest."),
    ] = None,
    concurrency: ConcurrencyOption = 8,
    devices: DevicesOption = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
    junit: JunitOption = None,
) -> None:
    """Latency (p50/p90/p99, inference-only and end-to-end) and accuracy on the whole
    validation split, per runtime, on this machine or on boards (--board, --tag); the report
    goes to <workspace>/reports/<run-id>/."""
    from backends.bench.run import benchmark_run, measured_on
    from backends.boards.inventory import load_inventory

    stdout = new_console()
    with diagnosed():
        ws = Workspace.open(workspace)
        record, data = measured_on(ws, artifact, dataset, precision)
        step = BenchStep(
            warmup_runs,
            warmup_seconds,
            runs,
            seconds,
            batch_size,
            DEFAULTS.eval_batch_size,
            threads,
            disable_default_delegates,
        )
        gates = Gates(min_miou=min_miou, min_accuracy=min_accuracy)
        with JsonLines() if as_json else RichProgress() as render:
            result = benchmark_run(
                ws,
                record,
                data,
                step,
                gates,
                render,
                description=f"bench artifact {record.id}",
                run_id=retry,
                junit=junit,
                runtimes=runtime,
                boards=board,
                tag=tag,
                inventory=load_inventory(devices, ws.root) if board or tag or retry else None,
                retry=retry is not None,
                limit=concurrency,
            )
        if not as_json:
            print_results(stdout, result.report_dir)
        result.raise_for_outcome()
