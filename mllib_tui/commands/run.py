"""``mllib-tui run``: the whole pipeline, for people at a terminal and for CI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from backends.config import Pipeline, load_pipeline
from backends.errors import GateFailed
from backends.pipeline import run as run_pipeline
from backends.workspace import Workspace
from mllib_tui.headless.diagnostics import diagnosed
from mllib_tui.headless.output import JsonLines, RichProgress, results_table
from mllib_tui.options import JsonOption, WorkspaceOption


def run(
    pipeline_file: Annotated[
        Path | None,
        typer.Argument(
            metavar="[PIPELINE.toml]",
            help="Pipeline file; without one, the demo: synthetic dataset -> UNet -> evaluation.",
        ),
    ] = None,
    headless: Annotated[
        bool,
        typer.Option(
            "--headless",
            help="Run without the app: progress on stderr, results on stdout, and "
            "an exit status for CI. (Headless is the only mode this version has.)",
        ),
    ] = False,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Retrain even when a finished run with the same data and config "
            "exists (by default it is reused).",
        ),
    ] = False,
    min_miou: Annotated[
        float | None,
        typer.Option(help="Gate: exit 1 when a row's mIoU is below this (overrides the file)."),
    ] = None,
    min_pixel_accuracy: Annotated[
        float | None, typer.Option(help="Gate: exit 1 when a row's pixel accuracy is below this.")
    ] = None,
) -> None:
    """Run dataset -> train -> evaluate and write the report to <workspace>/reports/<run-id>/.

    Exit status: 0 ok, 1 a quality gate failed, 2 bad input or configuration, 3 a stage failed,
    130 interrupted. An interrupted run resumes where it stopped when run again.
    """
    stdout = Console(highlight=False)
    with diagnosed():
        pipeline = load_pipeline(pipeline_file) if pipeline_file else Pipeline()
        gates = dataclasses.replace(
            pipeline.gates,
            **{
                k: v
                for k, v in (("min_miou", min_miou), ("min_pixel_accuracy", min_pixel_accuracy))
                if v is not None
            },
        )
        pipeline = dataclasses.replace(pipeline, gates=gates)
        ws = Workspace.open(workspace)
        render = JsonLines() if as_json else RichProgress()
        with render:
            try:
                result = run_pipeline(ws, pipeline, render, force=force)
            except GateFailed:
                if not as_json:
                    _print_results(stdout, _latest_report(ws))
                raise
        if not as_json:
            _print_results(stdout, result.report_dir)


def _latest_report(ws: Workspace) -> Path:
    return max((ws.root / "reports").iterdir(), key=lambda p: p.stat().st_mtime)


def _print_results(stdout: Console, report_dir: Path) -> None:
    """A Rich table on a terminal; the report's Markdown table in a pipe or a CI log."""
    if stdout.is_terminal:
        rows = json.loads((report_dir / "results.json").read_text())["rows"]
        stdout.print(results_table(rows, list(rows[0]["iou"]) if rows else []))
    else:
        print((report_dir / "results.md").read_text())
    stdout.print(f"report: {report_dir / 'results.md'}")
