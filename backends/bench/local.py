"""Benchmark rows: one artifact on one runtime, each in its own guard, compared to the reference.

A row that fails (the runtime is missing, the file is damaged, the shapes disagree) becomes a row
with ``status: failed`` and the reason, never a crashed table.
"""

from __future__ import annotations

import time
from typing import Any

from backends.bench.protocol import benchmark, inference_latency
from backends.catalog import ArtifactRecord, DatasetRecord
from backends.config import BenchStep, Gates
from backends.datasets.shards import split
from backends.errors import BadInput
from backends.events import Emit, ProgressReporter, Result
from backends.formats import RUNTIMES, software_label
from backends.machine import hardware_label, manifest
from backends.runtimes import load
from backends.tasks import task_of
from backends.workspace import Workspace


def runtime_options(runtime: str, step: BenchStep, artifact: ArtifactRecord) -> dict[str, Any]:
    """What the runtime's table row says it takes: benchmark settings that are set, and
    artifact metadata (a TensorRT engine's fingerprint, checked before loading)."""
    row = RUNTIMES[runtime]
    options = {name: getattr(step, name) for name in row.options if getattr(step, name)}
    options |= {name: artifact.meta[name] for name in row.artifact_options if name in artifact.meta}
    return options


def bench_artifact(
    ws: Workspace,
    artifact: ArtifactRecord,
    runtime: str,
    dataset: DatasetRecord,
    step: BenchStep,
    emit: Emit,
    *,
    stage: str = "bench",
    guard: bool = True,
) -> dict[str, Any]:
    """One row. With ``guard`` (pipelines) any failure becomes a failed row; without it (one
    artifact from the command line) bad input — a damaged file, a missing runtime — is raised."""
    check_sizes(artifact, dataset)
    row = row_header(artifact, runtime, manifest())
    val = split(ws.path(dataset.path), "val")
    progress = ProgressReporter(emit, stage, val.size, "images")
    try:
        loaded = load(
            runtime,
            ws.verify(artifact),
            threads=step.threads,
            **runtime_options(runtime, step, artifact),
        )
        expected = tuple(dataset.manifest["image_size"])
        if loaded.input_size != expected:  # the file itself disagrees with its metadata
            raise BadInput(
                f"artifact {artifact.id} takes {loaded.input_size} images but "
                f"dataset {dataset.name} has {expected}"
            )

        row.update(runtime_version=loaded.version, threads=loaded.threads, options=loaded.options)
        row.update(
            benchmark(
                loaded,
                val,
                step,
                classes=dataset.manifest["classes"],
                ignore=dataset.manifest["ignore"],
                task=row["task"],
                on_images=lambda n: progress.advance(n, row["software"]),
            )
        )
    except BadInput as exc:
        if not guard:
            raise
        row.update(status="failed", error=_first_line(exc))
    except Exception as exc:  # the guard: one failing row never sinks the table
        row.update(status="failed", error=_first_line(exc))
    emit(Result(stage=stage, name=row["name"], data=row))
    return row


def inference_p50(
    ws: Workspace, artifact: ArtifactRecord, runtime: str, dataset: DatasetRecord, step: BenchStep
) -> float:
    """Median inference latency (ms) of ``artifact`` on one validation batch, with the step's
    protocol: enough to rank precisions, without the accuracy pass of a full row."""
    loaded = load(
        runtime,
        ws.verify(artifact),
        threads=step.threads,
        **runtime_options(runtime, step, artifact),
    )
    sample, _ = next(split(ws.path(dataset.path), "val").batches(step.batch_size))
    return inference_latency(loaded, sample, step).p50_ms


def check_sizes(artifact: ArtifactRecord, dataset: DatasetRecord) -> None:
    expected = list(dataset.manifest["image_size"])
    if artifact.meta.get("input_size", expected) != expected:
        raise BadInput(
            f"artifact {artifact.id} takes {artifact.meta['input_size'][0]}x"
            f"{artifact.meta['input_size'][1]} images but dataset {dataset.name}@"
            f"{dataset.version} holds {expected[0]}x{expected[1]}: pick a dataset of that size"
        )


def row_header(
    artifact: ArtifactRecord, runtime: str, machine: dict[str, Any], board: str | None = None
) -> dict[str, Any]:
    """What every row says about itself; the Hardware column names the board, if any."""
    precision = artifact.meta.get("precision", "fp32")
    hardware = hardware_label(machine)
    row: dict[str, Any] = {
        "name": f"{runtime}-{precision}" if board is None else f"{board}-{runtime}-{precision}",
        "task": task_of(artifact.meta).name,
        "software": software_label(runtime, precision),
        "runtime": runtime,
        "precision": precision,
        "format": artifact.kind,
        "artifact": artifact.id,
        "size_bytes": artifact.size,
        "hardware": hardware if board is None else f"{board}: {hardware}",
        "machine": machine,
        "status": "ok",
        "date": time.time(),
    }
    if board is not None:
        row["board"] = board
    if "fidelity" in artifact.meta:
        row["fidelity"] = artifact.meta["fidelity"]
    return row


def compare(rows: list[dict[str, Any]]) -> None:
    """Add ``delta``, the change of the task's headline metric (mIoU, top-1) against the
    reference row (the Keras model on TensorFlow, on this workstation), in place; without a
    reference row there is nothing to compare against."""
    reference = next(
        (
            r
            for r in rows
            if r["format"] == "model" and r["runtime"] == "tensorflow" and "board" not in r
        ),
        None,
    )
    for row in rows:
        key = task_of(row).primary
        if reference is not None and None not in (row.get(key), reference.get(key)):
            row["delta"] = round(row[key] - reference[key], 6)


def check_gates(gates: Gates, rows: list[dict[str, Any]]) -> list[str]:
    floors = {
        "miou": gates.min_miou,
        "pixel_accuracy": gates.min_pixel_accuracy,
        "accuracy": gates.min_accuracy,
    }
    failures = []
    for row in (r for r in rows if r.get("status") == "ok"):
        where = f"{row['software']} on {row['hardware']}"
        task = task_of(row)
        for key, floor in floors.items():
            value = row.get(key)
            if floor is not None and (value is None or value < floor):
                failures.append(f"{where}: {key} {_show(value)} < {floor}")
        drop = -row.get("delta", 0.0)
        if gates.max_drop is not None and drop > gates.max_drop:
            failures.append(f"{where}: {task.primary_label} drop {drop:.4f} > {gates.max_drop}")
    return failures


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _show(value: float | None) -> str:
    return "none" if value is None else f"{value:.4f}"
