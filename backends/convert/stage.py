"""The convert stage (``[convert]``): ONNX and TFLite models from the trained one, each checked
for fidelity against it; an int8 that misses its gate falls back to fp16, and a format on the
precision ladder keeps its fastest faithful precision."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from backends.bench.stage import BenchStep
from backends.catalog import ArtifactRecord
from backends.config import Bounded, bounded
from backends.events import Emit, Log
from backends.executor.local import Executor, LocalExecutor
from backends.formats import Precision
from backends.stage import Context, Stage
from backends.workspace import Workspace


@dataclass(frozen=True)
class ConvertStep(Bounded):
    """Which formats to build (``FORMAT:PRECISION``) and the fidelity gates they must pass."""

    # FORMAT:PRECISION to build, each checked against the Keras model
    targets: tuple[str, ...] = (
        "onnx:fp32",
        "onnx:int8",
        "tflite:fp32",
        "tflite:fp16",
        "tflite:int8",
    )
    opset: int = 15  # the ONNX converter checks it (13-18) and says so
    int8_io: Literal["int8", "uint8", "float"] = "int8"  # int8 models' input and output type
    representative_images: int = bounded(100, 0, 100_000)  # 0: the int8 converter says why not
    fidelity_images: int = bounded(64, 1, 10_000_000)  # val images checked against Keras
    fallback: bool = True  # int8 failing its gate -> build fp16 instead
    # formats whose precision is chosen: int8 -> fp16 -> fp32, the fastest that passes its gate
    ladder: tuple[str, ...] = ()
    max_delta_fp32: float = bounded(0.001, 0, 1)  # largest probability change
    max_delta_fp16: float = bounded(0.002, 0, 1)  # largest probability change
    max_drop_int8: float = bounded(0.01, -1, 1)  # below 0: int8 must gain (a gate none passes)

    SECTION: ClassVar[str] = "convert"


@dataclass(frozen=True)
class Converted:
    artifacts: list[ArtifactRecord]  # the targets, then each ladder's kept rung
    ladder: list[dict[str, Any]]  # one summary per ladder rung (backends/convert/ladder.py)


def run(ctx: Context, config: ConvertStep) -> tuple[Mapping[str, Any], str]:
    bench = ctx.pipeline.config("bench")
    built = [
        convert_all(ctx.ws, model, config, bench, ctx.emit, force=ctx.force, executor=ctx.executor)
        for model in ctx.outputs["models"]
    ]
    detail = ", ".join(f"{a.kind} {a.meta['precision']}" for a in built[0].artifacts)
    if len(built) > 1:
        detail = f"{len(built)} models: {detail} each"
    return {
        "conversions": [a for b in built for a in b.artifacts],
        "conversions_of": {
            model.id: b.artifacts for model, b in zip(ctx.outputs["models"], built, strict=True)
        },
        "ladder": [rung for b in built for rung in b.ladder],
    }, detail


STAGE = Stage(
    name="convert",
    title="Convert",
    config=ConvertStep,
    run=run,
    consumes=("model",),
    produces=("conversions", "ladder"),
)


def convert_all(
    ws: Workspace,
    model: ArtifactRecord,
    step: ConvertStep,
    bench: BenchStep,
    emit: Emit,
    *,
    force: bool = False,
    executor: Executor | None = None,
) -> Converted:
    """Every target of ``[convert]`` (an int8 that misses its gate falls back to fp16), then
    every ``ladder`` format's fastest faithful precision (timed with the ``bench`` protocol).
    The executor runs each wave's conversions (all of them at once, on Ray)."""
    from backends.convert.job import parse_target

    executor = executor or LocalExecutor()
    targets = [parse_target(t) for t in step.targets]  # all checked before any work
    ladders = [parse_target(name)[0] for name in step.ladder]
    built: list[ArtifactRecord] = []
    wave = list(targets)
    while wave:
        fallbacks = []
        for (fmt, precision), result in zip(
            wave, executor.convert(ws, model, wave, step, emit, force=force), strict=True
        ):
            built.append(result.artifact)
            if result.passed:
                continue
            fidelity = result.fidelity
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
                fallbacks.append(fallback)
        wave = fallbacks
    summaries: list[dict[str, Any]] = []
    for kept, rungs in executor.climb(ws, model, ladders, step, bench, emit, force=force):
        built += [kept] if kept else []
        summaries += rungs
    return Converted(built, summaries)
