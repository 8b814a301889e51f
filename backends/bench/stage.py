"""The bench stage (``[bench]``, with ``[gates]``): every model of the run on every runtime that
loads it, with the benchmark protocol on the whole validation split; TensorRT engines of an
``[engines]`` stage on the boards they were built for. It writes the report and gates the run."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from backends.bench.protocol import Protocol
from backends.bench.rows import BenchmarkRow
from backends.config import Bounded, bounded
from backends.errors import BadInput, MllibError
from backends.events import Log
from backends.stage import Context, Stage


@dataclass(frozen=True)
class BenchStep(Protocol, Bounded):
    """The benchmark protocol (``backends/bench/protocol.py``) plus the runtime settings."""

    threads: int = bounded(2, 0, 1024)  # the runtime's threads (0: its default)
    disable_default_delegates: bool = False  # LiteRT: turn XNNPACK off
    # in the report: where the reference row scores lowest and where int8 differs most from it
    failure_images: int = bounded(3, 0, 16)

    SECTION: ClassVar[str] = "bench"


@dataclass(frozen=True)
class Gates(Bounded):
    """Quality gates (``[gates]``): a miss makes the run exit with status 1, naming the row."""

    min_miou: float | None = bounded(None, 0, 1)  # segmentation
    min_pixel_accuracy: float | None = bounded(None, 0, 1)  # segmentation
    min_accuracy: float | None = bounded(None, 0, 1)  # classification: top-1
    max_drop: float | None = bounded(None, 0, 1)  # of the headline metric against TF fp32
    # and, with a baseline, against the baseline's matching row
    max_slowdown: float | None = bounded(None, 0, 100)  # p50 against the baseline's: 0.2 = 20%
    baseline: str | None = None  # a run id, or "latest": the run before this one

    SECTION: ClassVar[str] = "gates"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_slowdown is not None and self.baseline is None:
            raise BadInput(
                "gates.max_slowdown compares with a stored run: give it one with --baseline "
                'RUN|latest (or baseline = "latest" in [gates])'
            )


def run(ctx: Context, config: BenchStep) -> tuple[Mapping[str, Any], str]:
    from backends.bench.run import benchmark, finish
    from backends.boards.inventory import load_inventory
    from backends.failures import report_pictures

    dataset, model = ctx.outputs["dataset"], ctx.outputs["model"]
    conversions = ctx.outputs.get("conversions_of", {})
    variants = ctx.outputs.get("variants", {})
    rows = []
    for number, each in enumerate(ctx.outputs.get("models", [model]), 1):
        measured = ctx.executor.bench(
            ctx.ws, [each, *conversions.get(each.id, [])], dataset, config, ctx.emit
        )
        label = variants.get(each.id)
        rows += measured if label is None else [_of_variant(r, number, label) for r in measured]
    engines = ctx.outputs.get("engines", {})  # board -> the engines built (or kept) for it
    if engines:
        inventory = load_inventory(ctx.devices, ctx.ws.root)
        for board, kept in engines.items():
            for engine in kept:
                rows += benchmark(
                    ctx.ws, engine, dataset, config, ctx.emit, boards=[board],
                    inventory=inventory, run_id=ctx.run_id,
                )  # fmt: skip
    try:
        pictures = report_pictures(ctx.ws, rows, dataset, config.failure_images, ctx.emit)
    except Exception as exc:  # a picture missing from the report never fails the run
        reason = str(exc) if isinstance(exc, MllibError) else f"{type(exc).__name__}: {exc}"
        ctx.emit(Log(stage="bench", level="warning", message=f"no failure images: {reason}"))
        pictures = []
    run = finish(
        ctx.ws,
        ctx.run_id,
        dataset,
        rows,
        ctx.pipeline.gates,
        description="pipeline run",
        model=model,
        config=ctx.pipeline.to_json(),
        junit=ctx.junit,
        ladder=ctx.outputs.get("ladder", []),
        baseline=ctx.baseline,
        pictures=pictures,
    )
    return {"run": run}, f"{len(rows)} rows"


def _of_variant(row: BenchmarkRow, number: int, label: str) -> BenchmarkRow:
    """A sweep variant's row: named apart from the other variants' (``v2-litert-int8``)."""
    return dataclasses.replace(
        row, name=f"v{number}-{row.name}", extra={**row.extra, "variant": label}
    )


STAGE = Stage(
    name="bench",
    title="Benchmark",
    config=BenchStep,
    run=run,
    consumes=("dataset", "model"),
    uses=("conversions", "ladder", "engines"),
    produces=("run",),
)
