"""The stages wired together: dataset -> train -> convert -> bench -> report.

Used by the headless runner and by the app. Stages are resumable: a dataset with the same content
is not rebuilt, a finished training or conversion job with the same key is reused (``force``
redoes them), and an interrupted training resumes from its last checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from backends.bench.rows import BenchmarkRow, BenchmarkRun
from backends.catalog import ArtifactRecord, DatasetRecord
from backends.config import DatasetStep, Pipeline
from backends.errors import BadInput, Cancelled, MllibError, StageFailed
from backends.events import Emit, Error, Log, StageFinished, StageStarted
from backends.formats import Precision
from backends.workspace import Workspace


@dataclass(frozen=True)
class Converted:
    artifacts: list[ArtifactRecord]  # the targets, then each ladder's kept rung
    ladder: list[dict[str, Any]]  # one summary per ladder rung (backends/ladder.py)


DEFAULT_SIZES = {"fashion-mnist": (28, 28)}  # (height, width); 128x128 for the others


def run(
    ws: Workspace,
    pipeline: Pipeline,
    emit: Emit,
    *,
    force: bool = False,
    junit: Path | None = None,
) -> BenchmarkRun:
    """Run every stage and write the report. Gate misses and failed rows are in the result
    (``raise_for_outcome``), so a caller can show the table before failing."""
    from backends.bench.run import finish, new_run_id

    run_id = new_run_id()
    with _stage(emit, "dataset", "Dataset") as done:
        dataset = prepare_dataset(ws, pipeline.dataset, emit)
        done(f"{dataset.name}@{dataset.version}")
    with _stage(emit, "train", "Train") as done:
        from backends.train.loop import train  # Keras: imported only when training

        trained = train(ws, dataset, pipeline.train, emit, force=force)
        done(
            "reused a finished run with the same data and config"
            if trained.cached
            else f"artifact {trained.keras.id}"
        )
    with _stage(emit, "convert", "Convert") as done:
        converted = convert_all(ws, trained.keras, pipeline, emit, force=force)
        done(", ".join(f"{a.kind} {a.meta['precision']}" for a in converted.artifacts))
    with _stage(emit, "bench", "Benchmark") as done:
        rows = bench_all(ws, [trained.keras, *converted.artifacts], dataset, pipeline, emit)
        done(f"{len(rows)} rows")
    return finish(
        ws,
        run_id,
        dataset,
        rows,
        pipeline.gates,
        description="pipeline run",
        model=trained.keras,
        config=asdict(pipeline),
        junit=junit,
        ladder=converted.ladder,
    )


def convert_all(
    ws: Workspace, model: ArtifactRecord, pipeline: Pipeline, emit: Emit, *, force: bool = False
) -> Converted:
    """Every target of ``[convert]`` (an int8 that misses its gate falls back to fp16), then
    every ``ladder`` format's fastest faithful precision."""
    from backends.convert.job import convert, parse_target
    from backends.convert.ladder import climb
    from backends.runtimes import load

    step = pipeline.convert
    targets = [parse_target(t) for t in step.targets]  # all checked before any work
    ladders = [parse_target(name)[0] for name in step.ladder]
    reference = load("tensorflow", ws.verify(model))
    built: list[ArtifactRecord] = []
    for fmt, precision in targets:
        result = convert(ws, model, fmt, precision, step, emit, reference=reference, force=force)
        built.append(result.artifact)
        fidelity = result.fidelity
        if not result.passed:
            emit(
                Log(
                    stage="convert",
                    level="warning",
                    message=(
                        f"{fmt.name} {precision} missed its fidelity gate "
                        f"({fidelity['gate']}: change {fidelity['delta']:+.4f})"
                    ),
                )
            )
            fallback = (fmt, Precision.FP16)
            if (
                precision is Precision.INT8
                and step.fallback
                and Precision.FP16 in fmt.precisions
                and fallback not in targets
            ):
                emit(
                    Log(
                        stage="convert", level="warning", message=f"falling back to {fmt.name} fp16"
                    )
                )
                targets.append(fallback)
    summaries: list[dict[str, Any]] = []
    for fmt in ladders:
        kept, rungs = climb(ws, model, fmt, pipeline, emit, reference=reference, force=force)
        built += [kept] if kept else []
        summaries += rungs
    return Converted(built, summaries)


def bench_all(
    ws: Workspace,
    artifacts: list[ArtifactRecord],
    dataset: DatasetRecord,
    pipeline: Pipeline,
    emit: Emit,
) -> list[BenchmarkRow]:
    """One row per artifact x runtime that loads it; the Keras model first (the reference)."""
    from backends.bench.run import benchmark

    return [
        row
        for artifact in artifacts
        for row in benchmark(ws, artifact, dataset, pipeline.bench, emit)
    ]


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
    from backends.datasets.idx import FASHION_MNIST_DIR

    size = step.size or DEFAULT_SIZES.get(step.source, (128, 128))
    if step.source == "workspace":
        return ws.catalog.dataset(step.name)
    if step.source == "synth":
        return build.synth_dataset(
            ws,
            name=step.name,
            images=step.images,
            size=size,
            seed=step.seed,
            val_fraction=step.val_fraction,
            emit=emit,
        )
    if step.source == "fashion-mnist":
        return build.import_idx(
            ws,
            name=step.name,
            directory=Path(step.path) if step.path else FASHION_MNIST_DIR,
            size=size,
            limits={"train": step.train_images, "val": step.val_images},
            emit=emit,
        )
    if step.source == "folder":
        if step.path is None:
            raise BadInput("dataset.source = 'folder' needs dataset.path (the class folders)")
        return build.import_folder(
            ws,
            name=step.name,
            root=Path(step.path),
            size=size,
            channels=step.channels,
            val_fraction=step.val_fraction,
            seed=step.seed,
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
        size=size,
        emit=emit,
    )
