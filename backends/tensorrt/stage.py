"""The engines stage (``[engines]``): TensorRT engines built on the boards that will run them,
from the run's ONNX conversion. With ``ladder = true`` each board tries int8 -> fp16 -> fp32 and
keeps the fastest engine that passes its fidelity gate, with fidelity measured on the board.

Fidelity on a board: the Keras model runs here on the fidelity images (the first
``convert.fidelity_images`` of the validation split); the engine runs there, twice, through
the benchmark protocol: once against the ground truth (its figures, hence the change of the
headline metric, per class too) and once against the Keras model's own classes (hence the
argmax agreement). The largest probability difference is not measured: the engine's
probabilities never leave the board.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from backends import events as ev
from backends.bench.stage import BenchStep
from backends.boards.fleet import each_board
from backends.boards.session import BoardSession
from backends.catalog import ArtifactRecord, DatasetRecord
from backends.config import Bounded, bounded
from backends.convert.fidelity import Fidelity, FidelityGates, judge
from backends.errors import BadInput, MllibError, StageFailed
from backends.formats import PRECISIONS, Precision
from backends.stage import Context, Stage
from backends.tasks import TASKS, task_of
from backends.workspace import Workspace


@dataclass(frozen=True)
class EngineStep(Bounded):
    """TensorRT engine builds on boards (also the ``mllib-tui engines build`` options)."""

    boards: tuple[str, ...] = ()  # the stage: every board to build for
    precisions: tuple[str, ...] = ("fp16",)  # the stage without the ladder: each is built
    ladder: bool = False  # int8 -> fp16 -> fp32 on each board: the fastest that passes is kept
    workspace_mb: int = bounded(1024, 16, 1 << 20)  # builder scratch memory; lower it on Jetsons
    max_batch: int = bounded(8, 1, 4096)  # the optimisation profile's largest batch
    calibration_images: int = bounded(256, 1, 100_000)  # int8: stratified from the train split

    SECTION: ClassVar[str] = "engines"

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = [p for p in self.precisions if p not in PRECISIONS]
        if unknown:
            raise BadInput(f"engines.precisions: {unknown[0]!r} is not one of {PRECISIONS}")


ORDER = (Precision.INT8, Precision.FP16, Precision.FP32)  # fastest first, where faithful


@dataclass(frozen=True)
class Reference:
    """The Keras model's figures on the fidelity images, and the shards the board runs on."""

    figures: dict[str, Any]
    images: int
    root: Path
    truth: dict[str, Any]  # split manifests: masks (labels) = the ground truth,
    classes_of_reference: dict[str, Any]  # ... = the Keras model's own classes


def run(ctx: Context, config: EngineStep) -> tuple[Mapping[str, Any], str]:
    from backends.boards.inventory import load_inventory

    onnx = [  # the fp32 ONNX: TensorRT quantises with its own calibration, not the QDQ model's
        a
        for a in ctx.outputs.get("conversions", [])
        if a.kind == "onnx" and a.meta.get("precision", "fp32") == "fp32"
    ]
    if not onnx:
        raise BadInput("engines are built from the ONNX model: add 'onnx:fp32' to convert.targets")
    if not config.boards:
        raise BadInput("engines.boards names no board: list the boards to build engines for")
    inventory = load_inventory(ctx.devices, ctx.ws.root)
    boards = inventory.select(list(config.boards))
    convert, bench = ctx.pipeline.config("convert"), ctx.pipeline.config("bench")
    staging = ctx.ws.temporary("engine-fidelity")
    reference = _reference(ctx.ws, ctx.outputs["model"], ctx.outputs["dataset"], convert, staging)
    gates = FidelityGates(convert.max_delta_fp32, convert.max_delta_fp16, convert.max_drop_int8)
    rungs = ORDER if config.ladder else tuple(Precision(p) for p in config.precisions)

    async def per_board(session: BoardSession) -> list[dict[str, Any]]:
        kept = []
        for precision in rungs:
            kept.append(
                await _rung(ctx, session, onnx[-1], precision, config, bench, reference, gates)
            )
        return kept

    outcomes = asyncio.run(each_board(boards, inventory, per_board))
    for name, outcome in outcomes.items():  # a board without its engines fails the stage
        if isinstance(outcome, MllibError):
            raise outcome
        if isinstance(outcome, BaseException):
            raise StageFailed(f"board {name}: {type(outcome).__name__}: {outcome}")
    engines: dict[str, list[ArtifactRecord]] = {}
    ladder: list[dict[str, Any]] = []
    for name, rungs_run in outcomes.items():
        assert not isinstance(rungs_run, BaseException)
        passing = [r for r in rungs_run if r["engine"].meta["fidelity"]["passed"]]
        if config.ladder:
            chosen = min(passing, key=lambda r: r["p50_ms"]) if passing else None
            engines[name] = [chosen["engine"]] if chosen else []
            ladder += [_summary(name, r, r is chosen) for r in rungs_run]
            _say(ctx.emit, name, chosen)
        else:
            engines[name] = [r["engine"] for r in rungs_run]
    detail = ", ".join(
        f"{name} {e.meta['precision']}" for name, kept in engines.items() for e in kept
    )
    return {"engines": engines, "ladder": [*ctx.outputs.get("ladder", []), *ladder]}, detail


async def _rung(
    ctx: Context,
    session: BoardSession,
    onnx: ArtifactRecord,
    precision: Precision,
    config: EngineStep,
    bench: BenchStep,
    reference: Reference,
    gates: FidelityGates,
) -> dict[str, Any]:
    """One precision on one board: the engine (built or found), its fidelity measured there,
    and its inference p50 from the same run."""
    from backends.bench.local import runtime_options
    from backends.tensorrt.boards import engine_for

    dataset: DatasetRecord = ctx.outputs["dataset"]
    engine, _ = await engine_for(ctx.ws, session, onnx, precision, dataset, config, ctx.emit)
    local = ctx.ws.verify(engine)
    options = runtime_options("tensorrt", bench, engine)
    truth, agreement = [
        await session.bench(
            local, engine.sha256, "tensorrt", reference.root, split, bench, ctx.emit, options
        )
        for split in (reference.truth, reference.classes_of_reference)
    ]
    task = task_of(dataset.manifest)
    fidelity: Fidelity = judge(
        reference.figures,
        truth,
        images=reference.images,
        max_abs_diff=None,
        argmax_agreement=agreement[TASKS[task.name].accuracy],
        precision=precision,
        task=task,
        classes=dataset.manifest["classes"],
        gates=gates,
    )
    engine = ctx.ws.catalog.update_meta(engine.id, {"fidelity": fidelity.to_json()})
    p50 = truth["latency"]["p50_ms"]
    f = engine.meta["fidelity"]
    ctx.emit(
        ev.Log(
            stage="engines",
            board=session.board.name,
            level="info" if f["passed"] else "warning",
            message=f"TensorRT {precision}: "
            + (f"passed, p50 {p50:.3f} ms" if f["passed"] else f"missed ({f['gate']})")
            + f", change {f['delta']:+.4f}, agreement {f['argmax_agreement']:.4%}",
        )
    )
    return {"engine": engine, "p50_ms": p50}


def _reference(
    ws: Workspace, model: ArtifactRecord, dataset: DatasetRecord, convert: Any, root: Path
) -> Reference:
    """The Keras model on the fidelity images, and two one-shard splits of those images: with
    the ground truth, and with the Keras model's classes as the targets."""
    from backends.datasets.shards import split, write_shard
    from backends.metrics import ConfusionMatrix
    from backends.runtimes import load, predict

    manifest = dataset.manifest
    classes, ignore = manifest["classes"], manifest["ignore"]
    keras = load("tensorflow", ws.verify(model))
    images, targets, predicted = [], [], []
    for batch, labels in split(ws.path(dataset.path), "val").batches(8, convert.fidelity_images):
        images.append(batch)
        targets.append(labels)
        predicted.append(predict(keras, batch))
    pixels, truth, ours = np.concatenate(images), np.concatenate(targets), np.concatenate(predicted)
    figures = ConfusionMatrix.from_labels(truth, ours, len(classes), ignore).summary(
        classes, task_of(manifest).name
    )
    root.mkdir(parents=True, exist_ok=True)
    common = {k: manifest.get(k) for k in ("classes", "ignore", "image_size", "task")}
    splits = [
        {**common, "shards": [write_shard(root / f"fidelity-{name}.npz", pixels, labels)]}
        for name, labels in (("truth", truth), ("reference", ours))
    ]
    return Reference(figures, len(pixels), root, splits[0], splits[1])


def _summary(board: str, rung: dict[str, Any], chosen: bool) -> dict[str, Any]:
    engine: ArtifactRecord = rung["engine"]
    f = engine.meta["fidelity"]
    return {
        "format": f"tensorrt on {board}",
        "precision": engine.meta["precision"],
        "artifact": engine.id,
        "passed": f["passed"],
        "gate": f["gate"],
        "metric": f["metric"],
        "delta": f["delta"],
        "delta_per_class": f["delta_per_class"],
        "p50_ms": rung["p50_ms"],
        "chosen": chosen,
    }


def _say(emit: ev.Emit, board: str, chosen: dict[str, Any] | None) -> None:
    message = (
        f"ladder tensorrt: kept {chosen['engine'].meta['precision']} "
        f"(p50 {chosen['p50_ms']:.3f} ms)"
        if chosen
        else "ladder tensorrt: no precision passed its fidelity gate; none is kept"
    )
    emit(
        ev.Log(stage="engines", board=board, level="info" if chosen else "warning", message=message)
    )


STAGE = Stage(
    name="engines",
    title="Engines",
    config=EngineStep,
    run=run,
    consumes=("dataset", "model", "conversions"),
    uses=("ladder",),
    produces=("engines", "ladder"),
    default=False,
)
