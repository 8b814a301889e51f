"""``mllib-tui results`` and ``mllib-tui artifacts``: what the catalog holds."""

from __future__ import annotations

import datetime
import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from backends.bench import compare
from backends.errors import BadInput
from backends.workspace import Workspace
from mllib_tui.console import new_console
from mllib_tui.headless.diagnostics import diagnosed
from mllib_tui.headless.output import results_table
from mllib_tui.options import JsonOption, WorkspaceOption

stdout = new_console()


def results(
    run: Annotated[
        str | None, typer.Argument(help="Run id (or 'latest'); without one, list the runs.")
    ] = None,
    model: Annotated[
        int | None,
        typer.Option(
            help="Instead of one run: this model's newest row of every board and runtime x "
            "precision, across runs (the model's id: `mllib-tui artifacts --kind model`).",
        ),
    ] = None,
    sort: Annotated[
        str | None,
        typer.Option(
            help="Sort by a column, best first: miou, accuracy, pixel_accuracy, similarity, "
            "macro_f1, p50, p99, size (default: by hardware, this machine first).",
        ),
    ] = None,
    reverse: Annotated[bool, typer.Option(help="Reverse the order.")] = False,
    delta_from: Annotated[
        str | None,
        typer.Option(
            metavar="SOFTWARE[@BOARD]",
            help="The row the Δ and p50 x columns compare with, e.g. 'LiteRT fp32@rpi4' "
            "(default: TensorFlow fp32 on this machine).",
        ),
    ] = None,
    histograms: Annotated[
        bool, typer.Option(help="Also print each row's latency histogram with p50/p90/p99.")
    ] = False,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Benchmark results stored in the catalog: the list of runs, one run's table, or a model's
    table across boards and runs — the table the app's results screen shows."""
    with diagnosed():
        catalog = Workspace.open(workspace).catalog
        runs = catalog.runs()
        if model is not None:
            rows = catalog.model_results(model)[0]
            if not rows:
                raise BadInput(
                    f"--model {model}: no benchmark rows yet; run `mllib-tui bench {model}`"
                )
        elif run is None:
            if as_json:
                print(json.dumps([{"run_id": r, "date": d, "rows": n} for r, d, n in runs]))
                return
            table = Table("Run", "Date", "Rows", title="Benchmark runs", title_justify="left")
            for run_id, date, count in runs:
                table.add_row(run_id, _date(date), str(count))
            stdout.print(table if runs else "no results yet: run `mllib-tui run --headless`")
            return
        else:
            if run == "latest" and runs:
                run = runs[-1][0]
            rows = catalog.results(run)
            if not rows:
                raise BadInput(
                    f"no results for run {run!r}: list the runs with `mllib-tui results`"
                )
        baseline = None
        if delta_from is not None:
            baseline = compare.find_row(rows, delta_from)
            if baseline is None or not baseline.ok:
                names = ", ".join(sorted({compare.row_label(r) for r in rows if r.ok}))
                raise BadInput(f"--delta-from {delta_from}: no such measured row (those: {names})")
        keys = [c.key for c in compare.columns(rows)]
        if sort is not None and sort not in keys:
            raise BadInput(f"--sort {sort}: no such column (one of: {', '.join(keys)})")
        table = results_table(rows, sort=sort, reverse=reverse, baseline=baseline)
    if as_json:
        print(json.dumps([row.to_json() for row in rows]))
        return
    stdout.print(table)
    if histograms:
        for row in (r for r in compare.sort_rows(rows, sort, reverse=reverse) if r.latency):
            stdout.print(f"\n{escape(compare.row_label(row))}")
            for line in compare.histogram(row.latency):
                stdout.print(f"  {line}", highlight=False)


def artifacts(
    kind: Annotated[
        str | None, typer.Option(help="Only this kind (model, onnx, tflite, ...).")
    ] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Artifacts with their lineage, precision and fidelity verdict."""
    with diagnosed():
        records = Workspace.open(workspace).catalog.artifacts(kind)
    if as_json:
        print(json.dumps([vars(r) for r in records]))
        return
    table = Table("Id", "Kind", "Precision", "MB", "Parent", "Fidelity", "Created", "Path")
    for r in records:
        fidelity = r.meta.get("fidelity")
        verdict = "-" if fidelity is None else ("passed" if fidelity["passed"] else "FAILED")
        table.add_row(
            str(r.id),
            r.kind,
            r.meta.get("precision", "fp32"),
            f"{r.size / 1e6:.2f}",
            str(r.parent_id or "-"),
            verdict,
            _date(r.created),
            r.path,
        )
    stdout.print(table if records else "no artifacts yet: run `mllib-tui run --headless`")


def _date(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")
