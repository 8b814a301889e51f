"""``mllib-tui results`` and ``mllib-tui artifacts``: what the catalog holds."""

from __future__ import annotations

import datetime
import json
from typing import Annotated

import typer
from rich.table import Table

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
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Benchmark results stored in the catalog: the list of runs, or one run's table."""
    with diagnosed():
        catalog = Workspace.open(workspace).catalog
        runs = catalog.runs()
        if run is None:
            if as_json:
                print(json.dumps([{"run_id": r, "date": d, "rows": n} for r, d, n in runs]))
                return
            table = Table("Run", "Date", "Rows", title="Benchmark runs", title_justify="left")
            for run_id, date, count in runs:
                table.add_row(run_id, _date(date), str(count))
            stdout.print(table if runs else "no results yet: run `mllib-tui run --headless`")
            return
        if run == "latest" and runs:
            run = runs[-1][0]
        rows = catalog.results(run)
        if not rows:
            raise BadInput(f"no results for run {run!r}: list the runs with `mllib-tui results`")
    if as_json:
        print(json.dumps([row.to_json() for row in rows]))
    else:
        stdout.print(results_table(rows))


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
