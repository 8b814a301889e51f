"""Rows measured on this machine: one artifact on one runtime, each in its own guard.

A row that fails (the runtime is missing, the file is damaged, the shapes disagree) becomes a row
with ``status: failed`` and the reason, never a crashed table.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from backends.bench.protocol import inference_latency, measure
from backends.bench.rows import BenchmarkRow
from backends.bench.stage import BenchStep
from backends.catalog import ArtifactRecord, DatasetRecord
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
) -> BenchmarkRow:
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
        row = dataclasses.replace(
            row, runtime_version=loaded.version, threads=loaded.threads, options=loaded.options
        ).measured(
            measure(
                loaded,
                val,
                step,
                classes=dataset.manifest["classes"],
                ignore=dataset.manifest["ignore"],
                task=row.task,
                on_images=lambda n: progress.advance(n, row.software),
            )
        )
    except BadInput as exc:
        if not guard:
            raise
        row = row.failed("failed", _first_line(exc))
    except Exception as exc:  # the guard: one failing row never sinks the table
        row = row.failed("failed", _first_line(exc))
    emit(Result(stage=stage, name=row.name, data=row.to_json()))
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
) -> BenchmarkRow:
    """What every row says about itself; the Hardware column names the board, if any."""
    precision = artifact.meta.get("precision", "fp32")
    hardware = hardware_label(machine)
    return BenchmarkRow(
        name=f"{runtime}-{precision}" if board is None else f"{board}-{runtime}-{precision}",
        task=task_of(artifact.meta).name,
        software=software_label(runtime, precision),
        runtime=runtime,
        precision=precision,
        format=artifact.kind,
        artifact=artifact.id,
        size_bytes=artifact.size,
        hardware=hardware if board is None else f"{board}: {hardware}",
        machine=machine,
        board=board,
        fidelity=artifact.meta.get("fidelity"),
    )


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
