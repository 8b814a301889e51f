"""The stages wired together: dataset -> train -> evaluate -> report, each reporting events.

Used by the headless runner and by the app. Stages are resumable: a dataset with the same content
is not rebuilt, a finished training job with the same key is reused (``force`` retrains), and an
interrupted one resumes from its last checkpoint.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from backends.catalog import ArtifactRecord, DatasetRecord
from backends.config import DatasetStep, EvaluateStep, Gates, Pipeline
from backends.errors import BadInput, Cancelled, GateFailed, MllibError, StageFailed
from backends.events import Emit, Error, ProgressReporter, Result, StageFinished, StageStarted
from backends.report import write_report
from backends.workspace import Workspace


@dataclass(frozen=True)
class RunResult:
    run_id: str
    report_dir: Path
    rows: list[dict[str, Any]]
    gate_failures: list[str]


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def run(ws: Workspace, pipeline: Pipeline, emit: Emit, *, force: bool = False) -> RunResult:
    """Run every stage; raise ``GateFailed`` after the report is written if a gate missed."""
    run_id = new_run_id()
    with _stage(emit, "dataset", "Dataset") as done:
        dataset = prepare_dataset(ws, pipeline.dataset, emit)
        done(f"{dataset.name}@{dataset.version}")
    with _stage(emit, "train", "Train UNet") as done:
        from backends.training import train  # Keras: imported only when training

        trained = train(ws, dataset, pipeline.train, emit, force=force)
        done(
            "reused a finished run with the same data and config"
            if trained.cached
            else f"artifact {trained.keras.id}"
        )
    with _stage(emit, "evaluate", "Evaluate") as done:
        row = evaluate_model(ws, trained.keras, dataset, pipeline.evaluate, emit)
        done(f"mIoU {row['miou']:.4f}")
    rows = [row]
    failures = check_gates(pipeline.gates, rows)
    report_dir = ws.root / "reports" / run_id
    write_report(
        report_dir,
        {
            "run_id": run_id,
            "dataset": f"{dataset.name}@{dataset.version}",
            "model": trained.keras.id,
            "classes": dataset.manifest["classes"],
            "pipeline": asdict(pipeline),
            "gate_failures": failures,
        },
        rows,
    )
    result = RunResult(run_id, report_dir, rows, failures)
    if failures:
        raise GateFailed("; ".join(failures))
    return result


@contextmanager
def _stage(emit: Emit, stage: str, title: str) -> Iterator[Callable[[str], None]]:
    """StageStarted/StageFinished around a block; unexpected errors become ``StageFailed``."""
    start = time.monotonic()
    detail = [""]
    emit(StageStarted(stage=stage, title=title))
    try:
        yield lambda text: detail.__setitem__(0, text)
    except (KeyboardInterrupt, Cancelled):
        emit(StageFinished(stage=stage, status="interrupted", seconds=time.monotonic() - start))
        raise
    except MllibError as exc:
        emit(Error(stage=stage, message=str(exc), error_type=type(exc).__name__))
        emit(StageFinished(stage=stage, status="failed", seconds=time.monotonic() - start))
        raise
    except Exception as exc:
        message = f"{title} failed: {type(exc).__name__}: {exc}"
        emit(Error(stage=stage, message=message, error_type=type(exc).__name__))
        emit(StageFinished(stage=stage, status="failed", seconds=time.monotonic() - start))
        raise StageFailed(message) from exc
    emit(
        StageFinished(
            stage=stage, status="done", seconds=time.monotonic() - start, detail=detail[0]
        )
    )


def prepare_dataset(ws: Workspace, step: DatasetStep, emit: Emit) -> DatasetRecord:
    from backends.datasets import build
    from backends.datasets.classmap import ClassMap

    if step.source == "workspace":
        return ws.catalog.dataset(step.name)
    if step.source == "synth":
        return build.synth_dataset(
            ws,
            name=step.name,
            images=step.images,
            size=step.size,
            seed=step.seed,
            val_fraction=step.val_fraction,
            emit=emit,
        )
    missing = [
        k
        for k in ("train_annotations", "val_annotations", "images_dir")
        if getattr(step, k) is None
    ]
    if missing:
        raise BadInput(f"dataset.source = 'coco' needs dataset.{missing[0]}")
    assert step.train_annotations and step.val_annotations and step.images_dir
    splits = {
        "train": (Path(step.train_annotations), Path(step.images_dir)),
        "val": (Path(step.val_annotations), Path(step.val_images_dir or step.images_dir)),
    }
    return build.import_coco(
        ws,
        name=step.name,
        splits=splits,
        class_map=ClassMap.load(step.class_map),
        size=step.size,
        emit=emit,
    )


def evaluate_model(
    ws: Workspace,
    model: ArtifactRecord,
    dataset: DatasetRecord,
    step: EvaluateStep,
    emit: Emit,
    stage: str = "evaluate",
) -> dict[str, Any]:
    """The whole validation split through TensorFlow: a results row with the confusion matrix."""
    from backends.datasets.shards import split
    from backends.evaluation import evaluate
    from backends.machine import hardware_label, manifest
    from backends.runtimes.tensorflow import TensorFlowRuntime

    runtime = TensorFlowRuntime.load(ws.verify(model), threads=step.threads)
    val = split(ws.path(dataset.path), "val")
    if runtime.input_size != tuple(dataset.manifest["image_size"]):
        raise BadInput(
            f"model artifact {model.id} takes {runtime.input_size} images but dataset "
            f"{dataset.name} has {tuple(dataset.manifest['image_size'])}"
        )
    progress = ProgressReporter(emit, stage, val.size, "images")
    start = time.perf_counter()
    confusion = evaluate(
        runtime,
        val,
        num_classes=len(dataset.manifest["classes"]),
        ignore=dataset.manifest["ignore"],
        batch_size=step.batch_size,
        on_batch=progress.advance,
    )
    seconds = time.perf_counter() - start
    machine = manifest()
    row = {
        "name": "tensorflow-fp32",
        "software": "TensorFlow fp32",
        "runtime": runtime.name,
        "runtime_version": runtime.version,
        "precision": "fp32",
        "threads": runtime.threads,
        "hardware": hardware_label(machine),
        "machine": machine,
        "images": val.size,
        "batch_size": step.batch_size,
        "inference_ms": 1000 * seconds / max(1, val.size),
        "model_artifact": model.id,
        **confusion.summary(dataset.manifest["classes"]),
    }
    emit(Result(stage=stage, name=row["name"], data=row))
    return row


def check_gates(gates: Gates, rows: list[dict[str, Any]]) -> list[str]:
    failures = []
    for row in rows:
        for key, floor in (("miou", gates.min_miou), ("pixel_accuracy", gates.min_pixel_accuracy)):
            value = row.get(key)
            if floor is not None and (value is None or value < floor):
                failures.append(
                    f"{row['software']} on {row['hardware']}: {key} "
                    f"{value if value is None else round(value, 4)} < {floor}"
                )
    return failures
