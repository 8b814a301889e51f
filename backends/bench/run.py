"""The one way a benchmark runs, here or on boards (the CLI, the app and the pipeline all call
``benchmark``), and what finishes a run: the comparison with the reference, the gates, the
report and the catalog."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backends.bench.compare import reference_row, row_key
from backends.bench.local import bench_artifact
from backends.bench.rows import BenchmarkRow, BenchmarkRun
from backends.bench.stage import BenchStep, Gates
from backends.boards.inventory import Inventory
from backends.catalog import ArtifactRecord, DatasetRecord
from backends.errors import BadInput
from backends.events import Emit
from backends.formats import RUNTIMES, Format
from backends.tasks import TASKS, task_of
from backends.workspace import Workspace

if TYPE_CHECKING:
    from backends.report import Picture


def measured_on(
    ws: Workspace, artifact: str | int | Path, dataset: str | None, precision: str = "fp32"
) -> tuple[ArtifactRecord, DatasetRecord]:
    """What a benchmark of ``artifact`` (an id, or a model file, copied into the workspace
    labelled ``precision``) measures, and on which dataset (``NAME[@VERSION]``; default: the
    one it was trained on)."""
    from backends.model_files import import_model_file

    chosen = ws.catalog.dataset(dataset) if dataset is not None else None
    if chosen is not None:
        task_of(chosen.manifest)  # a capture (unlabelled frames) is refused here, in one line
    is_id = isinstance(artifact, str) and artifact.isascii() and artifact.isdigit()
    if isinstance(artifact, int) or (is_id and not Path(artifact).is_file()):
        record = ws.catalog.artifact(int(artifact))
    elif chosen is None:
        raise BadInput(f"{artifact}: a model file needs a dataset (--dataset NAME) to measure on")
    else:
        record = import_model_file(ws, Path(artifact), precision, chosen)
    if not Format.of(record).runtimes:
        raise BadInput(f"artifact {record.id} is a {record.kind}, which no runtime loads")
    if chosen is not None:
        return record, chosen
    if record.dataset_id is None:
        raise BadInput(f"artifact {record.id} has no dataset: pass --dataset NAME")
    return record, ws.catalog.dataset_by_id(record.dataset_id)


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def benchmark(
    ws: Workspace,
    artifact: ArtifactRecord,
    dataset: DatasetRecord,
    step: BenchStep,
    emit: Emit,
    *,
    runtimes: list[str] | None = None,
    boards: list[str] | None = None,
    tag: str | None = None,
    inventory: Inventory | None = None,
    run_id: str | None = None,
    retry: bool = False,
    limit: int = 8,
    guard: bool = True,
) -> list[BenchmarkRow]:
    """Rows of ``artifact`` on each runtime (default: every runtime that loads its format): on
    this machine, or on ``boards`` / every board with ``tag`` (a catalog job named
    ``run_id``; ``retry`` keeps that run's finished rows). ``guard`` turns a failure on this
    machine into a failed row instead of an error."""
    if boards or tag or retry:
        from backends.bench.boards import board_run

        assert inventory is not None and run_id is not None
        return asyncio.run(
            board_run(
                ws, inventory, artifact, boards or [], tag, runtimes, dataset, step, emit,
                run_id=run_id, retry=retry, limit=limit,
            )
        )  # fmt: skip
    return [
        bench_artifact(ws, artifact, runtime, dataset, step, emit, guard=guard)
        for runtime in runtimes or runtimes_here(Format.of(artifact), emit)
    ]


def runtimes_here(fmt: Format, emit: Emit) -> list[str]:
    """The runtimes that measure ``fmt`` on this machine by default: all that load it, an
    optional one (OpenVINO) only where it is installed (and the run says so where it is not)."""
    from backends.events import Log
    from backends.runtimes import installed

    chosen = []
    for name in fmt.runtimes:
        if not RUNTIMES[name].optional or installed(name):
            chosen.append(name)
        else:
            emit(
                Log(
                    stage="bench",
                    level="info",
                    message=f"{RUNTIMES[name].label} is not installed here: no "
                    f"{RUNTIMES[name].label} rows ({RUNTIMES[name].package})",
                )
            )
    return chosen


def benchmark_run(
    ws: Workspace,
    artifact: ArtifactRecord,
    dataset: DatasetRecord,
    step: BenchStep,
    gates: Gates,
    emit: Emit,
    *,
    description: str,
    run_id: str | None = None,
    junit: Path | None = None,
    **where: Any,
) -> BenchmarkRun:
    """One artifact's benchmark as a finished run (what ``bench`` and ``mllib`` do): the rows of
    ``benchmark`` (``where``: its runtimes, boards, tag, inventory, retry, limit), compared,
    gated, reported and recorded. Bad input is raised, not made a failed row."""
    run_id = run_id or new_run_id()
    baseline = baseline_run(ws, gates.baseline, run_id)
    rows = benchmark(ws, artifact, dataset, step, emit, run_id=run_id, guard=False, **where)
    return finish(
        ws,
        run_id,
        dataset,
        rows,
        gates,
        description=description,
        model=artifact,
        config={"bench": dataclasses.asdict(step), "gates": dataclasses.asdict(gates)},
        junit=junit,
        baseline=baseline,
    )


def compare(rows: list[BenchmarkRow]) -> list[BenchmarkRow]:
    """The rows with ``delta``, the change of the task's headline metric (mIoU, top-1) against
    the reference row (the Keras model on TensorFlow, on this workstation; a sweep's variants
    each against their own); without a reference row there is nothing to compare against."""
    references = {row.variant: reference_row([r for r in rows if r.variant == row.variant])
                  for row in rows}  # fmt: skip
    out = []
    for row in rows:
        reference = references[row.variant]  # a sweep's variants: each against its own
        if reference is None or reference.headline is None or row.headline is None:
            out.append(row)
        else:
            out.append(dataclasses.replace(row, delta=round(row.headline - reference.headline, 6)))
    return out


Baseline = tuple[str, list[BenchmarkRow]]  # a stored run: its id and rows


def baseline_run(ws: Workspace, ref: str | None, run_id: str) -> Baseline | None:
    """The stored run ``ref`` names (a run id, or ``latest``: the newest other than
    ``run_id``), resolved before any work so a wrong name costs nothing."""
    if ref is None:
        return None
    runs = [r for r, _, _ in ws.catalog.runs() if r != run_id]
    if ref == "latest":
        if not runs:
            raise BadInput(
                "--baseline latest: no earlier run to compare with; run once without "
                "--baseline first"
            )
        ref = runs[-1]
    if ref not in runs:
        raise BadInput(f"--baseline {ref}: no such run; list the runs with `mllib-tui results`")
    return ref, ws.catalog.results(ref)


def check_gates(
    gates: Gates, rows: list[BenchmarkRow], baseline: Baseline | None = None
) -> list[str]:
    """What the rows miss, one line each, starting with the row (``<software> on
    <hardware>:``) so the JUnit case of that row can say it."""
    floors = {
        "miou": gates.min_miou,
        "pixel_accuracy": gates.min_pixel_accuracy,
        "accuracy": gates.min_accuracy,
    }
    failures = []
    for row in (r for r in rows if r.ok):
        where = f"{row.label} on {row.hardware}"
        task = TASKS[row.task]
        for key, floor in floors.items():
            value = row.metric(key)
            if floor is not None and (value is None or value < floor):
                failures.append(f"{where}: {key} {_show(value)} < {floor}")
        drop = -(row.delta or 0.0)
        if gates.max_drop is not None and drop > gates.max_drop:
            failures.append(f"{where}: {task.primary_label} drop {drop:.4f} > {gates.max_drop}")
        if baseline is not None:
            failures += _against(gates, row, where, baseline)
    if baseline is not None:
        stored = {row_key(r) for r in baseline[1] if r.ok}
        if not any(row_key(r) in stored for r in rows if r.ok):
            failures.append(
                f"--baseline {baseline[0]}: none of its rows is of this model's family on the "
                "same board and software, so nothing was compared; pick a run that measured it "
                "(`mllib-tui results`)"
            )
    return failures


def _against(gates: Gates, row: BenchmarkRow, where: str, baseline: Baseline) -> list[str]:
    """The baseline gates of one row against the baseline's matching ok row, if it has one."""
    ref_id, ref_rows = baseline
    ref = next((r for r in ref_rows if r.ok and row_key(r) == row_key(row)), None)
    if ref is None:
        return []
    failures = []
    label = TASKS[row.task].primary_label
    if gates.max_drop is not None and row.headline is not None and ref.headline is not None:
        drop = ref.headline - row.headline
        if drop > gates.max_drop:
            failures.append(
                f"{where}: {label} {row.headline:.4f} is {drop:.4f} below run {ref_id}'s "
                f"{ref.headline:.4f} (max drop {gates.max_drop})"
            )
    if gates.max_slowdown is not None and row.latency and ref.latency and ref.latency.p50_ms > 0:
        slowdown = row.latency.p50_ms / ref.latency.p50_ms - 1
        if slowdown > gates.max_slowdown:
            failures.append(
                f"{where}: p50 {row.latency.p50_ms:.2f} ms is {slowdown:.1%} slower than run "
                f"{ref_id}'s {ref.latency.p50_ms:.2f} ms (max slowdown {gates.max_slowdown:.1%})"
            )
    return failures


def finish(
    ws: Workspace,
    run_id: str,
    dataset: DatasetRecord,
    rows: list[BenchmarkRow],
    gates: Gates,
    *,
    description: str,
    model: ArtifactRecord,
    config: dict[str, Any],
    junit: Path | None,
    ladder: list[dict[str, Any]] | None = None,
    baseline: Baseline | None = None,
    pictures: Sequence[Picture] = (),
) -> BenchmarkRun:
    """Compare with the reference, check the gates, write the report, record in the catalog."""
    from backends.report import write_report

    rows = compare(rows)
    if baseline is not None:  # only rows of this model's family compare with its rows
        related = ws.catalog.in_family(model.id)
        baseline = (baseline[0], [r for r in baseline[1] if related(r.artifact)])
    report_dir = ws.root / "reports" / run_id
    run = BenchmarkRun(
        run_id=run_id,
        dataset=f"{dataset.name}@{dataset.version}",
        model=model.id,
        classes=tuple(dataset.manifest["classes"]),
        rows=tuple(rows),
        config=config,
        gate_failures=tuple(check_gates(gates, rows, baseline)),
        ladder=tuple(ladder or ()),
        report_dir=report_dir,
    )
    staging = ws.temporary(f"report-{run_id}")  # a killed run never leaves half a report
    write_report(staging, run, junit=junit, pictures=pictures)
    ws.place(staging, report_dir)
    ws.catalog.add_results(run_id, description, rows)
    return run


def _show(value: float | None) -> str:
    return "none" if value is None else f"{value:.4f}"
